"""Which venues a caller may see: a venue's device its own; a venue operator the venues they registered;
tracers, supervisors, epidemiologists and administrators every venue."""

from __future__ import annotations

from chaincut.domain import Venue
from chaincut.domain.access import Principal, PrincipalKind, Role
from chaincut.errors import NotFound
from chaincut.venues.registry import VenueRegistry

__all__ = ["own_venues_only", "venue_for"]

_WIDER = (Role.TRACER, Role.SUPERVISOR, Role.EPIDEMIOLOGIST, Role.ADMINISTRATOR)


def own_venues_only(principal: Principal) -> int | None:
    """The staff id of a venue operator who may see only the venues they registered, else None."""
    if principal.kind is PrincipalKind.STAFF and not any(principal.has_role(r) for r in _WIDER):
        return principal.staff_id
    return None


def venue_for(venues: VenueRegistry, principal: Principal, ref: str, *, operator_only: bool = False) -> Venue:
    """The venue, if ``principal`` may see it (else 'no such venue', as if absent).

    ``operator_only``: nobody but the venue's operator (its devices' tokens).
    """
    venue = venues.get(ref)
    if principal.kind is PrincipalKind.VENUE_DEVICE:
        allowed = venue.id == principal.venue_id
    elif operator_only:
        allowed = venue.operator_id is not None and venue.operator_id == principal.staff_id
    else:
        own = own_venues_only(principal)
        allowed = own is None or venue.operator_id == own
    if not allowed:
        raise NotFound("no such venue", field="ref")
    return venue
