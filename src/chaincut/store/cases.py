"""Cases and clusters in the store."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, bindparam, func, insert, select, update

from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.store.tables import case_assignments, cases, cluster_cases, clusters, households, people

__all__ = ["CaseRepository", "ClusterRepository"]


def _case(row: Row[Any]) -> Case:
    r = row._mapping  # by name through the mapping: attribute access takes a slow path per column
    return Case(
        ref=r["ref"],
        person_id=r["person_id"],
        status=CaseStatus(r["status"]),
        classification=CaseClassification(r["classification"]),
        reported_on=r["reported_on"],
        onset_on=r["onset_on"],
        specimen_on=r["specimen_on"],
        isolated_at=None if r["isolated_at"] is None else from_epoch(r["isolated_at"]),
        created_at=from_epoch(r["created_at"]),
        created_by=r["created_by"],
        policy_version=r["policy_version"],
        id=r["id"],
        linked_case_id=r["linked_case_id"],
        discharged_at=None if r.get("discharged_at") is None else from_epoch(r["discharged_at"]),
    )


def _row(c: Case, created_at: int, district: str | None = None) -> dict[str, Any]:
    return {
        "district": district,
        "ref": c.ref,
        "person_id": c.person_id,
        "status": c.status.value,
        "classification": c.classification.value,
        "reported_on": c.reported_on,
        "onset_on": c.onset_on,
        "specimen_on": c.specimen_on,
        "isolated_at": None if c.isolated_at is None else to_epoch(c.isolated_at),
        "created_at": created_at,
        "created_by": c.created_by,
        "policy_version": c.policy_version,
        "linked_case_id": c.linked_case_id,
        "discharged_at": None if c.discharged_at is None else to_epoch(c.discharged_at),
    }


class CaseRepository:
    """Cases, looked up by their reference (the authority's case number)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, case: Case, created_at: int) -> int:
        """Store one case; returns its id."""
        district = self._districts([case.person_id]).get(case.person_id)
        result = self._conn.execute(insert(cases), _row(case, created_at, district))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def add_many(self, items: Sequence[Case], created_at: int) -> None:
        if not items:
            return
        districts = self._districts([c.person_id for c in items])
        self._conn.execute(insert(cases), [_row(c, created_at, districts.get(c.person_id)) for c in items])

    def _districts(self, person_ids: Sequence[int]) -> dict[int, str]:
        """The district of each person's household (people with none, or none known, left out)."""
        out: dict[int, str] = {}
        wanted = sorted(set(person_ids))
        for start in range(0, len(wanted), 5000):
            rows = self._conn.execute(
                select(people.c.id, households.c.district)
                .select_from(people.join(households, households.c.id == people.c.household_id))
                .where(people.c.id.in_(wanted[start : start + 5000]), households.c.district.is_not(None))
            )
            out.update({int(i): d for i, d in rows})
        return out

    def get(self, case_id: int) -> Case | None:
        row = self._conn.execute(select(cases).where(cases.c.id == case_id)).one_or_none()
        return None if row is None else _case(row)

    def get_by_ref(self, ref: str) -> Case | None:
        row = self._conn.execute(select(cases).where(cases.c.ref == ref)).one_or_none()
        return None if row is None else _case(row)

    def get_by_person(self, person_id: int) -> list[Case]:
        """Every case of one person (a person may be a case more than once), oldest first."""
        rows = self._conn.execute(
            select(cases).where(cases.c.person_id == person_id).order_by(cases.c.created_at, cases.c.id)
        )
        return [_case(r) for r in rows]

    def latest_refs(self, limit: int) -> builtins.list[str]:
        """The refs of the ``limit`` cases registered last, latest first (by id: no sort of the table)."""
        query = select(cases.c.ref).order_by(cases.c.id.desc()).limit(limit)
        return [str(ref) for ref in self._conn.execute(query).scalars()]

    def list(
        self,
        *,
        assigned_to: int | None = None,
        status: CaseStatus | None = None,
        classification: CaseClassification | None = None,
        reported_from: date | None = None,
        reported_to: date | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Case], int]:
        """One page of cases, ordered by report date then ref, and how many match in all.

        ``reported_from`` and ``reported_to`` are both included; a case with no report
        date matches only when neither is given.
        """
        query: Select[Any] = select(cases)
        counter: Select[Any] = select(func.count()).select_from(cases)
        conditions: list[ColumnElement[bool]] = []
        if assigned_to is not None:
            mine = select(case_assignments.c.case_id).where(case_assignments.c.staff_id == assigned_to)
            conditions.append(cases.c.id.in_(mine))
        if status is not None:
            conditions.append(cases.c.status == status.value)
        if classification is not None:
            conditions.append(cases.c.classification == classification.value)
        if reported_from is not None:
            conditions.append(cases.c.reported_on >= reported_from)
        if reported_to is not None:
            conditions.append(cases.c.reported_on <= reported_to)
        if conditions:
            query = query.where(*conditions)
            counter = counter.where(*conditions)
        ordered = query.order_by(cases.c.reported_on.desc(), cases.c.ref).offset(offset).limit(limit)
        rows = self._conn.execute(ordered)
        return [_case(r) for r in rows], int(self._conn.execute(counter).scalar_one())

    def set_status(self, case_id: int, status: CaseStatus) -> None:
        self._conn.execute(update(cases).where(cases.c.id == case_id).values(status=status.value))

    def set_isolation(self, case_id: int, isolated_at: int | None) -> None:
        """Record when the case was isolated (epoch seconds), or None when it is not."""
        self._conn.execute(update(cases).where(cases.c.id == case_id).values(isolated_at=isolated_at))

    def set_discharge(self, case_id: int, discharged_at: int | None) -> None:
        """Record when the case was discharged from isolation or care (epoch seconds), or None."""
        self._conn.execute(update(cases).where(cases.c.id == case_id).values(discharged_at=discharged_at))

    def by_refs(self, refs: Sequence[str]) -> dict[str, Case]:
        """The cases of these refs that are registered, by ref."""
        out: dict[str, Case] = {}
        for start in range(0, len(refs), 5000):
            rows = self._conn.execute(select(cases).where(cases.c.ref.in_(refs[start : start + 5000])))
            out.update({case.ref: case for case in map(_case, rows)})
        return out

    def set_onsets(self, onsets: Sequence[tuple[int, date]]) -> None:
        """Record each case's (first: id) onset date (second)."""
        if onsets:
            dating = update(cases).where(cases.c.id == bindparam("case_id"))
            self._conn.execute(
                dating.values(onset_on=bindparam("onset")),
                [{"case_id": case_id, "onset": onset} for case_id, onset in onsets],
            )

    def linked_of(self, case_ids: Sequence[int]) -> dict[int, str | None]:
        """The reference of the case each of these cases is linked to (None: no link)."""
        infector = cases.alias("infector")
        rows = self._conn.execute(
            select(cases.c.id, infector.c.ref)
            .select_from(cases.outerjoin(infector, infector.c.id == cases.c.linked_case_id))
            .where(cases.c.id.in_(list(case_ids)))
        )
        return {int(i): ref for i, ref in rows}

    def set_links(self, links: Sequence[tuple[int, int | None]]) -> None:
        """Link each case (first id) to the case it was infected by or linked to (second id)."""
        if links:
            self._conn.execute(
                update(cases)
                .where(cases.c.id == bindparam("case_id"))
                .values(linked_case_id=bindparam("linked")),
                [{"case_id": case_id, "linked": linked} for case_id, linked in links],
            )

    def refs_of(self, case_ids: Sequence[int]) -> dict[int, str]:
        """The references of the cases with these ids."""
        out: dict[int, str] = {}
        wanted = sorted(set(case_ids))
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            rows = self._conn.execute(select(cases.c.id, cases.c.ref).where(cases.c.id.in_(chunk)))
            out.update({int(i): ref for i, ref in rows})
        return out

    def person_refs(self, person_ids: Sequence[int]) -> dict[int, str]:
        """The references of the people with these ids (cases and their contacts)."""
        out: dict[int, str] = {}
        wanted = sorted(set(person_ids))
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            rows = self._conn.execute(select(people.c.id, people.c.ref).where(people.c.id.in_(chunk)))
            out.update({int(i): ref for i, ref in rows})
        return out

    def ids_for(self, refs: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(refs), 5000):
            chunk = refs[start : start + 5000]
            rows = self._conn.execute(select(cases.c.ref, cases.c.id).where(cases.c.ref.in_(chunk)))
            out.update({ref: int(i) for ref, i in rows})
        return out

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(cases)).scalar_one())

    def linked_onsets(self) -> builtins.list[tuple[date | None, date | None]]:
        """(infector onset, infectee onset) for every case linked to another (``linked_case_id``).

        The linked case is the infector. Either date is None where that case has no onset;
        ordered by the infectee's id, so the same store gives the same list.
        """
        infector = cases.alias("infector")
        rows = self._conn.execute(
            select(infector.c.onset_on, cases.c.onset_on)
            .select_from(cases.join(infector, infector.c.id == cases.c.linked_case_id))
            .order_by(cases.c.id)
        )
        return [(a, b) for a, b in rows]


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
