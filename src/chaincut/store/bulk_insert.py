"""Rows by the hundred thousand into one table through the driver's ``executemany``.

For derived rows written by the million (a cluster run's members, a chains run's inferred
infectors): plain tuples in chunks, with no SQLAlchemy statement compiled per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["insert_rows"]

_CHUNK = 100_000


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``table``, a chunk at a time."""
    for name in columns:
        table.c[name]  # an unknown column fails here, by name, before any row goes in
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            conn.exec_driver_sql(sql, chunk)
            chunk = []
    if chunk:
        conn.exec_driver_sql(sql, chunk)
