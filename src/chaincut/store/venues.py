"""Venues in the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Row, func, insert, select

from chaincut.clock import from_epoch
from chaincut.domain import Venue
from chaincut.store.people import ref_index
from chaincut.store.tables import venues

__all__ = ["VenueRepository", "venue_from_row"]


def venue_from_row(r: Row[Any]) -> Venue:
    return Venue(
        ref=r.ref,
        public_id=r.public_id,
        venue_type=r.venue_type,
        name_en=r.name_en,
        name_zh=r.name_zh,
        district=r.district,
        address=r.address,
        plate=r.plate,
        created_at=from_epoch(r.created_at),
        id=r.id,
        operator_id=r.operator_id,
    )


def _row(venue: Venue, created_at: int) -> dict[str, Any]:
    return {
        "ref": venue.ref,
        "public_id": venue.public_id,
        "venue_type": venue.venue_type,
        "name_en": venue.name_en,
        "name_zh": venue.name_zh,
        "district": venue.district,
        "address": venue.address,
        "plate": venue.plate,
        "created_at": created_at,
        "operator_id": venue.operator_id,
    }


class VenueRepository:
    """Registered venues, looked up by ref, public id, plate or id."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, venue: Venue, created_at: int) -> int:
        result = self._conn.execute(insert(venues).values(**_row(venue, created_at)))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def add_many(self, items: Sequence[Venue], created_at: int) -> None:
        if items:
            self._conn.execute(insert(venues), [_row(v, created_at) for v in items])

    def _one(self, clause: Any) -> Venue | None:
        row = self._conn.execute(select(venues).where(clause)).one_or_none()
        return None if row is None else venue_from_row(row)

    def get(self, venue_id: int) -> Venue | None:
        return self._one(venues.c.id == venue_id)

    def get_by_ref(self, ref: str) -> Venue | None:
        return self._one(venues.c.ref == ref)

    def get_by_public_id(self, public_id: str) -> Venue | None:
        return self._one(venues.c.public_id == public_id)

    def get_by_plate(self, plate: str) -> Venue | None:
        return self._one(venues.c.plate == plate)

    def list(
        self,
        *,
        venue_type: str | None = None,
        district: str | None = None,
        operator_id: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Venue], int]:
        """One page of venues, ordered by ref, and how many match in all."""
        query = select(venues)
        counter = select(func.count()).select_from(venues)
        if operator_id is not None:
            query = query.where(venues.c.operator_id == operator_id)
            counter = counter.where(venues.c.operator_id == operator_id)
        if venue_type is not None:
            query = query.where(venues.c.venue_type == venue_type)
            counter = counter.where(venues.c.venue_type == venue_type)
        if district is not None:
            query = query.where(venues.c.district == district)
            counter = counter.where(venues.c.district == district)
        rows = self._conn.execute(query.order_by(venues.c.ref).offset(offset).limit(limit))
        return [venue_from_row(r) for r in rows], int(self._conn.execute(counter).scalar_one())

    def existing(self, column: str, values: Sequence[str]) -> set[str]:
        """Which of ``values`` are already taken in the unique ``column`` (ref, plate)."""
        col = venues.c[column]
        out: set[str] = set()
        for start in range(0, len(values), 5000):
            chunk = values[start : start + 5000]
            out.update(self._conn.execute(select(col).where(col.in_(chunk))).scalars())
        return out

    def get_many(self, venue_ids: Sequence[int]) -> dict[int, Venue]:
        """The venues with these ids, by id (unknown ids are left out)."""
        out: dict[int, Venue] = {}
        for start in range(0, len(venue_ids), 5000):
            chunk = venue_ids[start : start + 5000]
            for row in self._conn.execute(select(venues).where(venues.c.id.in_(chunk))):
                out[int(row.id)] = venue_from_row(row)
        return out

    def max_id(self) -> int:
        return int(self._conn.execute(select(func.coalesce(func.max(venues.c.id), 0))).scalar_one())

    def types_of(self, venue_ids: Sequence[int]) -> dict[int, str]:
        rows = self._conn.execute(select(venues.c.id, venues.c.venue_type).where(venues.c.id.in_(venue_ids)))
        return {int(i): t for i, t in rows}

    def types_in_use(self) -> dict[str, int]:
        """Each venue type the store holds, and how many venues have it."""
        rows = self._conn.execute(
            select(venues.c.venue_type, func.count())
            .group_by(venues.c.venue_type)
            .order_by(venues.c.venue_type)
        )
        return {str(t): int(n) for t, n in rows}

    def ref_index(self) -> pa.Table:
        return ref_index(self._conn, venues.c.ref, venues.c.id)

    def ref_index_with_types(self) -> pa.Table:
        """Every venue's ref, id and type, as columns, for mapping bulk files."""
        rows = self._conn.execute(select(venues.c.ref, venues.c.id, venues.c.venue_type)).all()
        return pa.table(
            {
                "ref": pa.array([r[0] for r in rows], pa.string()),
                "id": pa.array([r[1] for r in rows], pa.int64()),
                "venue_type": pa.array([r[2] for r in rows], pa.string()),
            }
        )

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(venues)).scalar_one())
