"""Ballot entries for border slots, and the record of each day's draw with its seed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from chaincut.domain.border import BallotEntry, EntryStatus
from chaincut.store.tables import border_ballot_entries, border_bookings, border_draws

__all__ = ["BallotRepository", "DrawRecord", "EntryRow"]


class EntryRow:
    """An entry with the row id and traveller hash the draw needs (never shown to callers)."""

    def __init__(self, row_id: int, traveller_hash: bytes, entry: BallotEntry) -> None:
        self.row_id = row_id
        self.traveller_hash = traveller_hash
        self.entry = entry


class DrawRecord:
    """One day's draw: its seed, when and by whom, how many entries and winners."""

    def __init__(self, day: date, seed: str, drawn_at: int, drawn_by: str, entries: int, won: int) -> None:
        self.day, self.seed, self.drawn_at, self.drawn_by = day, seed, drawn_at, drawn_by
        self.entries, self.won = entries, won


def _entry(r: Row[Any]) -> EntryRow:
    entry = BallotEntry(
        public_id=r.public_id,
        person_id=r.person_id,
        day=r.day,
        checkpoint=r.checkpoint,
        slot=r.slot,
        companions=r.companions,
        status=EntryStatus(r.status),
        request_id=r.request_id,
        created_at=datetime.fromtimestamp(r.created_at, UTC),
        booking_public_id=r.booking_public_id,
    )
    return EntryRow(r.id, r.traveller_hash, entry)


class BallotRepository:
    """Entries waiting for a draw, their outcomes, and the draws."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _select(self) -> Any:
        return select(
            border_ballot_entries, border_bookings.c.public_id.label("booking_public_id")
        ).select_from(
            border_ballot_entries.outerjoin(
                border_bookings, border_bookings.c.id == border_ballot_entries.c.booking_id
            )
        )

    def add(self, values: dict[str, Any]) -> BallotEntry | None:
        """Store an entry; None when the traveller already entered for that day or the request id is used."""
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(border_ballot_entries).values(**values, status=EntryStatus.ENTERED.value)
                )
        except IntegrityError:
            return None
        found = self.by_request(values["person_id"], values["request_id"])
        assert found is not None
        return found

    def by_request(self, person_id: int, request_id: str) -> BallotEntry | None:
        row = self._conn.execute(
            self._select().where(
                border_ballot_entries.c.person_id == person_id,
                border_ballot_entries.c.request_id == request_id,
            )
        ).first()
        return None if row is None else _entry(row).entry

    def entered(self, traveller_hash: bytes, day: date) -> bool:
        query = select(border_ballot_entries.c.id).where(
            border_ballot_entries.c.traveller_hash == traveller_hash, border_ballot_entries.c.day == day
        )
        return self._conn.execute(query).first() is not None

    def waiting(self, day: date) -> list[EntryRow]:
        """The day's entries still waiting for the draw, in the order they were made."""
        rows = self._conn.execute(
            self._select()
            .where(
                border_ballot_entries.c.day == day,
                border_ballot_entries.c.status == EntryStatus.ENTERED.value,
            )
            .order_by(border_ballot_entries.c.created_at, border_ballot_entries.c.id)
        )
        return [_entry(r) for r in rows]

    def of_person(self, person_id: int, traveller_hash: bytes | None) -> list[BallotEntry]:
        """Entries the person's app made, or made for their identity document, oldest first."""
        where = border_ballot_entries.c.person_id == person_id
        if traveller_hash is not None:
            where = where | (border_ballot_entries.c.traveller_hash == traveller_hash)
        rows = self._conn.execute(self._select().where(where).order_by(border_ballot_entries.c.id))
        return [_entry(r).entry for r in rows]

    def decide(self, row_id: int, status: EntryStatus, booking_id: int | None = None) -> None:
        self._conn.execute(
            update(border_ballot_entries)
            .where(border_ballot_entries.c.id == row_id)
            .values(status=status.value, booking_id=booking_id)
        )

    def record_draw(self, draw: DrawRecord) -> bool:
        """Record the day's draw; False when the day was drawn already."""
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(border_draws).values(
                        day=draw.day,
                        seed=draw.seed,
                        drawn_at=draw.drawn_at,
                        drawn_by=draw.drawn_by,
                        entries=draw.entries,
                        won=draw.won,
                    )
                )
        except IntegrityError:
            return False
        return True

    def undrawn_days(self) -> list[date]:
        """Days with entries waiting and no draw yet, earliest first."""
        drawn = select(border_draws.c.day).where(border_draws.c.day == border_ballot_entries.c.day)
        query = (
            select(border_ballot_entries.c.day)
            .where(border_ballot_entries.c.status == EntryStatus.ENTERED.value, ~drawn.exists())
            .group_by(border_ballot_entries.c.day)
            .order_by(border_ballot_entries.c.day)
        )
        return [r.day for r in self._conn.execute(query)]

    def draw(self, day: date) -> DrawRecord | None:
        r = self._conn.execute(select(border_draws).where(border_draws.c.day == day)).first()
        return None if r is None else DrawRecord(r.day, r.seed, r.drawn_at, r.drawn_by, r.entries, r.won)
