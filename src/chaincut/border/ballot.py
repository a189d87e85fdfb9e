"""The daily ballot: entries drawn by lot, in an order anyone can recompute from the published record.

Lawmakers asked for a ballot against scalpers after the first-come booking site
failed in January 2023; Shenzhen drew its quarantine-hotel rooms by lottery in
2022. Each day's seed is committed (its SHA-256 published) before the day's
entries open (``commitments``); the draw takes that seed, refuses any other, and
publishes it with the day's draw record.

The server holds the sealed seed from the commitment on, so nothing an entry is
ranked on may be the server's to choose: an id it makes up for each entry could
be made up again and again, once the entries are in, until chosen people win.
An entry is ranked on its ballot ticket, fixed by the day and the named
traveller's identity document:

    ticket = SHA-256( "chaincut-ballot-ticket/1" || 0x00 || day || 0x00 || subject )

where ``day`` is the crossing day's local date as ASCII ``YYYY-MM-DD`` and
``subject`` the named traveller's border subject id (22 ASCII characters: the
keyed hash of their identity document that their health codes carry and their
booking answer shows); the ticket is written as 64 lower-case hexadecimal digits.
Then, chaincut ballot order 2 (``ballot_order``, the same on every Python version
and in any language):

    rank = SHA-256( UTF-8(seed) || 0x00 || ASCII(ticket, 64 lower-case hex digits) )

read as a 256-bit unsigned big-endian integer; entries are taken by ascending
rank (equal ranks, which SHA-256 makes practically impossible, by ticket). Each
checkpoint's slot is drawn on its own, from the seats it has free at the draw
(the policy's quota in force less the seats already booked; none for a slot the
policy no longer has). An entry one of whose travellers already holds a booking
that day is excluded and not ranked. The others, in rank order: an entry wins
when all its travellers fit in the seats left, and takes them; otherwise it
loses, and a smaller entry ranked after it may still fit (``draw_slot``).

The draw record (``GET /border/ballot/draws/{day}``) publishes the commitment,
the seed, and for each slot its seats and every entry's ticket, travellers and
outcome (won, lost, excluded), in ticket order: no entry id, person or subject
id. Anyone can check that SHA-256 of the seed is the commitment published before
the entries, recompute every rank and repeat each slot's walk; a resident
computes their own ticket from the ``subject`` their booking answer shows
(``printf 'chaincut-ballot-ticket/1\0%s\0%s' DAY SUBJECT | sha256sum``) and
finds it in the list.

Why this ticket: a subject id is fixed by the document under the identity-hash
key, configured before any seed and carried by every health code the traveller
holds, so the server cannot pick it; the day makes one traveller's tickets differ
from day to day, so two days' lists cannot be joined; a ticket reveals no subject
(a subject has 128 bits, too many to try). What the record does not show: whoever
knows a traveller's subject id (from their health code) can compute their ticket
and see whether they entered that day and won; the server knows each seed before
the draw, so it could tell an entrant their rank before they choose whom to name
or which day to enter, though never change anyone's rank; and entries of made-up
travellers would be listed like any other, taking seats without moving any real
entry ahead of another.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from chaincut.border.commitments import check_seed, commitment_of
from chaincut.border.quotas import audit_quota_changes
from chaincut.clock import Clock
from chaincut.domain.border import EntryStatus
from chaincut.domain.ids import new_public_id
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.policy import BorderRules
from chaincut.store import Store, UnitOfWork
from chaincut.store.ballot import DrawnSlotRow, DrawRecord, EntryRow
from chaincut.store.border import NewBooking, SlotId

__all__ = [
    "BALLOT_ORDER",
    "TICKET_TAG",
    "DrawOutcome",
    "ballot_order",
    "ballot_rank",
    "ballot_ticket",
    "draw_ballot",
    "draw_slot",
    "draw_time",
]

T = TypeVar("T")

BALLOT_ORDER = 2  # chaincut ballot order 2: ranks over tickets (order 1 ranked the server's entry ids)
TICKET_TAG = b"chaincut-ballot-ticket/1"


@dataclass(frozen=True)
class DrawOutcome:
    """What a day's draw decided: the seed, and the entries that won and lost (public ids)."""

    day: date
    seed: str
    won: tuple[str, ...]
    lost: tuple[str, ...]


