"""Credentials for tests: staff with chosen roles, residents' and venues' tokens, as headers."""

from __future__ import annotations

from chaincut.bootstrap import Services
from chaincut.domain.access import Principal, Role

__all__ = ["PASSWORD", "assign", "resident_headers", "staff_headers", "venue_headers"]

PASSWORD = "correct horse battery staple"
_ADMIN = Principal.system("tests")


def staff_headers(
    services: Services, *roles: Role, username: str | None = None, purpose: str | None = "contact tracing"
) -> dict[str, str]:
    """Headers of a new staff account with ``roles`` (signed in with a bearer token)."""
    name = username or "-".join(sorted(r.value for r in roles)).replace("_", "")[:40] or "nobody"
    with services.store.read() as uow:
        exists = uow.staff.get_by_username(name) is not None
    if not exists:
        services.accounts.add(name, PASSWORD, frozenset(roles), _ADMIN)
    token = services.accounts.issue_staff_token(name, PASSWORD).secret
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Chaincut-Purpose"] = purpose
    return headers


def resident_headers(services: Services, person_ref: str) -> dict[str, str]:
    """Headers of a resident's app for ``person_ref``."""
    return {"Authorization": f"Bearer {services.accounts.issue_resident_token(person_ref, _ADMIN).secret}"}


def venue_headers(services: Services, venue_ref: str) -> dict[str, str]:
    """Headers of a venue's own device."""
    return {"Authorization": f"Bearer {services.accounts.issue_venue_token(venue_ref, _ADMIN).secret}"}


def assign(services: Services, case_ref: str, username: str) -> None:
    """Assign a case to a tracer directly (as a supervisor would)."""
    with services.store.write() as uow:
        case = uow.cases.get_by_ref(case_ref)
        staff = uow.staff.get_by_username(username)
        assert case is not None and case.id is not None and staff is not None
        uow.assignments.assign(case.id, staff.id, at=0, by="tests")
