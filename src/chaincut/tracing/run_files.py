"""A run of the tracing index as files that every process maps: the format, nothing more.

A run is a frozen dataclass of NumPy columns and a few numbers. ``save_run`` writes its
columns one after another in ``run.bin`` (each on a cache line) and, in ``run.json``, where
each lies and the numbers; both are flushed to disk. ``map_run`` maps ``run.bin`` once,
read-only, and gives the columns back as views of it. Which runs are written, when, and
what happens to them after a purge is :mod:`chaincut.tracing.archive_index`'s business.
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = ["map_run", "save_run", "sync_folder"]

_ALIGN = 64  # each column starts on a cache line
_T = TypeVar("_T")


def save_run(run: Any, folder: Path) -> None:
    """Write ``run`` into the new ``folder``: ``run.bin`` and ``run.json``, flushed to disk."""
    folder.mkdir(parents=True)
    numbers: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    with open(folder / "run.bin", "wb") as data:
        for f in fields(run):
            value = getattr(run, f.name)
            if not isinstance(value, np.ndarray):
                numbers[f.name] = value
                continue
            data.write(b"\0" * (-data.tell() % _ALIGN))
            columns[f.name] = {"dtype": value.dtype.str, "length": len(value), "offset": data.tell()}
            np.ascontiguousarray(value).tofile(data)
        data.flush()
        os.fsync(data.fileno())
    with open(folder / "run.json", "w") as described:
        json.dump({"numbers": numbers, "columns": columns}, described)
        described.flush()
        os.fsync(described.fileno())
    sync_folder(folder)


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (the names in it) to disk."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def map_run(cls: type[_T], folder: Path) -> _T:
    """The run of type ``cls`` that ``save_run`` wrote in ``folder``, its columns mapped read-only
    (one mapping, shared with every process) and advised for lookups at random: a trace looks
    up a few rows here and there, and without ``MADV_RANDOM`` the kernel reads ahead around each.

    Raises ValueError when the files do not hold what ``run.json`` says (a damaged write), and
    OSError or KeyError when a file, or an entry in ``run.json``, is missing.
    """
    described = json.loads((folder / "run.json").read_text())
    columns: dict[str, Any] = {}
    with open(folder / "run.bin", "rb") as data:
        size = os.fstat(data.fileno()).st_size
        mapped = mmap.mmap(data.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    if isinstance(mapped, mmap.mmap):
        mapped.madvise(mmap.MADV_RANDOM)
    for name, where in described["columns"].items():
        dtype = np.dtype(where["dtype"])
        if where["offset"] + where["length"] * dtype.itemsize > size:
            raise ValueError(f"{folder / 'run.bin'} is shorter than {folder / 'run.json'} says")
        columns[name] = np.frombuffer(mapped, dtype=dtype, count=where["length"], offset=where["offset"])
    return cls(**columns, **described["numbers"])
