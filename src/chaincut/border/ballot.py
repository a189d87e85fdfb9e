"""The daily ballot: entries drawn by lot, by a seeded shuffle that anyone can repeat with the seed.

Lawmakers asked for a ballot against scalpers after the first-come booking site
failed in January 2023; Shenzhen drew its quarantine-hotel rooms by lottery in
2022. Each slot's entries, in the order they were made, are shuffled by a
generator seeded from the draw's seed, the day, the checkpoint and the slot;
in that order an entry wins when all its travellers still fit within the quota
and its traveller holds no booking that day, else it loses. The seed is recorded
with the draw, so the same entries and seed always give the same winners.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from chaincut.clock import Clock
from chaincut.domain.border import EntryStatus
from chaincut.domain.ids import new_public_id
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.policy import BorderRules
from chaincut.store import Store, UnitOfWork
from chaincut.store.ballot import DrawRecord, EntryRow
from chaincut.store.border import NewBooking

__all__ = ["DrawOutcome", "draw_ballot", "draw_time"]


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


def _order(rows: list[EntryRow], seed: str, day: date, checkpoint: str, slot: str) -> list[EntryRow]:
    shuffled = list(rows)
    random.Random(f"{seed}:{day.isoformat()}:{checkpoint}:{slot}").shuffle(shuffled)
    return shuffled


def draw_ballot(
    store: Store,
    rules: BorderRules,
    clock: Clock,
    day: date,
    seed: str,
    *,
    actor: str,
    on_drawn: Callable[[UnitOfWork, DrawOutcome], None] | None = None,
    subject_of: Callable[[bytes], str] | None = None,
) -> DrawOutcome:
    """Draw ``day``'s ballot once, in one transaction; a second draw of the day is refused.

    ``on_drawn`` runs inside that transaction (the audit entry commits with the draw).
    """
    if not 1 <= len(seed) <= 64:
        raise InvalidInput("a draw's seed is 1 to 64 characters", code="invalid_seed", field="seed")
    now = int(clock.now().timestamp())
    won: list[str] = []
    lost: list[str] = []
    with store.write() as uow:
        if uow.ballot.draw(day) is not None:
            raise BookingRefused(f"the ballot for {day} has been drawn", code="ballot_drawn", field="day")
        groups: dict[tuple[str, str], list[EntryRow]] = defaultdict(list)
        for row in uow.ballot.waiting(day):
            groups[(row.entry.checkpoint, row.entry.slot)].append(row)
        for (checkpoint, slot), rows in sorted(groups.items()):
            point = rules.checkpoint(checkpoint)
            quota = point.slots.get(slot) if point is not None else None
            if quota is not None:
                uow.border.ensure_slot(checkpoint, day, slot, quota)
            for row in _order(rows, seed, day, checkpoint, slot):
                entry = row.entry
                booking_id = None
                if (
                    quota is not None
                    and uow.border.live(row.traveller_hash, day) is None
                    and uow.border.take(checkpoint, day, slot, entry.travellers)
                ):
                    added = uow.border.add(
                        NewBooking(
                            public_id=new_public_id(),
                            person_id=entry.person_id,
                            traveller_hash=row.traveller_hash,
                            day=day,
                            checkpoint=checkpoint,
                            slot=slot,
                            companions=entry.companions,
                            request_id=f"ballot:{entry.public_id}",
                            created_at=now,
                            subject=None if subject_of is None else subject_of(row.traveller_hash),
                        )
                    )
                    if added is None:
                        uow.border.give_back(checkpoint, day, slot, entry.travellers)
                    else:
                        booking_id = added[0]
                if booking_id is None:
                    uow.ballot.decide(row.row_id, EntryStatus.LOST)
                    lost.append(entry.public_id)
                else:
                    uow.ballot.decide(row.row_id, EntryStatus.WON, booking_id)
                    won.append(entry.public_id)
        record = DrawRecord(day, seed, now, actor, len(won) + len(lost), len(won))
        if not uow.ballot.record_draw(record):
            raise BookingRefused(f"the ballot for {day} has been drawn", code="ballot_drawn", field="day")
        outcome = DrawOutcome(day, seed, tuple(won), tuple(lost))
        if on_drawn is not None:
            on_drawn(uow, outcome)
    return outcome
