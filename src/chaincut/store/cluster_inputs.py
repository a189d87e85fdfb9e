"""What cluster inference reads: the cases, their stays and encounters, households and links.

Reads are column-wise and bounded by time, so a million cases read in seconds: the stays and
encounters of case persons that began at or after ``since`` (the caller's earliest exposure
period), joined through the visits' and encounters' person-first indexes. Columns are NumPy
arrays; a missing date is :data:`NO_DATE` (NumPy's NaT as an integer, the analytics' ``NO_DAY``)
and a missing instant :data:`NO_INSTANT`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, CursorResult, Select, String, and_, cast, func, select

from chaincut.store.tables import cases, encounters, people, venues, visits

__all__ = [
    "NO_DATE",
    "NO_ID",
    "NO_INSTANT",
    "CaseInputColumns",
    "ClusterInputs",
    "EncounterColumns",
    "StayColumns",
    "VenueSetting",
]

NO_DATE = int(np.iinfo(np.int64).min)
"""A missing date in the columns (days since 1970-01-01 otherwise)."""
NO_INSTANT = int(np.iinfo(np.int64).min)
"""A missing instant in the columns (epoch seconds otherwise)."""
NO_ID = -1
"""A missing id (no household, no linked case)."""


@dataclass(frozen=True)
class CaseInputColumns:
    """Cases as cluster inference and chains see them, one entry per case, by id.

    Dates are day numbers (days since 1970-01-01; :data:`NO_DATE` when missing), ``isolated_at``
    epoch seconds (:data:`NO_INSTANT`: not isolated), ``household_id`` and ``linked_case_id``
    :data:`NO_ID` when there is none.
    """

    id: npt.NDArray[np.int64]
    ref: tuple[str, ...]
    person_id: npt.NDArray[np.int64]
    household_id: npt.NDArray[np.int64]
    classification: tuple[str, ...]
    onset_on: npt.NDArray[np.int64]
    reported_on: npt.NDArray[np.int64]
    specimen_on: npt.NDArray[np.int64]
    isolated_at: npt.NDArray[np.int64]
    linked_case_id: npt.NDArray[np.int64]


@dataclass(frozen=True)
class StayColumns:
    """Stays (visits): person, venue, entered and left (epoch seconds; left = entered while open)."""

    person_id: npt.NDArray[np.int64]
    venue_id: npt.NDArray[np.int64]
    entered_at: npt.NDArray[np.int64]
    left_at: npt.NDArray[np.int64]


@dataclass(frozen=True)
class EncounterColumns:
    """Encounters: the two people, start and end (epoch seconds)."""

    person_a: npt.NDArray[np.int64]
    person_b: npt.NDArray[np.int64]
    start_at: npt.NDArray[np.int64]
    end_at: npt.NDArray[np.int64]


def _ints(values: Sequence[int | None], missing: int) -> npt.NDArray[np.int64]:
    return np.array([missing if v is None else v for v in values], dtype=np.int64)


@contextmanager
def _page_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a 256 MiB page cache while a million cases' rows are read by index (a quarter
    faster than the default 2 MiB), then the connection's own again."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql("PRAGMA cache_size=-262144")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def _raw(result: CursorResult[Any]) -> Sequence[Any]:
    """A result's rows as the driver gives them: the columns read this way need no conversion
    (integers, and text), and a million rows skip building a million Row objects."""
    rows: Sequence[Any] = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    return rows


def _int_rows(rows: Sequence[Sequence[int]], width: int) -> npt.NDArray[np.int64]:
    """Rows of integers as a (rows, width) array, read straight from the rows' values."""
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=len(rows) * width)
    return flat.reshape(-1, width)


