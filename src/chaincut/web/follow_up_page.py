"""The daily follow-up worklist, as SORMAS's follow-up view: one row per contact under follow-up.

- ``/console/follow-ups``: the people with an open order (a tracer: from their assigned cases),
  each with the last 8 days marked seen, symptomatic, not reached or not done, today last;
- ``/console/follow-ups/{ref}/record``: one day's follow-up in a form (reached or not, symptoms
  from the fixed list, a test result, a note); a positive test makes the person a case linked to
  the case of their order, and the worklist says which.

Both are personal data: the purpose is asked once per session for the worklist, and every read
and record is audited with it, through the service the API's ``/people/{ref}/follow-ups`` calls.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chaincut.domain import TestResult
from chaincut.domain.access import Permission
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.guards import Caller, requires
from chaincut.tracing.followups import SYMPTOMS, DayStatus
from chaincut.web.i18n import N_
from chaincut.web.labels import ORDER_KINDS, SYMPTOM_LABELS, label
from chaincut.web.pages import PageRoute, localizer_for, page
from chaincut.web.purposes import keep_purpose, purpose_form, stated, with_stated_purpose

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]
FollowUpper = Annotated[Caller, requires(Permission.FOLLOW_UPS)]

RECORD = "follow-ups"  # the purpose covers the worklist and the follow-ups recorded from it
ROWS_PER_PAGE = 50
_STATUSES = {
    DayStatus.SEEN: N_("seen"),
    DayStatus.SYMPTOMATIC: N_("symptomatic"),
    DayStatus.NOT_REACHED: N_("not reached"),
    DayStatus.NOT_DONE: N_("not done"),
    DayStatus.OUTSIDE: N_("no order that day"),
}
_GLYPHS = {
    DayStatus.SEEN: "✓",
    DayStatus.SYMPTOMATIC: "!",
    DayStatus.NOT_REACHED: "✕",
    DayStatus.NOT_DONE: "?",
    DayStatus.OUTSIDE: "",
}
_SUGGESTIONS = (
    N_("Daily follow-up of contacts under quarantine"),
    N_("Calling contacts with a testing notice"),
)
_EXPLANATION = N_(
    "The people under follow-up and what each said are personal data. Say why you need them: you "
    "are asked once while you are signed in, and your reason is recorded in the audit log with "
    "every page of the worklist you open and every follow-up you record."
)
_PROBLEMS = {
    "reached": N_("A person not reached has no symptoms or test result: leave those empty."),
    "on_date": N_("The day must be today or earlier."),
    "symptoms": N_("Choose symptoms from the list; anything else goes in the note."),
    "note": N_("The note is too long: at most 500 characters."),
    "recorded": N_("This person's follow-up for that day is already recorded."),
}


def _form(request: Request, caller: Caller, *, problem: bool = False) -> HTMLResponse:
    words = localizer_for(request, caller)
    return purpose_form(
        request,
        caller,
        heading=words.gettext(N_("Follow-ups: why do you need them?")),
        explanation=words.gettext(_EXPLANATION),
        action="/console/follow-ups/purpose",
        submit=words.gettext(N_("Open the worklist")),
        next_path="/console/follow-ups",
        suggestions=_SUGGESTIONS,
        problem=problem,
    )


@router.post("/console/follow-ups/purpose")
def state_purpose(
    request: Request, caller: FollowUpper, purpose: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    """Keep why the member needs the follow-ups (the Guard has checked the form's CSRF token)."""
    cleaned = stated(caller, purpose)
    if cleaned is None:
        return _form(request, caller, problem=True)
    dataclasses.replace(caller, purpose=cleaned).audit(
        "follow_ups", "worklist", details={"purpose_stated": True}
    )
    keep_purpose(caller, RECORD, cleaned)
    return RedirectResponse("/console/follow-ups", status_code=303)


@router.get("/console/follow-ups")
def worklist(
    request: Request,
    caller: FollowUpper,
    after: Annotated[int | None, Query(ge=0)] = None,
    done: Annotated[str | None, Query(max_length=64)] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """One row per person under follow-up, the last 8 days marked, today's still to do first noticed."""
    purposed = with_stated_purpose(caller, RECORD)
    if purposed is None:
        return _form(request, caller)
    services = purposed.services
    words = localizer_for(request, caller)
    staff = services.records.assigned_staff_id(caller.principal, Permission.FOLLOW_UPS)
    found = services.follow_ups.worklist(staff, after=after, limit=ROWS_PER_PAGE)
    purposed.audit("follow_ups", "worklist", details={"after": after, "rows": len(found.rows)})
    days = [d for d, _ in found.rows[0].days] if found.rows else []
    rows = [
        {
            "person": row.person_ref,
            "due": row.due_today,
            "orders": [
                {
                    "kind": label(words, ORDER_KINDS, o.kind.value),
                    "ends_on": o.ends_on,
                    "case": o.case_ref,
                }
                for o in row.orders
            ],
            "days": [
                {"status": s.value, "glyph": _GLYPHS[s], "label": words.gettext(_STATUSES[s]), "day": d}
                for d, s in row.days
            ],
        }
        for row in found.rows
    ]
    notice, new_case = None, None
    if done and _recorded_by(services, done, caller.name):  # a notice a link cannot make up
        notice = words.gettext(N_("Follow-up recorded for %(person)s.")) % {"person": done}
        if case and _made_case_of(services, case, done):
            new_case = case
    return page(
        request,
        caller,
        "follow_ups.html",
        rows=rows,
        days=days,
        today=found.today,
        due=sum(1 for r in found.rows if r.due_today),
        legend=[
            {"status": s.value, "glyph": _GLYPHS[s], "label": words.gettext(_STATUSES[s])}
            for s in DayStatus
            if s is not DayStatus.OUTSIDE
        ],
        notice=notice,
        new_case=new_case,
        purpose=purposed.purpose,
        next_href=f"/console/follow-ups?after={found.next_after}" if found.next_after is not None else None,
    )


def _recorded_by(services: Any, person_ref: str, actor: str) -> bool:
    """Whether ``actor`` recorded the person's latest follow-up."""
    try:
        latest, _ = services.follow_ups.list(person_ref, limit=1)
    except NotFound:
        return False
    return bool(latest) and latest[0].follow_up.recorded_by == actor


def _made_case_of(services: Any, case_ref: str, person_ref: str) -> bool:
    """Whether ``case_ref`` is a case of that person (the one their positive test made)."""
    try:
        record = services.cases.describe([services.cases.get(case_ref)])[0]
    except NotFound:
        return False
    return bool(record.person_ref == person_ref)


def _record_form(
    request: Request,
    caller: Caller,
    ref: str,
    day: date,
    *,
    problem: str | None = None,
    chosen: dict[str, Any] | None = None,
) -> HTMLResponse:
    words = localizer_for(request, caller)
    return page(
        request,
        caller,
        "follow_up_form.html",
        status=400 if problem else 200,
        ref=ref,
        day=day,
        symptoms=[{"code": code, "label": words.gettext(text)} for code, text in SYMPTOM_LABELS.items()],
        problem=words.message(_PROBLEMS, problem),
        problem_field=problem,
        chosen=chosen or {"reached": "yes", "symptoms": [], "test": "", "note": ""},
    )


@router.get("/console/follow-ups/{ref}/record")
def record_form(
    request: Request,
    ref: RefPath,
    caller: FollowUpper,
    day: Annotated[date | None, Query()] = None,
) -> Response:
    """The form for one day's follow-up of one person (today unless another day is asked)."""
    purposed = with_stated_purpose(caller, RECORD)
    if purposed is None:
        return RedirectResponse("/console/follow-ups", status_code=303)
    purposed.person(ref, field="person")
    today = purposed.services.clock.now().astimezone(purposed.services.settings.zone).date()
    return _record_form(request, caller, ref, day or today)


@router.post("/console/follow-ups/{ref}/record")
def record(
    request: Request,
    ref: RefPath,
    caller: FollowUpper,
    day: Annotated[date, Form()],
    reached: Annotated[str, Form(max_length=8)] = "yes",
    symptoms: Annotated[list[str] | None, Form(max_length=len(SYMPTOMS))] = None,
    test: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record the day's follow-up (the Guard has checked the form's CSRF token)."""
    purposed = with_stated_purpose(caller, RECORD)
    if purposed is None:
        return RedirectResponse("/console/follow-ups", status_code=303)
    chosen = {"reached": reached, "symptoms": symptoms or [], "test": test, "note": note}
    if reached not in ("yes", "no") or test not in ("", "negative", "positive"):
        raise InvalidInput("reached or test: not one the form offers", field="reached")
    purposed.person(ref, details={"on_date": day.isoformat()}, field="person")
    try:
        recorded = purposed.services.follow_ups.record(
            ref,
            day,
            symptoms or [],
            TestResult(test) if test else None,
            note or None,
            caller.name,
            reached=reached == "yes",
        )
    except InvalidInput as exc:
        return _record_form(request, caller, ref, day, problem=exc.field, chosen=chosen)
    except Conflict:
        return _record_form(request, caller, ref, day, problem="recorded", chosen=chosen)
    query = {"done": ref} | ({"case": recorded.case.ref} if recorded.case is not None else {})
    return RedirectResponse(f"/console/follow-ups?{urlencode(query)}", status_code=303)
