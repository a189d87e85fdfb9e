"""Whereabouts sources over the store: SQL, a scan of the Parquet archive, and an index in memory.

* :class:`SqlSource` asks SQL (every visit on PostgreSQL; check-ins and uploads on
  the embedded default) and closes still-open visits at the venue type's default
  stay, or at the time of tracing if that comes first, as the store itself would.
* :class:`ArchiveScanSource` streams the archive once per question and keeps only
  what can matter: for a batch of thousands of cases, one pass over a city's visits
  costs less than sorting them.
* :class:`ArchiveIndex` loads the archive into memory once, sorted by person and by
  venue and time, so a single case traces in milliseconds (the server's choice).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chaincut.store import ParquetArchive, Store
from chaincut.tracing.engine import I64, EncounterArrays, VenueTimeIndex, VisitArrays, expand_ranges

__all__ = ["ArchiveIndex", "ArchiveScanSource", "SqlSource"]

_DAY = 86_400


def _close_open(visits: list[I64], stay_by_venue: I64, as_of: int) -> VisitArrays:
    person, venue, entered, left = visits
    still_open = left < 0
    if still_open.any():
        inside = venue[still_open] < len(stay_by_venue)
        stay = np.full(int(still_open.sum()), 0, dtype=np.int64)
        stay[inside] = stay_by_venue[venue[still_open][inside]]
        start = entered[still_open]
        left = left.copy()
        left[still_open] = np.minimum(start + stay, np.maximum(as_of, start))
    return VisitArrays(person, venue, entered, left)


class SqlSource:
    """Whereabouts held in SQL."""

    def __init__(self, store: Store, stay_by_venue: I64, as_of: int) -> None:
        self._store = store
        self._stay = stay_by_venue
        self._as_of = as_of

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        with self._store.read() as uow:
            return _close_open(uow.tracing.visits_of(persons, start, end), self._stay, self._as_of)

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        if not len(venue):
            return VisitArrays.empty()
        with self._store.read() as uow:
            rows = uow.tracing.visits_at(venue, int(start.min()), int(end.max()))
        return _close_open(rows, self._stay, self._as_of)

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        with self._store.read() as uow:
            return EncounterArrays(*uow.tracing.encounters_of(persons, start, end))

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        with self._store.read() as uow:
            person, member = uow.tracing.household_members(persons)
        return person, member


def _visit_arrays(batches: list[pa.RecordBatch]) -> VisitArrays:
    if not batches:
        return VisitArrays.empty()
    table = pa.Table.from_batches(batches)
    return VisitArrays.of(*(table[c].to_numpy() for c in ("person_id", "venue_id", "entered_at", "left_at")))


def _encounter_arrays(table: pa.Table) -> EncounterArrays:
    return EncounterArrays.of(*(table[c].to_numpy() for c in ("person_a", "person_b", "start_at", "end_at")))


_VISIT_COLUMNS = ["person_id", "venue_id", "entered_at", "left_at"]


class ArchiveScanSource:
    """Bulk whereabouts in the Parquet archive, read by streaming it (no index)."""

    def __init__(self, archive: ParquetArchive) -> None:
        self._archive = archive

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        wanted = pc.field("person_id").isin(pa.array(np.unique(persons)))
        when = (pc.field("entered_at") <= end) & (pc.field("left_at") >= start)
        return _visit_arrays(list(self._archive.scan("visits", _VISIT_COLUMNS, wanted & when)))

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        """Visits at the venues on the days of the exposures there (a superset, never less).

        A visit that meets an exposure enters or leaves on one of the exposure's days,
        unless it lasts a day or more; those few are always kept.
        """
        if not len(venue):
            return VisitArrays.empty()
        first_day = int(start.min()) // _DAY
        days = int(end.max()) // _DAY - first_day + 1
        marks = np.zeros((int(venue.max()) + 1, days), dtype=bool)
        day_lo, day_hi = start // _DAY - first_day, end // _DAY - first_day
        for offset in range(int((day_hi - day_lo).max()) + 1):
            spans = day_lo + offset <= day_hi
            marks[venue[spans], (day_lo + offset)[spans]] = True
        when = (pc.field("entered_at") <= int(end.max())) & (pc.field("left_at") >= int(start.min()))
        kept: list[pa.RecordBatch] = []
        for batch in self._archive.scan("visits", _VISIT_COLUMNS, when):
            v = batch.column("venue_id").to_numpy()
            entered = batch.column("entered_at").to_numpy()
            left = batch.column("left_at").to_numpy()
            known = v < marks.shape[0]
            vk = np.where(known, v, 0)
            enter_day = np.clip(entered // _DAY - first_day, 0, days - 1)
            leave_day = np.clip(left // _DAY - first_day, 0, days - 1)
            keep = known & (marks[vk, enter_day] | marks[vk, leave_day] | (left - entered >= _DAY))
            if keep.any():
                kept.append(batch.filter(pa.array(keep)))
        return _visit_arrays(kept)

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        wanted = pa.array(np.unique(persons))
        who = pc.field("person_a").isin(wanted) | pc.field("person_b").isin(wanted)
        when = (pc.field("start_at") <= end) & (pc.field("end_at") >= start)
        return _encounter_arrays(self._archive.read("encounters", who & when))

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty


class ArchiveIndex:
    """The archive's visits and encounters in memory, sorted for lookups by person and by venue."""

    def __init__(self, archive: ParquetArchive) -> None:
        self.generation = (archive.generation("visits"), archive.generation("encounters"))
        visits = _visit_arrays(list(archive.scan("visits", _VISIT_COLUMNS)))
        self._by_venue = VenueTimeIndex(visits)
        self._person_order = np.argsort(self._by_venue.visits.person, kind="stable")
        self._person_sorted = self._by_venue.visits.person[self._person_order]
        encounters = _encounter_arrays(archive.read("encounters"))
        self._encounters = encounters
        self._a_order = np.argsort(encounters.person_a, kind="stable")
        self._b_order = np.argsort(encounters.person_b, kind="stable")
        # Sorted once here: a single trace must not re-gather the whole column.
        self._a_sorted = encounters.person_a[self._a_order]
        self._b_sorted = encounters.person_b[self._b_order]

    def __len__(self) -> int:
        return len(self._by_venue.visits)

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        people = np.unique(persons)
        lo = np.searchsorted(self._person_sorted, people, side="left").astype(np.int64)
        hi = np.searchsorted(self._person_sorted, people, side="right").astype(np.int64)
        _, position = expand_ranges(lo, hi)
        found = self._by_venue.visits.take(self._person_order[position])
        return found.take((found.left >= start) & (found.entered <= end))

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        lo, hi = self._by_venue.ranges(venue, start, end)
        _, position = expand_ranges(lo, hi)
        return self._by_venue.visits.take(np.unique(position))

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        people = np.unique(persons)
        rows = []
        for order, ordered in ((self._a_order, self._a_sorted), (self._b_order, self._b_sorted)):
            lo = np.searchsorted(ordered, people, side="left").astype(np.int64)
            hi = np.searchsorted(ordered, people, side="right").astype(np.int64)
            rows.append(order[expand_ranges(lo, hi)[1]])
        row = np.unique(np.concatenate(rows))
        e = self._encounters
        keep = row[(e.end[row] >= start) & (e.start[row] <= end)]
        return EncounterArrays(e.person_a[keep], e.person_b[keep], e.start[keep], e.end[keep])

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
