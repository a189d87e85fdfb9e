"""Where the tracing engine reads whereabouts from.

* :class:`ArraySource` answers from columns in memory: the whereabouts a query
  fetched from SQL, or a test's own.
* :class:`PrefetchedSource` reads once what a day's cases need and answers each
  chunk of them from memory.
* :class:`UnionSource` asks several sources and puts their answers together: the
  embedded default keeps bulk whereabouts in the Parquet archive and check-ins in
  SQL, and a trace must see both.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from chaincut.tracing.columns import (
    I64,
    EncounterArrays,
    IndexWindows,
    VisitArrays,
    expand_ranges,
    sorted_unique,
)
from chaincut.tracing.engine import WhereaboutsSource, exposures_of
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.venue_index import VenueTimeIndex

__all__ = ["ArraySource", "PrefetchedSource", "UnionSource"]


class ArraySource:
    """Whereabouts held as columns; ``household`` maps people to household ids (-1: none)."""

    def __init__(
        self,
        visits: VisitArrays,
        encounters: EncounterArrays | None = None,
        household_person: I64 | None = None,
        household_id: I64 | None = None,
    ) -> None:
        self.visits = visits
        self.encounters = encounters if encounters is not None else EncounterArrays.empty()
        person = household_person if household_person is not None else np.zeros(0, dtype=np.int64)
        household = household_id if household_id is not None else np.zeros(0, dtype=np.int64)
        has_household = household >= 0
        order = np.argsort(household[has_household], kind="stable")
        self._by_household = household[has_household][order]
        self._members = person[has_household][order]

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        v = self.visits
        return v.take(np.isin(v.person, persons) & (v.left >= start) & (v.entered <= end))

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        v = self.visits
        if not len(venue):
            return VisitArrays.empty()
        return v.take(np.isin(v.venue, venue) & (v.left >= start.min()) & (v.entered <= end.max()))

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        e = self.encounters
        keep = (
            (np.isin(e.person_a, persons) | np.isin(e.person_b, persons))
            & (e.end >= start)
            & (e.start <= end)
        )
        return EncounterArrays(e.person_a[keep], e.person_b[keep], e.start[keep], e.end[keep])

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        if not len(self._members):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        mine = np.isin(self._members, persons)
        person, household = self._members[mine], self._by_household[mine]
        lo = np.searchsorted(self._by_household, household, side="left")
        hi = np.searchsorted(self._by_household, household, side="right")
        counts = hi - lo
        owner = np.repeat(np.arange(len(person)), counts)
        position = lo[owner] + (np.arange(len(owner)) - (np.cumsum(counts) - counts)[owner])
        return person[owner], self._members[position]


class UnionSource:
    """Answers from several sources at once (they must not hold the same rows)."""

    def __init__(self, sources: Sequence[WhereaboutsSource]) -> None:
        self.sources = list(sources)

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        return VisitArrays.concat([s.visits_of(persons, start, end) for s in self.sources])

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        return VisitArrays.concat([s.visits_near(venue, start, end) for s in self.sources])

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        return EncounterArrays.concat([s.encounters_of(persons, start, end) for s in self.sources])

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        # Households live in one place (SQL): the first source that knows any answers.
        for source in self.sources:
            person, member = source.household_members(persons)
            if len(person):
                return person, member
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty


class PrefetchedSource:
    """One read of everything a set of index windows needs, answered from memory after.

    A day's cases are traced a few hundred at a time (to bound memory), but reading
    the archive once per chunk would cost a full scan each time. This asks the
    underlying source once, for all windows: their visits, the visits near all their
    exposures, their encounters and households; then each chunk's questions, which
    are about a subset, are answered here.
    """

    def __init__(self, source: WhereaboutsSource, windows: IndexWindows, rules: TracingRules) -> None:
        people = sorted_unique(windows.person)
        first, last = int(windows.start.min()), int(windows.end.max())
        # Encounters and households are read on a thread of their own meanwhile: their reads
        # (Parquet, SQLite) wait on I/O and decoding outside the GIL. The source's reads each
        # open their own connection or file, so they may run side by side.
        with ThreadPoolExecutor(1, thread_name_prefix="chaincut-prefetch") as pool:
            side = pool.submit(
                lambda: (source.encounters_of(people, first, last), source.household_members(people))
            )
            visits = source.visits_of(people, first, last)
            exposures = exposures_of(windows, visits, rules)
            self._visits = _by_person(visits)
            self._near = VenueTimeIndex(source.visits_near(exposures.venue, exposures.start, exposures.end))
            found, (person, member) = side.result()
        self._encounters = found
        self._a_order = np.argsort(found.person_a, kind="stable")
        self._b_order = np.argsort(found.person_b, kind="stable")
        self._a_sorted = found.person_a[self._a_order]
        self._b_sorted = found.person_b[self._b_order]
        order = np.argsort(person, kind="stable")
        self._household_person, self._household_member = person[order], member[order]

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        v = self._visits
        lo, hi = _ranges(v.person, sorted_unique(persons))
        found = v.take(expand_ranges(lo, hi)[1])
        return found.take((found.left >= start) & (found.entered <= end))

    def venue_index(self) -> VenueTimeIndex:
        """Every visit near the windows' exposures, indexed once for all chunks."""
        return self._near

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        lo, hi = self._near.ranges(venue, start, end)
        wanted = np.zeros(len(self._near.visits), dtype=bool)  # ranges overlap: mark, don't sort
        wanted[expand_ranges(lo, hi)[1]] = True
        return self._near.visits.take(np.flatnonzero(wanted))

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        people = sorted_unique(persons)
        rows = [
            order[expand_ranges(*_ranges(ordered, people))[1]]
            for order, ordered in ((self._a_order, self._a_sorted), (self._b_order, self._b_sorted))
        ]
        row = sorted_unique(np.concatenate(rows))
        e = self._encounters
        keep = row[(e.end[row] >= start) & (e.start[row] <= end)]
        return EncounterArrays(e.person_a[keep], e.person_b[keep], e.start[keep], e.end[keep])

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        lo, hi = _ranges(self._household_person, sorted_unique(persons))
        rows = expand_ranges(lo, hi)[1]
        return self._household_person[rows], self._household_member[rows]


def _by_person(visits: VisitArrays) -> VisitArrays:
    return visits.take(np.argsort(visits.person, kind="stable"))


def _ranges(sorted_values: I64, wanted: I64) -> tuple[I64, I64]:
    lo = np.searchsorted(sorted_values, wanted, side="left").astype(np.int64)
    hi = np.searchsorted(sorted_values, wanted, side="right").astype(np.int64)
    return lo, hi
