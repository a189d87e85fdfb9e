"""Visits and encounters in the relational store.

On PostgreSQL every visit and encounter lives here. On the embedded default
this holds what arrives one at a time (check-ins, uploads); bulk imports go to
the Parquet archive (see chaincut.store.archive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, or_, select, update

from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import Encounter, Visit, VisitSource
from chaincut.store.natural_keys import insert_once
from chaincut.store.tables import encounters, venues, visits

__all__ = ["EncounterRepository", "VisitRepository", "VisitSpan"]


class VisitSpan(NamedTuple):
    """When one stored visit began and ended (epoch seconds), as a check-in's placement needs it."""

    id: int
    venue_id: int
    entered_at: int
    left_at: int | None  # None: still open
    left_inferred: bool


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
        clipped=bool(r.clipped),
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
        "clipped": visit.clipped,
    }


# The check-in path runs these on the driver's own cursor: built once, in the driver's
# placeholder style (psycopg prepares them on the server after a few runs), they skip
# SQLAlchemy's per-statement work, which costs more than SQLite spends executing them
# (bench/checkin.py). The insert does nothing when (person_id, client_id) is taken, so a
# retried check-in is found instead of failing its transaction. "near" finds the visits
# a check-in at a time may touch (chaincut.whereabouts.arrivals): those recorded one at a
# time (with the phone's id) that are open or end after it; normally just the open one.
_CHECK_IN_SQL = {
    "insert": (
        f"INSERT INTO {visits.name} (person_id, venue_id, entered_at, left_at, left_inferred, source,"
        " client_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (person_id, client_id) DO NOTHING RETURNING id"
    ),
    "near": (
        f"SELECT id, venue_id, entered_at, left_at, left_inferred FROM {visits.name}"
        " WHERE person_id = ? AND client_id IS NOT NULL AND (left_at IS NULL OR left_at > ?)"
    ),
    "close": f"UPDATE {visits.name} SET left_at = ?, left_inferred = ?, clipped = ? WHERE id = ?",
}
_CHECK_IN_STATEMENTS = {
    "qmark": _CHECK_IN_SQL,
    "format": {name: sql.replace("?", "%s") for name, sql in _CHECK_IN_SQL.items()},
}
_OPEN_VISITS_OF = select(visits).where(
    visits.c.person_id == bindparam("person_id"), visits.c.left_at.is_(None)
)


