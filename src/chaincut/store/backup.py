"""Backing up the whole store into one encrypted file, and restoring it into an empty store.

A backup holds every table of ``tables.metadata`` in dependency order (so tables
added later are included without changes here), then the embedded default's
Parquet archive of visits and encounters; its manifest names the id of the store
it came from. Its content is backend-neutral
(``backup_format``): a backup of the embedded default restores into PostgreSQL
and back. Archive rows go to the target's archive, or to its SQL tables when it
has none. Sealed personal fields are copied sealed: the target needs the same
data keys to open them. The file is encrypted in authenticated chunks
(``backup_crypto``), and rows are streamed both ways, so memory stays bounded.

Restoring is in ``backup_restore``, re-exported here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Table, func, select

from chaincut.errors import Conflict, StoreNotReady
from chaincut.store.backup_crypto import EncryptingWriter, check_passphrase
from chaincut.store.backup_format import (
    ARCHIVE_KINDS,
    ARCHIVE_SECTIONS,
    BATCH,
    END,
    MANIFEST,
    SECTION_END,
    SECTION_START,
    BackupSummary,
    FrameSink,
    Progress,
    arrow_type,
    encode_batch,
    silent,
    write_frame,
    write_json,
)
from chaincut.store.backup_restore import restore_backup
from chaincut.store.database import Database
from chaincut.store.identity import read_store_id
from chaincut.store.migrate import current_revision
from chaincut.store.tables import metadata
from chaincut.store.unit_of_work import Store

__all__ = ["BackupSummary", "Progress", "restore_backup", "write_backup"]


_TABLE_BATCH_ROWS = 10_000
_ARCHIVE_BATCH_ROWS = 65_536


# --- backup -----------------------------------------------------------------------------------


def write_backup(
    store: Store,
    path: Path,
    passphrase: str,
    *,
    created_at: datetime,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> BackupSummary:
    """Write an encrypted backup of the whole store to ``path``; a failed backup leaves no file."""
    passphrase = check_passphrase(passphrase)
    if path.exists() and not overwrite:
        raise Conflict(f"{path} already exists: choose another file or allow overwriting it", field="out")
    revision = current_revision(store.db)
    if revision is None:
        raise StoreNotReady(f"the {store.db.backend} database has no chaincut schema: nothing to back up")
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as raw:
            out = EncryptingWriter(raw, passphrase, revision=revision, created_at=int(created_at.timestamp()))
            tables, rows, archive_rows = _dump(store, out, revision, progress or silent)
            out.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(revision, tables, rows, archive_rows, out.bytes_written)


@contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """One consistent read of every table (SQLite's WAL gives it to any read transaction)."""
    if db.is_sqlite:
        with db.read() as conn:
            yield conn
        return
    with db.engine.connect() as conn:
        snap = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with snap.begin():
            yield snap


def _dump(store: Store, out: FrameSink, revision: str, progress: Progress) -> tuple[int, int, int]:
    tables = list(metadata.sorted_tables)
    archive = store.archive
    with _snapshot(store.db) as conn:
        sections: list[dict[str, Any]] = []
        for table in tables:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            sections.append({"name": table.name, "source": "table", "rows": int(count)})
        if archive is not None:
            sections += [{"name": k, "source": "archive", "rows": archive.count(k)} for k in ARCHIVE_KINDS]
        ticker = _Ticker(progress, sum(int(s["rows"]) for s in sections))
        manifest = {
            "revision": revision,
            "backend": store.db.backend,
            "store_id": read_store_id(store.db),
            "sections": sections,
        }
        write_json(out, MANIFEST, manifest)
        for table in tables:
            _dump_table(conn, table, out, ticker)
        sql_rows = ticker.done
        if archive is not None:
            for kind in ARCHIVE_KINDS:
                names = ARCHIVE_SECTIONS[kind][0].names
                batches = (
                    batch.slice(offset, _ARCHIVE_BATCH_ROWS)
                    for batch in archive.scan(kind, names)
                    for offset in range(0, batch.num_rows, _ARCHIVE_BATCH_ROWS)
                )
                _dump_section(out, kind, "archive", names, batches, ticker)
    write_json(out, END, {"sections": len(sections), "rows": ticker.done})
    return len(tables), ticker.done, ticker.done - sql_rows


class _Ticker:
    """Counts rows across sections and reports them to the progress callback."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self.total = total
        self.done = 0

    def add(self, section: str, rows: int) -> None:
        self.done += rows
        self._progress(section, self.done, self.total)


def _dump_table(conn: Connection, table: Table, out: FrameSink, ticker: _Ticker) -> None:
    schema = pa.schema([(c.name, arrow_type(c)) for c in table.columns])
    statement = select(table).order_by(*table.primary_key.columns)
    result = conn.execution_options(stream_results=True, yield_per=_TABLE_BATCH_ROWS).execute(statement)
    batches = (
        pa.RecordBatch.from_arrays(
            [
                pa.array(values, type=field.type)
                for values, field in zip(zip(*part, strict=True), schema, strict=True)
            ],
            schema=schema,
        )
        for part in result.partitions()
    )
    _dump_section(out, table.name, "table", schema.names, batches, ticker)


def _dump_section(
    out: FrameSink,
    name: str,
    source: str,
    columns: list[str],
    batches: Iterator[pa.RecordBatch],
    ticker: _Ticker,
) -> None:
    write_json(out, SECTION_START, {"name": name, "source": source, "columns": columns})
    rows = 0
    for batch in batches:
        write_frame(out, BATCH, encode_batch(batch))
        rows += batch.num_rows
        ticker.add(name, batch.num_rows)
    write_json(out, SECTION_END, {"rows": rows})
