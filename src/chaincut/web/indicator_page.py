"""WHO's indicators of contact tracing, for supervisors: ``/console/indicators``.

The four shares of :mod:`chaincut.tracing.indicators` over the policy's period, each with what it
counts; aggregates only (no person or case is shown), audited as a read of the indicators.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires
from chaincut.tracing.indicators import Share
from chaincut.web.i18n import N_, Localizer
from chaincut.web.pages import PageRoute, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Supervisor = Annotated[Caller, requires(Permission.CASES_ASSIGN)]


_SHARES = (
    (
        "traced-in-time",
        N_("Contacts traced in time"),
        N_("Orders for a case's contacts issued within %(hours)s hours of the case's report."),
        True,
    ),
    (
        "followed-whole-period",
        N_("Followed up for the whole period"),
        N_("Orders that ended whose person was reached on every day of them."),
        True,
    ),
    (
        "known-contacts",
        N_("New cases already known as contacts"),
        N_("Cases reported whose person had been given an order before."),
        True,
    ),
    (
        "lost",
        N_("Lost to follow-up"),
        N_("Orders that ended whose person was not reached on any of their last %(days)s days."),
        False,
    ),
)


def _shown(words: Localizer, share: Share) -> dict[str, Any]:
    value = share.value
    return {
        "percent": None if value is None else words.percent(value),
        "width": 0 if value is None else round(value * 100, 1),
        "counts": words.gettext(N_("%(part)s of %(whole)s")) % {"part": share.part, "whole": share.whole},
    }


@router.get("/console/indicators")
def indicators(request: Request, caller: Supervisor) -> HTMLResponse:
    """The four indicators over the policy's period, each as a share with its counts."""
    found = caller.services.tracing_indicators.compute()
    caller.audit("tracing_indicators", found.today.isoformat())
    words = localizer_for(request, caller)
    values = (
        found.traced_in_time,
        found.followed_whole_period,
        found.known_contacts,
        found.lost_to_follow_up,
    )
    numbers = {"hours": found.traced_within_hours, "days": found.lost_after_days}
    shares = [
        {
            "key": key,
            "title": words.gettext(title),
            "meaning": words.gettext(meaning) % numbers,
            "good_high": high,
        }
        | _shown(words, share)
        for (key, title, meaning, high), share in zip(_SHARES, values, strict=True)
    ]
    return page(
        request, caller, "indicators.html", shares=shares, first_day=found.first_day, today=found.today
    )
