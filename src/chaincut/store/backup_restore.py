"""Restoring a backup into an empty store, all or nothing, on either backend.

Every SQL row goes in one transaction (COPY on PostgreSQL) and archive rows into
staged segments; both are committed only after the backup's last chunk has been
authenticated, so a wrong passphrase, a damaged file or any error leaves the
target as it was. The target must be at the backup's schema revision and hold
nothing but what its migrations seed. On PostgreSQL the id sequences are moved
past the restored ids, so later inserts get new ones.

The target keeps its own store id (made by its `chaincut db upgrade`, and its
archive stays bound to it): two live stores never share an id, or the original's
archive could be used with the copy's database unnoticed. The backup's store id is
kept as the target's ``restored_from``. Archive rows restored into SQL (a store
without the archive) go in as a bulk import does, each natural key once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import Connection, Table, and_, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from chaincut.errors import BackupDamaged, Conflict, InvalidInput, StoreNotReady
from chaincut.store.archive import ArchiveWriter
from chaincut.store.backup_crypto import DecryptingReader, check_passphrase, open_backup
from chaincut.store.backup_format import (
    ARCHIVE_KINDS,
    ARCHIVE_SECTIONS,
    BATCH,
    END,
    MANIFEST,
    SECTION_END,
    SECTION_START,
    ArchiveKind,
    BackupSummary,
    Progress,
    decode_batch,
    read_frame,
    read_json,
    silent,
)
from chaincut.store.database import Database
from chaincut.store.identity import record_restored_from
from chaincut.store.migrate import current_revision, head_revision, upgrade
from chaincut.store.tables import metadata
from chaincut.store.tables_store import store_identity
from chaincut.store.unit_of_work import BulkSink, Store, sql_bulk_sink

__all__ = ["restore_backup"]


def restore_backup(
    store: Store, path: Path, passphrase: str, *, progress: Progress | None = None
) -> BackupSummary:
    """Restore the backup at ``path`` into ``store``, which must be empty and at the backup's revision."""
    passphrase = check_passphrase(passphrase)
    with open(path, "rb") as raw:
        reader = open_backup(raw, passphrase)
        revision = reader.header.revision
        current, head = current_revision(store.db), head_revision()
        if revision != head:
            raise StoreNotReady(
                f"the backup is of schema revision {revision} but this chaincut stores revision {head}: "
                "restore it with the chaincut version that wrote it, then run `chaincut db upgrade`"
            )
        if current != revision:
            raise StoreNotReady(
                f"the backup is of schema revision {revision} but the target {store.db.backend} store is at "
                f"{current or 'no schema'}: restore it into an empty store migrated to revision {revision}"
            )
        return _Restore(store, reader, progress or silent).run()


def _rows(conn: Connection, table: Table, *, limit: int | None = None) -> list[tuple[Any, ...]]:
    statement = select(table).order_by(*table.primary_key.columns).limit(limit)
    return [tuple(row) for row in conn.execute(statement)]


