"""The daily ballot: entries drawn by lot, in an order anyone can recompute from the revealed seed.

Lawmakers asked for a ballot against scalpers after the first-come booking site
failed in January 2023; Shenzhen drew its quarantine-hotel rooms by lottery in
2022. Each day's seed is committed (its SHA-256 published) before the day's
entries open (``commitments``); the draw takes that seed, refuses any other, and
records it, which reveals it.

The order of a slot's entries (``ballot_order``, chaincut ballot order 1) is our
own, so that it is the same on every Python version and in any language:

    rank(entry) = SHA-256( UTF-8(seed) || 0x00 || UTF-8(entry id) )

read as a 256-bit unsigned big-endian integer, where the entry id is the entry's
public id; entries are taken by ascending rank (equal ranks, which SHA-256 makes
practically impossible, by entry id). Each checkpoint's slot is drawn on its own,
slots in order of checkpoint id then slot name: in rank order an entry wins when
all its travellers still fit within the slot's quota and none of them holds a
booking that day, else it loses. The same entries and seed always give the same
winners.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
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
from chaincut.store.ballot import DrawRecord, EntryRow
from chaincut.store.border import NewBooking, SlotId

__all__ = ["DrawOutcome", "ballot_order", "ballot_rank", "draw_ballot", "draw_time"]

T = TypeVar("T")


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


def ballot_rank(seed: str, entry_id: str) -> int:
    """An entry's rank under ``seed``: SHA-256 of UTF-8(seed), a zero byte, UTF-8(entry id), big-endian."""
    digest = hashlib.sha256(seed.encode("utf-8") + b"\x00" + entry_id.encode("utf-8")).digest()
    return int.from_bytes(digest, "big")


def ballot_order(seed: str, entries: Iterable[T], entry_id: Callable[[T], str]) -> list[T]:
    """``entries`` in the order the draw takes them: ascending rank, then entry id (ballot order 1)."""
    return sorted(entries, key=lambda e: (ballot_rank(seed, entry_id(e)), entry_id(e)))


def draw_ballot(
    store: Store,
    rules: BorderRules,
    clock: Clock,
    day: date,
    seed: str | None = None,
    *,
    actor: str,
    on_drawn: Callable[[UnitOfWork, DrawOutcome], None] | None = None,
    subject_of: Callable[[bytes], str] | None = None,
) -> DrawOutcome:
    """Draw ``day``'s ballot once, in one transaction, with the seed committed for it.

    ``seed``: the committed seed, given again (refused, ``seed_mismatch``, when its SHA-256 is
    not the commitment); None takes the seed kept with the commitment. A day with no
    commitment is refused (``no_commitment``), as is a second draw (``ballot_drawn``).
    ``on_drawn`` runs inside that transaction (the audit entry commits with the draw).
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
        groups: dict[tuple[str, str], list[EntryRow]] = defaultdict(list)
        for row in uow.ballot.waiting(day):
            groups[(row.entry.checkpoint, row.entry.slot)].append(row)
        quotas: dict[SlotId, int] = {}
        for checkpoint, slot in groups:
            point = rules.checkpoint(checkpoint)
            quota = point.slots.get(slot) if point is not None else None
            if quota is not None:
                quotas[(checkpoint, day, slot)] = quota
        _held, changes = uow.border.lock_slots(quotas)
        audit_quota_changes(uow, changes, clock)
        for (checkpoint, slot), rows in sorted(groups.items()):
            drawable = (checkpoint, day, slot) in quotas
            for row in ballot_order(chosen, rows, lambda r: r.entry.public_id):
                booking_id = _book_winner(uow, row, day, now, subject_of) if drawable else None
                if booking_id is None:
                    uow.ballot.decide(row.row_id, EntryStatus.LOST)
                    lost.append(row.entry.public_id)
                else:
                    uow.ballot.decide(row.row_id, EntryStatus.WON, booking_id)
                    won.append(row.entry.public_id)
        record = DrawRecord(day, chosen, now, actor, len(won) + len(lost), len(won))
        if not uow.ballot.record_draw(record):
            raise BookingRefused(f"the ballot for {day} has been drawn", code="ballot_drawn", field="day")
        outcome = DrawOutcome(day, chosen, tuple(won), tuple(lost))
        if on_drawn is not None:
            on_drawn(uow, outcome)
    return outcome


def _book_winner(
    uow: UnitOfWork, row: EntryRow, day: date, now: int, subject_of: Callable[[bytes], str] | None
) -> int | None:
    """The booking the entry wins (its row id), or None: a traveller is booked that day, or no seats."""
    entry = row.entry
    if uow.border.live_of([(t, day) for t, _ in row.travellers]):
        return None
    if not uow.border.take(entry.checkpoint, day, entry.slot, entry.travellers):
        return None
    travellers = [
        (t, subject if subject is not None or subject_of is None else subject_of(t))
        for t, subject in row.travellers
    ]
    added = uow.border.add(
        NewBooking(
            public_id=new_public_id(),
            person_id=entry.person_id,
            day=day,
            checkpoint=entry.checkpoint,
            slot=entry.slot,
            request_id=f"ballot:{entry.public_id}",
            created_at=now,
            travellers=travellers,
            unlisted=entry.unlisted,
        )
    )
    if added is None:
        uow.border.give_back(entry.checkpoint, day, entry.slot, entry.travellers)
        return None
    return added[0]
