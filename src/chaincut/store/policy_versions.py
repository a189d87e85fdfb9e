"""The policy's versions: files deployed and versions uploaded in the console, and which is in force.

The version in force is the ``active`` row activated last. Activating one supersedes
every other active row in the same transaction, so at most one is active; a row
moves on from ``pending`` only once (``decide`` answers False to a second decision).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select, text, update

from chaincut.store.tables import policy_versions

__all__ = ["PolicyVersionRecord", "PolicyVersionRepository"]

_T = policy_versions
_LOCK_KEY = 0x636361_7001  # "cca" p1: chaincut's advisory lock for the policy's versions


@dataclass(frozen=True)
class PolicyVersionRecord:
    """One version of the policy, its text, and what happened to it."""

    id: int
    version: str
    digest: str
    text: str
    source: str  # file, console
    uploaded_by: str
    uploaded_at: int
    status: str  # draft, pending, active, superseded, rejected, withdrawn
    requested_by: str | None
    requested_at: int | None
    request_reason: str | None
    decided_by: str | None
    decided_at: int | None
    decision_reason: str | None
    activated_at: int | None


# Active and activated (a row approved a moment ago is active before its activation time is set).
_in_force = (_T.c.status == "active") & _T.c.activated_at.is_not(None)


def _record(r: Row[Any]) -> PolicyVersionRecord:
    return PolicyVersionRecord(**{c.name: getattr(r, c.name) for c in _T.columns})


class PolicyVersionRepository:
    """Reads and writes ``policy_versions``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock(self) -> None:
        """Serialise the writers of versions until this transaction ends (settling, deciding).

        SQLite's writers already are (BEGIN IMMEDIATE); PostgreSQL's take an advisory lock, so
        two starts under one new file record it once, and two approvals activate one by one.
        """
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})

    def add(
        self,
        *,
        version: str,
        digest: str,
        text: str,
        source: str,
        uploaded_by: str,
        at: int,
    ) -> PolicyVersionRecord:
        """A new draft (``activate`` puts one in force)."""
        result = self._conn.execute(
            insert(_T).values(
                version=version,
                digest=digest,
                text=text,
                source=source,
                uploaded_by=uploaded_by,
                uploaded_at=at,
                status="draft",
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        record = self.get(int(key[0]))
        assert record is not None
        return record

    def get(self, version_id: int) -> PolicyVersionRecord | None:
        row = self._conn.execute(select(_T).where(_T.c.id == version_id)).first()
        return _record(row) if row else None

    def in_force(self) -> PolicyVersionRecord | None:
        """The active version activated last (None before any was recorded)."""
        row = self._conn.execute(
            select(_T).where(_in_force).order_by(_T.c.activated_at.desc(), _T.c.id.desc()).limit(1)
        ).first()
        return _record(row) if row else None

    def in_force_digest(self) -> str | None:
        """The digest of the version in force: one indexed read, for each worker's poll."""
        return self._conn.execute(
            select(_T.c.digest).where(_in_force).order_by(_T.c.activated_at.desc(), _T.c.id.desc()).limit(1)
        ).scalar()

    def last_file(self) -> PolicyVersionRecord | None:
        """The policy file recorded last (deployed files are recorded at the first start under them)."""
        row = self._conn.execute(
            select(_T).where(_T.c.source == "file").order_by(_T.c.id.desc()).limit(1)
        ).first()
        return _record(row) if row else None

    def list(self, *, limit: int = 50) -> builtins.list[PolicyVersionRecord]:
        """The latest versions, newest first."""
        query = select(_T).order_by(_T.c.id.desc()).limit(limit)
        return [_record(r) for r in self._conn.execute(query)]

    def pending(self) -> builtins.list[PolicyVersionRecord]:
        query = select(_T).where(_T.c.status == "pending").order_by(_T.c.id)
        return [_record(r) for r in self._conn.execute(query)]

    def request(self, version_id: int, *, by: str, at: int, reason: str) -> bool:
        """Mark a draft as awaiting a supervisor's decision; False when it is no longer a draft."""
        result = self._conn.execute(
            update(_T)
            .where(_T.c.id == version_id, _T.c.status == "draft")
            .values(status="pending", requested_by=by, requested_at=at, request_reason=reason)
        )
        return result.rowcount == 1

    def withdraw(self, version_id: int) -> bool:
        result = self._conn.execute(
            update(_T)
            .where(_T.c.id == version_id, _T.c.status.in_(("draft", "pending")))
            .values(status="withdrawn")
        )
        return result.rowcount == 1

    def decide(self, version_id: int, status: str, *, by: str, at: int, reason: str) -> bool:
        """Record a supervisor's decision on a pending version; False when it is not pending."""
        result = self._conn.execute(
            update(_T)
            .where(_T.c.id == version_id, _T.c.status == "pending")
            .values(status=status, decided_by=by, decided_at=at, decision_reason=reason)
        )
        return result.rowcount == 1

    def activate(self, version_id: int, *, at: int) -> None:
        """Put one version in force: every other active version is superseded."""
        self._conn.execute(
            update(_T).where(_T.c.status == "active", _T.c.id != version_id).values(status="superseded")
        )
        self._conn.execute(update(_T).where(_T.c.id == version_id).values(status="active", activated_at=at))