class VisitRepository:
    """Visits held in SQL."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _driver_cursor(self) -> tuple[Any, dict[str, str]]:
        """A cursor of the driver's connection in this transaction, and the check-in statements."""
        dbapi = self._conn.connection.driver_connection
        assert dbapi is not None
        style = "qmark" if self._conn.dialect.paramstyle in ("qmark", "numeric") else "format"
        return dbapi.cursor(), _CHECK_IN_STATEMENTS[style]

    def check_in(self, visit: Visit) -> int | None:
        """Insert a checked-in visit unless the person already used its client_id: its id, or None.

        The visit is open, or already closed (inferred) when a later visit of the person
        was stored first. It closes nothing; see `near` and `close_many`.
        """
        assert visit.client_id is not None
        cursor, sql = self._driver_cursor()
        try:
            cursor.execute(
                sql["insert"],
                (
                    visit.person_id,
                    visit.venue_id,
                    to_epoch(visit.entered_at),
                    None if visit.left_at is None else to_epoch(visit.left_at),
                    visit.left_inferred,
                    visit.source.code,
                    visit.client_id,
                ),
            )
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else int(row[0])

    def near(self, person_id: int, at: int) -> list[VisitSpan]:
        """The person's visits recorded one at a time that are open or end after ``at``."""
        cursor, sql = self._driver_cursor()
        try:
            cursor.execute(sql["near"], (person_id, at))
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [
            VisitSpan(
                int(id_), int(venue_id), int(entered), None if left is None else int(left), bool(inferred)
            )
            for id_, venue_id, entered, left, inferred in rows
        ]

    def close_many(
        self, closings: Sequence[tuple[int, int]], *, inferred: bool, clipped: bool = False
    ) -> None:
        """Close each (visit id, left_at epoch seconds)."""
        if not closings:
            return
        cursor, sql = self._driver_cursor()
        try:
            cursor.executemany(
                sql["close"], [(left_at, inferred, clipped, visit_id) for visit_id, left_at in closings]
            )
        finally:
            cursor.close()

    def check_in_batch(
        self, rows: Sequence[tuple[int, int, int, int | None, bool, int, str]]
    ) -> dict[int, int]:
        """Insert visits ``(person, venue, entered_at, left_at, inferred, source, client_id)`` at once.

        One statement for a whole group commit. The people must all differ; a row whose
        (person, client_id) is taken inserts nothing. Returns {person id: new visit id}.
        """
        if not rows:
            return {}
        cursor, sql = self._driver_cursor()
        mark = "?" if sql is _CHECK_IN_STATEMENTS["qmark"] else "%s"
        values = ", ".join([f"({', '.join([mark] * 7)})"] * len(rows))
        statement = (
            f"INSERT INTO {visits.name} (person_id, venue_id, entered_at, left_at, left_inferred, source,"
            f" client_id) VALUES {values}"
            " ON CONFLICT (person_id, client_id) DO NOTHING RETURNING id, person_id"
        )
        try:
            cursor.execute(statement, [value for row in rows for value in row])
            inserted = cursor.fetchall()
        finally:
            cursor.close()
        return {int(person_id): int(visit_id) for visit_id, person_id in inserted}

    def near_many(self, person_ids: Sequence[int], at: int) -> dict[int, list[VisitSpan]]:
        """`near` for several people at once, by person: visits open or ending after ``at``."""
        if not person_ids:
            return {}
        cursor, sql = self._driver_cursor()
        mark = "?" if sql is _CHECK_IN_STATEMENTS["qmark"] else "%s"
        statement = (
            f"SELECT id, person_id, venue_id, entered_at, left_at, left_inferred FROM {visits.name}"
            f" WHERE person_id IN ({', '.join([mark] * len(person_ids))}) AND client_id IS NOT NULL"
            f" AND (left_at IS NULL OR left_at > {mark})"
        )
        try:
            cursor.execute(statement, [*person_ids, at])
            found = cursor.fetchall()
        finally:
            cursor.close()
        out: dict[int, list[VisitSpan]] = {}
        for id_, person_id, venue_id, entered, left, inferred in found:
            out.setdefault(int(person_id), []).append(
                VisitSpan(
                    int(id_), int(venue_id), int(entered), None if left is None else int(left), bool(inferred)
                )
            )
        return out

    def add(self, visit: Visit) -> int:
        result = self._conn.execute(insert(visits), visit_row(visit))
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

    def close(self, visit_id: int, left_at: int, *, inferred: bool, clipped: bool = False) -> None:
        self.close_many([(visit_id, left_at)], inferred=inferred, clipped=clipped)

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

    def open_at_types(self, venue_types: Sequence[str]) -> dict[str, int]:
        """How many visits are still open at venues of each of these types (types with none left out)."""
        rows = self._conn.execute(
            select(venues.c.venue_type, func.count())
            .select_from(visits.join(venues, venues.c.id == visits.c.venue_id))
            .where(visits.c.left_at.is_(None), venues.c.venue_type.in_(list(venue_types)))
            .group_by(venues.c.venue_type)
        )
        return {str(t): int(n) for t, n in rows}

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
        """Store the encounters, each pair in order; one already held (natural key) is skipped."""
        if items:
            self._conn.execute(
                insert_once(self._conn, encounters),
                [
                    {
                        "person_a": min(e.person_a, e.person_b),
                        "person_b": max(e.person_a, e.person_b),
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
