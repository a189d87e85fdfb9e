"""The record of each retention purge (what kind, how many, the cut-off, when), and the access-record purges.

The audit log is never purged here or anywhere: it is append-only (triggers
refuse UPDATE and DELETE) and is the lasting record of who accessed whose data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, insert, or_, select

from chaincut.clock import from_epoch, to_epoch
from chaincut.store.tables import (
    api_tokens,
    approvals,
    enrolment_codes,
    purges,
    session_purposes,
    web_sessions,
)

__all__ = ["PurgeLog", "PurgeRecord", "delete_ended_approvals", "delete_ended_credentials"]


@dataclass(frozen=True)
class PurgeRecord:
    """One purge of one kind of record (whereabouts, credentials...). Never holds the deleted data."""

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


def delete_ended_credentials(conn: Connection, cutoff: int) -> tuple[int, int]:
    """Delete web sessions and bearer tokens that expired or were revoked before ``cutoff``.

    Returns (sessions, tokens) deleted; expired enrolment codes count as tokens. A revoked
    resident's or venue's token stays until it has expired too: its row is what keeps it
    refused (those tokens are checked without a database read, against the list of revoked ones).
    """
    ended = or_(
        web_sessions.c.expires_at < cutoff,
        and_(web_sessions.c.revoked_at.is_not(None), web_sessions.c.revoked_at < cutoff),
    )
    # The purposes a session's member stated go with it.
    conn.execute(
        delete(session_purposes).where(
            session_purposes.c.session_id.in_(select(web_sessions.c.id).where(ended))
        )
    )
    sessions = conn.execute(delete(web_sessions).where(ended))
    tokens = conn.execute(
        delete(api_tokens).where(
            or_(
                and_(api_tokens.c.expires_at.is_not(None), api_tokens.c.expires_at < cutoff),
                and_(
                    api_tokens.c.revoked_at.is_not(None),
                    api_tokens.c.revoked_at < cutoff,
                    api_tokens.c.kind.not_in(("resident", "venue")),
                ),
            )
        )
    )
    # Enrolment codes live minutes: once expired, used or not, nothing needs them.
    codes = conn.execute(delete(enrolment_codes).where(enrolment_codes.c.expires_at < cutoff))
    return int(sessions.rowcount), int(tokens.rowcount) + int(codes.rowcount)


def delete_ended_approvals(conn: Connection, cutoff: int) -> int:
    """Delete export approvals (pending, approved or rejected) that expired before ``cutoff``."""
    return int(conn.execute(delete(approvals).where(approvals.c.expires_at < cutoff)).rowcount)
