"""Sets of integers as sorted NumPy arrays: distinct values, their positions and membership.

NumPy 2.4's ``np.unique`` and ``np.isin`` hash, and on millions of int64 ids they run 15 times
slower than a sort; clusters and chains use these instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["isin", "unique", "unique_all"]


def unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values (a sort: NumPy 2.4's hash-based ``np.unique`` is 15x slower here)."""
    ordered = np.sort(values)
    out: npt.NDArray[np.int64] = (
        ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered
    )
    return out


def unique_all(
    values: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted distinct values, each value's position among them, their counts and first positions."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = (
        np.concatenate(([True], ordered[1:] != ordered[:-1])) if len(ordered) else np.zeros(0, dtype=np.bool_)
    )
    starts = np.flatnonzero(first)
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    counts = np.diff(np.append(starts, len(values))).astype(np.int64)
    return ordered[starts], inverse, counts, order[starts].astype(np.int64)


def isin(values: npt.NDArray[np.int64], wanted: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which values are among ``wanted`` (a sorted search; ``np.isin`` hashes, slowly)."""
    table = unique(wanted)
    if not len(table):
        return np.zeros(len(values), dtype=np.bool_)
    at = np.minimum(np.searchsorted(table, values), len(table) - 1)
    out: npt.NDArray[np.bool_] = table[at] == values
    return out
