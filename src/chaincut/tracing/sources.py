"""Where the tracing engine reads whereabouts from.

* :class:`ArraySource` answers from columns in memory: the whereabouts a query
  fetched from SQL, or a test's own.
* :class:`UnionSource` asks several sources and puts their answers together: the
  embedded default keeps bulk whereabouts in the Parquet archive and check-ins in
  SQL, and a trace must see both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chaincut.tracing.engine import I64, EncounterArrays, VisitArrays, WhereaboutsSource

__all__ = ["ArraySource", "UnionSource"]


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
