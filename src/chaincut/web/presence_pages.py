"""Decentralised check-in in the staff console: a tracer warns a venue's visitors, a supervisor reviews.

- ``/console/cases/{ref}/warnings``: for a case, the warnings proposed for decentralised venues it
  visited, and the form to propose one: the venue, the case's stay there (in local time, inside the
  infectious window), the message phones show, and for a basic venue the tracing code its owner sent;
- ``/console/warnings``: the proposals waiting for another supervisor, to publish or reject with a
  reason; published ones reach phones with their next download.

Each calls the service the API calls, under the same permission, and is audited the same way; the
case pages' stated purpose goes with each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chaincut.clock import from_epoch
from chaincut.domain import Venue
from chaincut.domain.access import Permission
from chaincut.errors import ChaincutError, InvalidInput
from chaincut.guards import Caller, requires
from chaincut.presence.wire import TRACING_PREFIX, decode_code
from chaincut.store.presence import WarningRecord
from chaincut.web.i18n import N_, Language, Localizer
from chaincut.web.pages import PageRoute, back_to, localizer_for, page
from chaincut.web.purposes import with_stated_purpose
from chaincut.web.resident_pages import RESIDENT_CSP

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Warner = Annotated[Caller, requires(Permission.PRESENCE_WARN)]
Publisher = Annotated[Caller, requires(Permission.PRESENCE_PUBLISH)]
RefPath = Annotated[str, Path(min_length=1, max_length=64)]
IdPath = Annotated[str, Path(min_length=1, max_length=32)]

_STATUSES = {
    "proposed": N_("awaiting another supervisor"),
    "published": N_("published: phones are checking it"),
    "rejected": N_("rejected"),
}
_DONE = {
    "proposed": N_("The warning is proposed. Another supervisor publishes it."),
    "published": N_("The warning is published: phones that were there will find it with their next check."),
    "rejected": N_("The warning is rejected: nothing reaches phones."),
}
DEFAULT_MESSAGE = N_(
    "Someone with COVID-19 was at this place while you were there. Get tested today and watch for symptoms."
)


def _row(words: Localizer, record: WarningRecord, zone: Any, principal_name: str) -> dict[str, Any]:
    chinese = words.language is Language.ZH_HANT
    return {
        "id": record.public_id,
        "case": record.case_ref,
        "venue": record.venue_ref,
        "venue_name": record.venue_name_zh if chinese else record.venue_name_en,
        "start": from_epoch(record.start_time).astimezone(zone),
        "end": from_epoch(record.end_time).astimezone(zone),
        "message": record.message,
        "status": words.gettext(_STATUSES.get(record.status, record.status)),
        "state": record.status,
        "proposed_by": record.proposed_by,
        "proposed_at": from_epoch(record.proposed_at).astimezone(zone),
        "reviewed_by": record.reviewed_by,
        "review_reason": record.review_reason,
        "traces": record.traces,
        "own": record.proposed_by == principal_name,
    }


def _venue_choice(words: Localizer, venue: Venue, variant: str) -> dict[str, str]:
    chinese = words.language is Language.ZH_HANT
    return {
        "ref": venue.ref,
        "name": venue.name_zh if chinese else venue.name_en,
        "other": venue.name_en if chinese else venue.name_zh,
        "variant": variant,
    }


def _empty_form(words: Localizer) -> dict[str, str]:
    return {
        "venue": "",
        "start": "",
        "end": "",
        "message": words.gettext(DEFAULT_MESSAGE),
        "tracing_code": "",
    }


def _local(text: str, zone: Any, field: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("expected a date and time", field=field) from None
    return at.replace(tzinfo=zone) if at.tzinfo is None else at


def _case_page(
    request: Request,
    caller: Caller,
    ref: str,
    *,
    problem: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    purposed = with_stated_purpose(caller, f"cases/{ref}")
    assert purposed is not None
    services = purposed.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    case = purposed.case(ref, details={"warnings": True})
    record = services.cases.describe([case])[0]
    warnings = services.presence.warnings(case_id=case.id)
    venues = services.presence.decentralised_venues()
    answer = page(
        request,
        caller,
        "case_warnings.html",
        status=422 if problem else 200,
        ref=ref,
        window={"start": record.window.start.astimezone(zone), "end": record.window.end.astimezone(zone)},
        warnings=[_row(words, w, zone, caller.principal.name) for w in warnings],
        venues=[_venue_choice(words, v, kind) for v, kind in venues],
        max_hours=services.policy.presence.max_warning_hours,
        problem=problem,
        done=words.message(_DONE, request.query_params.get("done")),
        form=form
        or {
            "venue": "",
            "start": "",
            "end": "",
            "message": words.gettext(DEFAULT_MESSAGE),
            "tracing_code": "",
        },
    )
    # The residents' pages' policy: the camera's QR reader (ZXing-C++) is WebAssembly, and the
    # camera plays from a blob.
    answer.headers["Content-Security-Policy"] = RESIDENT_CSP
    return answer


@router.get("/console/cases/{ref}/warnings")
def case_warnings(request: Request, ref: RefPath, caller: Warner) -> Response:
    """The case's warnings for decentralised venues, and the form to propose one."""
    if with_stated_purpose(caller, f"cases/{ref}") is None:
        return RedirectResponse(f"/console/cases/{ref}", status_code=303)  # it asks why first
    return _case_page(request, caller, ref)


