"""Clearance decisions at checkpoints, and bookings as checkpoints know them (by border subject id).

A booking's travellers (its named traveller and each companion listed) are each
found by their own subject id and cross on their own. A code id, and a traveller
of a booking, each clear one crossing only: ``add`` returns None when a partial
unique index refuses a second clearance (two officers scanning at once on
PostgreSQL; SQLite runs one writer at a time, so there the caller's re-read sees
the first). Refusal texts are not stored, only their codes: the specifics (a red
code's reasons) are health data the record does not need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from chaincut.domain.border import (
    BookingStatus,
    Clearance,
    ClearanceDecision,
    RefusalCode,
    RefusalReason,
    SyncedBooking,
)
from chaincut.store.tables import border_booking_travellers, border_bookings, border_clearances, people

__all__ = ["ClearanceRepository"]

_FILL_BATCH = 1000
_b = border_bookings
_c = border_clearances
_t = border_booking_travellers

TravellerKey = tuple[str, str]  # a booking's public id, and one of its travellers' subject ids


def _synced(r: Row[Any], companions: tuple[str, ...]) -> SyncedBooking:
    return SyncedBooking(
        subject=r.subject,
        booking_id=r.public_id,
        checkpoint=r.checkpoint,
        day=r.day,
        slot=r.slot,
        companions=companions,
        status=BookingStatus(r.status),
    )


def _booking_columns() -> list[Any]:
    return [_b.c.id, _b.c.subject, _b.c.public_id, _b.c.checkpoint, _b.c.day, _b.c.slot, _b.c.status]


class ClearanceRepository:
    """Clearance records, and the booking lists checkpoints decide against."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- bookings by border subject id ------------------------------------------------------------

    def fill_subjects(self, subject_of: Callable[[bytes], str]) -> int:
        """Give every booking and booking traveller without a border subject id its id (rows stored
        before subject ids were); how many were filled."""
        return self._fill(_b, subject_of) + self._fill(_t, subject_of)

    def _fill(self, table: Table, subject_of: Callable[[bytes], str]) -> int:
        filled = 0
        while True:
            rows = self._conn.execute(
                select(table.c.id, table.c.traveller_hash)
                .where(table.c.subject.is_(None))
                .order_by(table.c.id)
                .limit(_FILL_BATCH)
            ).all()
            if rows:
                self._conn.execute(
                    update(table)
                    .where(table.c.id == bindparam("row_id"))
                    .values(subject=bindparam("new_subject")),
                    [{"row_id": r.id, "new_subject": subject_of(bytes(r.traveller_hash))} for r in rows],
                )
            filled += len(rows)
            if len(rows) < _FILL_BATCH:
                return filled

    def _synced_all(self, query: Any) -> list[SyncedBooking]:
        rows = self._conn.execute(query).all()
        companions = self._companions(r.id for r in rows)
        return [_synced(r, companions.get(r.id, ())) for r in rows]

    def _companions(self, booking_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        ids = sorted(set(booking_ids))
        found: dict[int, list[str]] = defaultdict(list)
        for start in range(0, len(ids), _FILL_BATCH):
            rows = self._conn.execute(
                select(_t.c.booking_id, _t.c.subject)
                .where(_t.c.booking_id.in_(ids[start : start + _FILL_BATCH]), _t.c.position > 0)
                .order_by(_t.c.booking_id, _t.c.position)
            )
            for r in rows:
                found[r.booking_id].append(r.subject or "")
        return {booking_id: tuple(subjects) for booking_id, subjects in found.items()}

    def bookings_at(self, checkpoint: str, day: date) -> list[SyncedBooking]:
        """The bookings (live and cancelled) for ``checkpoint`` on ``day`` with every traveller listed,
        in the order they were made."""
        query = select(*_booking_columns()).where(
            _b.c.checkpoint == checkpoint, _b.c.day == day, _b.c.subject.is_not(None)
        )
        return self._synced_all(query.order_by(_b.c.id))

    def bookings_of(self, subject: str) -> list[SyncedBooking]:
        """Every booking the traveller with this border subject id is on, named or as a companion."""
        theirs = select(_t.c.booking_id).where(_t.c.subject == subject)
        query = select(*_booking_columns()).where(_b.c.id.in_(theirs), _b.c.subject.is_not(None))
        return self._synced_all(query.order_by(_b.c.id))

    def booking(self, public_id: str) -> SyncedBooking | None:
        found = self._synced_all(
            select(*_booking_columns()).where(_b.c.public_id == public_id, _b.c.subject.is_not(None))
        )
        return found[0] if found else None

    def traveller_person(self, public_id: str, subject: str | None) -> int | None:
        """The person a booking's traveller (by subject id) is: the registered holder of their document,
        else the booker; the named traveller when ``subject`` is not on the booking."""
        row = self._conn.execute(
            select(_b.c.person_id, _b.c.traveller_hash).where(_b.c.public_id == public_id)
        ).first()
        if row is None:
            return None
        document = row.traveller_hash
        if subject is not None:
            listed = self._conn.execute(
                select(_t.c.traveller_hash)
                .select_from(_t.join(_b, _b.c.id == _t.c.booking_id))
                .where(_b.c.public_id == public_id, _t.c.subject == subject)
            ).first()
            if listed is not None:
                document = listed.traveller_hash
        holder = self._conn.execute(
            select(people.c.id).where(people.c.id_document_hash == document).order_by(people.c.id)
        ).first()
        return int(holder.id) if holder is not None else int(row.person_id)

    def booking_row_id(self, public_id: str) -> int | None:
        return self._conn.execute(select(_b.c.id).where(_b.c.public_id == public_id)).scalar_one_or_none()

    def traveller_row_id(self, public_id: str, subject: str | None) -> int | None:
        """The row of the booking's traveller with this subject id; None when they are not on it."""
        if subject is None:
            return None
        return self._conn.execute(
            select(_t.c.id)
            .select_from(_t.join(_b, _b.c.id == _t.c.booking_id))
            .where(_b.c.public_id == public_id, _t.c.subject == subject)
        ).scalar_one_or_none()

    # --- what has crossed ---------------------------------------------------------------------------

    def crossed_codes(self, code_ids: Iterable[str]) -> set[str]:
        """Those of ``code_ids`` that have cleared a crossing."""
        wanted = sorted(set(code_ids))
        if not wanted:
            return set()
        query = select(_c.c.code_id).where(_c.c.cleared.is_(True), _c.c.code_id.in_(wanted))
        return {r.code_id for r in self._conn.execute(query)}

    def _crossed_travellers(self) -> Any:
        return (
            select(_c.c.code_id, _b.c.public_id, _t.c.subject)
            .select_from(
                _c.outerjoin(_t, _t.c.id == _c.c.traveller_id).outerjoin(_b, _b.c.id == _t.c.booking_id)
            )
            .where(_c.c.cleared.is_(True))
        )

    def crossed_travellers(self, travellers: Iterable[TravellerKey]) -> set[TravellerKey]:
        """Those of ``travellers`` (booking public id, subject id) who have crossed on that booking."""
        wanted = set(travellers)
        if not wanted:
            return set()
        query = self._crossed_travellers().where(tuple_(_b.c.public_id, _t.c.subject).in_(sorted(wanted)))
        return {(r.public_id, r.subject) for r in self._conn.execute(query)}

    def crossed(
        self, code_ids: Iterable[str], travellers: Iterable[TravellerKey]
    ) -> tuple[set[str], set[TravellerKey]]:
        """Those of ``code_ids`` that cleared a crossing, and those of ``travellers`` who crossed on
        their booking, read by one statement: one snapshot even under READ COMMITTED, so a crossing
        committed meanwhile shows in both or in neither (two queries could see it in one only)."""
        codes_wanted = sorted(set(code_ids))
        travellers_wanted = sorted(set(travellers))
        if not codes_wanted and not travellers_wanted:
            return set(), set()
        clauses = []
        if codes_wanted:
            clauses.append(_c.c.code_id.in_(codes_wanted))
        if travellers_wanted:
            clauses.append(tuple_(_b.c.public_id, _t.c.subject).in_(travellers_wanted))
        codes: set[str] = set()
        crossed: set[TravellerKey] = set()
        for r in self._conn.execute(self._crossed_travellers().where(or_(*clauses))):
            if r.code_id in codes_wanted:
                codes.add(r.code_id)
            if (r.public_id, r.subject) in travellers_wanted:
                crossed.add((r.public_id, r.subject))
        return codes, crossed

    def crossed_on(self, day: date) -> tuple[set[str], set[TravellerKey]]:
        """Code ids, and travellers (booking public id, subject id), that cleared a crossing on ``day``,
        at any checkpoint."""
        codes: set[str] = set()
        travellers: set[TravellerKey] = set()
        for r in self._conn.execute(self._crossed_travellers().where(_c.c.day == day)):
            if r.code_id is not None:
                codes.add(r.code_id)
            if r.public_id is not None and r.subject is not None:
                travellers.add((r.public_id, r.subject))
        return codes, travellers

    # --- clearance records --------------------------------------------------------------------------

    def add(self, record: Clearance) -> Clearance | None:
        """Store the record; None when its id is taken, or its code or booking has already crossed."""
        d = record.decision
        booking_row = traveller_row = None
        if d.booking is not None:
            booking_row = self.booking_row_id(d.booking.booking_id)
            traveller_row = self.traveller_row_id(d.booking.booking_id, d.subject)
        values = {
            "public_id": record.public_id,
            "code_id": d.code_id,
            "subject": d.subject,
            "booking_id": booking_row,
            "traveller_id": traveller_row,
            "checkpoint": d.checkpoint,
            "day": d.day,
            "slot": d.slot,
            "decided_at": int(d.decided_at.timestamp()),
            "recorded_at": int(record.recorded_at.timestamp()),
            "cleared": d.cleared,
            "reasons": ",".join(d.reason_codes),
            "officer": record.officer[:80],
            "offline": record.offline,
            "conflict": record.conflict,
        }
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(_c).values(**values))
        except IntegrityError:
            return None
        return self.by_public_id(record.public_id)

    def by_public_id(self, public_id: str) -> Clearance | None:
        found = self._clearances(self._select().where(_c.c.public_id == public_id))
        return found[0] if found else None

    def of_traveller(self, subjects: Iterable[str], booked_by: int | None = None) -> list[Clearance]:
        """Clearances of these border subject ids, and of the named travellers of the bookings the
        person ``booked_by`` made, oldest first (never a companion's on someone else's code)."""
        subjects = sorted(set(subjects))
        where: Any = _c.c.subject.in_(subjects)
        if booked_by is not None:
            named = (
                select(_t.c.id)
                .select_from(_t.join(_b, _b.c.id == _t.c.booking_id))
                .where(_b.c.person_id == booked_by, _t.c.position == 0)
            )
            where = or_(where, _c.c.traveller_id.in_(named))
        elif not subjects:
            return []
        return self._clearances(self._select().where(where).order_by(_c.c.decided_at, _c.c.id))

    def on_day(self, day: date, checkpoint: str | None = None) -> list[Clearance]:
        query = self._select().where(_c.c.day == day)
        if checkpoint is not None:
            query = query.where(_c.c.checkpoint == checkpoint)
        return self._clearances(query.order_by(_c.c.decided_at, _c.c.id))

    def _select(self) -> Any:
        return select(
            _c,
            _b.c.public_id.label("booking_public_id"),
            _b.c.subject.label("booking_subject"),
            _b.c.checkpoint.label("booking_checkpoint"),
            _b.c.day.label("booking_day"),
            _b.c.slot.label("booking_slot"),
            _b.c.status.label("booking_status"),
        ).select_from(_c.outerjoin(_b, _b.c.id == _c.c.booking_id))

    def _clearances(self, query: Any) -> list[Clearance]:
        rows = self._conn.execute(query).all()
        companions = self._companions(r.booking_id for r in rows if r.booking_id is not None)
        return [_clearance(r, companions.get(r.booking_id, ())) for r in rows]


def _instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _clearance(r: Row[Any], companions: tuple[str, ...]) -> Clearance:
    booking = None
    if r.booking_public_id is not None:
        booking = SyncedBooking(
            subject=r.booking_subject or "",
            booking_id=r.booking_public_id,
            checkpoint=r.booking_checkpoint,
            day=r.booking_day,
            slot=r.booking_slot,
            companions=companions,
            status=BookingStatus(r.booking_status),
        )
    reasons = tuple(RefusalReason.of(RefusalCode(code)) for code in r.reasons.split(",") if code)
    decision = ClearanceDecision(
        cleared=bool(r.cleared),
        reasons=reasons,
        checkpoint=r.checkpoint,
        day=r.day,
        slot=r.slot,
        decided_at=_instant(r.decided_at),
        code_id=r.code_id,
        subject=r.subject,
        colour=None,  # not kept: the code states it; the reasons say whether it was refused
        booking=booking,
    )
    return Clearance(
        public_id=r.public_id,
        decision=decision,
        officer=r.officer,
        offline=bool(r.offline),
        recorded_at=_instant(r.recorded_at),
        conflict=r.conflict,
    )
