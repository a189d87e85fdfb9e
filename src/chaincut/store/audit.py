"""The append-only, hash-chained audit log in the store.

Appends lock the chain's head row (``SELECT … FOR UPDATE`` on PostgreSQL; the
embedded store's write transactions are already exclusive), so entries from
every server worker form a single chain. Triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from chaincut.clock import from_epoch
from chaincut.domain.audit import AuditEvent, AuditRecord
from chaincut.security.audit_chain import GENESIS, entry_mac
from chaincut.store.tables import audit_head, audit_log

__all__ = ["AuditRepository", "chain_fields"]


def chain_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The columns an entry's MAC covers, from a stored row (or the values about to be stored)."""
    return {
        name: row[name]
        for name in (
            "seq",
            "at",
            "actor",
            "roles",
            "action",
            "resource",
            "record",
            "purpose",
            "outcome",
            "flags",
            "details",
            "subject_person_id",
        )
    }


def _values(seq: int, at: int, event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "actor": event.actor[:80],
        "roles": event.roles[:200],
        "action": event.action[:64],
        "resource": event.resource[:200],
        "record": event.record[:200],
        "purpose": event.purpose[:500],
        "outcome": event.outcome[:16],
        "flags": ",".join(event.flags)[:100],
        "details": json.dumps(dict(event.details), sort_keys=True, separators=(",", ":")),
        "subject_person_id": event.subject_person_id,
    }


def _record(r: Row[Any]) -> AuditRecord:
    details = json.loads(r.details) if r.details else {}
    return AuditRecord(
        seq=r.seq,
        at=from_epoch(r.at),
        event=AuditEvent(
            actor=r.actor,
            roles=r.roles,
            action=r.action,
            resource=r.resource,
            record=r.record,
            purpose=r.purpose,
            outcome=r.outcome,
            flags=tuple(f for f in r.flags.split(",") if f),
            details=details,
            subject_person_id=r.subject_person_id,
        ),
    )


class AuditRepository:
    """Appends to the chain and reads it back."""

    def __init__(self, conn: Connection, key: bytes | None) -> None:
        self._conn = conn
        self._key = key

    @property
    def enabled(self) -> bool:
        """False for a store opened without the audit key (tools that only read)."""
        return self._key is not None

    def append(self, events: Sequence[AuditEvent], *, at: int) -> list[int]:
        """Append ``events`` in order, in the caller's transaction; returns their sequence numbers."""
        if not events:
            return []
        if self._key is None:
            raise RuntimeError("this unit of work was opened without the audit key")
        query = select(audit_head.c.seq, audit_head.c.mac).where(audit_head.c.id == 1)
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        head = self._conn.execute(query).first()
        seq, prev = (head.seq, head.mac) if head is not None else (0, GENESIS)
        rows = []
        for event in events:
            seq += 1
            values = _values(seq, at, event)
            mac = entry_mac(self._key, prev, chain_fields(values))
            rows.append({**values, "prev_mac": prev, "mac": mac})
            prev = mac
        self._conn.execute(insert(audit_log), rows)
        if head is None:
            self._conn.execute(insert(audit_head).values(id=1, seq=seq, mac=prev))
        else:
            self._conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, mac=prev))
        return [r["seq"] for r in rows]

    def head(self) -> tuple[int, bytes] | None:
        row = self._conn.execute(
            select(audit_head.c.seq, audit_head.c.mac).where(audit_head.c.id == 1)
        ).first()
        return (row.seq, row.mac) if row else None

    def chain(self, *, batch: int = 10_000) -> Iterator[tuple[int, bytes, bytes, dict[str, Any]]]:
        """Every entry in stored order, as verify_chain takes them, read in batches."""
        after: int | None = None
        while True:
            query = select(audit_log).order_by(audit_log.c.seq).limit(batch)
            if after is not None:
                query = query.where(audit_log.c.seq > after)
            rows = self._conn.execute(query).mappings().all()
            if not rows:
                return
            for r in rows:
                yield r["seq"], r["prev_mac"], r["mac"], chain_fields(dict(r))
            after = rows[-1]["seq"]

    def last_of(self, action: str) -> AuditRecord | None:
        """The latest entry recording ``action``."""
        query = select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq.desc())
        row = self._conn.execute(query.limit(1)).first()
        return _record(row) if row else None

    def find(
        self,
        *,
        actor: str | None = None,
        subject_person_id: int | None = None,
        flag: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        query = select(audit_log).order_by(audit_log.c.seq).limit(limit)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if subject_person_id is not None:
            query = query.where(audit_log.c.subject_person_id == subject_person_id)
        if flag is not None:
            query = query.where(audit_log.c.flags.contains(flag, autoescape=True))
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        return [_record(r) for r in self._conn.execute(query)]
