"""Requests per client in one-minute windows, counted by every server worker together.

Each (limit, client, window) is one row of ``rate_counts``; workers add what they
admitted with an upsert that returns the new totals (chaincut.access.rate_limit).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, delete, text
from sqlalchemy.dialects import sqlite

from chaincut.store.tables import rate_counts

__all__ = ["WINDOW_SECONDS", "RateCountRepository"]

WINDOW_SECONDS = 60  # a window starts at a multiple of this many seconds of the Clock

_ADD_ARRAYS = text(
    "INSERT INTO rate_counts (limit_name, client, window_start, count) "
    "SELECT u.limit_name, u.client, :window_start, u.n FROM unnest("
    "CAST(:limits AS varchar[]), CAST(:clients AS varchar[]), CAST(:counts AS integer[])"
    ") AS u(limit_name, client, n) ORDER BY u.limit_name, u.client "
    "ON CONFLICT (limit_name, client, window_start) DO UPDATE SET count = rate_counts.count + excluded.count "
    "RETURNING limit_name, client, count AS total"
)


class RateCountRepository:
    """Adds to the shared counts of one window and reads their totals back."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, window_start: int, increments: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Add ``increments`` ((limit, client) -> requests) to ``window_start``'s counts; the new totals."""
        if not increments:
            return {}
        # In key order, so that two workers adding to the same clients lock their rows in the
        # same order (PostgreSQL) and never wait on each other in a cycle.
        items = sorted(increments.items())
        if self._conn.dialect.name == "postgresql":
            # One statement over three arrays: a fifth of the client's time of a row per parameter set.
            found = self._conn.execute(
                _ADD_ARRAYS,
                {
                    "window_start": window_start,
                    "limits": [limit for (limit, _client), _n in items],
                    "clients": [client for (_limit, client), _n in items],
                    "counts": [n for _key, n in items],
                },
            )
        else:
            stmt = sqlite.insert(rate_counts)
            upsert = stmt.on_conflict_do_update(
                index_elements=["limit_name", "client", "window_start"],
                set_={"count": rate_counts.c.count + stmt.excluded.count},
            ).returning(rate_counts.c.limit_name, rate_counts.c.client, rate_counts.c.count.label("total"))
            rows = [
                {"limit_name": limit, "client": client, "window_start": window_start, "count": n}
                for (limit, client), n in items
            ]
            found = self._conn.execute(upsert, rows)
        return {(r.limit_name, r.client): int(r.total) for r in found}

    def delete_before(self, window_start: int) -> int:
        """Forget the windows that began before ``window_start``."""
        result = self._conn.execute(delete(rate_counts).where(rate_counts.c.window_start < window_start))
        return int(result.rowcount)
