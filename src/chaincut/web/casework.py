"""Casework pages: a tracer's queue of assigned cases, and a supervisor's team and export approvals.

- ``/console/cases``: "My cases", oldest report first, overdue ones marked (the policy's
  ``[tracing_targets]``), by keyset;
- ``/console/team``: each tracer's load, and the cases no one works, to assign in bulk;
- ``/console/approvals``: export requests awaiting a supervisor, approved or refused with a reason.

Each calls the service the API calls, under the same permission, and is audited the same way.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chaincut.clock import from_epoch
from chaincut.domain.access import Permission
from chaincut.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from chaincut.guards import Caller, requires
from chaincut.store.caseload import case_cursor, parse_case_cursor
from chaincut.web.i18n import N_
from chaincut.web.labels import CASE_CLASSIFICATIONS, CASE_STATUSES, label
from chaincut.web.pages import PageRoute, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

CaseReader = Annotated[Caller, requires(Permission.CASES_READ)]


@router.get("/console/cases")
def my_cases(
    request: Request,
    caller: CaseReader,
    after: Annotated[str | None, Query(max_length=64)] = None,
    untraced: bool = False,
) -> HTMLResponse:
    """A tracer's queue: the cases assigned to them, oldest report first, overdue ones marked."""
    staff_id = caller.principal.staff_id
    if staff_id is None:
        raise PermissionDenied("only staff have a caseload")
    services = caller.services
    found = services.caseload.page(staff_id, after=after, untraced_only=untraced)
    caller.audit("cases", f"assigned_to=me,untraced={untraced},after={after or ''}")
    words = localizer_for(request, caller)
    zone = services.settings.zone
    entries = [
        {
            "ref": e.case.ref,
            "status": label(words, CASE_STATUSES, e.case.status),
            "classification": label(words, CASE_CLASSIFICATIONS, e.case.classification),
            "reported": words.datetime(e.reported_at.astimezone(zone), "short"),
            "hours": words.number(round(e.hours_waiting, 1)),
            "traced": None if e.traced_at is None else words.datetime(e.traced_at.astimezone(zone), "short"),
            "people": e.case.traced_people,
            "overdue": e.overdue,
        }
        for e in found.entries
    ]
    query = {"after": found.next_cursor} | ({"untraced": "1"} if untraced else {})
    return page(
        request,
        caller,
        "my_cases.html",
        summary=found,
        entries=entries,
        untraced=untraced,
        next_href=f"/console/cases?{urlencode(query)}" if found.next_cursor else None,
    )


Assigner = Annotated[Caller, requires(Permission.CASES_ASSIGN)]
_ASSIGN_PROBLEMS = {
    "cases": N_("Nothing was assigned: choose at least one case."),
    "staff": N_("Nothing was assigned: choose an active tracer."),
}
_TEAM_PAGE = 50