def _days(values: Sequence[str | None]) -> npt.NDArray[np.int64]:
    """ISO dates (None: missing) as day numbers, NO_DATE for missing."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    out: npt.NDArray[np.int64] = np.array(values, dtype="datetime64[D]").astype(np.int64)
    return out


@dataclass(frozen=True, slots=True)
class VenueSetting:
    ref: str
    venue_type: str
    name_en: str
    name_zh: str


class ClusterInputs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def case_columns(self, statuses: Sequence[str]) -> CaseInputColumns:
        """Every case of these statuses as columns, by id (one query, no object per case)."""
        query = (
            select(
                cases.c.id,
                cases.c.ref,
                cases.c.person_id,
                people.c.household_id,
                cases.c.classification,
                cast(cases.c.onset_on, String),
                cast(cases.c.reported_on, String),
                cast(cases.c.specimen_on, String),
                cases.c.isolated_at,
                cases.c.linked_case_id,
            )
            .select_from(cases.join(people, people.c.id == cases.c.person_id))
            .where(cases.c.status.in_(list(statuses)))
            .order_by(cases.c.id)
        )
        with _page_cache(self._conn):
            rows = _raw(self._conn.execute(query))
        cols = list(zip(*rows, strict=True)) if rows else [()] * 10
        return CaseInputColumns(
            id=np.array(cols[0], dtype=np.int64),
            ref=tuple(cols[1]),
            person_id=np.array(cols[2], dtype=np.int64),
            household_id=_ints(cols[3], NO_ID),
            classification=tuple(cols[4]),
            onset_on=_days(cols[5]),
            reported_on=_days(cols[6]),
            specimen_on=_days(cols[7]),
            isolated_at=_ints(cols[8], NO_INSTANT),
            linked_case_id=_ints(cols[9], NO_ID),
        )

    def case_stay_columns(self, since: int) -> StayColumns:
        """The stays of cases' persons entered since ``since``, as columns (open ones end on entry)."""
        persons = select(cases.c.person_id).distinct().subquery()
        query = select(
            visits.c.person_id,
            visits.c.venue_id,
            visits.c.entered_at,
            func.coalesce(visits.c.left_at, visits.c.entered_at),
        ).select_from(
            persons.join(
                visits, and_(visits.c.person_id == persons.c.person_id, visits.c.entered_at >= since)
            )
        )
        with _page_cache(self._conn):
            flat = _int_rows(_raw(self._conn.execute(query)), 4)
        return StayColumns(flat[:, 0].copy(), flat[:, 1].copy(), flat[:, 2].copy(), flat[:, 3].copy())

    def case_encounter_columns(self, since: int) -> EncounterColumns:
        """The encounters between two cases' persons since ``since``, as columns."""
        with _page_cache(self._conn):
            flat = _int_rows(_raw(self._conn.execute(self._encounters_query(since))), 4)
        return EncounterColumns(flat[:, 0].copy(), flat[:, 1].copy(), flat[:, 2].copy(), flat[:, 3].copy())

    @staticmethod
    def _encounters_query(since: int) -> Select[Any]:
        a = select(cases.c.person_id).distinct().subquery("a")
        b = select(cases.c.person_id).distinct().subquery("b")
        return select(
            encounters.c.person_a, encounters.c.person_b, encounters.c.start_at, encounters.c.end_at
        ).select_from(
            a.join(
                encounters, and_(encounters.c.person_a == a.c.person_id, encounters.c.start_at >= since)
            ).join(b, b.c.person_id == encounters.c.person_b)
        )

    def case_days(self, case_ids: Sequence[int]) -> dict[int, tuple[date | None, date | None]]:
        """(onset, report date) of each of these cases."""
        out: dict[int, tuple[date | None, date | None]] = {}
        for start in range(0, len(case_ids), 5000):
            chunk = list(case_ids[start : start + 5000])
            rows = self._conn.execute(
                select(cases.c.id, cases.c.onset_on, cases.c.reported_on).where(cases.c.id.in_(chunk))
            )
            out.update({int(i): (o, r) for i, o, r in rows})
        return out

    def venues(self, venue_ids: Sequence[int]) -> dict[int, VenueSetting]:
        out: dict[int, VenueSetting] = {}
        wanted = sorted(set(venue_ids))
        if len(wanted) > 50_000:  # most of a city's venues: one pass over them beats look-ups by id
            every = _raw(
                self._conn.execute(
                    select(venues.c.id, venues.c.ref, venues.c.venue_type, venues.c.name_en, venues.c.name_zh)
                )
            )
            chosen = set(wanted)
            return {int(i): VenueSetting(r, t, en, zh) for i, r, t, en, zh in every if i in chosen}
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            rows = self._conn.execute(
                select(
                    venues.c.id, venues.c.ref, venues.c.venue_type, venues.c.name_en, venues.c.name_zh
                ).where(venues.c.id.in_(chunk))
            )
            out.update({int(i): VenueSetting(r, t, en, zh) for i, r, t, en, zh in rows})
        return out

    def venues_by_ref(self, refs: Sequence[str]) -> dict[str, VenueSetting]:
        out: dict[str, VenueSetting] = {}
        wanted = sorted(set(refs))
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            rows = self._conn.execute(
                select(venues.c.ref, venues.c.venue_type, venues.c.name_en, venues.c.name_zh).where(
                    venues.c.ref.in_(chunk)
                )
            )
            out.update({r: VenueSetting(r, t, en, zh) for r, t, en, zh in rows})
        return out