@router.post("/console/cases/{ref}/warnings")
def propose_warning(
    request: Request,
    ref: RefPath,
    caller: Warner,
    venue: Annotated[str, Form(max_length=64)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
    message: Annotated[str, Form(max_length=500)] = "",
    tracing_code: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Propose a warning; another supervisor publishes it."""
    purposed = with_stated_purpose(caller, f"cases/{ref}")
    if purposed is None:
        return RedirectResponse(f"/console/cases/{ref}", status_code=303)
    form = {"venue": venue, "start": start, "end": end, "message": message, "tracing_code": tracing_code}
    zone = caller.services.settings.zone
    try:
        code = None
        if tracing_code.strip():
            # As the owner's sheet prints it (marked), or the bare base64.
            code = decode_code(tracing_code.strip().removeprefix(TRACING_PREFIX), "tracing_code")
        caller.services.presence.propose(
            caller.principal,
            ref,
            venue.strip(),
            _local(start, zone, "start"),
            _local(end, zone, "end"),
            message,
            tracing_code=code,
            purpose=purposed.purpose,
        )
    except ChaincutError as exc:
        field = f"{exc.field}: " if exc.field else ""
        return _case_page(request, caller, ref, problem=f"{field}{exc.message}", form=form)
    return back_to(f"/console/cases/{ref}/warnings", done="proposed")


def _review_page(request: Request, caller: Caller, *, problem: str = "") -> HTMLResponse:
    words = localizer_for(request, caller)
    zone = caller.services.settings.zone
    pending = caller.services.presence.warnings(status="proposed")
    recent = [w for w in caller.services.presence.warnings(limit=50) if w.status != "proposed"][:20]
    return page(
        request,
        caller,
        "warnings.html",
        status=422 if problem else 200,
        pending=[_row(words, w, zone, caller.principal.name) for w in pending],
        recent=[_row(words, w, zone, caller.principal.name) for w in recent],
        problem=problem,
        done=words.message(_DONE, request.query_params.get("done")),
    )


@router.get("/console/warnings")
def warnings_page(request: Request, caller: Publisher) -> HTMLResponse:
    """Warnings for decentralised venues awaiting review, and the latest decided."""
    return _review_page(request, caller)


@router.post("/console/warnings/{public_id}")
def review_warning(
    request: Request,
    public_id: IdPath,
    caller: Publisher,
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Publish or reject a proposed warning, with a reason; never one's own."""
    try:
        if decision not in ("publish", "reject"):
            raise InvalidInput("expected publish or reject", field="decision")
        decided = caller.services.presence.review(
            caller.principal, public_id, publish=decision == "publish", reason=reason
        )
    except ChaincutError as exc:
        field = f"{exc.field}: " if exc.field else ""
        return _review_page(request, caller, problem=f"{field}{exc.message}")
    return back_to("/console/warnings", done=decided.status)
