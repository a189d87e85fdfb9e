"""People and households in the store; personal fields sealed on the way in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Row, Select, bindparam, func, insert, select

from chaincut.clock import from_epoch
from chaincut.domain import Household, Person, PersonalDetails
from chaincut.security import FieldCipher
from chaincut.store.tables import households, people

__all__ = ["HouseholdRepository", "NewPersonRow", "PeopleRepository", "ref_index"]


@dataclass(frozen=True)
class NewPersonRow:
    """A person ready for a bulk insert: already validated and hashed."""

    ref: str
    public_id: str
    details: PersonalDetails
    id_document_hash: bytes | None
    household_id: int | None
    created_at: int


class HouseholdRepository:
    """Households, found or created by their reference."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def ensure(self, refs: Iterable[str], district: dict[str, str] | None = None) -> dict[str, int]:
        """Ids for the household refs, creating the missing ones."""
        wanted = set(refs)
        found = self.ids_for(wanted)
        missing = sorted(wanted - found.keys())
        if missing:
            district = district or {}
            self._conn.execute(
                insert(households),
                [{"ref": ref, "district": district.get(ref)} for ref in missing],
            )
            found.update(self.ids_for(missing))
        return found

    def ids_for(self, refs: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        chunk: list[str] = []
        for ref in refs:
            chunk.append(ref)
            if len(chunk) == 5000:
                out.update(self._ids(chunk))
                chunk = []
        if chunk:
            out.update(self._ids(chunk))
        return out

    def _ids(self, refs: Sequence[str]) -> dict[str, int]:
        rows = self._conn.execute(select(households.c.ref, households.c.id).where(households.c.ref.in_(refs)))
        return {ref: id_ for ref, id_ in rows}

    def get(self, household_id: int) -> Household | None:
        row = self._conn.execute(select(households).where(households.c.id == household_id)).one_or_none()
        return None if row is None else Household(ref=row.ref, district=row.district, id=row.id)

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(households)).scalar_one())


_ID_FOR_REF = select(people.c.id).where(people.c.ref == bindparam("ref"))


class PeopleRepository:
    """People: personal fields are sealed with the data key and opened on the way out."""

    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def _seal(self, details: PersonalDetails) -> dict[str, bytes | None]:
        seal = self._cipher.seal
        return {
            "name_sealed": seal(details.name, field="name"),
            "phone_sealed": seal(details.phone, field="phone"),
            "address_sealed": seal(details.address, field="address"),
        }

    def add(self, person: Person, household_id: int | None, created_at: int) -> int:
        result = self._conn.execute(
            insert(people).values(
                ref=person.ref,
                public_id=person.public_id,
                id_document_hash=person.id_document_hash,
                household_id=household_id,
                created_at=created_at,
                **self._seal(person.details),
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def add_many(self, rows: Sequence[NewPersonRow]) -> None:
        if not rows:
            return
        self._conn.execute(
            insert(people),
            [
                {
                    "ref": row.ref,
                    "public_id": row.public_id,
                    "id_document_hash": row.id_document_hash,
                    "household_id": row.household_id,
                    "created_at": row.created_at,
                    **self._seal(row.details),
                }
                for row in rows
            ],
        )

    def _person(self, r: Row[Any]) -> Person:
        open_ = self._cipher.open
        return Person(
            ref=r.ref,
            public_id=r.public_id,
            details=PersonalDetails(
                name=open_(r.name_sealed, field="name"),
                phone=open_(r.phone_sealed, field="phone"),
                address=open_(r.address_sealed, field="address"),
            ),
            id_document_hash=r.id_document_hash,
            household_ref=r.household_ref,
            created_at=from_epoch(r.created_at),
            id=r.id,
        )

    def _select(self) -> Select[Any]:
        return select(people, households.c.ref.label("household_ref")).outerjoin(
            households, households.c.id == people.c.household_id
        )

    def get_by_ref(self, ref: str) -> Person | None:
        row = self._conn.execute(self._select().where(people.c.ref == ref)).one_or_none()
        return None if row is None else self._person(row)

    def get(self, person_id: int) -> Person | None:
        row = self._conn.execute(self._select().where(people.c.id == person_id)).one_or_none()
        return None if row is None else self._person(row)

    def id_for_ref(self, ref: str) -> int | None:
        found = self._conn.execute(_ID_FOR_REF, {"ref": ref}).scalar()
        return None if found is None else int(found)

    def ids_for_refs(self, refs: Sequence[str]) -> dict[str, int]:
        """Ids of the people with these refs (unknown refs are left out)."""
        out: dict[str, int] = {}
        for start in range(0, len(refs), 5000):
            chunk = refs[start : start + 5000]
            rows = self._conn.execute(select(people.c.ref, people.c.id).where(people.c.ref.in_(chunk)))
            out.update({ref: int(i) for ref, i in rows})
        return out

    def refs_for(self, person_ids: Sequence[int]) -> dict[int, str]:
        """The refs of the people with these ids, by id."""
        out: dict[int, str] = {}
        for start in range(0, len(person_ids), 5000):
            chunk = person_ids[start : start + 5000]
            rows = self._conn.execute(select(people.c.id, people.c.ref).where(people.c.id.in_(chunk)))
            out.update({int(i): ref for i, ref in rows})
        return out

    def names_for(self, person_ids: Sequence[int]) -> dict[int, str]:
        """The opened names of the people with these ids who have one (for approved exports)."""
        out: dict[int, str] = {}
        for start in range(0, len(person_ids), 5000):
            chunk = person_ids[start : start + 5000]
            rows = self._conn.execute(select(people.c.id, people.c.name_sealed).where(people.c.id.in_(chunk)))
            for person_id, sealed in rows:
                name = self._cipher.open(sealed, field="name")
                if name is not None:
                    out[int(person_id)] = name
        return out

    def ids_for_document(self, id_document_hash: bytes) -> list[int]:
        rows = self._conn.execute(select(people.c.id).where(people.c.id_document_hash == id_document_hash))
        return [int(r) for r in rows.scalars()]

    def existing_refs(self, refs: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(refs), 5000):
            chunk = refs[start : start + 5000]
            out.update(self._conn.execute(select(people.c.ref).where(people.c.ref.in_(chunk))).scalars())
        return out

    def ref_index(self) -> pa.Table:
        """Every person's ref and id, as columns, for mapping bulk files to ids."""
        return ref_index(self._conn, people.c.ref, people.c.id)

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(people)).scalar_one())


def ref_index(conn: Connection, ref_col: Any, id_col: Any) -> pa.Table:
    refs: list[str] = []
    ids: list[int] = []
    result = conn.execution_options(stream_results=True, yield_per=200_000).execute(select(ref_col, id_col))
    for partition in result.partitions():
        for ref, id_ in partition:
            refs.append(ref)
            ids.append(id_)
    return pa.table({"ref": pa.array(refs, pa.string()), "id": pa.array(ids, pa.int64())})
