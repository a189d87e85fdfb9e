"""Queries over the code-signing keys, the trust list's sequence and the partners' trust lists.

Private keys are sealed with the FieldCipher under the field name ``code_signing_key`` (the
name ``chaincut keys rotate`` re-seals them with); instants are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from chaincut.security import FieldCipher
from chaincut.store.tables_keys import code_partners, code_signing_keys, code_trust_state

__all__ = ["SEALED_KEY_FIELD", "CodeKeyRecord", "CodeKeyRepository", "PartnerRecord"]

SEALED_KEY_FIELD = "code_signing_key"


@dataclass(frozen=True)
class CodeKeyRecord:
    """One stored signing key, without its private half."""

    kid: bytes
    role: str  # root, dsc
    status: str  # active, retired, expired, revoked
    certificate: bytes  # DER
    created_at: int
    created_by: str
    retired_at: int | None
    trusted_until: int | None
    revoked_at: int | None
    revoked_reason: str | None


@dataclass(frozen=True)
class PartnerRecord:
    """A partner jurisdiction: its pinned root and the last trust list accepted from it."""

    name: str
    url: str
    root_certificate: bytes  # DER
    added_at: int
    added_by: str
    trust_list: str | None
    issuer: str | None
    sequence: int | None
    synced_at: int | None
    last_attempt_at: int | None
    last_error: str | None
    revocations_url: str | None = None
    revocation_list: str | None = None  # the last accepted code-revocation list, as received (JSON)
    revocations_sequence: int | None = None
    revocations_synced_at: int | None = None


def _key(row: Any) -> CodeKeyRecord:
    return CodeKeyRecord(
        kid=bytes(row.kid),
        role=row.role,
        status=row.status,
        certificate=bytes(row.certificate),
        created_at=int(row.created_at),
        created_by=row.created_by,
        retired_at=row.retired_at,
        trusted_until=row.trusted_until,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


def _partner(row: Any) -> PartnerRecord:
    return PartnerRecord(
        name=row.name,
        url=row.url,
        root_certificate=bytes(row.root_certificate),
        added_at=int(row.added_at),
        added_by=row.added_by,
        trust_list=row.trust_list,
        issuer=row.issuer,
        sequence=row.sequence,
        synced_at=row.synced_at,
        last_attempt_at=row.last_attempt_at,
        last_error=row.last_error,
        revocations_url=row.revocations_url,
        revocation_list=row.revocation_list,
        revocations_sequence=row.revocations_sequence,
        revocations_synced_at=row.revocations_synced_at,
    )


class CodeKeyRepository:
    """Code-signing keys and partners' trust lists, in the caller's transaction."""

    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    # --- our own keys ---------------------------------------------------------------------------

    def add_key(
        self,
        *,
        kid: bytes,
        role: str,
        status: str,
        certificate: bytes,
        private_pem: str,
        at: int,
        by: str,
    ) -> None:
        sealed = self._cipher.seal(private_pem, field=SEALED_KEY_FIELD)
        self._conn.execute(
            insert(code_signing_keys).values(
                kid=kid,
                role=role,
                status=status,
                certificate=certificate,
                private_sealed=sealed,
                created_at=at,
                created_by=by[:80],
            )
        )

    def all_keys(self) -> list[CodeKeyRecord]:
        """Every key, oldest first."""
        rows = self._conn.execute(select(code_signing_keys).order_by(code_signing_keys.c.id)).all()
        return [_key(r) for r in rows]

    def key(self, kid: bytes) -> CodeKeyRecord | None:
        row = self._conn.execute(select(code_signing_keys).where(code_signing_keys.c.kid == kid)).first()
        return None if row is None else _key(row)

    def private_pem(self, kid: bytes) -> str:
        """The private key's PEM (opened from its sealed form)."""
        blob = self._conn.execute(
            select(code_signing_keys.c.private_sealed).where(code_signing_keys.c.kid == kid)
        ).scalar_one()
        opened = self._cipher.open(bytes(blob), field=SEALED_KEY_FIELD)
        assert opened is not None
        return opened

    def set_status(self, kid: bytes, status: str, **values: Any) -> None:
        self._conn.execute(
            update(code_signing_keys).where(code_signing_keys.c.kid == kid).values(status=status, **values)
        )

    def bump_sequence(self, at: int) -> int:
        """Raise the trust list's sequence number by one; the new number."""
        current = self.sequence()
        if current is None:
            self._conn.execute(insert(code_trust_state).values(id=1, sequence=1, changed_at=at))
            return 1
        self._conn.execute(
            update(code_trust_state)
            .where(code_trust_state.c.id == 1)
            .values(sequence=code_trust_state.c.sequence + 1, changed_at=at)
        )
        return current + 1

    def sequence(self) -> int | None:
        value = self._conn.execute(
            select(code_trust_state.c.sequence).where(code_trust_state.c.id == 1)
        ).scalar_one_or_none()
        return None if value is None else int(value)

    # --- partners -------------------------------------------------------------------------------

    def add_partner(
        self,
        *,
        name: str,
        url: str,
        root_certificate: bytes,
        at: int,
        by: str,
        revocations_url: str | None = None,
    ) -> None:
        self._conn.execute(
            insert(code_partners).values(
                name=name,
                url=url,
                root_certificate=root_certificate,
                added_at=at,
                added_by=by[:80],
                revocations_url=revocations_url,
            )
        )

    def partners(self) -> Sequence[PartnerRecord]:
        rows = self._conn.execute(select(code_partners).order_by(code_partners.c.name)).all()
        return [_partner(r) for r in rows]

    def revocation_fingerprints(self) -> list[tuple[str, int, int]]:
        """(name, revocations sequence, synced at) of each partner holding a revocation list: what
        tells a cached list from a newer one without reading the lists themselves."""
        c = code_partners.c
        rows = self._conn.execute(
            select(c.name, c.revocations_sequence, c.revocations_synced_at)
            .where(c.revocation_list.is_not(None), c.revocations_sequence.is_not(None))
            .order_by(c.name)
        ).all()
        return [(str(n), int(seq), int(at or 0)) for n, seq, at in rows]

    def partner(self, name: str) -> PartnerRecord | None:
        row = self._conn.execute(select(code_partners).where(code_partners.c.name == name)).first()
        return None if row is None else _partner(row)

    def accept_list(self, name: str, *, text: str, issuer: str, sequence: int, at: int) -> bool:
        """Store a partner's list unless a newer one is held (a concurrent sync); whether it was stored."""
        result = self._conn.execute(
            update(code_partners)
            .where(
                code_partners.c.name == name,
                code_partners.c.sequence.is_(None) | (code_partners.c.sequence <= sequence),
            )
            .values(
                trust_list=text,
                issuer=issuer,
                sequence=sequence,
                synced_at=at,
                last_attempt_at=at,
                last_error=None,
            )
        )
        return bool(result.rowcount)

    def accept_revocations(self, name: str, *, text: str, sequence: int, at: int) -> bool:
        """Store a partner's revocation list unless a newer one is held; whether it was stored."""
        c = code_partners.c
        result = self._conn.execute(
            update(code_partners)
            .where(c.name == name, c.revocations_sequence.is_(None) | (c.revocations_sequence <= sequence))
            .values(revocation_list=text, revocations_sequence=sequence, revocations_synced_at=at)
        )
        return bool(result.rowcount)

    def refuse_list(self, name: str, *, error: str, at: int) -> None:
        self._conn.execute(
            update(code_partners)
            .where(code_partners.c.name == name)
            .values(last_attempt_at=at, last_error=error[:500])
        )
