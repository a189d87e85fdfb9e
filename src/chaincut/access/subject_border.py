"""The border part of a data-access report: a person's bookings, ballot entries and clearances.

A booking is the person's when their app made it or when their identity
document travels on it, named or listed as a companion (matched by its keyed
hash, never the number); each row says where they stand on it. Who else booked
for them is not shown (PDPO s.20(1)(b)): only that the booking was made by
another app; nor are the other companions, only how many there are. Clearances
are the person's own (matched by the border subject id of their document) and
those of the named travellers of the bookings their app made; never a
companion's on someone else's booking. Refusal reasons appear as the general
reason codes the record keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from chaincut.access.subject_report import Row, day, instant
from chaincut.domain import Person
from chaincut.domain.border import BallotEntry, Booking, Clearance
from chaincut.security.identity import BorderSubjects
from chaincut.store import UnitOfWork

__all__ = ["BorderSections", "border_sections"]

BorderSections = dict[str, list[Row]]


def border_sections(
    uow: UnitOfWork, person: Person, subjects: BorderSubjects | None, zone: ZoneInfo
) -> BorderSections:
    """The person's bookings, ballot entries and clearances, as report rows."""
    assert person.id is not None
    held = person.id_document_hash
    bookings = uow.border.of_person(person.id, held)
    entries = uow.ballot.of_person(person.id, held)
    mine = None if held is None or subjects is None else subjects.subject_of(held)
    clearances = uow.clearances.of_traveller([] if mine is None else [mine], booked_by=person.id)
    return {
        "border_bookings": [_booking_row(b, person.id, mine, zone) for b in bookings],
        "ballot_entries": [_entry_row(e, person.id, mine, zone) for e in entries],
        "border_clearances": _clearance_rows(clearances, zone),
    }


def _travelling_as(item: Booking | BallotEntry, subject: str | None) -> str | None:
    """Where the person stands on a booking or entry: its named traveller, a companion, or neither
    (their app booked it for others)."""
    if subject is not None and subject == item.subject:
        return "named traveller"
    if subject is not None and subject in item.companions:
        return "companion"
    return None


def _booking_row(b: Booking, person_id: int, subject: str | None, zone: ZoneInfo) -> Row:
    return {
        "id": b.public_id,
        "day": day(b.day),
        "checkpoint": b.checkpoint,
        "slot": b.slot,
        "you_travel_as": _travelling_as(b, subject),
        "companions": len(b.companions) + b.unlisted,
        "status": b.status.value,
        "booked_by": "you" if b.person_id == person_id else "another app",
        "booked_at": instant(b.created_at, zone),
        "cancelled_at": instant(b.cancelled_at, zone),
    }


def _entry_row(e: BallotEntry, person_id: int, subject: str | None, zone: ZoneInfo) -> Row:
    return {
        "id": e.public_id,
        "day": day(e.day),
        "checkpoint": e.checkpoint,
        "slot": e.slot,
        "you_travel_as": _travelling_as(e, subject),
        "companions": len(e.companions) + e.unlisted,
        "status": e.status.value,
        "booking": e.booking_public_id,
        "entered_by": "you" if e.person_id == person_id else "another app",
        "entered_at": instant(e.created_at, zone),
    }


def _clearance_rows(clearances: Sequence[Clearance], zone: ZoneInfo) -> list[Row]:
    rows = []
    for c in clearances:
        d = c.decision
        rows.append(
            {
                "id": c.public_id,
                "decided_at": instant(d.decided_at, zone),
                "checkpoint": d.checkpoint,
                "day": day(d.day),
                "slot": d.slot,
                "cleared": d.cleared,
                "reasons": [r.text for r in d.reasons],
                "booking": None if d.booking is None else d.booking.booking_id,
                "officer": c.officer,
                "offline": c.offline,
                "conflict": c.conflict,
            }
        )
    return rows
