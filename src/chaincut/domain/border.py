"""Border crossings under quota: bookings of a checkpoint's slot on a day, and ballot entries.

A booking holds seats for its named traveller and their companions: ``travellers``
of them count against the slot's daily quota. Each companion is a traveller of
their own, known by the border subject id of their identity document, cleared at
the checkpoint on their own code. Days are local calendar days (Asia/Hong_Kong by
default); instants are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "REFUSAL_TEXT",
    "BallotEntry",
    "Booking",
    "BookingStatus",
    "Clearance",
    "ClearanceDecision",
    "DrawnSlot",
    "DrawnTicket",
    "EntryStatus",
    "PublishedDraw",
    "QuotaChange",
    "RefusalCode",
    "RefusalReason",
    "SeedCommitment",
    "SlotAvailability",
    "SyncedBooking",
    "TicketOutcome",
]


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
    companions: tuple[str, ...]  # each listed companion's border subject id, in the order listed
    status: BookingStatus
    request_id: str
    created_at: datetime
    cancelled_at: datetime | None = None
    replayed: bool = False  # a retried request: this is the first answer
    subject: str | None = None  # the named traveller's border subject id
    # Companions' seats held without an identity: bookings made before companions were listed.
    unlisted: int = 0

    @property
    def travellers(self) -> int:
        """The seats the booking holds: its named traveller, the companions listed, any unlisted."""
        return 1 + len(self.companions) + self.unlisted


@dataclass(frozen=True)
class BallotEntry:
    """A request for a slot in ballot mode, until the day's draw decides it."""

    public_id: str
    person_id: int
    day: date
    checkpoint: str
    slot: str
    companions: tuple[str, ...]  # each listed companion's border subject id, in the order listed
    status: EntryStatus
    request_id: str
    created_at: datetime
    booking_public_id: str | None = None
    replayed: bool = False
    subject: str | None = None  # the named traveller's border subject id
    unlisted: int = 0  # companions entered before companions were listed

    @property
    def travellers(self) -> int:
        return 1 + len(self.companions) + self.unlisted


@dataclass(frozen=True)
class SlotAvailability:
    """How many travellers a checkpoint's slot on a day may still take, under the policy's quota.

    ``booked`` may exceed ``quota`` when the policy lowered a quota below the seats already
    booked: nobody is bumped, the slot is full and ``excess`` says by how many.
    """

    checkpoint: str
    day: date
    slot: str
    quota: int
    booked: int

    @property
    def remaining(self) -> int:
        return max(0, self.quota - self.booked)

    @property
    def excess(self) -> int:
        return max(0, self.booked - self.quota)


@dataclass(frozen=True)
class QuotaChange:
    """A slot's stored quota brought to the policy in force: from what, to what, with how many booked."""

    checkpoint: str
    day: date
    slot: str
    before: int
    quota: int
    booked: int

    @property
    def excess(self) -> int:
        return max(0, self.booked - self.quota)


@dataclass(frozen=True)
class SeedCommitment:
    """A day's ballot seed as published: its SHA-256 before the entries, the seed itself once drawn."""

    day: date
    commitment: str  # SHA-256 of the seed's UTF-8 bytes, lower-case hex
    committed_at: datetime
    committed_by: str
    entries_at_commitment: int  # entries already in when it was made: 0 when made before they opened
    seed: str | None = None  # revealed by the draw; None until then
    drawn_at: datetime | None = None


class TicketOutcome(StrEnum):
    """What a day's draw made of an entry, as the published draw record says."""

    WON = "won"
    LOST = "lost"  # ranked, but its travellers did not fit in the seats left
    EXCLUDED = "excluded"  # not ranked: one of its travellers already held a booking that day


@dataclass(frozen=True)
class DrawnTicket:
    """An entry as a day's published draw record shows it: never an entry id, person or subject id."""

    ticket: str  # 64 lower-case hexadecimal digits (``border.ballot.ballot_ticket``)
    travellers: int  # the seats it needs: the named traveller and every companion
    outcome: TicketOutcome


@dataclass(frozen=True)
class DrawnSlot:
    """One checkpoint's slot as drawn: the seats it had free then, and its entries by ticket."""

    checkpoint: str
    slot: str
    seats: int  # the quota in force less the seats already booked, when drawn
    tickets: tuple[DrawnTicket, ...]  # in ascending ticket order (it says nothing of who came first)


