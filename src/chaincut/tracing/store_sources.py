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
from chaincut.store.tracing_reads import DEFAULT_CHUNK_SIZE
from chaincut.tracing.columns import I64, EncounterArrays, VisitArrays, expand_ranges, sorted_unique

__all__ = ["ArchiveIndex", "ArchiveScanSource", "SqlSource"]

_HOUR = 3_600
_SHIFT = np.int64(32)
_SPAN = np.int64((1 << 32) - 1)


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
        return _close_open(rows, self._stay, self._as_of)

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        if not len(venue):
            return VisitArrays.empty()
        with self._store.read() as uow:
            rows = uow.tracing.visits_at(venue, int(start.min()), int(end.max()), chunk_size=self._chunk)
        return _close_open(rows, self._stay, self._as_of)

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        with self._store.read() as uow:
            return EncounterArrays(*uow.tracing.encounters_of(persons, start, end, chunk_size=self._chunk))

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        with self._store.read() as uow:
            person, member = uow.tracing.household_members(persons, chunk_size=self._chunk)
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
        if not len(persons):
            return VisitArrays.empty()
        wanted = np.zeros(int(persons.max()) + 1, dtype=bool)  # a lookup by id beats a hash set
        wanted[persons] = True
        when = (pc.field("entered_at") <= end) & (pc.field("left_at") >= start)
        kept: list[pa.RecordBatch] = []
        for batch in self._archive.scan("visits", _VISIT_COLUMNS, when):
            person = batch.column("person_id").to_numpy()
            inside = person < len(wanted)
            keep = inside & wanted[np.where(inside, person, 0)]
            if keep.any():
                kept.append(batch.filter(pa.array(keep)))
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
        kept: list[pa.RecordBatch] = []
        for batch in self._archive.scan("visits", _VISIT_COLUMNS, when):
            v = batch.column("venue_id").to_numpy()
            known = v < venues
            row = np.where(known, v, 0) * (hours + 1)
            entered = np.clip(batch.column("entered_at").to_numpy() // _HOUR - first_hour + 1, 0, hours)
            left = np.clip(batch.column("left_at").to_numpy() // _HOUR - first_hour + 1, 0, hours)
            keep = known & (counts[row + left] > counts[row + np.maximum(entered - 1, 0)])
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
    """The archive's visits and encounters in memory, sorted for lookups by person and by venue.

    Compact, because a city's archive is large: per visit one int64 key (venue and
    entry time, sorted), the person and the stay's length as int32, and the person
    order as two int32 columns: 24 bytes a visit (3.4 GB for 140M visits).
    """

    def __init__(self, archive: ParquetArchive) -> None:
        self.generation = (archive.generation("visits"), archive.generation("encounters"))
        person_parts, venue_parts, entered_parts, stay_parts = [], [], [], []
        for batch in archive.scan("visits", _VISIT_COLUMNS):
            entered = batch.column("entered_at").to_numpy()
            person_parts.append(batch.column("person_id").to_numpy().astype(np.int32))
            venue_parts.append(batch.column("venue_id").to_numpy().astype(np.int64))
            entered_parts.append(entered)
            stay_parts.append((batch.column("left_at").to_numpy() - entered).astype(np.int32))
        if not person_parts:
            person_parts, venue_parts = [np.zeros(0, np.int32)], [np.zeros(0, np.int64)]
            entered_parts, stay_parts = [np.zeros(0, np.int64)], [np.zeros(0, np.int32)]
        entered = np.concatenate(entered_parts)
        self._base = int(entered.min()) if len(entered) else 0
        keys = (np.concatenate(venue_parts) << _SHIFT) | (entered - self._base)
        del entered, entered_parts, venue_parts
        order = np.argsort(keys)
        self._keys = keys[order]
        del keys
        self._person = np.concatenate(person_parts)[order]
        self._stay = np.concatenate(stay_parts)[order]
        del order, person_parts, stay_parts
        venue = self._keys >> _SHIFT
        longest = np.zeros(int(venue.max()) + 1 if len(venue) else 0, dtype=np.int64)
        if len(venue):
            starts = np.flatnonzero(np.r_[True, venue[1:] != venue[:-1]])
            longest[venue[starts]] = np.maximum.reduceat(self._stay, starts)
        self._longest = longest
        del venue
        self._person_order = np.argsort(self._person, kind="stable").astype(np.int32)
        self._person_sorted = self._person[self._person_order]
        encounters = _encounter_arrays(archive.read("encounters"))
        self._encounters = encounters
        self._a_order = np.argsort(encounters.person_a, kind="stable").astype(np.int32)
        self._b_order = np.argsort(encounters.person_b, kind="stable").astype(np.int32)
        self._a_sorted = encounters.person_a[self._a_order].astype(np.int32)
        self._b_sorted = encounters.person_b[self._b_order].astype(np.int32)
        pa.default_memory_pool().release_unused()  # what reading the archive held, given back

    def __len__(self) -> int:
        return len(self._keys)

    def _visits(self, rows: I64) -> VisitArrays:
        keys = self._keys[rows]
        entered = (keys & _SPAN) + self._base
        return VisitArrays(
            self._person[rows].astype(np.int64), keys >> _SHIFT, entered, entered + self._stay[rows]
        )

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        # Searched as int32, the column's own type: an int64 needle would make NumPy convert
        # the whole column on every call.
        people = sorted_unique(persons).astype(np.int32)
        lo = np.searchsorted(self._person_sorted, people, side="left").astype(np.int64)
        hi = np.searchsorted(self._person_sorted, people, side="right").astype(np.int64)
        found = self._visits(self._person_order[expand_ranges(lo, hi)[1]].astype(np.int64))
        return found.take((found.left >= start) & (found.entered <= end))

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        if not len(self._keys):
            return VisitArrays.empty()
        inside = venue < len(self._longest)
        longest = np.zeros(len(venue), dtype=np.int64)
        longest[inside] = self._longest[venue[inside]]
        low = (venue << _SHIFT) | np.clip(start - longest - self._base, 0, _SPAN)
        high = (venue << _SHIFT) | np.clip(end - self._base, 0, _SPAN)
        lo = np.searchsorted(self._keys, low, side="left").astype(np.int64)
        hi = np.searchsorted(self._keys, high, side="right").astype(np.int64)
        return self._visits(sorted_unique(expand_ranges(lo, hi)[1]))

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        people = sorted_unique(persons).astype(np.int32)  # the sorted columns' type (see visits_of)
        rows = []
        for order, ordered in ((self._a_order, self._a_sorted), (self._b_order, self._b_sorted)):
            lo = np.searchsorted(ordered, people, side="left").astype(np.int64)
            hi = np.searchsorted(ordered, people, side="right").astype(np.int64)
            rows.append(order[expand_ranges(lo, hi)[1]].astype(np.int64))
        row = sorted_unique(np.concatenate(rows))
        e = self._encounters
        keep = row[(e.end[row] >= start) & (e.start[row] <= end)]
        return EncounterArrays(e.person_a[keep], e.person_b[keep], e.start[keep], e.end[keep])

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
