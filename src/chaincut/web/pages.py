"""Staff sign-in on the web: the sign-in form, the console, signing out, and the pages' stylesheet.

A web session lives in the ``chaincut_session`` cookie (HttpOnly, SameSite=Strict,
Secure unless CHAINCUT_SECURE_COOKIES=false); every unsafe request it makes must
carry the session's CSRF token, which the Guard checks. The sign-in form is
protected too (against signing someone in as the attacker): it carries a token
that must match a short-lived pre-session cookie only this site can set.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine, Sequence
from functools import cache
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from chaincut.access.audit import event_for
from chaincut.clock import from_epoch
from chaincut.domain.access import ROLE_PERMISSIONS, Permission, Role
from chaincut.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied, RateLimited
from chaincut.guards import SESSION_COOKIE, Caller, requires
from chaincut.settings import Settings
from chaincut.web.i18n import LANG_COOKIE, N_, Localizer, localizer, negotiate, parse_language
from chaincut.web.render import render

__all__ = ["LOGIN_COOKIE", "PageRoute", "localizer_for", "page", "router"]

LOGIN_COOKIE = "chaincut_login"
LOGIN_FORM_SECONDS = 10 * 60  # how long a sign-in form stays usable
LANG_COOKIE_SECONDS = 365 * 24 * 3600


def localizer_for(request: Request, caller: Caller | None = None) -> Localizer:
    """The request's language: the staff member's own choice, ``?lang=``, the cookie, the browser's."""
    chosen = None
    if caller is not None and caller.principal.staff_id is not None:
        chosen = caller.services.accounts.language_of(caller.principal.staff_id)
    return localizer(
        negotiate(
            chosen,
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
    )


def page(
    request: Request,
    caller: Caller | None,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the request's language; a ``?lang=`` the page was asked in is remembered (cookie)."""
    words = localizer_for(request, caller)
    signed_in = caller is not None and caller.principal.staff_id is not None and caller.csrf_token is not None
    body = render(
        template,
        words,
        path=request.url.path,
        signed_in=signed_in,
        csrf_token=(caller.csrf_token if caller is not None else None) or "",
        **context,
    )
    response = HTMLResponse(body, status_code=status, headers=headers)
    asked = parse_language(request.query_params.get("lang"))
    if asked is not None:
        settings: Settings = request.app.state.services.settings
        response.set_cookie(
            LANG_COOKIE,
            asked.value,
            max_age=LANG_COOKIE_SECONDS,
            path="/",
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response


def error_page(request: Request, status: int, *, request_id: str | None = None) -> HTMLResponse:
    """The page for a refusal or a failure a browser asked for: 403, 404, 429, 500, with a way back."""
    words = localizer_for(request)
    heading, message = _ERRORS.get(status, _ERRORS[500])
    return page(
        request,
        None,
        "error.html",
        status=status,
        heading=words.gettext(heading),
        message=words.gettext(message),
        request_id=request_id,
        back_href="/",
        back_label=words.gettext(N_("Back to the start")),
    )


_ERRORS: dict[int, tuple[str, str]] = {
    403: (
        N_("Refused"),
        N_(
            "This form is missing its security token, or the token does not match your session. "
            "Nothing was changed."
        ),
    ),
    400: (
        N_("Not understood"),
        N_("This page's address holds a value the page does not understand. Go back and try again."),
    ),
    404: (N_("Not found"), N_("There is no such page, or you may not see it.")),
    429: (N_("Too many attempts"), N_("Please wait a minute before trying again.")),
    500: (
        N_("Something went wrong"),
        N_(
            "The server could not finish this request. Try again; if it happens again, give your "
            "support desk the request id below."
        ),
    ),
}


def _login_cookie_name(settings: Settings) -> str:
    # Over HTTPS the __Host- prefix stops a sibling subdomain from planting the cookie.
    return f"__Host-{LOGIN_COOKIE}" if settings.secure_cookies else LOGIN_COOKIE


def _clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="strict"
    )


def _clear_login(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        _login_cookie_name(settings),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


class PageRoute(APIRoute):
    """A route answering a browser: refusals become pages (or a trip to sign in), not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAuthenticated:
                # No session, or it ended (expired, signed out, account disabled): sign in again.
                settings: Settings = request.app.state.services.settings
                redirect = RedirectResponse("/login", status_code=303)
                # Only a cookie this request carried, and which failed, is cleared: a cross-site
                # form arrives without the (SameSite=Strict) cookie and must not end the session.
                if request.cookies.get(SESSION_COOKIE):
                    _clear_session(redirect, settings)
                return redirect
            except PermissionDenied as exc:
                # A page one may not see answers as a missing one; a form without its token says so.
                return error_page(request, 403 if exc.code == "csrf_failed" else 404)
            except InvalidInput:
                return error_page(request, 400)
            except RateLimited as exc:
                response = error_page(request, 429)
                response.headers["Retry-After"] = str(exc.retry_after)
                return response

        return answer


router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Public = Annotated[Caller, requires(Permission.PUBLIC)]
SignedIn = Annotated[Caller, requires(Permission.SIGNED_IN)]


def _staff(caller: Caller) -> bool:
    return caller.principal.staff_id is not None and caller.csrf_token is not None


@router.get("/")
def start(caller: Public) -> Response:
    """Signed in on this browser: the console; otherwise the public landing page."""
    return RedirectResponse("/console" if _staff(caller) else "/welcome", status_code=303)


@router.get("/welcome")
def landing(request: Request, caller: Public) -> HTMLResponse:
    """What chaincut is, and the ways in: staff sign-in, the public lists anyone may check."""
    return page(request, caller, "landing.html")


def _sign_in_form(
    request: Request, caller: Caller, *, status: int = 200, username: str = "", error: str | None = None
) -> HTMLResponse:
    """The form with a fresh sign-in token, and the pre-session cookie it must match."""
    settings = caller.services.settings
    token = secrets.token_urlsafe(32)
    response = page(
        request, None, "login.html", status=status, form_token=token, username=username[:64], error=error
    )
    response.set_cookie(
        _login_cookie_name(settings),
        token,
        max_age=LOGIN_FORM_SECONDS,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def sign_in_form(request: Request, caller: Public) -> Response:
    """The sign-in form (already signed in on this browser: the console)."""
    if _staff(caller):
        return RedirectResponse("/console", status_code=303)
    return _sign_in_form(request, caller)


@router.post("/login")
def sign_in(
    request: Request,
    caller: Annotated[Caller, requires(Permission.PUBLIC, rate="sign-in")],
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Sign in: a session cookie and on to the console, or the form again saying only that it failed."""
    settings = caller.services.settings
    expected = request.cookies.get(_login_cookie_name(settings), "")
    if not expected or not csrf_token or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _sign_in_form(request, caller, status=403, username=username, error="form_expired")
    try:
        issued = caller.services.accounts.open_session(username, password)
    except NotAuthenticated:
        return _sign_in_form(request, caller, status=401, username=username, error="sign_in_failed")
    assert issued.expires_at is not None
    lifetime = int((issued.expires_at - caller.services.clock.now()).total_seconds())
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        max_age=max(lifetime, 0),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    _clear_login(response, settings)
    return response


_ROLE_TITLES: dict[Role, str] = {
    Role.TRACER: N_("Contact tracer"),
    Role.SUPERVISOR: N_("Supervisor"),
    Role.EPIDEMIOLOGIST: N_("Epidemiologist"),
    Role.POLICY_EDITOR: N_("Policy editor"),
    Role.BORDER_OFFICER: N_("Border officer"),
    Role.VENUE_OPERATOR: N_("Venue operator"),
    Role.ADMINISTRATOR: N_("Administrator"),
}

# What each permission opens in the browser (GET routes that need no stated purpose).
_LINKS: tuple[tuple[Permission, str, str], ...] = (
    (Permission.CASES_READ, "/console/cases", N_("My cases: the queue of cases assigned to you")),
    (Permission.CASES_ASSIGN, "/console/team", N_("The team's cases: workload, and assigning cases")),
    (Permission.ANALYTICS_READ, "/reports/situation", N_("Today's situation report")),
    (Permission.EXPORTS_APPROVE, "/console/approvals", N_("Export requests awaiting approval")),
    (Permission.VENUES_READ, "/venues", N_("Venues")),
    (Permission.USERS_MANAGE, "/console/staff", N_("Staff accounts")),
    (Permission.AUDIT_READ, "/console/audit", N_("The audit log: search it, and check its chain")),
    (Permission.RETENTION_RUN, "/purges", N_("Retention purges")),
    (Permission.STATUS_READ, "/status", N_("Counts and status")),
    (Permission.BORDER_CLEAR, "/checkpoint", N_("Check a traveller at the checkpoint")),
)


@router.get("/console")
def console(request: Request, caller: SignedIn) -> HTMLResponse:
    """Who is signed in, with which roles, and what each role opens."""
    principal = caller.principal
    words = localizer_for(request, caller)
    held = sorted(principal.roles, key=lambda r: r.value)
    sections = [
        {
            "role": role.value,
            "title": words.gettext(_ROLE_TITLES[role]),
            "links": [
                {"href": href, "label": words.gettext(label)}
                for permission, href, label in _LINKS
                if permission in ROLE_PERMISSIONS[role]
            ],
        }
        for role in held
    ]
    return page(
        request,
        caller,
        "console.html",
        name=principal.name,
        roles=[words.gettext(_ROLE_TITLES[r]) for r in held],
        sections=sections,
    )


_STATUSES: dict[str, str] = {
    "confirmed": N_("confirmed"),
    "probable": N_("probable"),
    "suspected": N_("suspected"),
}
_CLASSIFICATIONS: dict[str, str] = {
    "imported": N_("imported"),
    "local": N_("local"),
    "linked": N_("linked"),
    "unlinked": N_("unlinked"),
    "possibly_local": N_("possibly local"),
    "unknown": N_("unknown"),
}
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
            "status": words.gettext(_STATUSES.get(e.case.status, e.case.status)),
            "classification": words.gettext(
                _CLASSIFICATIONS.get(e.case.classification, e.case.classification)
            ),
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
    position = _keyset(after)
    found = services.assignments.unassigned(after=position, limit=_TEAM_PAGE + 1)
    loads = services.assignments.loads()
    caller.audit("cases", f"unassigned,after={after or ''}")
    zone = services.settings.zone
    shown = found[:_TEAM_PAGE]
    cases = [
        {
            "ref": c.ref,
            "status": words.gettext(_STATUSES.get(c.status, c.status)),
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
        problem=words.gettext(_ASSIGN_PROBLEMS[problem]) if problem in _ASSIGN_PROBLEMS else None,
        target_hours=services.policy.tracing_targets.contacts_traced_within_hours,
        next_href=f"/console/team?after={shown[-1].created_at}.{shown[-1].id}" if more else None,
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


def _keyset(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    created, _, case_id = value.partition(".")
    if not (created.isdigit() and case_id.isdigit()):
        raise InvalidInput("after: expected the cursor a previous page gave", field="after")
    return int(created), int(case_id)


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
    notices = {"approve": N_("Approved: the export may start."), "reject": N_("Refused: nothing leaves.")}
    return page(
        request,
        caller,
        "approvals.html",
        requests=requests,
        notice=words.gettext(notices[done]) if done in notices else None,
        problem=words.gettext(_DECISION_PROBLEMS[problem]) if problem in _DECISION_PROBLEMS else None,
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
                "roles": [words.gettext(_ROLE_TITLES[role]) for role in _ROLE_ORDER if role in r.roles],
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
        roles=[(role.value, words.gettext(_ROLE_TITLES[role])) for role in _ROLE_ORDER],
        notice=words.gettext(_STAFF_DONE[done]) if done in _STAFF_DONE else None,
        problem=words.gettext(_STAFF_PROBLEMS[problem]) if problem in _STAFF_PROBLEMS else None,
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


@router.post("/console/language")
def choose_language(
    caller: SignedIn,
    language: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=200)] = "/console",
) -> Response:
    """Keep the signed-in member's choice of language (the Guard has checked the form's CSRF token)."""
    chosen = parse_language(language)
    if chosen is not None:  # a language the pages lack changes nothing
        caller.services.accounts.choose_language(caller.principal, chosen.value)
    # Only a path of ours: never an address the form was given from elsewhere.
    back = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/console"
    return RedirectResponse(back, status_code=303)


@router.post("/logout")
def sign_out(request: Request, caller: SignedIn) -> Response:
    """End this browser's session (the Guard has checked the form's CSRF token) and forget the cookie."""
    settings = caller.services.settings
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        caller.services.accounts.close_session(secret)
    response = RedirectResponse("/login", status_code=303)
    _clear_session(response, settings)
    return response


@cache
def _stylesheet() -> bytes:
    return files("chaincut.web").joinpath("static", "chaincut.css").read_bytes()


@router.get("/static/chaincut.css")
def stylesheet(_caller: Public) -> Response:
    """The pages' stylesheet (no personal data: browsers may keep it an hour)."""
    return Response(
        _stylesheet(), media_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=3600"}
    )
