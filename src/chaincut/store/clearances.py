"""Clearance decisions at checkpoints, and bookings as checkpoints know them (by border subject id).

A code id and a booking each clear one crossing only: ``add`` returns None when a
partial unique index refuses a second clearance (two officers scanning at once on
PostgreSQL; SQLite runs one writer at a time, so there the caller's re-read sees
the first). Refusal texts are not stored, only their codes: the specifics (a red
code's reasons) are health data the record does not need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from chaincut.domain.border import (
    BookingStatus,
    Clearance,
    ClearanceDecision,
    RefusalCode,
    RefusalReason,
    SyncedBooking,
)
from chaincut.store.tables import border_bookings, border_clearances, people

__all__ = ["ClearanceRepository"]

_FILL_BATCH = 1000
_b = border_bookings
_c = border_clearances


def _synced(r: Row[Any]) -> SyncedBooking:
    return SyncedBooking(
        subject=r.subject,
        booking_id=r.public_id,
        checkpoint=r.checkpoint,
        day=r.day,
        slot=r.slot,
        companions=r.companions,
        status=BookingStatus(r.status),
    )


def _booking_columns() -> list[Any]:
    return [_b.c.subject, _b.c.public_id, _b.c.checkpoint, _b.c.day, _b.c.slot, _b.c.companions, _b.c.status]


class ClearanceRepository:
    """Clearance records, and the booking lists checkpoints decide against."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- bookings by border subject id ------------------------------------------------------------

    def fill_subjects(self, subject_of: Callable[[bytes], str]) -> int:
        """Give every booking without a border subject id its id; how many were filled."""
        filled = 0
        while True:
            rows = self._conn.execute(
                select(_b.c.id, _b.c.traveller_hash)
                .where(_b.c.subject.is_(None))
                .order_by(_b.c.id)
                .limit(_FILL_BATCH)
            ).all()
            if rows:
                self._conn.execute(
                    update(_b).where(_b.c.id == bindparam("row_id")).values(subject=bindparam("new_subject")),
                    [{"row_id": r.id, "new_subject": subject_of(bytes(r.traveller_hash))} for r in rows],
                )
            filled += len(rows)
            if len(rows) < _FILL_BATCH:
                return filled

    def bookings_at(self, checkpoint: str, day: date) -> list[SyncedBooking]:
        """The bookings (live and cancelled) for ``checkpoint`` on ``day``, in the order they were made."""
        query = select(*_booking_columns()).where(
            _b.c.checkpoint == checkpoint, _b.c.day == day, _b.c.subject.is_not(None)
        )
        return [_synced(r) for r in self._conn.execute(query.order_by(_b.c.id))]

    def bookings_of(self, subject: str) -> list[SyncedBooking]:
        """Every booking of the traveller with this border subject id."""
        query = select(*_booking_columns()).where(_b.c.subject == subject).order_by(_b.c.id)
        return [_synced(r) for r in self._conn.execute(query)]

    def booking(self, public_id: str) -> SyncedBooking | None:
        row = self._conn.execute(select(*_booking_columns()).where(_b.c.public_id == public_id)).first()
        return None if row is None else _synced(row)

    def traveller_person(self, public_id: str) -> int | None:
        """The person a booking is for: the registered holder of its document, else the booker."""
        row = self._conn.execute(
            select(_b.c.person_id, _b.c.traveller_hash).where(_b.c.public_id == public_id)
        ).first()
        if row is None:
            return None
        holder = self._conn.execute(
            select(people.c.id).where(people.c.id_document_hash == row.traveller_hash).order_by(people.c.id)
        ).first()
        return int(holder.id) if holder is not None else int(row.person_id)

    def booking_row_id(self, public_id: str) -> int | None:
        return self._conn.execute(select(_b.c.id).where(_b.c.public_id == public_id)).scalar_one_or_none()

    # --- what has crossed ---------------------------------------------------------------------------

    def crossed_codes(self, code_ids: Iterable[str]) -> set[str]:
        """Those of ``code_ids`` that have cleared a crossing."""
        wanted = sorted(set(code_ids))
        if not wanted:
            return set()
        query = select(_c.c.code_id).where(_c.c.cleared.is_(True), _c.c.code_id.in_(wanted))
        return {r.code_id for r in self._conn.execute(query)}

    def crossed_bookings(self, booking_ids: Iterable[str]) -> set[str]:
        """Those of ``booking_ids`` (public ids) that have cleared a crossing."""
        wanted = sorted(set(booking_ids))
        if not wanted:
            return set()
        query = (
            select(_b.c.public_id)
            .select_from(_c.join(_b, _b.c.id == _c.c.booking_id))
            .where(_c.c.cleared.is_(True), _b.c.public_id.in_(wanted))
        )
        return {r.public_id for r in self._conn.execute(query)}

    def crossed_on(self, day: date) -> tuple[set[str], set[str]]:
        """Code ids and booking ids (public) that cleared a crossing on ``day``, at any checkpoint."""
        query = (
            select(_c.c.code_id, _b.c.public_id)
            .select_from(_c.outerjoin(_b, _b.c.id == _c.c.booking_id))
            .where(_c.c.cleared.is_(True), _c.c.day == day)
        )
        codes: set[str] = set()
        bookings: set[str] = set()
        for r in self._conn.execute(query):
            if r.code_id is not None:
                codes.add(r.code_id)
            if r.public_id is not None:
                bookings.add(r.public_id)
        return codes, bookings

    # --- clearance records --------------------------------------------------------------------------

    def add(self, record: Clearance) -> Clearance | None:
        """Store the record; None when its id is taken, or its code or booking has already crossed."""
        d = record.decision
        booking_row = None if d.booking is None else self.booking_row_id(d.booking.booking_id)
        values = {
            "public_id": record.public_id,
            "code_id": d.code_id,
            "subject": d.subject,
            "booking_id": booking_row,
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
        row = self._conn.execute(self._select().where(_c.c.public_id == public_id)).first()
        return None if row is None else _clearance(row)

    def of_traveller(self, subjects: Iterable[str], booking_ids: Iterable[str]) -> list[Clearance]:
        """Clearances of these border subject ids or of these bookings (public ids), oldest first."""
        subjects, booking_ids = sorted(set(subjects)), sorted(set(booking_ids))
        if not subjects and not booking_ids:
            return []
        query = self._select().where(or_(_c.c.subject.in_(subjects), _b.c.public_id.in_(booking_ids)))
        return [_clearance(r) for r in self._conn.execute(query.order_by(_c.c.decided_at, _c.c.id))]

    def on_day(self, day: date, checkpoint: str | None = None) -> list[Clearance]:
        query = self._select().where(_c.c.day == day)
        if checkpoint is not None:
            query = query.where(_c.c.checkpoint == checkpoint)
        return [_clearance(r) for r in self._conn.execute(query.order_by(_c.c.decided_at, _c.c.id))]

    def _select(self) -> Any:
        return select(
            _c,
            _b.c.public_id.label("booking_public_id"),
            _b.c.subject.label("booking_subject"),
            _b.c.checkpoint.label("booking_checkpoint"),
            _b.c.day.label("booking_day"),
            _b.c.slot.label("booking_slot"),
            _b.c.companions.label("booking_companions"),
            _b.c.status.label("booking_status"),
        ).select_from(_c.outerjoin(_b, _b.c.id == _c.c.booking_id))


def _instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _clearance(r: Row[Any]) -> Clearance:
    booking = None
    if r.booking_public_id is not None:
        booking = SyncedBooking(
            subject=r.booking_subject or "",
            booking_id=r.booking_public_id,
            checkpoint=r.booking_checkpoint,
            day=r.booking_day,
            slot=r.booking_slot,
            companions=r.booking_companions,
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
