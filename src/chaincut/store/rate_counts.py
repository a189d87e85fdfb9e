"""Requests per client in one-minute windows, counted by every server worker together.

Each (limit, client, window) is one row of ``rate_counts``; workers add what they
admitted with an upsert that returns the new totals (chaincut.access.rate_limit).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite

from chaincut.store.tables import rate_counts

__all__ = ["RateCountRepository"]


class RateCountRepository:
    """Adds to the shared counts of one window and reads their totals back."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, window_start: int, increments: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Add ``increments`` ((limit, client) -> requests) to ``window_start``'s counts; the new totals."""
        if not increments:
            return {}
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(rate_counts)
        upsert = stmt.on_conflict_do_update(
            index_elements=["limit_name", "client", "window_start"],
            set_={"count": rate_counts.c.count + stmt.excluded.count},
        ).returning(rate_counts.c.limit_name, rate_counts.c.client, rate_counts.c.count.label("total"))
        # In key order, so that two workers adding to the same clients lock their rows in the
        # same order (PostgreSQL) and never wait on each other in a cycle.
        rows = [
            {"limit_name": limit, "client": client, "window_start": window_start, "count": n}
            for (limit, client), n in sorted(increments.items())
        ]
        return {(r.limit_name, r.client): int(r.total) for r in self._conn.execute(upsert, rows)}

    def delete_before(self, window_start: int) -> int:
        """Forget the windows that began before ``window_start``."""
        result = self._conn.execute(delete(rate_counts).where(rate_counts.c.window_start < window_start))
        return int(result.rowcount)
