"""Every route's permission: who the caller is, whether they may, and what they said it was for.

Each route takes a ``Caller`` through ``requires(Permission.X)``; the app
refuses to start if a route declares none (``check_every_route_guarded``). The
caller is found from a bearer token (the API, phones, venue devices) or a web
session cookie (the web pages; unsafe methods must then carry the session's
CSRF token). Anonymous callers get 401 before anything is looked up, so they
cannot tell records that exist from records that do not.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute

from chaincut.access.audit import event_for
from chaincut.bootstrap import Services
from chaincut.domain import Case, Person
from chaincut.domain.access import Permission, Principal, PrincipalKind
from chaincut.domain.audit import AuditFlag
from chaincut.errors import NotAuthenticated, PermissionDenied
from chaincut.settings import Settings

__all__ = [
    "CSRF_HEADER",
    "PURPOSE_HEADER",
    "SESSION_COOKIE",
    "Caller",
    "Guard",
    "check_every_route_guarded",
    "requires",
]

SESSION_COOKIE = "chaincut_session"
CSRF_HEADER = "X-CSRF-Token"
PURPOSE_HEADER = "X-Chaincut-Purpose"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="a chaincut bearer token")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session")

Details = Mapping[str, str | int | bool | None]


@dataclass(frozen=True)
class Caller:
    """The authorised caller of one request, with the purpose they stated."""

    principal: Principal
    permission: Permission
    purpose: str
    services: Services
    csrf_token: str | None = None  # a web session's: the token its forms must carry
    session_id: int | None = None  # a web session's: where the purposes its member stated are kept

    @property
    def name(self) -> str:
        """How records and the audit log name the caller ('staff:alice')."""
        return self.principal.name

    def case(
        self, ref: str, *, flags: tuple[str, ...] = (), details: Details | None = None, field: str = "ref"
    ) -> Case:
        """The case if the caller may see it (else 'no such case', naming ``field``), audited."""
        return self.services.records.case(
            self.principal,
            ref,
            action=self.permission,
            purpose=self.purpose,
            flags=flags,
            details=details,
            field=field,
        )

    def person(
        self, ref: str, *, flags: tuple[str, ...] = (), details: Details | None = None, field: str = "ref"
    ) -> Person:
        """The person if the caller may see them (else 'no such person', naming ``field``), audited."""
        return self.services.records.person(
            self.principal,
            ref,
            action=self.permission,
            purpose=self.purpose,
            flags=flags,
            details=details,
            field=field,
        )

    def audit(
        self,
        resource: str,
        record: str = "",
        *,
        subject_person_id: int | None = None,
        flags: tuple[str, ...] = (),
        details: Details | None = None,
    ) -> None:
        """Record an access that ``case``/``person`` did not already record."""
        self.services.audit.record(
            event_for(
                self.principal,
                self.permission,
                resource,
                record=record,
                purpose=self.purpose,
                flags=flags,
                details=details,
                subject_person_id=subject_person_id,
            )
        )


def _rate_limit(
    rate: str, principal: Principal, request: Request, settings: Settings
) -> tuple[str, str, int]:
    """The limit a request counts against, whose count it is, and that limit's requests per minute."""
    if rate == "checkins" and principal.kind is PrincipalKind.VENUE_DEVICE:
        # A venue's entrance device checks many people in: a limit of its own, per device token.
        client = f"{principal.name}/token:{principal.token_id}"
        return "device-checkins", client, settings.rate_device_checkins_per_minute
    limits = {
        "checkins": settings.rate_checkins_per_minute,
        "uploads": settings.rate_uploads_per_minute,
        "sign-in": settings.rate_logins_per_minute,
        "border-bookings": settings.rate_border_bookings_per_minute,
    }
    client = principal.name if principal.authenticated else _address(request)
    return rate, client, limits[rate]


