"""Reports for the health authority (``chaincut report ...``): the daily situation report."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from chaincut.access.audit import event_for
from chaincut.analytics.situation import ReportFormat
from chaincut.cli.console import console, err, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission

__all__ = ["report_app", "situation"]

report_app = typer.Typer(help="Reports: the daily situation report (HTML or PDF).", no_args_is_help=True)

# The permission the report is read under, as `chaincut analytics epicurve` reads the curve.
# Outbreak analytics, as /analytics/*: epidemiologists and supervisors. Opened from a link in the
# console, so no stated purpose is asked: it holds aggregates and case references only.
REPORT_PERMISSION = Permission.ANALYTICS_READ


def _format_of(out: Path, given: ReportFormat | None) -> ReportFormat:
    if given is not None:
        return given
    suffix = out.suffix.lower().lstrip(".")
    if suffix in ("htm", "html"):
        return ReportFormat.HTML
    if suffix == "pdf":
        return ReportFormat.PDF
    err.print(
        f"[red]error:[/red] --out: cannot tell the format from {out.name!r}; "
        "expected a name ending .html or .pdf, or --format html|pdf",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(2)


def situation(
    out: Annotated[Path, typer.Option("--out", help="the file to write: report.html or report.pdf")],
    day_text: Annotated[
        str | None, typer.Option("--day", help="the report's day, YYYY-MM-DD (local; default today)")
    ] = None,
    fmt: Annotated[
        ReportFormat | None, typer.Option("--format", help="html or pdf (default: from --out's suffix)")
    ] = None,
) -> None:
    """The situation report of a day, English and Traditional Chinese in one document.

    Headline numbers, the epidemic curve by classification, R_t with its band, the
    unlinked share, active clusters and the chains of the largest (when computed), and the
    contacts traced and orders issued. Aggregates and case references only; the read is
    audited (``reports.situation``).
    """
    chosen = _format_of(out, fmt)
    day: date | None = None
    if day_text is not None:
        try:
            day = date.fromisoformat(day_text.strip())
        except ValueError:
            err.print(
                f"[red]error:[/red] --day: expected a date YYYY-MM-DD, got {day_text!r}", highlight=False
            )
            raise typer.Exit(2) from None
    with services() as svc:
        wanted = day or svc.clock.now().astimezone(svc.settings.zone).date()
        report = svc.situation_reports.report(wanted)
        svc.audit.record(
            event_for(
                operator(),
                REPORT_PERMISSION,
                "reports.situation",
                record=wanted.isoformat(),
                details={"format": chosen.value},
            )
        )
        # Imported here: matplotlib and fpdf2 load only for the command that draws with them.
        from chaincut.analytics.situation_render import render_situation_report

        body = render_situation_report(report, chosen)
    out.write_bytes(body)
    console.print(
        f"wrote {out} ({len(body):,} bytes): situation report for {wanted.isoformat()}, {chosen.value}",
        highlight=False,
        soft_wrap=True,
    )


report_app.command("situation")(situation)
