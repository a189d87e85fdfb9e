"""Border slots and bookings: seats taken only by a conditional UPDATE that keeps within the quota.

``take`` adds a booking's travellers to its slot only while ``booked + n <= quota``
holds, in the same statement, so two transactions can never both take the last
seats: PostgreSQL re-checks the condition on the row another transaction just
committed, and SQLite runs one writer at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from chaincut.domain.border import Booking, BookingStatus, SlotAvailability
from chaincut.store.tables import border_bookings, border_slots

__all__ = ["BorderRepository", "NewBooking", "SlotId"]

SlotId = tuple[str, date, str]  # checkpoint, local day, slot


def _instant(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _booking(r: Row[Any]) -> Booking:
    created = _instant(r.created_at)
    assert created is not None
    return Booking(
        public_id=r.public_id,
        person_id=r.person_id,
        day=r.day,
        checkpoint=r.checkpoint,
        slot=r.slot,
        companions=r.companions,
        status=BookingStatus(r.status),
        request_id=r.request_id,
        created_at=created,
        cancelled_at=_instant(r.cancelled_at),
    )


class NewBooking:
    """The columns of a booking about to be stored."""

    def __init__(
        self,
        *,
        public_id: str,
        person_id: int,
        traveller_hash: bytes,
        day: date,
        checkpoint: str,
        slot: str,
        companions: int,
        request_id: str,
        created_at: int,
        subject: str | None = None,
    ) -> None:
        self.values = {
            "public_id": public_id,
            "person_id": person_id,
            "traveller_hash": traveller_hash,
            "day": day,
            "checkpoint": checkpoint,
            "slot": slot,
            "companions": companions,
            "status": BookingStatus.BOOKED.value,
            "request_id": request_id,
            "created_at": created_at,
            "subject": subject,  # the traveller's border subject id (security/identity.py)
        }


class BorderRepository:
    """Slots with their quotas, and the bookings that take seats in them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def ensure_slot(self, checkpoint: str, day: date, slot: str, quota: int) -> None:
        """Create the slot's row with ``quota`` if it has none yet (a present row is left as it is)."""
        values = {"checkpoint": checkpoint, "day": day, "slot": slot, "quota": quota, "booked": 0}
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        self._conn.execute(dialect.insert(border_slots).values(**values).on_conflict_do_nothing())

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
        """The day's slots that have a row, by (checkpoint, slot)."""
        rows = self._conn.execute(select(border_slots).where(border_slots.c.day == day))
        return {
            (r.checkpoint, r.slot): SlotAvailability(r.checkpoint, r.day, r.slot, r.quota, r.booked)
            for r in rows
        }

    def add(self, new: NewBooking) -> tuple[int, Booking] | None:
        """Store the booking; None when the traveller already holds one that day or the request id is used."""
        try:
            with self._conn.begin_nested():
                row_id = self._conn.execute(
                    insert(border_bookings).values(**new.values).returning(border_bookings.c.id)
                ).scalar_one()
        except IntegrityError:
            return None
        found = self._one(border_bookings.c.id == row_id)
        assert found is not None
        return row_id, found

    def add_many(self, news: Sequence[NewBooking]) -> list[Booking]:
        """Store bookings in one statement; those that clash with a stored one (the traveller's
        booking that day, or the request id) are left out of the answer, and stored not."""
        if not news:
            return []
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        # Many parameter sets for one statement, not one statement of many rows: SQLAlchemy then
        # compiles it once and sends the rows in "insertmanyvalues" batches (compiling a new
        # multi-row statement per batch was a fifth of the booking writer's time).
        rows = self._conn.execute(
            dialect.insert(border_bookings).on_conflict_do_nothing().returning(*border_bookings.c),
            [n.values for n in news],
        )
        return [_booking(r) for r in rows]

    def by_requests(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Booking]:
        """The bookings made under these (booker's person id, request id) pairs."""
        if not keys:
            return {}
        pair = tuple_(border_bookings.c.person_id, border_bookings.c.request_id)
        rows = self._conn.execute(select(border_bookings).where(pair.in_(sorted(set(keys)))))
        return {(r.person_id, r.request_id): _booking(r) for r in rows}

    def live_of(self, travellers: Sequence[tuple[bytes, date]]) -> dict[tuple[bytes, date], Booking]:
        """The live booking of each (traveller hash, day) that has one."""
        if not travellers:
            return {}
        wanted = set(travellers)
        rows = self._conn.execute(
            select(border_bookings).where(
                border_bookings.c.traveller_hash.in_(sorted({t for t, _ in wanted})),
                border_bookings.c.day.in_(sorted({d for _, d in wanted})),
                border_bookings.c.status == BookingStatus.BOOKED.value,
            )
        )
        return {
            (bytes(r.traveller_hash), r.day): _booking(r)
            for r in rows
            if (bytes(r.traveller_hash), r.day) in wanted
        }

    def lock_slots(self, quotas: Mapping[SlotId, int]) -> dict[SlotId, tuple[int, int]]:
        """Create the slots that have no row yet (with ``quotas``), lock them and read (quota, booked).

        On PostgreSQL the rows stay locked (``FOR UPDATE``, taken in key order so two server
        processes cannot deadlock) until the transaction ends; the embedded store's write
        transactions are exclusive already.
        """
        if not quotas:
            return {}
        keys = sorted(quotas)
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        self._conn.execute(
            dialect.insert(border_slots)
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
        return {(r.checkpoint, r.day, r.slot): (r.quota, r.booked) for r in self._conn.execute(query)}

    def by_request(self, person_id: int, request_id: str) -> Booking | None:
        return self._one(
            (border_bookings.c.person_id == person_id) & (border_bookings.c.request_id == request_id)
        )

    def by_public_id(self, public_id: str) -> Booking | None:
        return self._one(border_bookings.c.public_id == public_id)

    def live(self, traveller_hash: bytes, day: date) -> Booking | None:
        """The traveller's booking on ``day`` that still holds its seats."""
        return self._one(
            (border_bookings.c.traveller_hash == traveller_hash)
            & (border_bookings.c.day == day)
            & (border_bookings.c.status == BookingStatus.BOOKED.value)
        )

    def cancel(self, public_id: str, at: int) -> bool:
        """Mark a live booking cancelled; False when it already was (nothing changes)."""
        result = self._conn.execute(
            update(border_bookings)
            .where(
                border_bookings.c.public_id == public_id,
                border_bookings.c.status == BookingStatus.BOOKED.value,
            )
            .values(status=BookingStatus.CANCELLED.value, cancelled_at=at)
        )
        return result.rowcount == 1

    def on_day(
        self, day: date, checkpoint: str | None = None, *, limit: int = 500, offset: int = 0
    ) -> list[Booking]:
        query = select(border_bookings).where(border_bookings.c.day == day)
        if checkpoint is not None:
            query = query.where(border_bookings.c.checkpoint == checkpoint)
        rows = self._conn.execute(query.order_by(border_bookings.c.id).limit(limit).offset(offset))
        return [_booking(r) for r in rows]

    def of_person(self, person_id: int, traveller_hash: bytes | None) -> list[Booking]:
        """Bookings the person's app made, or made for their identity document, oldest first."""
        where = border_bookings.c.person_id == person_id
        if traveller_hash is not None:
            where = where | (border_bookings.c.traveller_hash == traveller_hash)
        rows = self._conn.execute(select(border_bookings).where(where).order_by(border_bookings.c.id))
        return [_booking(r) for r in rows]

    def _one(self, where: Any) -> Booking | None:
        row = self._conn.execute(select(border_bookings).where(where)).first()
        return None if row is None else _booking(row)
