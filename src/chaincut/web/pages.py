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
from collections.abc import Callable, Coroutine
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from chaincut.domain.access import Permission
from chaincut.errors import NotAuthenticated, PermissionDenied, RateLimited
from chaincut.guards import SESSION_COOKIE, Caller, requires
from chaincut.settings import Settings
from chaincut.web.templates import Lang, console_page, message_page, sign_in_page, with_lang

__all__ = ["LOGIN_COOKIE", "PageRoute", "router"]

LOGIN_COOKIE = "chaincut_login"
LOGIN_FORM_SECONDS = 10 * 60  # how long a sign-in form stays usable


def _lang(request: Request) -> Lang:
    return Lang.parse(request.query_params.get("lang"))


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

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAuthenticated:
                # No session, or it ended (expired, signed out, account disabled): sign in again.
                settings: Settings = request.app.state.services.settings
                redirect = RedirectResponse(with_lang("/login", _lang(request)), status_code=303)
                # Only a cookie this request carried, and which failed, is cleared: a cross-site
                # form arrives without the (SameSite=Strict) cookie and must not end the session.
                if request.cookies.get(SESSION_COOKIE):
                    _clear_session(redirect, settings)
                return redirect
            except PermissionDenied:
                body = message_page(
                    _lang(request),
                    heading="refused",
                    message="csrf_failed",
                    back=("/console", "back_to_console"),
                )
                return HTMLResponse(body, status_code=403)
            except RateLimited as exc:
                body = message_page(
                    _lang(request),
                    heading="too_many",
                    message="retry_in",
                    detail=str(exc.retry_after),
                    back=("/login", "sign_in"),
                )
                return HTMLResponse(body, status_code=429, headers={"Retry-After": str(exc.retry_after)})

        return page


router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Public = Annotated[Caller, requires(Permission.PUBLIC)]
SignedIn = Annotated[Caller, requires(Permission.SIGNED_IN)]


def _sign_in_form(
    caller: Caller, lang: Lang, *, status: int = 200, username: str = "", error: str | None = None
) -> HTMLResponse:
    """The form with a fresh sign-in token, and the pre-session cookie it must match."""
    settings = caller.services.settings
    token = secrets.token_urlsafe(32)
    response = HTMLResponse(sign_in_page(lang, token, username=username, error=error), status_code=status)
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
    lang = _lang(request)
    if caller.principal.authenticated and caller.csrf_token is not None:
        return RedirectResponse(with_lang("/console", lang), status_code=303)
    return _sign_in_form(caller, lang)


@router.post("/login")
def sign_in(
    request: Request,
    caller: Annotated[Caller, requires(Permission.PUBLIC, rate="sign-in")],
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Sign in: a session cookie and on to the console, or the form again saying only that it failed."""
    lang = _lang(request)
    settings = caller.services.settings
    expected = request.cookies.get(_login_cookie_name(settings), "")
    if not expected or not csrf_token or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _sign_in_form(caller, lang, status=403, username=username, error="form_expired")
    try:
        issued = caller.services.accounts.open_session(username, password)
    except NotAuthenticated:
        return _sign_in_form(caller, lang, status=401, username=username, error="sign_in_failed")
    assert issued.expires_at is not None
    lifetime = int((issued.expires_at - caller.services.clock.now()).total_seconds())
    response = RedirectResponse(with_lang("/console", lang), status_code=303)
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


@router.get("/console")
def console(request: Request, caller: SignedIn) -> HTMLResponse:
    """Who is signed in, with which roles, and what each role opens."""
    principal = caller.principal
    body = console_page(
        _lang(request), name=principal.name, roles=principal.roles, csrf_token=caller.csrf_token
    )
    return HTMLResponse(body)


@router.post("/logout")
def sign_out(request: Request, caller: SignedIn) -> Response:
    """End this browser's session (the Guard has checked the form's CSRF token) and forget the cookie."""
    settings = caller.services.settings
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        caller.services.accounts.close_session(secret)
    response = RedirectResponse(with_lang("/login", _lang(request)), status_code=303)
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
