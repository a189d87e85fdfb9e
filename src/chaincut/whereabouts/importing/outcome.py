"""What an import run reports, and how it treats bad rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from chaincut.errors import FieldError, ImportRejected
from chaincut.whereabouts.importing.readers import RowError, total_size
from chaincut.whereabouts.importing.rejects import RejectsWriter

__all__ = ["ImportOptions", "ImportReport", "ImportRun", "RowTriage"]

Progress = Callable[[int, int], None]
MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class ImportOptions:
    """``abort`` (the default) stores nothing if any row is bad; ``skip`` stores the good rows.

    ``actor`` names who imports, in the record of an import of whereabouts.
    """

    on_error: Literal["abort", "skip"] = "abort"
    rejects: Path | None = None
    progress: Progress | None = None
    actor: str = "system"


@dataclass
class ImportReport:
    """How many rows were read, stored, rejected or already present.

    ``clipped`` counts the visits stored clipped to their venue type's longest believable
    stay. For visits and encounters, ``duplicates`` counts the rows skipped because a row
    with the same natural key was already stored or came earlier in the file, and
    ``import_id`` is the import's record (a file is imported once).
    """

    kind: str
    path: str
    read: int = 0
    stored: int = 0
    rejected: int = 0
    already_present: int = 0
    clipped: int = 0
    duplicates: int = 0
    import_id: int | None = None
    rejects_path: str | None = None
    notes: list[str] = field(default_factory=list)


class RowTriage:
    """Collects bad rows: aborts at the end (or early) in ``abort`` mode, writes rejects in ``skip``."""

    def __init__(self, path: Path, options: ImportOptions) -> None:
        self._path = path
        self._options = options
        self.errors: list[FieldError] = []
        self.total = 0
        self._rejects: RejectsWriter | None = None
        if options.on_error == "skip" and options.rejects is not None:
            self._rejects = RejectsWriter(options.rejects)
            self._rejects.__enter__()

    def __call__(self, error: RowError) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(FieldError(error.field, error.message, line=error.line))
        if self._rejects is not None:
            self._rejects.write(error)
        if self._options.on_error == "abort" and self.total >= MAX_REPORTED_ERRORS:
            self.raise_if_any()

    def raise_if_any(self) -> None:
        """In abort mode, refuse the whole file if any row was bad."""
        if self._options.on_error == "abort" and self.total:
            self.close()
            raise ImportRejected(str(self._path), self.errors, self.total)

    def close(self) -> None:
        if self._rejects is not None:
            self._rejects.__exit__(None, None, None)
            self._rejects = None


class ImportRun:
    """One import of one file: its report, its triage of bad rows and its progress."""

    def __init__(self, kind: str, path: Path, options: ImportOptions) -> None:
        rejects = str(options.rejects) if options.rejects else None
        self.report = ImportReport(kind=kind, path=str(path), rejects_path=rejects)
        self.triage = RowTriage(path, options)
        self._options = options
        self._size = total_size(path)

    def broken(self, error: RowError) -> None:
        """A line that cannot be split into fields: read all the same, and refused."""
        self.report.read += 1
        self.triage(error)

    def read(self, rows: int, bytes_read: int) -> None:
        self.report.read += rows
        if self._options.progress:
            self._options.progress(bytes_read, self._size)

    def __enter__(self) -> ImportRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.triage.close()
        self.report.rejected = self.triage.total
