"""Cases and clusters in the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from chaincut.clock import from_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.store.tables import cases, cluster_cases, clusters

__all__ = ["CaseRepository", "ClusterRepository"]


def _case(r: Row[Any]) -> Case:
    return Case(
        ref=r.ref,
        person_id=r.person_id,
        status=CaseStatus(r.status),
        classification=CaseClassification(r.classification),
        reported_on=r.reported_on,
        onset_on=r.onset_on,
        specimen_on=r.specimen_on,
        created_at=from_epoch(r.created_at),
        id=r.id,
    )


class CaseRepository:
    """Cases, looked up by their reference (the authority's case number)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_many(self, items: Sequence[Case], created_at: int) -> None:
        if not items:
            return
        self._conn.execute(
            insert(cases),
            [
                {
                    "ref": c.ref,
                    "person_id": c.person_id,
                    "status": c.status.value,
                    "classification": c.classification.value,
                    "reported_on": c.reported_on,
                    "onset_on": c.onset_on,
                    "specimen_on": c.specimen_on,
                    "created_at": created_at,
                }
                for c in items
            ],
        )

    def get_by_ref(self, ref: str) -> Case | None:
        row = self._conn.execute(select(cases).where(cases.c.ref == ref)).one_or_none()
        return None if row is None else _case(row)

    def ids_for(self, refs: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(refs), 5000):
            chunk = refs[start : start + 5000]
            rows = self._conn.execute(select(cases.c.ref, cases.c.id).where(cases.c.ref.in_(chunk)))
            out.update({ref: int(i) for ref, i in rows})
        return out

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(cases)).scalar_one())


class ClusterRepository:
    """Clusters of cases the authority's investigation linked."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def ids_for(self, names: Sequence[str]) -> dict[str, int]:
        rows = self._conn.execute(select(clusters.c.name, clusters.c.id).where(clusters.c.name.in_(names)))
        return {name: int(i) for name, i in rows}

    def add(self, name: str, reported_case_count: int | None, case_ids: Sequence[int]) -> int:
        result = self._conn.execute(
            insert(clusters).values(name=name, reported_case_count=reported_case_count)
        )
        assert result.inserted_primary_key is not None
        cluster_id = int(result.inserted_primary_key[0])
        if case_ids:
            self._conn.execute(
                insert(cluster_cases),
                [{"cluster_id": cluster_id, "case_id": c} for c in sorted(set(case_ids))],
            )
        return cluster_id

    def members(self, cluster_id: int) -> list[int]:
        rows = self._conn.execute(
            select(cluster_cases.c.case_id).where(cluster_cases.c.cluster_id == cluster_id)
        )
        return sorted(int(r) for r in rows.scalars())

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(clusters)).scalar_one())