@router.get("/console/team")
def team(
    request: Request,
    caller: Assigner,
    after: Annotated[str | None, Query(max_length=64)] = None,
    assigned: Annotated[int | None, Query(ge=0)] = None,
    refused: Annotated[int | None, Query(ge=0)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """A supervisor's view: each tracer's load, and the cases no one works, to assign in bulk."""
    services = caller.services
    words = localizer_for(request, caller)
    position = parse_case_cursor(after)
    found = services.assignments.unassigned(after=position, limit=_TEAM_PAGE + 1)
    loads = services.assignments.loads()
    caller.audit("cases", f"unassigned,after={after or ''}")
    zone = services.settings.zone
    shown = found[:_TEAM_PAGE]
    cases = [
        {
            "ref": c.ref,
            "status": label(words, CASE_STATUSES, c.status),
            "reported": words.datetime(from_epoch(c.created_at).astimezone(zone), "short"),
        }
        for c in shown
    ]
    notice = None
    if assigned is not None and to:
        notice = words.ngettext(
            "%(num)s case assigned to %(tracer)s.", "%(num)s cases assigned to %(tracer)s.", assigned
        ) % {"num": assigned, "tracer": to}
        if refused:
            notice += " " + words.ngettext(
                "%(num)s case could not be: it is no longer there.",
                "%(num)s cases could not be: they are no longer there.",
                refused,
            ) % {"num": refused}
    more = len(found) > _TEAM_PAGE and shown
    return page(
        request,
        caller,
        "team.html",
        loads=loads,
        cases=cases,
        notice=notice,
        problem=words.message(_ASSIGN_PROBLEMS, problem),
        target_hours=services.policy.tracing_targets.contacts_traced_within_hours,
        next_href=f"/console/team?after={case_cursor(shown[-1].created_at, shown[-1].id)}" if more else None,
    )


@router.post("/console/team/assign")
def assign_cases(
    caller: Assigner,
    cases: Annotated[list[str] | None, Form(max_length=200)] = None,
    staff: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Assign the chosen cases to one tracer (the Guard has checked the form's CSRF token)."""
    try:
        outcome = caller.services.assignments.assign_many(caller.principal, cases or [], staff)
    except InvalidInput as exc:  # no case chosen, or no active tracer of that name: say which
        return RedirectResponse(f"/console/team?{urlencode({'problem': exc.field})}", status_code=303)
    query = {"assigned": len(outcome.assigned), "refused": len(outcome.refused), "to": staff}
    return RedirectResponse(f"/console/team?{urlencode(query)}", status_code=303)


Approver = Annotated[Caller, requires(Permission.EXPORTS_APPROVE)]
_DECISION_PROBLEMS = {
    "reason": N_("Nothing was decided: give a reason of 5 to 500 characters."),
    "own_request": N_("Nothing was decided: another supervisor must decide on your own request."),
    "gone": N_("Nothing was decided: the request was already decided, has expired or is no longer there."),
}


@router.get("/console/approvals")
def approvals(
    request: Request,
    caller: Approver,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """Export requests awaiting a supervisor, each to approve or refuse with a reason."""
    services = caller.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    pending = services.approvals.pending()
    caller.audit("approvals", "pending", details={"count": len(pending)})
    requests = [
        {
            "id": r.public_id,
            "case": r.case_ref or "-",
            "requested_by": r.requested_by,
            "requested_at": words.datetime(from_epoch(r.requested_at).astimezone(zone), "short"),
            "purpose": r.purpose,
            "expires_at": words.datetime(from_epoch(r.expires_at).astimezone(zone), "short"),
            "own": r.requested_by == caller.principal.name,
        }
        for r in pending
    ]
    policies = [
        {
            "id": v.id,
            "version": v.version,
            "requested_by": v.requested_by,
            "reason": v.request_reason,
            "own": caller.principal.name in (v.uploaded_by, v.requested_by),
        }
        for v in (
            services.policy_changes.pending() if caller.principal.may(Permission.POLICY_APPROVE) else []
        )
    ]
    notices = {"approve": N_("Approved: the export may start."), "reject": N_("Refused: nothing leaves.")}
    return page(
        request,
        caller,
        "approvals.html",
        requests=requests,
        policies=policies,
        notice=words.message(notices, done),
        problem=words.message(_DECISION_PROBLEMS, problem),
    )


@router.post("/console/approvals/{public_id}")
def decide(
    caller: Approver,
    public_id: Annotated[str, Path(min_length=1, max_length=32)],
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Approve or refuse one request (the Guard has checked the form's CSRF token)."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision: expected approve or reject", field="decision")
    try:
        caller.services.approvals.decide(
            caller.principal, public_id, approve=decision == "approve", reason=reason
        )
    except InvalidInput:
        return RedirectResponse("/console/approvals?problem=reason", status_code=303)
    except PermissionDenied as exc:
        if exc.code != "own_request":
            raise
        return RedirectResponse("/console/approvals?problem=own_request", status_code=303)
    except (Conflict, NotFound):
        return RedirectResponse("/console/approvals?problem=gone", status_code=303)
    return RedirectResponse(f"/console/approvals?done={decision}", status_code=303)
