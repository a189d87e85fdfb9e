"""The record of each bulk file of whereabouts imported, so that the same file is never stored twice.

A file is known by the SHA-256 of its bytes. Its record (kind, file name, counts of
rows read, stored, skipped as duplicates and rejected, when, by whom) is written in
the import's own transaction on PostgreSQL, and just after the archive publishes the
rows on the embedded default; the unique (kind, digest) makes a second import of the
file fail even when two run at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from chaincut.clock import from_epoch
from chaincut.errors import Conflict
from chaincut.store.natural_keys import insert_once
from chaincut.store.tables_store import imports

__all__ = ["ImportLedger", "ImportRecord", "NewImport", "already_imported"]


@dataclass
class NewImport:
    """An import under way: what is known before its rows are stored (the counts are filled in as it runs)."""

    kind: str
    digest: str
    file_name: str
    imported_at: int
    imported_by: str
    rows_read: int = 0
    rows_rejected: int = 0


@dataclass(frozen=True)
class ImportRecord:
    """A file imported: its id, digest and counts, when and by whom."""

    id: int
    kind: str
    digest: str
    file_name: str
    rows_read: int
    rows_stored: int
    rows_duplicate: int
    rows_rejected: int
    imported_at: datetime
    imported_by: str


def already_imported(record: ImportRecord) -> Conflict:
    """The refusal of a file imported before, naming that import."""
    when = record.imported_at.strftime("%Y-%m-%dT%H:%MZ")
    return Conflict(
        f"this {record.kind} file was already imported on {when} as import {record.id} "
        f"({record.rows_stored:,} rows stored); nothing was stored",
        field="file",
        code="already_imported",
    )


class ImportLedger:
    """Imports recorded in SQL."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def find(self, kind: str, digest: str) -> ImportRecord | None:
        """The earlier import of this kind of file with this digest, if any."""
        row = self._conn.execute(
            select(imports).where(imports.c.kind == kind, imports.c.digest == digest)
        ).one_or_none()
        return None if row is None else _record(row)

    def get(self, import_id: int) -> ImportRecord | None:
        row = self._conn.execute(select(imports).where(imports.c.id == import_id)).one_or_none()
        return None if row is None else _record(row)

    def record(self, entry: NewImport, *, stored: int, duplicates: int) -> ImportRecord:
        """Record a finished import; Conflict (``already_imported``) if the file was recorded first."""
        values = {
            "kind": entry.kind,
            "digest": entry.digest,
            "file_name": entry.file_name[:200],
            "rows_read": entry.rows_read,
            "rows_stored": stored,
            "rows_duplicate": duplicates,
            "rows_rejected": entry.rows_rejected,
            "imported_at": entry.imported_at,
            "imported_by": entry.imported_by[:80],
        }
        new_id = self._conn.execute(insert_once(self._conn, imports).values(values).returning(imports.c.id))
        found = new_id.scalar_one_or_none()
        if found is None:  # another import of this file committed first
            earlier = self.find(entry.kind, entry.digest)
            assert earlier is not None
            raise already_imported(earlier)
        record = self.get(int(found))
        assert record is not None
        return record


def _record(r: Row[Any]) -> ImportRecord:
    return ImportRecord(
        id=int(r.id),
        kind=r.kind,
        digest=r.digest,
        file_name=r.file_name,
        rows_read=int(r.rows_read),
        rows_stored=int(r.rows_stored),
        rows_duplicate=int(r.rows_duplicate),
        rows_rejected=int(r.rows_rejected),
        imported_at=from_epoch(int(r.imported_at)),
        imported_by=r.imported_by,
    )
