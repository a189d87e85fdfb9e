"""A resident's request to book a border crossing, as the booking service takes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["BookingRequest"]


@dataclass(frozen=True)
class BookingRequest:
    """A resident's request to cross: for whom (their document number), where, when, with whom.

    Each companion is a traveller of their own, named by their identity-document number
    (only its keyed hash is kept); the rule of one live booking a day holds for each.
    """

    person_id: int  # the resident whose app asks
    id_document: str  # the named traveller's identity-document number: only its keyed hash is kept
    day: date  # local date of the crossing
    checkpoint: str
    slot: str
    companions: tuple[str, ...]  # each companion's identity-document number, as listed
    request_id: str  # the app's id for retries
    # Who asks, for the audit log: a new booking (or ballot entry) is recorded in its own
    # transaction under this name and these roles; "" records nothing (the caller audits).
    actor: str = ""
    roles: str = ""
