"""Border slots, bookings and their travellers: seats taken only by a conditional UPDATE within the quota.

``take`` adds a booking's travellers to its slot only while ``booked + n <= quota``
holds, in the same statement, so two transactions can never both take the last
seats: PostgreSQL re-checks the condition on the row another transaction just
committed, and SQLite runs one writer at a time.

Every traveller of a booking, its named traveller and each companion listed, has a
row of ``border_booking_travellers``; a partial unique index there keeps one live
booking per traveller and day, whether named or listed as a companion.

A slot's row keeps the quota it was last given, and the policy in force decides:
``lock_slots`` and ``set_quotas`` (with ``quota_changes``) bring the stored quota to
the policy's and say what changed, so the caller can audit it. A quota lowered below the seats booked
bumps nobody: ``take`` then refuses every new seat, and the excess shows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, true, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from chaincut.domain.border import Booking, BookingStatus, QuotaChange, SlotAvailability
from chaincut.store.tables import border_booking_travellers, border_bookings, border_slots

__all__ = ["BorderRepository", "NewBooking", "SlotId", "Traveller"]

SlotId = tuple[str, date, str]  # checkpoint, local day, slot
Traveller = tuple[bytes, str | None]  # a traveller's identity hash and border subject id

_b = border_bookings
_t = border_booking_travellers


def _instant(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _booking(r: Row[Any], companions: Sequence[str]) -> Booking:
    created = _instant(r.created_at)
    assert created is not None
    return Booking(
        public_id=r.public_id,
        person_id=r.person_id,
        day=r.day,
        checkpoint=r.checkpoint,
        slot=r.slot,
        companions=tuple(companions),
        status=BookingStatus(r.status),
        request_id=r.request_id,
        created_at=created,
        cancelled_at=_instant(r.cancelled_at),
        subject=r.subject,
        unlisted=max(0, r.companions - len(companions)),
    )


class NewBooking:
    """The columns of a booking about to be stored, and its travellers (the named one first)."""

    def __init__(
        self,
        *,
        public_id: str,
        person_id: int,
        day: date,
        checkpoint: str,
        slot: str,
        request_id: str,
        created_at: int,
        travellers: Sequence[Traveller],
        unlisted: int = 0,
    ) -> None:
        assert travellers, "a booking has its named traveller"
        self.travellers = tuple(travellers)
        self.values = {
            "public_id": public_id,
            "person_id": person_id,
            "traveller_hash": travellers[0][0],
            "day": day,
            "checkpoint": checkpoint,
            "slot": slot,
            "companions": len(travellers) - 1 + unlisted,
            "status": BookingStatus.BOOKED.value,
            "request_id": request_id,
            "created_at": created_at,
            "subject": travellers[0][1],  # the named traveller's border subject id (security/identity.py)
        }

    def traveller_rows(self, booking_id: int) -> list[dict[str, Any]]:
        return [
            {
                "booking_id": booking_id,
                "position": position,
                "traveller_hash": traveller_hash,
                "subject": subject,
                "day": self.values["day"],
                "live": True,
            }
            for position, (traveller_hash, subject) in enumerate(self.travellers)
        ]


class BorderRepository:
    """Slots with their quotas, the bookings that take seats in them, and their travellers."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _insert(self) -> Any:
        return (postgresql if self._conn.dialect.name == "postgresql" else sqlite).insert

    # --- slots ---------------------------------------------------------------------------------------

    def take(self, checkpoint: str, day: date, slot: str, travellers: int) -> bool:
        """Take ``travellers`` seats if the quota allows all of them; False when it does not."""
        result = self._conn.execute(
            update(border_slots)
            .where(
                border_slots.c.checkpoint == checkpoint,
                border_slots.c.day == day,
                border_slots.c.slot == slot,
                border_slots.c.booked + travellers <= border_slots.c.quota,
            )
            .values(booked=border_slots.c.booked + travellers)
        )
        return result.rowcount == 1

    def give_back(self, checkpoint: str, day: date, slot: str, travellers: int) -> None:
        self._conn.execute(
            update(border_slots)
            .where(
                border_slots.c.checkpoint == checkpoint,
                border_slots.c.day == day,
                border_slots.c.slot == slot,
                border_slots.c.booked >= travellers,
            )
            .values(booked=border_slots.c.booked - travellers)
        )

    def slots(self, day: date) -> dict[tuple[str, str], SlotAvailability]:
        """The day's slots that have a row, by (checkpoint, slot), with the quota stored."""
        rows = self._conn.execute(select(border_slots).where(border_slots.c.day == day))
        return {
            (r.checkpoint, r.slot): SlotAvailability(r.checkpoint, r.day, r.slot, r.quota, r.booked)
            for r in rows
        }

    def lock_slots(
        self, quotas: Mapping[SlotId, int]
    ) -> tuple[dict[SlotId, tuple[int, int]], list[QuotaChange]]:
        """Create the slots that have no row yet, lock them, bring each to its quota in ``quotas``
        (the policy's), and read (quota, booked); with every stored quota that changed.

        On PostgreSQL the rows stay locked (``FOR UPDATE``, taken in key order so two server
        processes cannot deadlock) until the transaction ends; the embedded store's write
        transactions are exclusive already.
        """
        if not quotas:
            return {}, []
        keys = sorted(quotas)
        self._conn.execute(
            self._insert()(border_slots)
            .values(
                [
                    {"checkpoint": c, "day": d, "slot": s, "quota": quotas[(c, d, s)], "booked": 0}
                    for c, d, s in keys
                ]
            )
            .on_conflict_do_nothing()
        )
        c = border_slots.c
        query = (
            select(c.checkpoint, c.day, c.slot, c.quota, c.booked)
            .where(tuple_(c.checkpoint, c.day, c.slot).in_(keys))
            .order_by(c.checkpoint, c.day, c.slot)
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        held = {(r.checkpoint, r.day, r.slot): (r.quota, r.booked) for r in self._conn.execute(query)}
        changes = [
            QuotaChange(key[0], key[1], key[2], quota, quotas[key], booked)
            for key, (quota, booked) in held.items()
            if quota != quotas[key]
        ]
        self.set_quotas(changes)
        for change in changes:
            held[(change.checkpoint, change.day, change.slot)] = (change.quota, change.booked)
        return held, changes

    def quota_changes(self, quotas: Mapping[tuple[str, str], int], from_day: date) -> list[QuotaChange]:
        """What bringing every stored slot from ``from_day`` on to its quota in ``quotas`` (by checkpoint
        and slot) would change; slots the policy no longer has are left alone. Nothing is written."""
        c = border_slots.c
        rows = self._conn.execute(
            select(c.checkpoint, c.day, c.slot, c.quota, c.booked)
            .where(c.day >= from_day)
            .order_by(c.checkpoint, c.day, c.slot)
        )
        changes = [
            QuotaChange(r.checkpoint, r.day, r.slot, r.quota, quotas[(r.checkpoint, r.slot)], r.booked)
            for r in rows
            if (r.checkpoint, r.slot) in quotas and r.quota != quotas[(r.checkpoint, r.slot)]
        ]
        return changes

    def set_quotas(self, changes: Sequence[QuotaChange]) -> list[QuotaChange]:
        """Store each change's quota where the row still holds the quota it was read with; those made."""
        made = []
        c = border_slots.c
        for change in changes:
            result = self._conn.execute(
                update(border_slots)
                .where(
                    c.checkpoint == change.checkpoint,
                    c.day == change.day,
                    c.slot == change.slot,
                    c.quota == change.before,
                )
                .values(quota=change.quota)
            )
            if result.rowcount == 1:
                made.append(change)
        return made

    # --- bookings ------------------------------------------------------------------------------------

    def add(self, new: NewBooking) -> tuple[int, Booking] | None:
        """Store the booking and its travellers; None (and nothing stored) when one of its travellers
        already holds a live booking that day or the request id is used."""
        try:
            with self._conn.begin_nested():
                row_id = self._conn.execute(insert(_b).values(**new.values).returning(_b.c.id)).scalar_one()
                self._conn.execute(insert(_t), new.traveller_rows(row_id))
        except IntegrityError:
            return None
        found = self._one(_b.c.id == row_id)
        assert found is not None
        return row_id, found

    def add_many(self, news: Sequence[NewBooking]) -> list[Booking]:
        """Store bookings and their travellers in two statements. A booking that clashes with a stored
        one (its request id), or any of whose travellers holds a live booking that day, is left out of
        the answer; its row may be stored without all its travellers, so when fewer bookings come back
        than were given the caller must roll the transaction back."""
        if not news:
            return []
        # Many parameter sets for one statement, not one statement of many rows: SQLAlchemy then
        # compiles it once and sends the rows in "insertmanyvalues" batches (compiling a new
        # multi-row statement per batch was a fifth of the booking writer's time).
        rows = self._conn.execute(
            self._insert()(_b).on_conflict_do_nothing().returning(*_b.c), [n.values for n in news]
        ).all()
        by_key = {(n.values["person_id"], n.values["request_id"]): n for n in news}
        stored = {(r.person_id, r.request_id): r for r in rows}
        travellers = [row for key, r in stored.items() for row in by_key[key].traveller_rows(r.id)]
        placed: dict[int, int] = defaultdict(int)
        for r in self._conn.execute(
            self._insert()(_t).on_conflict_do_nothing().returning(_t.c.booking_id), travellers
        ):
            placed[r.booking_id] += 1
        found = []
        for key, r in stored.items():
            new = by_key[key]
            if placed[r.id] == len(new.travellers):
                found.append(_booking(r, [s or "" for _, s in new.travellers[1:]]))
        return found

    def by_requests(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Booking]:
        """The bookings made under these (booker's person id, request id) pairs."""
        if not keys:
            return {}
        pair = tuple_(_b.c.person_id, _b.c.request_id)
        found = self._many(pair.in_(sorted(set(keys))))
        return {(b.person_id, b.request_id): b for b in found}

    def live_of(self, travellers: Sequence[tuple[bytes, date]]) -> dict[tuple[bytes, date], Booking]:
        """The live booking of each (traveller hash, day) that has one, whether the traveller is named
        on it or listed as a companion."""
        if not travellers:
            return {}
        wanted = set(travellers)
        rows = self._conn.execute(
            select(_t.c.traveller_hash, _t.c.day, _t.c.booking_id).where(
                _t.c.traveller_hash.in_(sorted({t for t, _ in wanted})),
                _t.c.day.in_(sorted({d for _, d in wanted})),
                _t.c.live == true(),
            )
        ).all()
        held = {(bytes(r.traveller_hash), r.day): r.booking_id for r in rows}
        held = {key: booking_id for key, booking_id in held.items() if key in wanted}
        bookings = {}
        if held:
            for row_id, booking in self._many_with_ids(_b.c.id.in_(sorted(set(held.values())))):
                bookings[row_id] = booking
        return {key: bookings[booking_id] for key, booking_id in held.items()}

    def live(self, traveller_hash: bytes, day: date) -> Booking | None:
        """The live booking on ``day`` the traveller is named on or listed on as a companion."""
        return self.live_of([(traveller_hash, day)]).get((traveller_hash, day))

    def by_request(self, person_id: int, request_id: str) -> Booking | None:
        return self._one((_b.c.person_id == person_id) & (_b.c.request_id == request_id))

    def by_public_id(self, public_id: str) -> Booking | None:
        return self._one(_b.c.public_id == public_id)

    def cancel(self, public_id: str, at: int) -> bool:
        """Mark a live booking cancelled, and its travellers free that day; False when it already was
        (nothing changes)."""
        result = self._conn.execute(
            update(_b)
            .where(_b.c.public_id == public_id, _b.c.status == BookingStatus.BOOKED.value)
            .values(status=BookingStatus.CANCELLED.value, cancelled_at=at)
        )
        if result.rowcount != 1:
            return False
        booking_id = select(_b.c.id).where(_b.c.public_id == public_id).scalar_subquery()
        self._conn.execute(update(_t).where(_t.c.booking_id == booking_id).values(live=False))
        return True

    def on_day(
        self, day: date, checkpoint: str | None = None, *, limit: int = 500, offset: int = 0
    ) -> list[Booking]:
        where = _b.c.day == day
        if checkpoint is not None:
            where = where & (_b.c.checkpoint == checkpoint)
        return self._many(where, limit=limit, offset=offset)

    def of_person(self, person_id: int, traveller_hash: bytes | None) -> list[Booking]:
        """Bookings the person's app made, or on which their identity document travels (named or as a
        companion), oldest first."""
        where = _b.c.person_id == person_id
        if traveller_hash is not None:
            theirs = select(_t.c.booking_id).where(_t.c.traveller_hash == traveller_hash)
            where = where | _b.c.id.in_(theirs)
        return self._many(where)

    def _one(self, where: Any) -> Booking | None:
        found = self._many(where, limit=1)
        return found[0] if found else None

    def _many(self, where: Any, *, limit: int | None = None, offset: int = 0) -> list[Booking]:
        return [b for _, b in self._many_with_ids(where, limit=limit, offset=offset)]

    def _many_with_ids(
        self, where: Any, *, limit: int | None = None, offset: int = 0
    ) -> list[tuple[int, Booking]]:
        query = select(_b).where(where).order_by(_b.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = self._conn.execute(query).all()
        companions = self.companions_of(r.id for r in rows)
        return [(r.id, _booking(r, companions.get(r.id, ()))) for r in rows]

    def companions_of(self, booking_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        """Each booking's listed companions' subject ids, in the order listed (by booking row id)."""
        ids = sorted(set(booking_ids))
        if not ids:
            return {}
        found: dict[int, list[str]] = defaultdict(list)
        for start in range(0, len(ids), 1000):
            rows = self._conn.execute(
                select(_t.c.booking_id, _t.c.subject)
                .where(_t.c.booking_id.in_(ids[start : start + 1000]), _t.c.position > 0)
                .order_by(_t.c.booking_id, _t.c.position)
            )
            for r in rows:
                found[r.booking_id].append(r.subject or "")
        return {booking_id: tuple(subjects) for booking_id, subjects in found.items()}
