"""What the tracing engine reads from SQL, as columns rather than objects.

Open visits come back with ``left_at`` = -1; the caller closes them as the policy
says (the venue type's default stay). Visits come with ``clipped`` as 0 or 1. Lists of
ids are sent in chunks of ``chunk_size``; an encounter whose two people fall in different
chunks is found by both, and comes back once all the same (by its row id).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.orm import aliased

from chaincut.store.tables import encounters, people, venues, visits

__all__ = ["DEFAULT_CHUNK_SIZE", "TracingReads"]

DEFAULT_CHUNK_SIZE = 5000
I64 = NDArray[np.int64]


def _chunks(ids: I64, size: int) -> Iterator[list[int]]:
    values = np.unique(ids).tolist()
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _columns(rows: Sequence[Any], width: int) -> list[I64]:
    if not rows:
        return [np.zeros(0, dtype=np.int64) for _ in range(width)]
    # Flattened first: np.array over SQLAlchemy rows probes each row for array protocols
    # (a failed key lookup apiece), which cost more than the query itself.
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows) * width)
    table = flat.reshape(len(rows), width)
    return [np.ascontiguousarray(table[:, i]) for i in range(width)]


def _joined(parts: list[list[I64]], width: int) -> list[I64]:
    return [np.concatenate([p[i] for p in parts]) for i in range(width)] if parts else _columns([], width)


_VISIT_WIDTH = 5


class TracingReads:
    """Column reads of visits, encounters and households for the tracing engine."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _visits(self, where: Any) -> list[I64]:
        stmt = select(
            visits.c.person_id,
            visits.c.venue_id,
            visits.c.entered_at,
            func.coalesce(visits.c.left_at, -1),
            visits.c.clipped,
        ).where(where)
        return _columns(self._conn.execute(stmt).all(), _VISIT_WIDTH)

    def visits_of(
        self, person_ids: I64, start: int, end: int, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> list[I64]:
        """Visits (person, venue, entered, left or -1, clipped) of these people meeting [start, end]."""
        parts = [
            self._visits(
                and_(
                    visits.c.person_id.in_(chunk),
                    visits.c.entered_at <= end,
                    or_(visits.c.left_at.is_(None), visits.c.left_at >= start),
                )
            )
            for chunk in _chunks(person_ids, chunk_size)
        ]
        return _joined(parts, _VISIT_WIDTH)

    def visits_at(
        self, venue_ids: I64, start: int, end: int, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> list[I64]:
        """Visits at these venues meeting [start, end]."""
        parts = [
            self._visits(
                and_(
                    visits.c.venue_id.in_(chunk),
                    visits.c.entered_at <= end,
                    or_(visits.c.left_at.is_(None), visits.c.left_at >= start),
                )
            )
            for chunk in _chunks(venue_ids, chunk_size)
        ]
        return _joined(parts, _VISIT_WIDTH)

    def encounters_of(
        self, person_ids: I64, start: int, end: int, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> list[I64]:
        """Encounters (a, b, start, end) involving these people and meeting [start, end], each once.

        A chunk asks for ``person_a IN chunk OR person_b IN chunk``, so an encounter
        between people of two chunks is found twice; the engine would add its minutes
        up twice, so rows are kept once by id.
        """
        parts = []
        for chunk in _chunks(person_ids, chunk_size):
            stmt = select(
                encounters.c.id,
                encounters.c.person_a,
                encounters.c.person_b,
                encounters.c.start_at,
                encounters.c.end_at,
            ).where(
                or_(encounters.c.person_a.in_(chunk), encounters.c.person_b.in_(chunk)),
                encounters.c.start_at <= end,
                encounters.c.end_at >= start,
            )
            parts.append(_columns(self._conn.execute(stmt).all(), 5))
        if not parts:
            return _columns([], 4)
        found = [np.concatenate([p[i] for p in parts]) for i in range(5)]
        if len(parts) > 1:
            _, first = np.unique(found[0], return_index=True)
            found = [column[np.sort(first)] for column in found]
        return found[1:]

    def household_members(self, person_ids: I64, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[I64]:
        """Pairs (person, other member of their household)."""
        member = aliased(people)
        parts = []
        for chunk in _chunks(person_ids, chunk_size):
            stmt = (
                select(people.c.id, member.c.id)
                .join(member, member.c.household_id == people.c.household_id)
                .where(people.c.id.in_(chunk), people.c.household_id.is_not(None), member.c.id != people.c.id)
            )
            parts.append(_columns(self._conn.execute(stmt).all(), 2))
        return [np.concatenate([p[i] for p in parts]) for i in range(2)] if parts else _columns([], 2)

    def visits_between(self, start: int, end: int) -> list[I64]:
        """Every visit (person, venue, entered, left or -1, clipped) meeting [start, end]."""
        return self._visits(
            and_(visits.c.entered_at <= end, or_(visits.c.left_at.is_(None), visits.c.left_at >= start))
        )

    def encounters_between(self, start: int, end: int) -> list[I64]:
        """Every encounter (a, b, start, end) meeting [start, end]."""
        stmt = select(
            encounters.c.person_a, encounters.c.person_b, encounters.c.start_at, encounters.c.end_at
        ).where(encounters.c.start_at <= end, encounters.c.end_at >= start)
        return _columns(self._conn.execute(stmt).all(), 4)

    def households(self) -> list[I64]:
        """Every person who has a household, and its id: (person, household)."""
        stmt = select(people.c.id, people.c.household_id).where(people.c.household_id.is_not(None))
        return _columns(self._conn.execute(stmt).all(), 2)

    def venue_types(self) -> dict[int, str]:
        """Every venue's type, by venue id."""
        return {int(i): str(t) for i, t in self._conn.execute(select(venues.c.id, venues.c.venue_type))}
