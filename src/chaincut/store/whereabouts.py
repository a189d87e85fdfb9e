"""Visits and encounters in the relational store.

On PostgreSQL every visit and encounter lives here. On the embedded default
this holds what arrives one at a time (check-ins, uploads); bulk imports go to
the Parquet archive (see chaincut.store.archive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, or_, select, update

from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import Encounter, Visit, VisitSource
from chaincut.store.tables import encounters, venues, visits

__all__ = ["EncounterRepository", "VisitRepository"]


def _visit(r: Row[Any]) -> Visit:
    return Visit(
        person_id=r.person_id,
        venue_id=r.venue_id,
        entered_at=from_epoch(r.entered_at),
        left_at=None if r.left_at is None else from_epoch(r.left_at),
        source=VisitSource.from_code(r.source),
        left_inferred=bool(r.left_inferred),
        client_id=r.client_id,
        id=r.id,
    )


def visit_row(visit: Visit) -> dict[str, Any]:
    return {
        "person_id": visit.person_id,
        "venue_id": visit.venue_id,
        "entered_at": to_epoch(visit.entered_at),
        "left_at": None if visit.left_at is None else to_epoch(visit.left_at),
        "left_inferred": visit.left_inferred,
        "source": visit.source.code,
        "client_id": visit.client_id,
    }


# Statements on the check-in path, built once: constructing them per call costs more
# Python time than SQLite spends executing them (bench/checkin.py).
_INSERT_VISIT = insert(visits)
_OPEN_VISITS_OF = select(visits).where(
    visits.c.person_id == bindparam("person_id"), visits.c.left_at.is_(None)
)
_CLOSE_VISIT = (
    update(visits)
    .where(visits.c.id == bindparam("visit_id"))
    .values(left_at=bindparam("left_at"), left_inferred=bindparam("inferred"))
)


class VisitRepository:
    """Visits held in SQL."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, visit: Visit) -> int:
        result = self._conn.execute(_INSERT_VISIT, visit_row(visit))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def add_many(self, items: Sequence[Visit]) -> None:
        if items:
            self._conn.execute(insert(visits), [visit_row(v) for v in items])

    def get(self, visit_id: int) -> Visit | None:
        row = self._conn.execute(select(visits).where(visits.c.id == visit_id)).one_or_none()
        return None if row is None else _visit(row)

    def by_client_id(self, person_id: int, client_id: str) -> Visit | None:
        row = self._conn.execute(
            select(visits).where(visits.c.person_id == person_id, visits.c.client_id == client_id)
        ).one_or_none()
        return None if row is None else _visit(row)

    def existing_client_ids(self, person_id: int, client_ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(client_ids), 2000):
            chunk = client_ids[start : start + 2000]
            out.update(
                self._conn.execute(
                    select(visits.c.client_id).where(
                        visits.c.person_id == person_id, visits.c.client_id.in_(chunk)
                    )
                ).scalars()
            )
        return out

    def open_visits_of(self, person_id: int) -> list[Visit]:
        rows = self._conn.execute(_OPEN_VISITS_OF, {"person_id": person_id})
        return [_visit(r) for r in rows]

    def close(self, visit_id: int, left_at: int, *, inferred: bool) -> None:
        self._conn.execute(
            update(visits).where(visits.c.id == visit_id).values(left_at=left_at, left_inferred=inferred)
        )

    def close_stale(self, now: int, stays_seconds: Mapping[str, int]) -> int:
        """Close every open visit whose venue type's default stay has run out; returns how many."""
        closed = 0
        for venue_type, stay in stays_seconds.items():
            of_type = select(venues.c.id).where(venues.c.venue_type == venue_type)
            result = self._conn.execute(
                update(visits)
                .where(
                    visits.c.left_at.is_(None),
                    visits.c.entered_at <= now - stay,
                    visits.c.venue_id.in_(of_type),
                )
                .values(left_at=visits.c.entered_at + stay, left_inferred=True)
            )
            closed += result.rowcount
        return closed

    def of_person(self, person_id: int, since: int, until: int) -> list[Visit]:
        """The person's visits that overlap [since, until), oldest first."""
        rows = self._conn.execute(
            select(visits)
            .where(
                visits.c.person_id == person_id,
                visits.c.entered_at < until,
                or_(visits.c.left_at.is_(None), visits.c.left_at >= since),
            )
            .order_by(visits.c.entered_at)
        )
        return [_visit(r) for r in rows]

    def delete_ended_before(self, cutoff: int) -> int:
        """Delete visits that ended (or, still open, began) before ``cutoff``."""
        result = self._conn.execute(
            delete(visits).where(
                or_(
                    visits.c.left_at < cutoff,
                    and_(visits.c.left_at.is_(None), visits.c.entered_at < cutoff),
                )
            )
        )
        return int(result.rowcount)

    def oldest_end(self) -> int | None:
        value = self._conn.execute(
            select(func.min(func.coalesce(visits.c.left_at, visits.c.entered_at)))
        ).scalar()
        return None if value is None else int(value)

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(visits)).scalar_one())


class EncounterRepository:
    """Proximity encounters held in SQL."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, items: Sequence[Encounter]) -> None:
        if items:
            self._conn.execute(
                insert(encounters),
                [
                    {
                        "person_a": e.person_a,
                        "person_b": e.person_b,
                        "start_at": to_epoch(e.start),
                        "end_at": to_epoch(e.end),
                    }
                    for e in items
                ],
            )

    def of_person(self, person_id: int, since: int, until: int) -> list[Encounter]:
        rows = self._conn.execute(
            select(encounters).where(
                or_(encounters.c.person_a == person_id, encounters.c.person_b == person_id),
                encounters.c.start_at < until,
                encounters.c.end_at >= since,
            )
        )
        return [
            Encounter(r.person_a, r.person_b, from_epoch(r.start_at), from_epoch(r.end_at), r.id)
            for r in rows
        ]

    def delete_ended_before(self, cutoff: int) -> int:
        result = self._conn.execute(delete(encounters).where(encounters.c.end_at < cutoff))
        return int(result.rowcount)

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(encounters)).scalar_one())
