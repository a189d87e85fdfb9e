"""The readers' common vocabulary: line numbers, broken-row reports and file-level errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chaincut.errors import InvalidInput

__all__ = [
    "BrokenRowHandler",
    "ImportFileError",
    "LineNumbers",
    "RowError",
    "check_columns",
]

LineNumbers = npt.NDArray[np.int64]


class ImportFileError(InvalidInput):
    """An import file cannot be used at all: unreadable, empty, unknown kind, missing columns."""

    code = "invalid_import_file"

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path.name if self.line is None else f"{self.path.name}, line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RowError:
    """One row of an import file that cannot be used, and why."""

    line: int
    field: str | None
    message: str
    raw: str | None


BrokenRowHandler = Callable[[RowError], None]


def check_columns(path: Path, required: Sequence[str], found: Sequence[str], what: str) -> None:
    """Refuse a file whose header (or first object) lacks a required column."""
    missing = [name for name in required if name not in found]
    if missing:
        listed = ", ".join(found) if found else "none"
        raise ImportFileError(f"missing required {what}: {', '.join(missing)} (found: {listed})", path=path)
