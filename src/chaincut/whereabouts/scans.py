"""What a scan asks for (a check-in request) and what the resident's phone shows (a receipt)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chaincut.domain import Venue, Visit

__all__ = ["CheckInRequest", "VisitReceipt", "receipt_of"]


@dataclass(frozen=True)
class CheckInRequest:
    """A scan: who, the QR token or taxi plate, the client's id for retries, and when."""

    person_ref: str
    client_id: str
    token: str | None = None
    plate: str | None = None
    at: datetime | None = None
    actor: str = "system"  # who submitted it, as the audit log names them ("resident:<public id>")
    venue_only: int | None = None  # a venue's device checks people in at its own venue only


@dataclass(frozen=True)
class VisitReceipt:
    """What the resident's phone shows after a check-in or check-out."""

    client_id: str
    venue: Venue
    entered_at: datetime
    left_at: datetime | None
    left_inferred: bool
    replayed: bool
    person_id: int | None = None  # whose visit: the audit entry's subject
    clipped: bool = False  # left_at was brought back to the venue type's longest believable stay


def receipt_of(visit: Visit, venue: Venue, *, replayed: bool) -> VisitReceipt:
    """The receipt for ``visit`` at ``venue``; ``replayed`` when it answers a retry."""
    assert visit.client_id is not None
    return VisitReceipt(
        client_id=visit.client_id,
        venue=venue,
        entered_at=visit.entered_at,
        left_at=visit.left_at,
        left_inferred=visit.left_inferred,
        replayed=replayed,
        person_id=visit.person_id,
        clipped=visit.clipped,
    )
