"""Named NumPy columns packed into one byte string, and back: for derived rows kept by the million.

A run of cluster inference (:mod:`chaincut.store.inferred_clusters`) keeps millions of evidence
rows that are only ever read a cluster at a time; one packed value per cluster (or per part of a
large one) goes in and out of the store in one statement, where a row each took most of a run.

The format is plain and deterministic (the same columns always pack to the same bytes, so a
digest tells whether a cluster's evidence changed): a little-endian ``u32`` header length, a JSON
header listing each column's name, NumPy dtype and length, then each column's bytes in turn.
Only integers, booleans and fixed-width text are allowed, so unpacking never runs code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from chaincut.errors import InvalidInput

__all__ = ["pack_columns", "unpack_columns"]

_LENGTH = struct.Struct("<I")
_KINDS = frozenset("iubU")  # signed and unsigned integers, booleans, fixed-width text


def pack_columns(columns: Mapping[str, npt.NDArray[np.generic]]) -> bytes:
    """The columns (one-dimensional arrays) as one byte string."""
    arrays = []
    header = []
    for name, column in columns.items():
        array = np.ascontiguousarray(column)
        if array.ndim != 1 or array.dtype.kind not in _KINDS:
            raise ValueError(f"column {name!r}: expected a one-dimensional integer, boolean or text array")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        header.append([name, array.dtype.str, len(array)])
        arrays.append(array.tobytes())
    head = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTH.pack(len(head)) + head + b"".join(arrays)


def unpack_columns(data: bytes) -> dict[str, npt.NDArray[np.generic]]:
    """The columns :func:`pack_columns` packed; damaged bytes are refused, never half-read."""
    try:
        (size,) = _LENGTH.unpack_from(data, 0)
        header = json.loads(data[_LENGTH.size : _LENGTH.size + size])
        at = _LENGTH.size + size
        out: dict[str, npt.NDArray[np.generic]] = {}
        for name, kind, length in header:
            dtype = np.dtype(kind)
            if dtype.kind not in _KINDS:
                raise ValueError(f"column {name!r} has dtype {kind}")
            end = at + dtype.itemsize * int(length)
            if end > len(data):
                raise ValueError(f"column {name!r} runs past the end")
            out[str(name)] = np.frombuffer(data, dtype=dtype, count=int(length), offset=at)
            at = end
        if at != len(data):
            raise ValueError(f"{len(data) - at} bytes after the last column")
    except (ValueError, TypeError, struct.error, json.JSONDecodeError) as exc:
        raise InvalidInput(f"packed columns are damaged: {exc}", code="packed_columns_damaged") from exc
    return out