class Guard:
    """The dependency that authorises one route for one permission."""

    def __init__(self, permission: Permission, *, purpose: bool = False, rate: str | None = None) -> None:
        self.permission = permission
        self.needs_purpose = purpose
        self.rate = rate

    async def __call__(
        self,
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        session: Annotated[str | None, Depends(_cookie)],
        x_chaincut_purpose: Annotated[
            str | None,
            Header(
                max_length=300,
                description="why you need this personal data (required where the route says so)",
            ),
        ] = None,
    ) -> Caller:
        services: Services = request.app.state.services
        if services.policy_follower.due():
            # Another worker may have activated a policy: follow it (one read every few seconds).
            services = await asyncio.to_thread(services.policy_follower.follow, request.app.state)
        try:
            principal, csrf_token, session_id = await self._principal(request, services, bearer, session)
        except (NotAuthenticated, PermissionDenied):
            if self.permission is not Permission.PUBLIC:
                raise
            # A public page (signing in) acts with no one's authority: an ended session's
            # cookie, or a stale form, must not lock anyone out of it.
            principal, csrf_token, session_id = Principal.anonymous(), None, None
        if self.rate is not None:
            limit, client, per_minute = _rate_limit(self.rate, principal, request, services.settings)
            # Decided in memory almost always; about once a second, or when this client has used
            # this worker's share, the shared counts are brought up to date off the event loop.
            if not services.rate_limits.try_check(limit, client, per_minute):
                await asyncio.to_thread(services.rate_limits.check, limit, client, per_minute)
        if self.permission is Permission.PUBLIC:
            return Caller(principal, self.permission, "", services, csrf_token, session_id)
        if not principal.authenticated:
            raise NotAuthenticated("sign in first: send a bearer token or a session cookie")
        if not principal.may(self.permission):
            await asyncio.to_thread(self._audit_denied, services, principal, request)
            raise PermissionDenied(f"your role does not allow {self.permission.value}")
        purpose = " ".join((x_chaincut_purpose or "").split())
        if self.needs_purpose and len(purpose) < 5:
            raise PermissionDenied(
                f"state why you need this personal data in the {PURPOSE_HEADER} header (5-300 characters)",
                code="purpose_required",
                field=PURPOSE_HEADER,
            )
        return Caller(principal, self.permission, purpose, services, csrf_token, session_id)

    async def _principal(
        self,
        request: Request,
        services: Services,
        bearer: HTTPAuthorizationCredentials | None,
        session: str | None,
    ) -> tuple[Principal, str | None, int | None]:
        """The caller, and their web session's CSRF token and id (None without a session)."""
        if bearer is not None:
            if services.principals.revocations_due():
                await asyncio.to_thread(services.principals.refresh_revocations)
            hit, principal = services.principals.cached(bearer.credentials)
            if not hit:
                principal = await asyncio.to_thread(services.principals.from_bearer, bearer.credentials)
            if principal is None:
                raise NotAuthenticated("the bearer token is unknown, expired or revoked")
            return principal, None, None
        if request.headers.get("authorization"):
            raise NotAuthenticated("expected an Authorization header of the form 'Bearer <token>'")
        if session:
            signed_in = await asyncio.to_thread(services.principals.from_session, session)
            if signed_in is None:
                raise NotAuthenticated("the session has ended; sign in again")
            if request.method not in _SAFE_METHODS:
                await _check_csrf(request, signed_in.csrf_token)
            return signed_in.principal, signed_in.csrf_token, signed_in.session_id
        return Principal.anonymous(), None, None

    def _audit_denied(self, services: Services, principal: Principal, request: Request) -> None:
        record = ",".join(f"{k}={v}" for k, v in sorted(request.path_params.items()))
        services.audit.record(
            event_for(
                principal,
                self.permission,
                request.url.path[:200],
                record=record[:200],
                outcome="denied",
                flags=(AuditFlag.DENIED,),
            )
        )


async def _check_csrf(request: Request, expected: str) -> None:
    offered = request.headers.get(CSRF_HEADER)
    if offered is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        offered = value if isinstance(value, str) else None
    if not offered or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise PermissionDenied(
            "this form is missing its CSRF token or it does not match the session",
            code="csrf_failed",
            field="csrf_token",
        )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def requires(permission: Permission, *, purpose: bool = False, rate: str | None = None) -> Any:
    """``Depends`` on a Guard: the route's declared permission (and purpose, rate limit)."""
    return Depends(Guard(permission, purpose=purpose, rate=rate))


def _guards(dependant: Any) -> list[Guard]:
    found = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, Guard):
            found.append(sub.call)
        found.extend(_guards(sub))
    return found


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, also those of included routers (FastAPI keeps those as wrappers
    holding the ``original_router``, not as copies of its routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def check_every_route_guarded(app: FastAPI) -> None:
    """Refuse an app with a route that declares no permission, or more than one.

    Each route's permission is also written into the OpenAPI document as
    ``x-chaincut-permission`` (with ``x-chaincut-purpose`` where a purpose is required).
    """
    for route in _api_routes(app.routes):
        guards = _guards(route.dependant)
        if len(guards) != 1:
            methods = ",".join(sorted(route.methods or ()))
            raise RuntimeError(f"{methods} {route.path} must declare exactly one permission (requires(...))")
        guard = guards[0]
        extra = dict(route.openapi_extra or {})
        extra["x-chaincut-permission"] = guard.permission.value
        if guard.needs_purpose:
            extra["x-chaincut-purpose"] = True
        route.openapi_extra = extra
