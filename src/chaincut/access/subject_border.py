"""The border part of a data-access report: a person's bookings, ballot entries and clearances.

A booking is the person's when their app made it or when it is for their
identity document (matched by its keyed hash, never the number). Who else booked
for them is not shown (PDPO s.20(1)(b)): only that the booking was made by
another app. Clearances are matched by the border subject id of their document
and by their bookings; refusal reasons appear as the general reason codes the
record keeps.
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
    traveller_ids = [] if held is None or subjects is None else [subjects.subject_of(held)]
    clearances = uow.clearances.of_traveller(traveller_ids, [b.public_id for b in bookings])
    return {
        "border_bookings": [_booking_row(b, person.id, zone) for b in bookings],
        "ballot_entries": [_entry_row(e, person.id, zone) for e in entries],
        "border_clearances": _clearance_rows(clearances, zone),
    }


def _booking_row(b: Booking, person_id: int, zone: ZoneInfo) -> Row:
    return {
        "id": b.public_id,
        "day": day(b.day),
        "checkpoint": b.checkpoint,
        "slot": b.slot,
        "companions": b.companions,
        "status": b.status.value,
        "booked_by": "you" if b.person_id == person_id else "another app",
        "booked_at": instant(b.created_at, zone),
        "cancelled_at": instant(b.cancelled_at, zone),
    }


def _entry_row(e: BallotEntry, person_id: int, zone: ZoneInfo) -> Row:
    return {
        "id": e.public_id,
        "day": day(e.day),
        "checkpoint": e.checkpoint,
        "slot": e.slot,
        "companions": e.companions,
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
