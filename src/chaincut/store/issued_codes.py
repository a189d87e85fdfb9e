"""The signed codes the authority issued, by code id, and the sequence of its code-revocation list.

A code is recorded when it is issued (its id, whose, when issued and when it expires: nothing
personal beyond the person id) and revoked by id when its holder's colour worsens, in the
transaction that stores the worse code; every revocation raises the list's sequence in that
same transaction. Rows go once their code has expired (``delete_expired``, run by retention).
Instants are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from chaincut.domain.code_validity import MAX_CODE_LEEWAY_SECONDS
from chaincut.store.tables_keys import code_revocation_state, issued_codes

__all__ = ["IssuedCode", "IssuedCodeRepository"]

_CHUNK = 5000
_c = issued_codes.c


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    unique = sorted(set(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


@dataclass(frozen=True)
class IssuedCode:
    """One signed code as the issuer keeps it."""

    code_id: str
    person_id: int
    issued_at: int
    expires_at: int
    revoked_at: int | None


class IssuedCodeRepository:
    """Issued codes and their revocation, in the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(
        self, code_id: str, person_id: int, issued_at: int, expires_at: int, *, revoked_at: int | None = None
    ) -> None:
        self._conn.execute(
            insert(issued_codes).values(
                code_id=code_id,
                person_id=person_id,
                issued_at=issued_at,
                expires_at=expires_at,
                revoked_at=revoked_at,
            )
        )
        if revoked_at is not None:
            self._bump_sequence(revoked_at)

    def get(self, code_id: str) -> IssuedCode | None:
        row = self._conn.execute(select(issued_codes).where(_c.code_id == code_id)).first()
        if row is None:
            return None
        return IssuedCode(row.code_id, int(row.person_id), row.issued_at, row.expires_at, row.revoked_at)

    def of_person(self, person_id: int) -> list[IssuedCode]:
        """The person's issued codes still recorded, oldest first (for their data-access report)."""
        query = select(issued_codes).where(_c.person_id == person_id).order_by(_c.issued_at, _c.code_id)
        return [
            IssuedCode(r.code_id, int(r.person_id), r.issued_at, r.expires_at, r.revoked_at)
            for r in self._conn.execute(query)
        ]

    def revoke_outstanding(self, person_ids: Sequence[int], at: int) -> int:
        """Revoke every code of these people that is not revoked and that a verifier may still accept;
        raises the list's sequence when any was. Returns how many were revoked.

        A verifier accepts a code until its ``exp`` plus its clock leeway (at most
        ``MAX_CODE_LEEWAY_SECONDS``), so a code that expired within that much of ``at`` is still
        outstanding: left unrevoked, a checkpoint with a slow clock would clear it.
        """
        revoked = 0
        accepted_until = at - MAX_CODE_LEEWAY_SECONDS
        for chunk in _chunks(person_ids):
            result = self._conn.execute(
                update(issued_codes)
                .where(_c.person_id.in_(chunk), _c.revoked_at.is_(None), _c.expires_at > accepted_until)
                .values(revoked_at=at)
            )
            revoked += result.rowcount or 0
        if revoked:
            self._bump_sequence(at)
        return revoked

    def revoked_since(self, cutoff: int) -> dict[str, int]:
        """Revoked codes that expire at or after ``cutoff``: code id -> expiry."""
        query = (
            select(_c.code_id, _c.expires_at)
            .where(_c.revoked_at.is_not(None), _c.expires_at >= cutoff)
            .order_by(_c.code_id)
        )
        return {code_id: int(expires) for code_id, expires in self._conn.execute(query)}

    def sequence(self) -> int:
        """The revocation list's sequence: 0 before the first revocation."""
        value = self._conn.execute(
            select(code_revocation_state.c.sequence).where(code_revocation_state.c.id == 1)
        ).scalar_one_or_none()
        return 0 if value is None else int(value)

    def delete_expired(self, cutoff: int) -> int:
        """Forget codes that expired before ``cutoff``; how many."""
        result = self._conn.execute(delete(issued_codes).where(_c.expires_at < cutoff))
        return result.rowcount or 0

    def _bump_sequence(self, at: int) -> None:
        # One statement on both backends, so concurrent revocations (two cases traced at once) never
        # collide on inserting the first row, and each raises the sequence by one.
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(code_revocation_state).values(id=1, sequence=1, changed_at=at)
        self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={"sequence": code_revocation_state.c.sequence + 1, "changed_at": at},
            )
        )
