"""Reports: the daily situation report, as a printable bilingual page or a PDF."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from chaincut.analytics.situation import ReportFormat
from chaincut.analytics.situation_html import content_security_policy
from chaincut.analytics.situation_render import render_situation_report
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/reports", tags=["reports"])

# Outbreak analytics, as /analytics/*: epidemiologists and supervisors. Opened from a link in the
# console, so no stated purpose is asked: it holds aggregates and case references only.
REPORT_PERMISSION = Permission.ANALYTICS_READ


def _wanted(fmt: Literal["html", "pdf"] | None, accept: str | None) -> ReportFormat:
    if fmt is not None:
        return ReportFormat(fmt)
    if accept and "application/pdf" in accept and "text/html" not in accept:
        return ReportFormat.PDF
    return ReportFormat.HTML


@router.get(
    "/situation",
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {}, "application/pdf": {}},
            "description": "the report: HTML by default, PDF with format=pdf or Accept: application/pdf",
        }
    },
)
def situation_report(
    caller: Annotated[Caller, requires(REPORT_PERMISSION)],
    day: Annotated[date | None, Query(description="the report's day, local date (default today)")] = None,
    format: Annotated[Literal["html", "pdf"] | None, Query(description="html or pdf")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The situation report of a day, English and Traditional Chinese in one document, audited.

    Aggregates and case references only: headline numbers, the epidemic curve, R_t, the
    unlinked share, active clusters and chains (when computed), contacts traced and orders.
    """
    services = caller.services
    wanted = day or services.clock.now().astimezone(services.settings.zone).date()
    fmt = _wanted(format, accept)
    report = services.situation_reports.report(wanted)
    caller.audit("reports.situation", record=wanted.isoformat(), details={"format": fmt.value})
    body = render_situation_report(report, fmt)
    if fmt is ReportFormat.PDF:
        return Response(
            body,
            media_type=fmt.media_type,
            headers={"Content-Disposition": f'inline; filename="situation-{wanted.isoformat()}.pdf"'},
        )
    return Response(
        body, media_type=fmt.media_type, headers={"Content-Security-Policy": content_security_policy()}
    )