@dataclass(frozen=True)
class PublishedDraw:
    """A day's ballot draw as published for anyone to check: the commitment, the revealed seed, and
    every slot's tickets with their outcomes."""

    day: date
    order: int  # the ballot order it was drawn in (``border.ballot``); order 1 published no tickets
    commitment: str | None  # None for a day drawn before seeds were committed
    committed_at: datetime | None
    entries_at_commitment: int | None
    seed: str
    drawn_at: datetime
    entries: int
    won: int
    slots: tuple[DrawnSlot, ...]  # by checkpoint, then slot


class RefusalCode(StrEnum):
    """Why a traveller is refused at the checkpoint (machine codes; every one that holds is given)."""

    INVALID_CODE = "invalid_code"  # the verifier refused the code (forged, expired, unknown key, ...)
    COLOUR_NOT_CLEARED = "colour_not_cleared"  # e.g. red: close contact
    NO_BOOKING = "no_booking"  # no booking for this traveller
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_OTHER_CHECKPOINT = "booking_other_checkpoint"
    BOOKING_OTHER_DAY = "booking_other_day"
    BOOKING_OTHER_SLOT = "booking_other_slot"
    NO_NEGATIVE_TEST = "no_negative_test"  # none within the policy's hours
    CODE_REPLAYED = "code_replayed"  # this code already cleared a crossing
    BOOKING_USED = "booking_used"  # this traveller already crossed on this booking
    CODE_REVOKED = "code_revoked"  # revoked by its issuer (its holder's colour worsened since it was issued)


REFUSAL_TEXT: dict[RefusalCode, str] = {
    RefusalCode.INVALID_CODE: "the code is not valid",
    RefusalCode.COLOUR_NOT_CLEARED: "the code's colour may not cross",
    RefusalCode.NO_BOOKING: "no booking for this traveller",
    RefusalCode.BOOKING_CANCELLED: "the booking was cancelled",
    RefusalCode.BOOKING_OTHER_CHECKPOINT: "the booking is for another checkpoint",
    RefusalCode.BOOKING_OTHER_DAY: "the booking is for another day",
    RefusalCode.BOOKING_OTHER_SLOT: "the booking is for another slot",
    RefusalCode.NO_NEGATIVE_TEST: "no negative test within the policy's hours",
    RefusalCode.CODE_REPLAYED: "this code has already cleared a crossing",
    RefusalCode.BOOKING_USED: "this traveller has already crossed on this booking",
    RefusalCode.CODE_REVOKED: "the code was revoked: fetch a fresh one",
}
"""Each refusal in general words, for records that keep only the code (the specifics are not stored)."""


@dataclass(frozen=True)
class RefusalReason:
    """One reason a traveller is refused: its code, and words for the officer and the traveller."""

    code: RefusalCode
    text: str

    @classmethod
    def of(cls, code: RefusalCode) -> RefusalReason:
        return cls(code, REFUSAL_TEXT[code])


@dataclass(frozen=True)
class SyncedBooking:
    """A booking as a checkpoint knows it: by its travellers' border subject ids, never their documents."""

    subject: str  # the named traveller's
    booking_id: str  # the booking's public id
    checkpoint: str
    day: date
    slot: str
    companions: tuple[str, ...]  # each listed companion's subject id, in the order listed
    status: BookingStatus

    @property
    def travellers(self) -> int:
        return 1 + len(self.companions)

    def place_of(self, subject: str | None) -> int | None:
        """Where the traveller with ``subject`` stands: 0 the named traveller, n the n-th companion."""
        if subject is None:
            return None
        if subject == self.subject:
            return 0
        if subject in self.companions:
            return self.companions.index(subject) + 1
        return None


@dataclass(frozen=True)
class ClearanceDecision:
    """A checkpoint's decision on one scanned code: cleared, or refused with every reason."""

    cleared: bool
    reasons: tuple[RefusalReason, ...]
    checkpoint: str
    day: date  # local date at the checkpoint
    slot: str | None  # the slot open when decided; None outside every slot's hours
    decided_at: datetime
    code_id: str | None  # None when the code could not be read
    subject: str | None
    colour: str | None
    booking: SyncedBooking | None  # the traveller's booking the decision looked at, if any

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code.value for r in self.reasons)


@dataclass(frozen=True)
class Clearance:
    """A decision as recorded: who decided, whether offline, and any clash found when it was uploaded."""

    public_id: str  # the decision id (an offline decision keeps the id its checkpoint gave it)
    decision: ClearanceDecision
    officer: str
    offline: bool
    recorded_at: datetime
    conflict: str | None = None  # an offline clearance whose code or booking had already cleared
    replayed: bool = False  # an upload sent again: this is the first record
