"""The Department of Health's building list: buildings, and the cases each relates to (no times)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from chaincut.store.tables import building_cases, buildings, venues

__all__ = ["BuildingRepository", "BuildingRow", "ListedBuilding"]


@dataclass(frozen=True, slots=True)
class ListedBuilding:
    """A building of the list as imported: ``ref`` is stable for its district and name."""

    ref: str
    district: str
    name_en: str
    residential: bool  # no case visited it (listed only as where cases lived)
    venue_ref: str | None  # the venue a visited building became


@dataclass(frozen=True, slots=True)
class BuildingRow:
    """A stored building, with its venue's reference when cases visited it."""

    ref: str
    district: str
    name_en: str
    residential: bool
    venue_ref: str | None


class BuildingRepository:
    """Buildings of the list and the case references listed at each."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, items: Sequence[ListedBuilding]) -> int:
        """Store the buildings not stored yet (by ref); returns how many were new."""
        known = set(
            self._conn.execute(
                select(buildings.c.ref).where(buildings.c.ref.in_([b.ref for b in items]))
            ).scalars()
        )
        venue_ids: dict[str, int] = {}
        venue_rows = self._conn.execute(
            select(venues.c.ref, venues.c.id).where(
                venues.c.ref.in_([b.venue_ref for b in items if b.venue_ref])
            )
        )
        for ref, venue_id in venue_rows:
            venue_ids[ref] = int(venue_id)
        fresh = [b for b in items if b.ref not in known]
        if fresh:
            self._conn.execute(
                insert(buildings),
                [
                    {
                        "ref": b.ref,
                        "district": b.district,
                        "name_en": b.name_en,
                        "residential": b.residential,
                        "venue_id": venue_ids.get(b.venue_ref) if b.venue_ref else None,
                    }
                    for b in fresh
                ],
            )
        return len(fresh)

    def link_cases(self, links: Sequence[tuple[str, str]]) -> int:
        """Relate (building ref, case ref) pairs not related yet; returns how many were new."""
        ids = {
            ref: int(i)
            for ref, i in self._conn.execute(
                select(buildings.c.ref, buildings.c.id).where(
                    buildings.c.ref.in_(sorted({b for b, _ in links}))
                )
            )
        }
        have = set(
            self._conn.execute(
                select(building_cases.c.building_id, building_cases.c.case_ref).where(
                    building_cases.c.building_id.in_(list(ids.values()))
                )
            )
        )
        fresh = sorted({(ids[b], c) for b, c in links} - have)
        if fresh:
            self._conn.execute(insert(building_cases), [{"building_id": b, "case_ref": c} for b, c in fresh])
        return len(fresh)

    def all(self) -> list[BuildingRow]:
        rows = self._conn.execute(
            select(
                buildings.c.ref,
                buildings.c.district,
                buildings.c.name_en,
                buildings.c.residential,
                venues.c.ref,
            )
            .select_from(buildings.outerjoin(venues, venues.c.id == buildings.c.venue_id))
            .order_by(buildings.c.ref)
        )
        return [BuildingRow(r, d, n, bool(res), v) for r, d, n, res, v in rows]

    def for_settings(self, building_refs: Sequence[str], venue_refs: Sequence[str]) -> list[BuildingRow]:
        """The buildings with these refs or at these venues, by ref (a cluster page needs only its own)."""
        if len(building_refs) + len(venue_refs) > 5000:
            return self.all()
        query = select(
            buildings.c.ref,
            buildings.c.district,
            buildings.c.name_en,
            buildings.c.residential,
            venues.c.ref,
        ).select_from(buildings.outerjoin(venues, venues.c.id == buildings.c.venue_id))
        found = {}
        if building_refs:
            for r, d, n, res, v in self._conn.execute(query.where(buildings.c.ref.in_(list(building_refs)))):
                found[r] = BuildingRow(r, d, n, bool(res), v)
        if venue_refs:
            for r, d, n, res, v in self._conn.execute(query.where(venues.c.ref.in_(list(venue_refs)))):
                found[r] = BuildingRow(r, d, n, bool(res), v)
        return [found[r] for r in sorted(found)]

    def case_links(self) -> list[tuple[str, str]]:
        """Every (building ref, case ref) the list relates, sorted."""
        rows = self._conn.execute(
            select(buildings.c.ref, building_cases.c.case_ref)
            .select_from(building_cases.join(buildings, buildings.c.id == building_cases.c.building_id))
            .order_by(buildings.c.ref, building_cases.c.case_ref)
        )
        return [(b, c) for b, c in rows]