def draw_time(day: date, rules: BorderRules, zone: ZoneInfo) -> datetime:
    """When ``day``'s ballot is drawn (aware UTC): the policy's local time, days before the crossing day."""
    rule = rules.clearance
    local = datetime.combine(day - timedelta(days=rule.ballot_draw_days_before), rule.ballot_draw_local_time)
    return local.replace(tzinfo=zone).astimezone(UTC)


def ballot_ticket(day: date, subject: str) -> str:
    """An entry's ballot ticket on ``day``, from its named traveller's border subject id: SHA-256 of the
    tag, a zero byte, the ISO date, a zero byte and the subject id, in lower-case hex."""
    if not subject or not subject.isascii():
        raise InvalidInput(
            "a ballot ticket needs the named traveller's border subject id (ASCII)",
            field="subject",
            code="invalid_subject",
        )
    data = b"\x00".join((TICKET_TAG, day.isoformat().encode("ascii"), subject.encode("ascii")))
    return hashlib.sha256(data).hexdigest()


def ballot_rank(seed: str, ticket: str) -> int:
    """A ticket's rank under ``seed``: SHA-256 of UTF-8(seed), a zero byte and the ticket's hex digits,
    read big-endian."""
    digest = hashlib.sha256(seed.encode("utf-8") + b"\x00" + ticket.encode("ascii")).digest()
    return int.from_bytes(digest, "big")


def ballot_order(seed: str, entries: Iterable[T], ticket_of: Callable[[T], str]) -> list[T]:
    """``entries`` in the order the draw takes them: ascending rank, then ticket (ballot order 2)."""
    return sorted(entries, key=lambda e: (ballot_rank(seed, ticket_of(e)), ticket_of(e)))


def draw_slot(
    seed: str,
    seats: int,
    entries: Iterable[T],
    ticket_of: Callable[[T], str],
    travellers_of: Callable[[T], int],
) -> list[tuple[T, bool]]:
    """One slot's ranked entries in ballot order, each with whether it wins: in that order an entry wins
    when its travellers fit in the ``seats`` left, and takes them."""
    left = seats
    decided = []
    for entry in ballot_order(seed, entries, ticket_of):
        needed = travellers_of(entry)
        wins = needed <= left
        if wins:
            left -= needed
        decided.append((entry, wins))
    return decided


