"""The record of each retention purge: what kind, how many, the cut-off, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from chaincut.clock import from_epoch, to_epoch
from chaincut.store.tables import purges

__all__ = ["PurgeLog", "PurgeRecord"]


@dataclass(frozen=True)
class PurgeRecord:
    """One purge of one kind of whereabouts. Never holds the deleted data."""

    kind: str
    deleted: int
    cutoff: datetime
    run_at: datetime
    policy_version: str


class PurgeLog:
    """Append-only record of purges."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, entry: PurgeRecord) -> None:
        self._conn.execute(
            insert(purges).values(
                kind=entry.kind,
                deleted=entry.deleted,
                cutoff=to_epoch(entry.cutoff),
                run_at=to_epoch(entry.run_at),
                policy_version=entry.policy_version,
            )
        )

    def recent(self, limit: int = 50) -> list[PurgeRecord]:
        rows = self._conn.execute(select(purges).order_by(purges.c.id.desc()).limit(limit))
        return [
            PurgeRecord(r.kind, r.deleted, from_epoch(r.cutoff), from_epoch(r.run_at), r.policy_version)
            for r in rows
        ]
