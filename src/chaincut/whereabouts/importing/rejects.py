"""Write the rows an import refused to a rejects file, for the data owner to fix and resend.

The rejects file is CSV with the columns ``line,field,reason,row``: the line number in
the imported file, the field at fault (empty when the whole row is), why it was refused,
and the row as the data owner wrote it. Rows are written as they are refused, never held
in memory, so a city-sized import with millions of rejects stays within bounds.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import TextIO

from chaincut.whereabouts.importing.readers import RowError

__all__ = ["REJECTS_COLUMNS", "RejectsWriter"]

REJECTS_COLUMNS = ("line", "field", "reason", "row")


class RejectsWriter:
    """Streams refused rows to a CSV rejects file; use as a context manager.

    ``write`` takes a ``RowError`` and fits ``read_rows(..., broken=rejects.write)``.
    ``count`` tells how many rows were written so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None

    def __enter__(self) -> RejectsWriter:
        self._file = self.path.open("w", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=REJECTS_COLUMNS)
        self._writer.writeheader()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, error: RowError) -> None:
        """Add one refused row to the rejects file."""
        if self._writer is None:
            raise RuntimeError("RejectsWriter used outside its 'with' block")
        self._writer.writerow(
            {
                "line": error.line,
                "field": error.field or "",
                "reason": error.message,
                "row": error.raw or "",
            }
        )
        self.count += 1

    def close(self) -> None:
        """Flush and close the rejects file (the 'with' block does it)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None
