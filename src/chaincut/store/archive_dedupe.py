"""Finding the rows an archive import staged that the archive would hold twice.

A row is a duplicate when its natural key (``natural_keys``) came earlier in the
same import, or is already held by a committed segment. The writer remembers each
staged batch's key hashes (8 bytes a row, sorted per batch, cut by their top bits
so that merging them needs little more memory); at commit, under the archive's
lock, the sorted hashes show the keys staged twice, and one streaming pass over
the committed rows of the staged time range (the key's instant: row groups outside
it are skipped by their statistics) shows the keys already held. Only rows whose
hashes meet are then compared by their exact keys. An import with no duplicate,
the usual case, costs the hashing and one sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from numpy.typing import NDArray

from chaincut.store.natural_keys import (
    KEY_COLUMNS,
    TIME_COLUMN,
    U64,
    contains_sorted,
    key_columns,
    key_hashes,
    repeated,
)

__all__ = ["SortedHashes", "StagedKeys", "find_duplicates"]

Mask = NDArray[np.bool_]


_BUCKETS = 16
_BOUNDS = np.arange(1, _BUCKETS, dtype=np.uint64) << np.uint64(60)  # by a hash's top 4 bits


class SortedHashes:
    """Key hashes, sorted, in 16 arrays by their top 4 bits (so that merging them holds 1/16 more)."""

    def __init__(self, buckets: list[U64]) -> None:
        self._buckets = buckets

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets)

    def repeated(self) -> U64:
        """The hashes that occur more than once."""
        parts = [np.unique(b[1:][b[1:] == b[:-1]]) for b in self._buckets]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)

    def contains(self, values: U64) -> Mask:
        """Which ``values`` are among the hashes."""
        out = np.zeros(len(values), dtype=bool)
        bucket = np.searchsorted(_BOUNDS, values, side="right")
        for index, hashes in enumerate(self._buckets):
            mine = bucket == index
            if mine.any():
                out[mine] = contains_sorted(values[mine], hashes)
        return out


class StagedKeys:
    """The key hashes and the time range of the rows an archive writer has staged.

    Each batch's hashes are sorted and cut by their top bits; ``take_sorted`` merges
    them one cut at a time. They take 8 bytes a staged row until the commit.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._parts: list[list[U64]] = [[] for _ in range(_BUCKETS)]
        self.low: int | None = None
        self.high: int | None = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        columns = key_columns(self.kind, table)
        hashes = key_hashes(columns)
        hashes.sort()
        for parts, part in zip(self._parts, np.split(hashes, np.searchsorted(hashes, _BOUNDS)), strict=True):
            parts.append(part.copy())  # a copy, so that the batch's array goes
        time = columns[KEY_COLUMNS[self.kind].index(TIME_COLUMN[self.kind])]
        low, high = int(time.min()), int(time.max())
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def take_sorted(self) -> SortedHashes:
        """Every staged row's key hash, sorted; the writer lets its own copies go."""
        buckets = []
        for index, parts in enumerate(self._parts):
            merged = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
            self._parts[index] = []
            # Sorted runs, one per batch: the stable sort (a merge sort) mostly merges them, in place.
            merged.sort(kind="stable")
            buckets.append(merged)
        return SortedHashes(buckets)


def find_duplicates(
    kind: str, staged: Sequence[Path], keys: StagedKeys, held: Sequence[Path]
) -> list[Mask | None]:
    """For each staged file, the rows to drop (None: keep them all); ``held`` are the committed files.

    Of the rows sharing a key, a committed one is kept before any staged one, and
    staged ones in the order they were written.
    """
    hashes = keys.take_sorted()
    if not len(hashes) or keys.low is None or keys.high is None:
        return [None] * len(staged)
    twice = hashes.repeated()
    held_keys = _held_keys(kind, held, hashes, keys.low, keys.high)
    suspects = np.unique(np.concatenate([twice, key_hashes(held_keys)]))
    if not len(suspects):
        return [None] * len(staged)

    names = list(KEY_COLUMNS[kind])
    parts: list[list[NDArray[np.int64]]] = [held_keys]
    ranks = [np.zeros(len(held_keys[0]), dtype=np.int64)]
    where: list[tuple[NDArray[np.int64], int]] = []
    offset = 0
    for path in staged:
        columns = key_columns(kind, pq.read_table(path, columns=names))
        rows = len(columns[0])
        positions = np.flatnonzero(contains_sorted(key_hashes(columns), suspects))
        parts.append([c[positions] for c in columns])
        ranks.append(offset + positions + 1)
        where.append((positions, rows))
        offset += rows
    merged = [np.concatenate([part[i] for part in parts]) for i in range(len(names))]
    again = repeated(merged, np.concatenate(ranks))[len(ranks[0]) :]

    masks: list[Mask | None] = []
    start = 0
    for positions, rows in where:
        mine = again[start : start + len(positions)]
        start += len(positions)
        if not mine.any():
            masks.append(None)
            continue
        mask = np.zeros(rows, dtype=bool)
        mask[positions[mine]] = True
        masks.append(mask)
    return masks


def _held_keys(
    kind: str, held: Sequence[Path], hashes: SortedHashes, low: int, high: int
) -> list[NDArray[np.int64]]:
    """The keys of committed rows in [low, high] whose hashes are among ``hashes``, streamed."""
    names = list(KEY_COLUMNS[kind])
    found: list[list[NDArray[np.int64]]] = []
    if held:
        time = pc.field(TIME_COLUMN[kind])
        dataset = ds.dataset([str(p) for p in held], format="parquet")
        for batch in dataset.to_batches(
            columns=names, filter=(time >= low) & (time <= high), batch_size=1 << 20
        ):
            columns = key_columns(kind, batch)
            hit = hashes.contains(key_hashes(columns))
            if hit.any():
                found.append([c[hit] for c in columns])
    if not found:
        return [np.zeros(0, dtype=np.int64) for _ in names]
    return [np.concatenate([part[i] for part in found]) for i in range(len(names))]
