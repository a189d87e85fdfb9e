"""Sets of integers as sorted NumPy arrays: distinct values, their positions and membership, and
orders by several keys.

NumPy 2.4's ``np.unique`` and ``np.isin`` hash, and on millions of int64 ids they run 15 times
slower than a sort; clusters and chains use these instead. ``np.lexsort`` sorts once per key;
:func:`order_by` packs small keys into one integer first, so three keys cost about one sort.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["counted", "isin", "order_by", "unique", "unique_all"]

_ROOM = 2**62  # a packed word's values stay below this, so nothing overflows int64


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


def order_by(*keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Positions that sort by the first key, then the second, and so on; ties keep their order.

    The same order as ``np.lexsort(keys[::-1])``, in fewer passes: consecutive keys whose value
    ranges multiply to less than 2**62 are packed into one int64 word (each key shifted to start
    at 0), and the words are sorted instead. Keys of signed integers are packed; any other key
    (unsigned, floating, boolean) makes it ``np.lexsort`` itself.
    """
    if not keys or len(keys[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    if any(key.dtype.kind != "i" for key in keys):  # unsigned, float, bool: NumPy's own, unpacked
        fallback: npt.NDArray[np.int64] = np.lexsort(keys[::-1]).astype(np.int64)
        return fallback
    words: list[npt.NDArray[np.int64]] = []
    word: npt.NDArray[np.int64] | None = None
    span = 1
    for key in keys:
        low, high = int(key.min()), int(key.max())
        width = high - low + 1
        if width >= _ROOM:  # too wide to shift safely: a word of its own, as it is
            if word is not None:
                words.append(word)
            words.append(key.astype(np.int64, copy=False))
            word, span = None, 1
            continue
        shifted = key.astype(np.int64) - low
        if word is not None and span * width < _ROOM:
            word = word * width + shifted
            span *= width
        else:
            if word is not None:
                words.append(word)
            word, span = shifted, width
    if word is not None:
        words.append(word)
    if len(words) == 1:
        return np.argsort(words[0], kind="stable").astype(np.int64)
    out: npt.NDArray[np.int64] = np.lexsort(words[::-1]).astype(np.int64)
    return out


def counted(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted distinct values and how many times each occurs (one sort, no positions kept)."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered))).astype(np.int64)
