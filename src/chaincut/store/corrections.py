"""Corrections of a person's details, with their history, and what else a data-access report reads.

Each corrected field appends a ``person_corrections`` row holding the old and the
new value, each sealed with the data key under the field's own name (the same
binding as ``people.name_sealed`` and the rest, which key rotation relies on).
Retention later drops the old values (``drop_old_values``) but keeps the fact of
each correction: which field, why, who and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, exists, insert, select, update
from sqlalchemy.orm import aliased

from chaincut.clock import from_epoch
from chaincut.security import FieldCipher
from chaincut.store.tables import api_tokens, cases, households, people, person_corrections

__all__ = [
    "CORRECTABLE_FIELDS",
    "CorrectionRecord",
    "CorrectionRepository",
    "CurrentDetails",
    "TokenSummary",
    "resident_tokens_of",
]

# The details a correction may change, in the order reports list them.
CORRECTABLE_FIELDS = ("name", "phone", "address", "household")
_SEALED_COLUMNS = {"name": "name_sealed", "phone": "phone_sealed", "address": "address_sealed"}


@dataclass(frozen=True)
class CurrentDetails:
    """A person's correctable details as held now, opened."""

    person_id: int
    values: Mapping[str, str | None]  # field -> value (household: its ref)


@dataclass(frozen=True)
class CorrectionRecord:
    """One corrected field: the old and new values (None once retention dropped them), why, who, when."""

    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    corrected_by: str
    corrected_at: datetime
    old_value_dropped: bool  # retention removed the old value; the fact of the correction stays

    def __repr__(self) -> str:  # values are personal data: never in a log
        return f"CorrectionRecord(field={self.field!r}, at={self.corrected_at.isoformat()})"


@dataclass(frozen=True)
class TokenSummary:
    """A resident's app token, as a data-access report shows it: dates only, never the secret."""

    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class CorrectionRepository:
    """Applies corrections to a person's sealed details and keeps their history."""

    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def current(self, person_id: int, *, for_update: bool = False) -> CurrentDetails | None:
        """The person's correctable details (locked against a concurrent correction when asked)."""
        query = (
            select(
                people.c.id,
                people.c.name_sealed,
                people.c.phone_sealed,
                people.c.address_sealed,
                households.c.ref.label("household_ref"),
            )
            .select_from(people.outerjoin(households, households.c.id == people.c.household_id))
            .where(people.c.id == person_id)
        )
        if for_update:
            query = query.with_for_update(of=people)
        row = self._conn.execute(query).one_or_none()
        if row is None:
            return None
        values: dict[str, str | None] = {
            name: self._cipher.open(getattr(row, column), field=name)
            for name, column in _SEALED_COLUMNS.items()
        }
        values["household"] = row.household_ref
        return CurrentDetails(int(row.id), values)

    def apply(
        self,
        person_id: int,
        changes: Mapping[str, tuple[str | None, str | None]],
        *,
        household_id: int | None,
        reason: str,
        by: str,
        at: int,
    ) -> None:
        """Store the new values and append one history row per field: ``changes`` maps field -> (old, new)."""
        values: dict[str, object] = {}
        for name, (_old, new) in changes.items():
            if name == "household":
                values["household_id"] = household_id
            else:
                values[_SEALED_COLUMNS[name]] = self._cipher.seal(new, field=name)
        if values:
            self._conn.execute(update(people).where(people.c.id == person_id).values(**values))
        if "household" in changes:  # the person's cases follow them to the new household's district
            district = select(households.c.district).where(households.c.id == household_id).scalar_subquery()
            self._conn.execute(
                update(cases)
                .where(cases.c.person_id == person_id)
                .values(district=district if household_id is not None else None)
            )
        seal = self._cipher.seal
        self._conn.execute(
            insert(person_corrections),
            [
                {
                    "person_id": person_id,
                    "field": name,
                    "old_sealed": seal(old, field=name),
                    "new_sealed": seal(new, field=name),
                    "reason": reason,
                    "corrected_by": by,
                    "corrected_at": at,
                }
                for name, (old, new) in changes.items()
            ],
        )

    def of_person(self, person_id: int) -> list[CorrectionRecord]:
        """Every correction of the person's details, oldest first."""
        rows = self._conn.execute(
            select(person_corrections)
            .where(person_corrections.c.person_id == person_id)
            .order_by(person_corrections.c.corrected_at, person_corrections.c.id)
        )
        open_ = self._cipher.open
        return [
            CorrectionRecord(
                field=r.field,
                old_value=open_(r.old_sealed, field=r.field),
                new_value=open_(r.new_sealed, field=r.field),
                reason=r.reason,
                corrected_by=r.corrected_by,
                corrected_at=from_epoch(r.corrected_at),
                old_value_dropped=r.old_sealed is None,
            )
            for r in rows
        ]

    def drop_old_values(self, cutoff: int) -> int:
        """Drop the values that corrections made before ``cutoff`` replaced; how many were dropped.

        A correction's old value goes, and so does its new value once a later
        correction (itself before ``cutoff``) replaced that in turn: both are then
        details the person corrected. The rows stay as the record of each correction.
        """
        later = aliased(person_corrections)
        superseded = exists().where(
            later.c.person_id == person_corrections.c.person_id,
            later.c.field == person_corrections.c.field,
            later.c.id > person_corrections.c.id,
            later.c.corrected_at < cutoff,
        )
        old = self._conn.execute(
            update(person_corrections)
            .where(person_corrections.c.corrected_at < cutoff, person_corrections.c.old_sealed.is_not(None))
            .values(old_sealed=None)
        )
        replaced = self._conn.execute(
            update(person_corrections)
            .where(
                and_(
                    person_corrections.c.corrected_at < cutoff,
                    person_corrections.c.new_sealed.is_not(None),
                    superseded,
                )
            )
            .values(new_sealed=None)
        )
        return int(old.rowcount) + int(replaced.rowcount)


def resident_tokens_of(conn: Connection, person_id: int) -> list[TokenSummary]:
    """The person's app tokens, oldest first: when issued, when they expire or were revoked."""
    rows = conn.execute(
        select(api_tokens.c.created_at, api_tokens.c.expires_at, api_tokens.c.revoked_at)
        .where(api_tokens.c.person_id == person_id)
        .order_by(api_tokens.c.id)
    )
    return [
        TokenSummary(
            created_at=from_epoch(created),
            expires_at=None if expires is None else from_epoch(expires),
            revoked_at=None if revoked is None else from_epoch(revoked),
        )
        for created, expires, revoked in rows
    ]
