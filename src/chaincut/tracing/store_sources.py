"""Whereabouts sources over the store: SQL, a scan of the Parquet archive, and an index in memory.

* :class:`SqlSource` asks SQL (every visit on PostgreSQL; check-ins and uploads on
  the embedded default) and closes still-open visits at the venue type's default
  stay, or at the time of tracing if that comes first, as the store itself would.
* :class:`ArchiveScanSource` streams the archive once per question and keeps only
  what can matter: for a batch of thousands of cases, one pass over a city's visits
  costs less than sorting them.

The server's in-memory index of the archive, which answers a single case in
milliseconds, is :mod:`chaincut.tracing.archive_index`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chaincut.store import ParquetArchive, Store
from chaincut.store.archive import Kind
from chaincut.store.tracing_reads import DEFAULT_CHUNK_SIZE
from chaincut.tracing.columns import I64, EncounterArrays, VisitArrays

__all__ = ["ArchiveScanSource", "SqlSource", "close_open_visits"]

_HOUR = 3_600


def close_open_visits(visits: list[I64], stay_by_venue: I64, as_of: int) -> VisitArrays:
    """SQL's visit columns (left -1 while open) with every open visit closed at its venue type's
    default stay (``stay_by_venue``, seconds), or at ``as_of`` if that comes first."""
    person, venue, entered, left, clipped = visits
    still_open = left < 0
    if still_open.any():
        inside = venue[still_open] < len(stay_by_venue)
        stay = np.full(int(still_open.sum()), 0, dtype=np.int64)
        stay[inside] = stay_by_venue[venue[still_open][inside]]
        start = entered[still_open]
        left = left.copy()
        left[still_open] = np.minimum(start + stay, np.maximum(as_of, start))
    return VisitArrays(person, venue, entered, left, clipped.astype(bool))


class SqlSource:
    """Whereabouts held in SQL; ids are sent ``chunk_size`` at a time (tests make it small)."""

    def __init__(
        self, store: Store, stay_by_venue: I64, as_of: int, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> None:
        self._store = store
        self._stay = stay_by_venue
        self._as_of = as_of
        self._chunk = chunk_size

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        with self._store.read() as uow:
            rows = uow.tracing.visits_of(persons, start, end, chunk_size=self._chunk)
        return close_open_visits(rows, self._stay, self._as_of)

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        if not len(venue):
            return VisitArrays.empty()
        with self._store.read() as uow:
            rows = uow.tracing.visits_at(venue, int(start.min()), int(end.max()), chunk_size=self._chunk)
        return close_open_visits(rows, self._stay, self._as_of)

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        with self._store.read() as uow:
            return EncounterArrays(*uow.tracing.encounters_of(persons, start, end, chunk_size=self._chunk))

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        with self._store.read() as uow:
            person, member = uow.tracing.household_members(persons, chunk_size=self._chunk)
        return person, member


def _visit_columns(batch: pa.RecordBatch) -> list[np.ndarray[Any, Any]]:
    return [batch.column(c).to_numpy(zero_copy_only=False) for c in _VISIT_COLUMNS]


def _visit_arrays(parts: list[list[np.ndarray[Any, Any]]]) -> VisitArrays:
    """The visits kept from each batch (its columns, filtered in NumPy), put together."""
    if not parts:
        return VisitArrays.empty()
    return VisitArrays.of(*(np.concatenate([part[i] for part in parts]) for i in range(len(_VISIT_COLUMNS))))


def _encounter_arrays(table: pa.Table) -> EncounterArrays:
    return EncounterArrays.of(*(table[c].to_numpy() for c in ("person_a", "person_b", "start_at", "end_at")))


_VISIT_COLUMNS = ["person_id", "venue_id", "entered_at", "left_at", "clipped"]


class ArchiveScanSource:
    """Bulk whereabouts in the Parquet archive, read by streaming it (no index).

    ``files`` limits it to some segments of each kind (their names in the manifest;
    a kind left out: none of its segments): the in-memory index streams the segments
    it has not read yet this way.
    """

    def __init__(self, archive: ParquetArchive, files: Mapping[Kind, Sequence[str]] | None = None) -> None:
        self._archive = archive
        self._files = files

    def _only(self, kind: Kind) -> Sequence[str] | None:
        return None if self._files is None else self._files.get(kind, ())

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        if not len(persons):
            return VisitArrays.empty()
        wanted = np.zeros(int(persons.max()) + 1, dtype=bool)  # a lookup by id beats a hash set
        wanted[persons] = True
        when = (pc.field("entered_at") <= end) & (pc.field("left_at") >= start)
        kept: list[list[np.ndarray[Any, Any]]] = []
        for batch in self._archive.scan("visits", _VISIT_COLUMNS, when, files=self._only("visits")):
            person = batch.column("person_id").to_numpy()
            inside = person < len(wanted)
            keep = np.flatnonzero(inside & wanted[np.where(inside, person, 0)])
            if len(keep):
                kept.append([column[keep] for column in _visit_columns(batch)])
        return _visit_arrays(kept)

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        """Visits at the venues in the hours of the exposures there (a superset, never less).

        Each exposure marks its venue's hours from its start to its end. A visit that
        meets an exposure spans one of those hours, which a running count of marked
        hours per venue tells in two lookups: the visit is kept when the count grows
        between the hour it entered and the hour it left.
        """
        if not len(venue):
            return VisitArrays.empty()
        first_hour = int(start.min()) // _HOUR
        hours = int(end.max()) // _HOUR - first_hour + 1
        venues = int(venue.max()) + 1
        marks = np.zeros((venues, hours + 1), dtype=np.int8)  # column 0: before the first hour
        hour_lo, hour_hi = start // _HOUR - first_hour + 1, end // _HOUR - first_hour + 1
        for offset in range(int((hour_hi - hour_lo).max()) + 1):
            spans = hour_lo + offset <= hour_hi
            marks[venue[spans], (hour_lo + offset)[spans]] = 1
        counts = np.cumsum(marks, axis=1, dtype=np.int16).ravel()  # at most 31 days of hours
        del marks
        when = (pc.field("entered_at") <= int(end.max())) & (pc.field("left_at") >= int(start.min()))
        kept: list[list[np.ndarray[Any, Any]]] = []
        for batch in self._archive.scan("visits", _VISIT_COLUMNS, when, files=self._only("visits")):
            columns = _visit_columns(batch)
            v = columns[1]
            known = v < venues
            row = np.where(known, v, 0) * (hours + 1)
            entered = np.clip(columns[2] // _HOUR - first_hour + 1, 0, hours)
            left = np.clip(columns[3] // _HOUR - first_hour + 1, 0, hours)
            keep = np.flatnonzero(known & (counts[row + left] > counts[row + np.maximum(entered - 1, 0)]))
            if len(keep):
                kept.append([column[keep] for column in columns])
        return _visit_arrays(kept)

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        wanted = pa.array(np.unique(persons))
        who = pc.field("person_a").isin(wanted) | pc.field("person_b").isin(wanted)
        when = (pc.field("start_at") <= end) & (pc.field("end_at") >= start)
        return _encounter_arrays(self._archive.read("encounters", who & when, files=self._only("encounters")))

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
