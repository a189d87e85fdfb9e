"""The pages everyone meets, and what every page shares.

``/`` (to the console when signed in, else the landing page ``/welcome``), signing in and out,
the console, a member's choice of language, the stylesheet; and for every page module:
:func:`page` (a template in the request's language), :func:`error_page`, :class:`PageRoute`
(refusals as pages, not JSON) and :func:`localizer_for`.

A web session lives in the ``chaincut_session`` cookie (HttpOnly, SameSite=Strict,
Secure unless CHAINCUT_SECURE_COOKIES=false); every unsafe request it makes must
carry the session's CSRF token, which the Guard checks. The sign-in form is
protected too (against signing someone in as the attacker): it carries a token
that must match a short-lived pre-session cookie only this site can set.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from functools import cache
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from chaincut.domain.access import ROLE_PERMISSIONS, Permission, Role
from chaincut.errors import InvalidInput, NotAuthenticated, NotFound, PermissionDenied, RateLimited
from chaincut.guards import SESSION_COOKIE, Caller, requires
from chaincut.settings import Settings
from chaincut.web.i18n import LANG_COOKIE, N_, Localizer, localizer, negotiate, parse_language
from chaincut.web.render import render

__all__ = [
    "LOGIN_COOKIE",
    "ROLE_TITLES",
    "PageRoute",
    "back_to",
    "fragment",
    "localizer_for",
    "page",
    "router",
]

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


def back_to(path: str, **query: str) -> RedirectResponse:
    """After a form: see ``path`` again, with what happened in its query (``done=``, ``problem=``)."""
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


def fragment(request: Request, caller: Caller, template: str, **context: Any) -> HTMLResponse:
    """Part of a page, in the request's language, for htmx to swap in (``HX-Request``)."""
    words = localizer_for(request, caller)
    body = render(template, words, path=request.url.path, csrf_token=caller.csrf_token or "", **context)
    return HTMLResponse(body)


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
            except NotFound:
                return error_page(request, 404)
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


ROLE_TITLES: dict[Role, str] = {
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
    (Permission.FOLLOW_UPS, "/console/follow-ups", N_("Follow-ups: the contacts under an order, day by day")),
    (
        Permission.CASES_ASSIGN,
        "/console/indicators",
        N_("Tracing indicators: how tracing goes"),
    ),
    (Permission.CASES_ASSIGN, "/console/team", N_("The team's cases: workload, and assigning cases")),
    (Permission.ANALYTICS_READ, "/console/dashboard", N_("Dashboard: the curve, R_t and active clusters")),
    (
        Permission.ANALYTICS_READ,
        "/console/districts",
        N_("District map: cases per 100,000 residents by district"),
    ),
    (Permission.CLUSTERS_READ, "/console/clusters", N_("Clusters, with their chain graphs")),
    (Permission.ANALYTICS_READ, "/reports/situation", N_("Today's situation report")),
    (Permission.EXPORTS_APPROVE, "/console/approvals", N_("Export requests awaiting approval")),
    (
        Permission.PRESENCE_PUBLISH,
        "/console/warnings",
        N_("Warnings for decentralised venues awaiting review"),
    ),
    (Permission.POLICY_READ, "/console/policy", N_("The policy: in force, new versions, activation")),
    (Permission.VENUES_READ, "/console/venues", N_("Venues: register one, print its poster, set up a kiosk")),
    (Permission.USERS_MANAGE, "/console/staff", N_("Staff accounts")),
    (Permission.AUDIT_READ, "/console/audit", N_("The audit log: search it, and check its chain")),
    (Permission.RETENTION_RUN, "/console/purges", N_("Retention purges")),
    (Permission.CODE_KEYS, "/console/keys", N_("Code-signing keys and partner jurisdictions")),
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
            "title": words.gettext(ROLE_TITLES[role]),
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
        roles=[words.gettext(ROLE_TITLES[r]) for r in held],
        sections=sections,
    )


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


_STATIC: dict[str, str] = {
    "chaincut.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "vendor/htmx.min.js": "text/javascript; charset=utf-8",
    "vendor/cytoscape.min.js": "text/javascript; charset=utf-8",
    "cluster-graph.js": "text/javascript; charset=utf-8",
    "resident.js": "text/javascript; charset=utf-8",
    "scanner.js": "text/javascript; charset=utf-8",
    "tracing-scan.js": "text/javascript; charset=utf-8",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
    "vendor/zxing-reader.js": "text/javascript; charset=utf-8",
    "vendor/zxing_reader.wasm": "application/wasm",
    "presence.js": "text/javascript; charset=utf-8",
    "vendor/mcl.js": "text/javascript; charset=utf-8",
    "vendor/nacl-fast.min.js": "text/javascript; charset=utf-8",
}


@cache
def _static(name: str) -> bytes:
    return files("chaincut.web").joinpath("static", *name.split("/")).read_bytes()


@router.get("/static/{name:path}")
def static_file(_caller: Public, name: str) -> Response:
    """The pages' stylesheet and vendored scripts (no personal data: browsers may keep them an hour)."""
    media_type = _STATIC.get(name)
    if media_type is None:  # only the files listed: never a path a request makes up
        raise NotFound("no such file", field="name")
    # The residents' scripts change with their pages' words: asked again each time (the service
    # worker keeps a copy for offline use); the rest may be kept an hour.
    fresh = name in ("resident.js", "scanner.js", "presence.js")
    caching = "no-cache" if fresh else "max-age=3600"
    return Response(_static(name), media_type=media_type, headers={"Cache-Control": caching})
