"""What cluster inference reads: the cases, their stays and encounters, households and links.

Reads are column-wise and bounded by time, so a million cases read in seconds: the stays and
encounters of case persons that began at or after ``since`` (the caller's earliest exposure
period), joined through the visits' and encounters' person-first indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, and_, select

from chaincut.store.tables import cases, encounters, people, venues, visits

__all__ = ["ClusterCaseRow", "ClusterInputs", "VenueSetting"]


@dataclass(frozen=True, slots=True)
class ClusterCaseRow:
    """A case as cluster inference sees it (no personal details)."""

    id: int
    ref: str
    person_id: int
    household_id: int | None
    status: str
    classification: str
    onset_on: date | None
    reported_on: date | None
    isolated_at: int | None
    linked_case_id: int | None
    specimen_on: date | None = None


@dataclass(frozen=True, slots=True)
class VenueSetting:
    ref: str
    venue_type: str
    name_en: str
    name_zh: str


class ClusterInputs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def cases(self, statuses: Sequence[str]) -> list[ClusterCaseRow]:
        """Every case of these statuses, by id."""
        query = (
            select(
                cases.c.id,
                cases.c.ref,
                cases.c.person_id,
                people.c.household_id,
                cases.c.status,
                cases.c.classification,
                cases.c.onset_on,
                cases.c.reported_on,
                cases.c.isolated_at,
                cases.c.linked_case_id,
                cases.c.specimen_on,
            )
            .select_from(cases.join(people, people.c.id == cases.c.person_id))
            .where(cases.c.status.in_(list(statuses)))
            .order_by(cases.c.id)
        )
        return [
            ClusterCaseRow(int(i), ref, int(p), h, s, c, o, r, x, k, sp)
            for i, ref, p, h, s, c, o, r, x, k, sp in self._conn.execute(query)
        ]

    def case_stays(self, since: int) -> list[tuple[int, int, int, int | None]]:
        """(person id, venue id, entered, left) of every stay of a case's person entered since ``since``."""
        persons = select(cases.c.person_id).distinct().subquery()
        query = select(
            visits.c.person_id, visits.c.venue_id, visits.c.entered_at, visits.c.left_at
        ).select_from(
            persons.join(
                visits, and_(visits.c.person_id == persons.c.person_id, visits.c.entered_at >= since)
            )
        )
        return [
            (int(p), int(v), int(e), None if x is None else int(x))
            for p, v, e, x in self._conn.execute(query)
        ]

    def case_encounters(self, since: int) -> list[tuple[int, int, int, int]]:
        """(person a, person b, start, end) of every encounter between two cases' persons since ``since``."""
        a = select(cases.c.person_id).distinct().subquery("a")
        b = select(cases.c.person_id).distinct().subquery("b")
        query = select(
            encounters.c.person_a, encounters.c.person_b, encounters.c.start_at, encounters.c.end_at
        ).select_from(
            a.join(
                encounters, and_(encounters.c.person_a == a.c.person_id, encounters.c.start_at >= since)
            ).join(b, b.c.person_id == encounters.c.person_b)
        )
        return [(int(p), int(q), int(s), int(e)) for p, q, s, e in self._conn.execute(query)]

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