def draw_ballot(
    store: Store,
    rules: BorderRules,
    clock: Clock,
    day: date,
    seed: str | None = None,
    *,
    actor: str,
    subject_of: Callable[[bytes], str],
    on_drawn: Callable[[UnitOfWork, DrawOutcome], None] | None = None,
) -> DrawOutcome:
    """Draw ``day``'s ballot once, in one transaction, with the seed committed for it.

    ``seed``: the committed seed, given again (refused, ``seed_mismatch``, when its SHA-256 is
    not the commitment); None takes the seed kept with the commitment. A day with no
    commitment is refused (``no_commitment``), as is a second draw (``ballot_drawn``).
    ``subject_of``: a traveller's border subject id from their identity hash, for entries
    stored without it. Each entry's ticket, each slot's seats and every outcome are recorded
    with the draw, for its published record. ``on_drawn`` runs inside that transaction (the
    audit entry commits with the draw).
    """
    if seed is not None:
        check_seed(seed)
    now = int(clock.now().timestamp())
    won: list[str] = []
    lost: list[str] = []
    with store.write() as uow:
        if uow.ballot.draw(day) is not None:
            raise BookingRefused(f"the ballot for {day} has been drawn", code="ballot_drawn", field="day")
        committed = uow.ballot.committed_seed(day)
        if committed is None:
            raise BookingRefused(
                f"no seed was committed for {day}: commit one (`chaincut border commit --day {day}`) "
                "and publish it before drawing",
                code="no_commitment",
                field="day",
            )
        commitment, kept = committed
        if seed is not None and commitment_of(seed) != commitment:
            raise InvalidInput(
                f"this seed is not the one committed for {day} (SHA-256 {commitment})",
                code="seed_mismatch",
                field="seed",
            )
        chosen = kept if seed is None else seed
        waiting = uow.ballot.waiting(day)
        groups: dict[tuple[str, str], list[EntryRow]] = defaultdict(list)
        for row in waiting:
            groups[(row.entry.checkpoint, row.entry.slot)].append(row)
        quotas: dict[SlotId, int] = {}
        for checkpoint, slot in groups:
            point = rules.checkpoint(checkpoint)
            quota = point.slots.get(slot) if point is not None else None
            if quota is not None:
                quotas[(checkpoint, day, slot)] = quota
        held, changes = uow.border.lock_slots(quotas)
        audit_quota_changes(uow, changes, clock)
        # One traveller is on one entry a day (a unique index): who holds a booking now holds it
        # whatever the draw decides, so the excluded entries are known before any is ranked.
        booked = uow.border.live_of([(t, day) for row in waiting for t, _ in row.travellers])
        tickets = {row.row_id: ballot_ticket(day, _named_subject(row, subject_of)) for row in waiting}
        slots: list[DrawnSlotRow] = []
        for (checkpoint, slot), rows in sorted(groups.items()):
            quota, taken = held.get((checkpoint, day, slot), (0, 0))
            seats = max(0, quota - taken)
            slots.append(DrawnSlotRow(checkpoint, slot, seats))
            ranked = []
            for row in rows:
                if any((t, day) in booked for t, _ in row.travellers):
                    uow.ballot.decide(row.row_id, EntryStatus.LOST, ticket=tickets[row.row_id], excluded=True)
                    lost.append(row.entry.public_id)
                else:
                    ranked.append(row)
            decided = draw_slot(chosen, seats, ranked, lambda r: tickets[r.row_id], _travellers)
            for row, wins in decided:
                ticket = tickets[row.row_id]
                if wins:
                    booking_id = _book_winner(uow, row, day, now, subject_of)
                    uow.ballot.decide(row.row_id, EntryStatus.WON, booking_id, ticket=ticket)
                    won.append(row.entry.public_id)
                else:
                    uow.ballot.decide(row.row_id, EntryStatus.LOST, ticket=ticket)
                    lost.append(row.entry.public_id)
        record = DrawRecord(day, chosen, now, actor, len(won) + len(lost), len(won), BALLOT_ORDER)
        if not uow.ballot.record_draw(record, slots):
            raise BookingRefused(f"the ballot for {day} has been drawn", code="ballot_drawn", field="day")
        outcome = DrawOutcome(day, chosen, tuple(won), tuple(lost))
        if on_drawn is not None:
            on_drawn(uow, outcome)
    return outcome


def _named_subject(row: EntryRow, subject_of: Callable[[bytes], str]) -> str:
    """The entry's named traveller's border subject id (derived for an entry stored without it)."""
    traveller_hash, subject = row.travellers[0]
    return subject if subject is not None else subject_of(traveller_hash)


def _travellers(row: EntryRow) -> int:
    return row.entry.travellers


def _book_winner(
    uow: UnitOfWork, row: EntryRow, day: date, now: int, subject_of: Callable[[bytes], str]
) -> int:
    """The booking a winning entry gets (its row id). Its seats are free and none of its travellers
    holds a booking (both read in this transaction, under the slot's lock): were either not so, the
    draw would not be the published one, so it fails whole (``draw_conflict``) and can be drawn again."""
    entry = row.entry
    travellers: Sequence[tuple[bytes, str | None]] = [
        (t, subject if subject is not None else subject_of(t)) for t, subject in row.travellers
    ]
    added = None
    if uow.border.take(entry.checkpoint, day, entry.slot, entry.travellers):
        added = uow.border.add(
            NewBooking(
                public_id=new_public_id(),
                person_id=entry.person_id,
                day=day,
                checkpoint=entry.checkpoint,
                slot=entry.slot,
                request_id=f"ballot:{entry.public_id}",
                created_at=now,
                travellers=tuple(travellers),
                unlisted=entry.unlisted,
            )
        )
    if added is None:
        raise BookingRefused(
            f"the draw of {day} could not book a winning entry (seats or a traveller's booking changed "
            "while drawing); nothing was drawn: draw again",
            code="draw_conflict",
            field="day",
        )
    return added[0]
