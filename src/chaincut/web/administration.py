"""Administration pages: the audit log (search and chain check) and staff accounts.

- ``/console/audit``: entries about a staff member, a person or with a flag; the hash chain checked;
- ``/console/staff``: every account; add one, set its roles, disable or enable it.

Each calls the service the API calls, under the same permission, and is audited the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chaincut.access.audit import event_for
from chaincut.clock import from_epoch
from chaincut.domain.access import Permission, Role
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.guards import Caller, requires
from chaincut.web.i18n import N_
from chaincut.web.pages import ROLE_TITLES, PageRoute, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Auditor = Annotated[Caller, requires(Permission.AUDIT_READ)]
_AUDIT_KINDS = (("staff", N_("Staff member")), ("person", N_("Person")), ("flag", N_("Flag")))


@router.get("/console/audit")
def audit_log(
    request: Request,
    caller: Auditor,
    by: Annotated[str, Query(max_length=16)] = "staff",
    value: Annotated[str, Query(max_length=64)] = "",
    verify: bool = False,
) -> HTMLResponse:
    """Search the audit log by staff member, person or flag, and check its hash chain."""
    services = caller.services
    trail = services.audit
    words = localizer_for(request, caller)
    zone = services.settings.zone
    if by not in dict(_AUDIT_KINDS):
        raise InvalidInput("by: expected staff, person or flag", field="by")
    wanted = value.strip()
    found = None
    if wanted:
        if by == "staff":
            found = trail.by_actor(f"staff:{wanted}", limit=500)
        elif by == "person":
            found = trail.about_person(wanted, limit=500)
        else:
            found = trail.flagged(wanted, limit=500)
        trail.record(event_for(caller.principal, "audit.read", "audit", record=wanted))
    chain = trail.verify() if verify else None
    entries = (
        None
        if found is None
        else [
            {
                "seq": r.seq,
                "at": words.datetime(r.at.astimezone(zone), "short"),
                "actor": r.event.actor,
                "action": r.event.action,
                "resource": r.event.resource,
                "record": r.event.record,
                "purpose": r.event.purpose,
                "outcome": r.event.outcome,
                "flags": list(r.event.flags),
            }
            for r in sorted(found, key=lambda r: -r.seq)
        ]
    )
    return page(
        request,
        caller,
        "audit.html",
        kinds=[(k, words.gettext(label)) for k, label in _AUDIT_KINDS],
        by=by,
        value=wanted,
        entries=entries,
        chain=chain,
    )


Admin = Annotated[Caller, requires(Permission.USERS_MANAGE)]
_STAFF_DONE = {
    "added": N_("The account was added."),
    "roles": N_("The roles were set."),
    "disabled": N_("The account was disabled: its sessions and tokens have ended."),
    "enabled": N_("The account was enabled."),
}
_STAFF_PROBLEMS = {
    "username": N_(
        "Nothing was changed: a username is 2 to 64 lower-case letters, digits, '.', '_' or '-', "
        "starting with a letter, and not one already taken; and your own account is changed by "
        "another administrator."
    ),
    "password": N_("Nothing was added: the first password must be 12 to 1024 characters."),
    "roles": N_("Nothing was changed: choose at least one role."),
}
_ROLE_ORDER = (
    Role.TRACER,
    Role.SUPERVISOR,
    Role.EPIDEMIOLOGIST,
    Role.POLICY_EDITOR,
    Role.BORDER_OFFICER,
    Role.VENUE_OPERATOR,
    Role.ADMINISTRATOR,
)


@router.get("/console/staff")
def staff_accounts(
    request: Request,
    caller: Admin,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """Administrators: every staff account, its roles and state; add, change roles, disable."""
    services = caller.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    now = services.clock.now()
    records = services.accounts.list()
    caller.audit("staff", "list", details={"count": len(records)})
    accounts = []
    for r in sorted(records, key=lambda r: r.username):
        if r.disabled:
            state = words.gettext(N_("disabled"))
        elif r.locked_until is not None and from_epoch(r.locked_until) > now:
            until = words.datetime(from_epoch(r.locked_until).astimezone(zone), "short")
            state = words.gettext(N_("locked until %(time)s")) % {"time": until}
        else:
            state = words.gettext(N_("active"))
        accounts.append(
            {
                "username": r.username,
                "roles": [words.gettext(ROLE_TITLES[role]) for role in _ROLE_ORDER if role in r.roles],
                "state": state,
                "disabled": r.disabled,
                "created_by": r.created_by,
                "created_at": words.datetime(from_epoch(r.created_at).astimezone(zone), "short"),
                "self": caller.principal.name == f"staff:{r.username}",
            }
        )
    return page(
        request,
        caller,
        "staff.html",
        accounts=accounts,
        roles=[(role.value, words.gettext(ROLE_TITLES[role])) for role in _ROLE_ORDER],
        notice=words.message(_STAFF_DONE, done),
        problem=words.message(_STAFF_PROBLEMS, problem),
    )


def _staff_change(change: Callable[[], object], done: str) -> Response:
    """Make an account change; back to the accounts page saying what happened, or which field was wrong."""
    try:
        change()
    except (InvalidInput, Conflict, NotFound) as exc:
        field = exc.field if exc.field in _STAFF_PROBLEMS else "username"
        return RedirectResponse(f"/console/staff?problem={field}", status_code=303)
    return RedirectResponse(f"/console/staff?done={done}", status_code=303)


def _roles(values: Sequence[str] | None) -> frozenset[Role]:
    known = {r.value: r for r in Role}
    return frozenset(known[v] for v in values or () if v in known)


@router.post("/console/staff")
def add_account(
    caller: Admin,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    roles: Annotated[list[str] | None, Form(max_length=16)] = None,
) -> Response:
    """Add an account (the Guard has checked the form's CSRF token); audited by the service."""
    accounts = caller.services.accounts
    return _staff_change(
        lambda: accounts.add(username.strip(), password, _roles(roles), caller.principal), "added"
    )


@router.post("/console/staff/roles")
def set_account_roles(
    caller: Admin,
    username: Annotated[str, Form(max_length=64)] = "",
    roles: Annotated[list[str] | None, Form(max_length=16)] = None,
) -> Response:
    """Set an account's roles; cached principals are forgotten so the change holds at once."""
    services = caller.services

    def change() -> None:
        services.accounts.set_roles(username, _roles(roles), caller.principal)
        services.principals.forget_all()

    return _staff_change(change, "roles")


@router.post("/console/staff/{username}/{action}")
def enable_or_disable(
    caller: Admin,
    username: Annotated[str, Path(min_length=1, max_length=64)],
    action: Annotated[str, Path(pattern="^(enable|disable)$")],
) -> Response:
    """Disable an account (its sessions and tokens end at once) or enable it again."""
    services = caller.services

    def change() -> None:
        services.accounts.disable(username, caller.principal, disabled=action == "disable")
        services.principals.forget_all()

    return _staff_change(change, "disabled" if action == "disable" else "enabled")
