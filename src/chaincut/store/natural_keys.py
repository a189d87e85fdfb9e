"""When two visits or two encounters are the same one, so that the store holds each once.

A visit's natural key is (person, venue, entered_at); an encounter's is its
unordered pair of people, its start and its end. Encounters are stored with the
pair in order (``person_a < person_b``), so the key is plain columns everywhere:
a unique index in SQL (on bulk visits, those without a client id: check-ins and
uploads are idempotent by their client id), and in the Parquet archive the
duplicate search of ``archive_dedupe``. The first row stored under a key is kept.

The search hashes each key to 64 bits (a cheap first pass over millions of rows)
and decides only rows whose hashes meet by their exact keys, so a hash collision
costs a little time and never a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

__all__ = [
    "KEY_COLUMNS",
    "TIME_COLUMN",
    "U64",
    "Kind",
    "canonical",
    "contains_sorted",
    "insert_once",
    "key_columns",
    "key_hashes",
    "repeated",
]

Kind = Literal["visits", "encounters"]
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "visits": ("person_id", "venue_id", "entered_at"),
    "encounters": ("person_a", "person_b", "start_at", "end_at"),
}
# The key's instant: rows with the same key start at the same time, so a search can keep to a range.
TIME_COLUMN: dict[str, str] = {"visits": "entered_at", "encounters": "start_at"}

U64 = NDArray[np.uint64]
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(29)


def canonical(kind: str, table: pa.Table) -> pa.Table:
    """The rows as stored: an encounter's pair in order (the smaller person id first)."""
    if kind != "encounters" or table.num_rows == 0:
        return table
    a, b = table["person_a"], table["person_b"]
    names = table.column_names
    table = table.set_column(names.index("person_a"), "person_a", pc.min_element_wise(a, b))
    return table.set_column(names.index("person_b"), "person_b", pc.max_element_wise(a, b))


def key_columns(kind: str, table: pa.Table | pa.RecordBatch) -> list[NDArray[np.int64]]:
    """The key's columns as int64 arrays (an encounter's pair put in order, for rows stored before)."""
    columns = [np.asarray(table.column(name).to_numpy(), dtype=np.int64) for name in KEY_COLUMNS[kind]]
    if kind == "encounters":
        a, b = columns[0], columns[1]
        columns[0], columns[1] = np.minimum(a, b), np.maximum(a, b)
    return columns


def key_hashes(columns: Sequence[NDArray[np.int64]]) -> U64:
    """A 64-bit hash of each row's key: each column mixed in by a multiply and a shift."""
    n = len(columns[0]) if columns else 0
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            h ^= column.view(np.uint64)
            h *= _MULTIPLIER
            h ^= h >> _SHIFT
        h *= _MULTIPLIER
        h ^= h >> _SHIFT
    return h


def contains_sorted(values: U64, sorted_set: U64) -> NDArray[np.bool_]:
    """Which ``values`` are in ``sorted_set`` (sorted ascending)."""
    if not len(sorted_set) or not len(values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[at] == values)


def repeated(columns: Sequence[NDArray[np.int64]], rank: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which rows repeat the exact key of a row of lower ``rank`` (the first of each key is kept)."""
    n = len(rank)
    if n < 2:
        return np.zeros(n, dtype=bool)
    order = np.lexsort((rank, *reversed(columns)))
    same = np.ones(n - 1, dtype=bool)
    for column in columns:
        ordered = column[order]
        same &= ordered[1:] == ordered[:-1]
    out = np.zeros(n, dtype=bool)
    out[order[1:]] = same
    return out


def insert_once(conn: Connection, table: Table) -> Insert:
    """An INSERT that skips rows a unique index already holds (ON CONFLICT DO NOTHING)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
