"""Border crossings under quota: bookings of a checkpoint's slot on a day, and ballot entries.

A booking holds seats for its traveller and their companions: ``travellers`` of
them count against the slot's daily quota. Days are local calendar days
(Asia/Hong_Kong by default); instants are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = ["BallotEntry", "Booking", "BookingStatus", "EntryStatus", "SlotAvailability"]


class BookingStatus(StrEnum):
    """Whether a booking still holds its seats."""

    BOOKED = "booked"
    CANCELLED = "cancelled"


class EntryStatus(StrEnum):
    """Where a ballot entry stands: waiting for the draw, drawn (a booking), or not drawn."""

    ENTERED = "entered"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class Booking:
    """A traveller's booked crossing: checkpoint, day and slot, with their companions."""

    public_id: str
    person_id: int  # the resident whose app booked it
    day: date
    checkpoint: str
    slot: str
    companions: int
    status: BookingStatus
    request_id: str
    created_at: datetime
    cancelled_at: datetime | None = None
    replayed: bool = False  # a retried request: this is the first answer

    @property
    def travellers(self) -> int:
        return 1 + self.companions


@dataclass(frozen=True)
class BallotEntry:
    """A request for a slot in ballot mode, until the day's draw decides it."""

    public_id: str
    person_id: int
    day: date
    checkpoint: str
    slot: str
    companions: int
    status: EntryStatus
    request_id: str
    created_at: datetime
    booking_public_id: str | None = None
    replayed: bool = False

    @property
    def travellers(self) -> int:
        return 1 + self.companions


@dataclass(frozen=True)
class SlotAvailability:
    """How many travellers a checkpoint's slot on a day may still take."""

    checkpoint: str
    day: date
    slot: str
    quota: int
    booked: int

    @property
    def remaining(self) -> int:
        return max(0, self.quota - self.booked)