def _seeded_rows(revision: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows that migrating an empty database to ``revision`` leaves (the audit chain's genesis head).

    Found by migrating a scratch SQLite database, so that seeds added by later
    migrations count as "empty" without changes here.
    """
    with tempfile.TemporaryDirectory(prefix="chaincut-seed-") as folder:
        scratch = Database(f"sqlite:///{Path(folder) / 'seed.sqlite3'}")
        try:
            upgrade(scratch, revision)
            with scratch.read() as conn:
                found = {table.name: _rows(conn, table) for table in metadata.sorted_tables}
        finally:
            scratch.dispose()
    return {name: rows for name, rows in found.items() if rows}


class _Target(Protocol):
    def write(self, rows: pa.Table) -> None: ...

    def finish(self) -> None: ...


class _Restore:
    """One restore: reads sections from the backup and writes them in one transaction."""

    def __init__(self, store: Store, reader: DecryptingReader, progress: Progress) -> None:
        self._store = store
        self._reader = reader
        self._progress = progress
        self._writers: dict[str, ArchiveWriter] = {}
        self._seeded = _seeded_rows(reader.header.revision)
        self._driver_error: type[Exception] = store.db.engine.dialect.loaded_dbapi.Error

    def run(self) -> BackupSummary:
        kind, payload = read_frame(self._reader)
        if kind != MANIFEST:
            raise BackupDamaged("backup content is malformed (no manifest)")
        manifest = read_json(payload)
        try:
            total = sum(int(s["rows"]) for s in manifest["sections"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupDamaged("backup content is malformed (the manifest)") from exc
        try:
            with self._store.db.write() as conn:
                self._check_empty(conn)
                tables, rows, archive_rows = self._sections(conn, total)
                self._reader.finish()
            # The SQL rows are committed: publish the archive's staged segments beside them.
            for writer in self._writers.values():
                writer.commit()
        except BaseException:
            for writer in self._writers.values():
                writer.abort()
            raise
        revision = self._reader.header.revision
        return BackupSummary(revision, tables, rows, archive_rows, self._reader.bytes_read)

    def _check_empty(self, conn: Connection) -> None:
        """Refuse unless every table holds only what migrating an empty database leaves in it."""
        for table in metadata.sorted_tables:
            if table is store_identity:  # every store's own: a new id each time
                continue
            seed = self._seeded.get(table.name, [])
            if _rows(conn, table, limit=len(seed) + 1) != seed:
                raise Conflict(
                    f"the target store is not empty (table {table.name} holds rows): restore needs a "
                    "freshly migrated, empty store (run `chaincut db upgrade`, then restore first)"
                )
        archive = self._store.archive
        for kind in ARCHIVE_KINDS:
            if archive is not None and archive.count(kind):
                raise Conflict(
                    f"the target store is not empty (its archive holds {kind}): "
                    "restore needs a freshly migrated, empty store"
                )

    def _sections(self, conn: Connection, total: int) -> tuple[int, int, int]:
        tables = rows = archive_rows = 0
        seen: set[tuple[str, str]] = set()
        while True:
            kind, payload = read_frame(self._reader)
            if kind == END:
                end = read_json(payload)
                if end.get("rows") != rows or end.get("sections") != len(seen):
                    raise BackupDamaged("backup content is malformed (its totals do not match)")
                return tables, rows, archive_rows
            if kind != SECTION_START:
                raise BackupDamaged("backup content is malformed (a section does not start)")
            start = read_json(payload)
            name, source, columns = start.get("name"), start.get("source"), start.get("columns")
            if (name, source) in seen or not isinstance(columns, list):
                raise BackupDamaged("backup content is malformed (a section is repeated or has no columns)")
            seen.add((str(name), str(source)))
            target = self._target(conn, str(name), str(source), [str(c) for c in columns])
            count = self._copy_section(str(name), target, [str(c) for c in columns], rows, total)
            rows += count
            if source == "table":
                tables += 1
            else:
                archive_rows += count

    def _target(self, conn: Connection, name: str, source: str, columns: list[str]) -> _Target:
        if source == "table" and name == store_identity.name:
            return _ProvenanceTarget(conn, columns)
        if source == "table" and name in metadata.tables:
            table = metadata.tables[name]
            if not set(columns) <= set(table.columns.keys()):
                raise InvalidInput(
                    f"the backup's table {name} has columns this store lacks", code="backup_mismatch"
                )
            if name in self._seeded:
                # The backup holds this table's rows as the source had them (seed included).
                conn.execute(delete(table))
            return _SqlTarget(conn, table, columns)
        if source == "archive" and name in ARCHIVE_SECTIONS:
            schema, table = ARCHIVE_SECTIONS[name]
            if columns != schema.names:
                raise BackupDamaged(f"backup content is malformed (the archive's {name} columns)")
            archive = self._store.archive
            kind: ArchiveKind = "visits" if name == "visits" else "encounters"
            if archive is None:
                return _BulkTarget(sql_bulk_sink(conn, kind))
            writer = archive.writer(kind)
            self._writers[name] = writer
            return _ArchiveTarget(writer)
        raise InvalidInput(
            f"the backup holds {source} {name}, which this chaincut does not know", code="backup_mismatch"
        )

    def _copy_section(self, name: str, target: _Target, columns: list[str], before: int, total: int) -> int:
        rows = 0
        while True:
            kind, payload = read_frame(self._reader)
            if kind == SECTION_END:
                if read_json(payload).get("rows") != rows:
                    raise BackupDamaged(f"backup content is malformed (section {name} lost rows)")
                target.finish()
                return rows
            if kind != BATCH:
                raise BackupDamaged(f"backup content is malformed (section {name} does not end)")
            batch = decode_batch(payload, columns)
            try:
                target.write(batch)
            except (DBAPIError, self._driver_error) as exc:
                # The driver's message may quote stored values: name the table and the error kind only.
                raise InvalidInput(
                    f"the backup's rows do not fit table {name} ({type(getattr(exc, 'orig', exc)).__name__})",
                    code="backup_mismatch",
                ) from None
            rows += batch.num_rows
            self._progress(name, before + rows, total)


class _ProvenanceTarget:
    """The backup's store identity: not restored (the target keeps its own id), kept as ``restored_from``."""

    def __init__(self, conn: Connection, columns: list[str]) -> None:
        if "store_id" not in columns:
            raise BackupDamaged("backup content is malformed (the store identity has no store id)")
        self._conn = conn

    def write(self, rows: pa.Table) -> None:
        for source_id in rows["store_id"].to_pylist():
            record_restored_from(self._conn, str(source_id))

    def finish(self) -> None:
        pass


class _BulkTarget:
    """Archive rows into the SQL tables of a store without the archive, as a bulk import puts them."""

    def __init__(self, sink: BulkSink) -> None:
        self._sink = sink

    def write(self, rows: pa.Table) -> None:
        self._sink.write(rows)

    def finish(self) -> None:
        pass


class _ArchiveTarget:
    """Archive rows into the target's archive, staged until the restore commits."""

    def __init__(self, writer: ArchiveWriter) -> None:
        self._writer = writer

    def write(self, rows: pa.Table) -> None:
        self._writer.write(rows)

    def finish(self) -> None:
        pass


class _SqlTarget:
    """Rows into one SQL table inside the restore's transaction (COPY on PostgreSQL).

    A nullable column referring to its own table (a case's linked case) is filled
    in after the whole table, so a row may refer to one that comes after it.
    """

    def __init__(self, conn: Connection, table: Table, columns: list[str]) -> None:
        self._conn = conn
        self._table = table
        self._columns = columns
        self._postgres = conn.dialect.name != "sqlite"
        self._self_refs = [
            fk.parent.name
            for fk in table.foreign_keys
            if fk.column.table is table and fk.parent.nullable and fk.parent.name in columns
        ]
        self._key = [c.name for c in table.primary_key.columns]
        self._deferred: list[tuple[dict[str, Any], str, Any]] = []

    def write(self, rows: pa.Table) -> None:
        records = rows.to_pylist()
        for record in records:
            for column in self._self_refs:
                if record[column] is not None:
                    self._deferred.append(({k: record[k] for k in self._key}, column, record[column]))
                    record[column] = None
        if self._postgres:
            self._copy(records)
        else:
            self._conn.execute(self._table.insert(), records)

    def _copy(self, records: list[dict[str, Any]]) -> None:
        raw = self._conn.connection.driver_connection
        assert raw is not None
        quote = self._conn.dialect.identifier_preparer.quote
        target = f"{quote(self._table.name)} ({', '.join(quote(c) for c in self._columns)})"
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for record in records:
                copy.write_row([record[c] for c in self._columns])

    def finish(self) -> None:
        table = self._table
        for key, column, value in self._deferred:
            where = and_(*(table.c[k] == v for k, v in key.items()))
            self._conn.execute(update(table).where(where).values({column: value}))
        self._deferred.clear()
        if self._postgres:
            self._reset_sequence()

    def _reset_sequence(self) -> None:
        """Move the id sequence past the restored ids, so the next insert gets a new one."""
        column = self._table.autoincrement_column
        if column is None:
            return
        quote = self._conn.dialect.identifier_preparer.quote
        name, col = quote(self._table.name), quote(column.name)
        self._conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE((SELECT MAX({col}) FROM {name}), 0) + 1, false)"
            ),
            {"table": name, "column": column.name},
        )
