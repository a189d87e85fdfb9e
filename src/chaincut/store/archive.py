"""The embedded default's columnar archive of bulk whereabouts: Parquet segments.

Why: a city's check-ins (10M a day) arrive in bulk files. SQLite with its
indexes takes about 60,000 rows/s; appending Parquet takes millions, and
columnar scans (DuckDB, pyarrow, later Spark) read them far faster than row
lookups. Visits and encounters imported in bulk therefore live here, while
check-ins and uploads that arrive one at a time stay in SQL.

Each kind ("visits", "encounters") is a folder of immutable segment files and
a ``manifest.json`` naming the committed ones. A commit writes new segments,
then replaces the manifest atomically (write, fsync, rename) under a file
lock, so an import is all-or-nothing and readers never see half of one.
Instants are int64 seconds since the Unix epoch, UTC, as in SQL.

Each row is held once under its natural key (``natural_keys``): a commit drops
the staged rows that repeat a key staged before them or already committed
(``archive_dedupe``), under the same lock. The manifest also names the store
the archive belongs to (``store_id``, the database's id: ``identity``); an
archive of another store is never written.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from chaincut.errors import ConfigurationError
from chaincut.store.archive_dedupe import StagedKeys, find_duplicates
from chaincut.store.natural_keys import KEY_COLUMNS, canonical

log = logging.getLogger("chaincut.archive")

__all__ = ["ENCOUNTER_SCHEMA", "VISIT_SCHEMA", "ArchiveWriter", "Kind", "ParquetArchive", "Segment"]

Kind = Literal["visits", "encounters"]

VISIT_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("venue_id", pa.int64()),
        ("entered_at", pa.int64()),
        ("left_at", pa.int64()),
        ("left_inferred", pa.bool_()),
        ("source", pa.int8()),
        # The stay was clipped to the venue type's longest believable stay. Segments written
        # before this column existed lack it: they read as not clipped (see _filled).
        ("clipped", pa.bool_()),
    ]
)
ENCOUNTER_SCHEMA = pa.schema(
    [
        ("person_a", pa.int64()),
        ("person_b", pa.int64()),
        ("start_at", pa.int64()),
        ("end_at", pa.int64()),
    ]
)
_SCHEMAS: dict[str, pa.Schema] = {"visits": VISIT_SCHEMA, "encounters": ENCOUNTER_SCHEMA}
# Columns added after segments were first written, and what an older segment's rows hold in them.
_ADDED: dict[str, dict[str, pa.Scalar]] = {"visits": {"clipped": pa.scalar(False)}, "encounters": {}}
_KINDS: tuple[Kind, ...] = ("visits", "encounters")
_END_COLUMN = {"visits": "left_at", "encounters": "end_at"}
_ROWS_PER_SEGMENT = 16_000_000


@dataclass(frozen=True)
class Segment:
    """One committed Parquet file and the range of end times it holds.

    A purge that deletes some of a segment's rows writes the rest to a new file and
    says so: ``rewritten_from`` names the file an import first wrote them to, and
    ``purged_before`` the cut-off, so the segment holds exactly that file's rows that
    ended at or after it. A reader holding the first file's rows (the server's
    tracing index) then knows what changed without reading the new file.
    """

    file: str
    rows: int
    min_end: int
    max_end: int
    rewritten_from: str | None = None
    purged_before: int | None = None

    @property
    def origin(self) -> str:
        """The file an import first wrote these rows to (this one, unless a purge rewrote it)."""
        return self.rewritten_from or self.file


class ParquetArchive:
    """Append-only Parquet segments per kind, committed through a manifest.

    ``store_id`` is the id of the store whose database this archive goes with: every
    manifest written names it, and a manifest naming another store is never written
    over. Without one (tools reading an archive), manifests keep the id they hold.
    """

    def __init__(self, root: Path, store_id: str | None = None) -> None:
        self.root = root
        self.store_id = store_id

    def _dir(self, kind: Kind) -> Path:
        path = self.root / kind
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def _locked(self, kind: Kind) -> Iterator[Path]:
        folder = self._dir(kind)
        with open(folder / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _manifest(self, kind: Kind) -> tuple[list[Segment], str | None]:
        """The committed segments of ``kind`` and the store id the manifest names (None: none yet)."""
        manifest = self._dir(kind) / "manifest.json"
        if not manifest.exists():
            return [], None
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return [Segment(**s) for s in data["segments"]], data.get("store_id")

    def segments(self, kind: Kind) -> list[Segment]:
        return self._manifest(kind)[0]

    def store_ids(self) -> dict[Kind, str | None]:
        """The store id each kind's manifest names (None where there is no manifest or no id yet)."""
        return {kind: self._manifest(kind)[1] for kind in _KINDS}

    def bind(self, store_id: str) -> None:
        """Name ``store_id`` in every kind's manifest (made empty where there is none yet).

        Refuses (ConfigurationError) an archive that already names another store.
        """
        for kind in _KINDS:
            with self._locked(kind) as folder:
                segments, found = self._manifest(kind)
                if found is not None and found != store_id:
                    raise ConfigurationError(
                        f"the whereabouts archive in {self.root} belongs to store {found}, "
                        f"not to store {store_id}"
                    )
                if found is None:
                    self._write_manifest(folder, segments, store_id)
        self.store_id = store_id

    def _owner(self, found: str | None) -> str | None:
        """The store id to write into a manifest that names ``found``; refuses another store's."""
        if self.store_id is None:
            return found
        if found is not None and found != self.store_id:
            raise ConfigurationError(
                f"the whereabouts archive in {self.root} belongs to store {found}, not to store "
                f"{self.store_id}: nothing was written"
            )
        return self.store_id

    def paths(self, kind: Kind) -> list[Path]:
        folder = self._dir(kind)
        return [folder / s.file for s in self.segments(kind)]

    def count(self, kind: Kind) -> int:
        return sum(s.rows for s in self.segments(kind))

    def derived(self, kind: Kind) -> Path:
        """Where files derived from segments live (the tracing index's mapped runs), one folder
        per segment named by its file: when a purge or a dedupe removes a segment, its folder goes
        with it, so no row a purge removed stays on disk in another form."""
        return self.root / ".derived" / kind

    def _forget(self, kind: Kind, paths: Sequence[Path], kept: Sequence[Segment]) -> None:
        """Delete segment files a new manifest no longer names, and every derived folder but
        those of the segments ``kept`` (a write under way for one of those is cut short too: the
        purge wins, and the writer holds its run in memory instead)."""
        for path in paths:
            path.unlink(missing_ok=True)
        named = {segment.file for segment in kept}
        try:
            folders = list(self.derived(kind).iterdir())
        except FileNotFoundError:
            return
        for folder in folders:
            if folder.name not in named:
                shutil.rmtree(folder, onerror=_report_left)

    def _write_manifest(self, folder: Path, segments: list[Segment], store_id: str | None) -> None:
        # Fields left at None are left out: a manifest no purge has touched reads as before.
        described = [{k: v for k, v in asdict(s).items() if v is not None} for s in segments]
        content: dict[str, object] = {"segments": described}
        if store_id is not None:
            content["store_id"] = store_id
        tmp = folder / f".manifest-{uuid.uuid4().hex}.json"
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(content, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / "manifest.json")

    def writer(self, kind: Kind) -> ArchiveWriter:
        """A writer whose rows become visible only when it commits."""
        return ArchiveWriter(self, kind)

    def _commit(self, kind: Kind, staged: list[tuple[Path, Segment]], keys: StagedKeys) -> int:
        """Publish the staged segments but the rows the archive would hold twice; how many were dropped."""
        with self._locked(kind) as folder:
            current, found = self._manifest(kind)
            owner = self._owner(found)
            # A committed row shares a key with a staged one only if it starts at the same
            # instant, so it ends no earlier than the earliest staged start.
            low = keys.low if keys.low is not None else 0
            held = [folder / s.file for s in current if s.max_end >= low]
            masks = find_duplicates(kind, [path for path, _ in staged], keys, held)
            kept, dropped = _without(staged, masks, folder, _END_COLUMN[kind])
            for path, segment in kept:
                os.replace(path, folder / segment.file)
            self._write_manifest(folder, current + [s for _, s in kept], owner)
        return dropped

    def _chosen(self, kind: Kind, files: Sequence[str] | None) -> list[str]:
        if files is None:
            return [str(p) for p in self.paths(kind)]
        folder = self._dir(kind)
        return [str(folder / f) for f in files]

    def read(
        self, kind: Kind, filter_: pc.Expression | None = None, *, files: Sequence[str] | None = None
    ) -> pa.Table:
        """The committed rows matching ``filter_`` (use only for small selections).

        ``files`` limits the read to those segments (their ``file`` names in the manifest).
        """
        paths = self._chosen(kind, files)
        if not paths:
            return _SCHEMAS[kind].empty_table()
        return _filled(
            kind, ds.dataset(paths, schema=_SCHEMAS[kind], format="parquet").to_table(filter=filter_)
        )

    def scan(
        self,
        kind: Kind,
        columns: list[str],
        filter_: pc.Expression | None = None,
        *,
        files: Sequence[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream the committed rows' ``columns`` matching ``filter_``, batch by batch.

        ``files`` limits the scan to those segments (their ``file`` names in the manifest).
        """
        paths = self._chosen(kind, files)
        if not paths:
            return iter(())
        dataset = ds.dataset(paths, schema=_SCHEMAS[kind], format="parquet")
        batches = dataset.to_batches(columns=columns, filter=filter_, batch_size=1 << 20)
        if not any(c in _ADDED[kind] for c in columns):
            return iter(batches)
        return (_filled(kind, batch) for batch in batches)

    def drop_duplicates(self, kind: Kind) -> int:
        """Keep each natural key once across the committed segments (the first); how many rows went.

        For an archive written before imports kept keys once: `chaincut db upgrade` runs it
        when it first binds such an archive. It reads every segment's key columns.
        """
        with self._locked(kind) as folder:
            current, found = self._manifest(kind)
            owner = self._owner(found)
            keys = StagedKeys(kind)
            paths = [folder / segment.file for segment in current]
            for path in paths:
                keys.add(pq.read_table(path, columns=list(KEY_COLUMNS[kind])))
            masks = find_duplicates(kind, paths, keys, [])
            if all(mask is None for mask in masks):
                return 0
            keep: list[Segment] = []
            dropped: list[Path] = []
            deleted = 0
            for segment, path, mask in zip(current, paths, masks, strict=True):
                if mask is None:
                    keep.append(segment)
                    continue
                dropped.append(path)
                deleted += int(mask.sum())
                kept = pq.read_table(path).filter(pa.array(~mask))
                if kept.num_rows:
                    name = f"seg-{uuid.uuid4().hex}.parquet"
                    pq.write_table(kept, folder / name, compression="zstd")
                    keep.append(_describe(name, kept, _END_COLUMN[kind]))
            self._write_manifest(folder, keep, owner)
            self._forget(kind, dropped, keep)
        return deleted

    def purge(self, kind: Kind, cutoff: int) -> int:
        """Delete rows that ended before ``cutoff``; returns how many were deleted.

        A segment wholly before the cut-off is dropped; one that straddles it is
        rewritten to a new file that records where its rows came from and the cut-off
        (``Segment.rewritten_from``, ``Segment.purged_before``).
        """
        end = _END_COLUMN[kind]
        deleted = 0
        with self._locked(kind) as folder:
            current, found = self._manifest(kind)
            owner = self._owner(found)
            keep: list[Segment] = []
            dropped: list[Path] = []
            for segment in current:
                path = folder / segment.file
                if segment.min_end >= cutoff:
                    keep.append(segment)
                    continue
                dropped.append(path)
                if segment.max_end < cutoff:
                    deleted += segment.rows
                    continue
                table = pq.read_table(path)
                kept = table.filter(pc.greater_equal(table[end], cutoff))
                deleted += segment.rows - kept.num_rows
                if kept.num_rows:
                    name = f"seg-{uuid.uuid4().hex}.parquet"
                    pq.write_table(kept, folder / name, compression="zstd")
                    described = _describe(name, kept, end)
                    keep.append(
                        dataclasses.replace(
                            described,
                            rewritten_from=segment.origin,
                            purged_before=max(cutoff, segment.purged_before or cutoff),
                        )
                    )
            self._write_manifest(folder, keep, owner)
            self._forget(kind, dropped, keep)
        return deleted


_Rows = TypeVar("_Rows", pa.Table, pa.RecordBatch)


def _report_left(
    function: object, path: str, failure: tuple[type[BaseException], BaseException, object]
) -> None:
    if not isinstance(failure[1], FileNotFoundError):  # gone meanwhile is what was wanted
        log.error("a purge could not remove %s, derived from purged whereabouts: %s", path, failure[1])


def _filled(kind: Kind, rows: _Rows) -> _Rows:
    """Rows with the value an older segment's rows hold in each column added since (nulls read)."""
    for name, value in _ADDED[kind].items():
        at = rows.schema.get_field_index(name)
        if at >= 0 and rows.column(at).null_count:
            rows = rows.set_column(at, name, pc.fill_null(rows.column(at), value))
    return rows


def _describe(name: str, table: pa.Table, end: str) -> Segment:
    bounds = pc.min_max(table[end])
    return Segment(name, table.num_rows, int(bounds["min"].as_py()), int(bounds["max"].as_py()))


def _without(
    staged: list[tuple[Path, Segment]], masks: list[np.ndarray | None], folder: Path, end: str
) -> tuple[list[tuple[Path, Segment]], int]:
    """The staged segments with the masked rows taken out (rewritten, or gone when emptied)."""
    kept: list[tuple[Path, Segment]] = []
    written: list[Path] = []
    dropped = 0
    try:
        for (path, segment), mask in zip(staged, masks, strict=True):
            if mask is None:
                kept.append((path, segment))
                continue
            dropped += int(mask.sum())
            remaining = pq.read_table(path).filter(pa.array(~mask))
            if remaining.num_rows:
                rewritten = folder / f".staging-{uuid.uuid4().hex}.parquet"
                written.append(rewritten)
                pq.write_table(remaining, rewritten, compression="zstd")
                kept.append((rewritten, _describe(segment.file, remaining, end)))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for (path, _), mask in zip(staged, masks, strict=True):
        if mask is not None:
            path.unlink(missing_ok=True)
    return kept, dropped


class ArchiveWriter:
    """Streams batches into staged segments; ``commit`` publishes them all at once.

    An encounter's pair is stored in order; rows whose natural key is staged twice or
    already committed are dropped at commit (``duplicates`` says how many).
    """

    def __init__(self, archive: ParquetArchive, kind: Kind) -> None:
        self._archive = archive
        self._kind = kind
        self._schema = _SCHEMAS[kind]
        self._end = _END_COLUMN[kind]
        self._folder = archive._dir(kind)
        self._staged: list[tuple[Path, Segment]] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = 0
        self._min = 0
        self._max = 0
        self._keys = StagedKeys(kind)
        self.rows_written = 0
        self.duplicates = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = canonical(self._kind, table.select(self._schema.names).cast(self._schema))
        self._keys.add(table)
        if self._writer is None:
            self._path = self._folder / f".staging-{uuid.uuid4().hex}.parquet"
            self._writer = pq.ParquetWriter(self._path, self._schema, compression="zstd")
            self._rows, self._min, self._max = 0, 2**62, -(2**62)
        self._writer.write_table(table)
        bounds = pc.min_max(table[self._end])
        self._min = min(self._min, int(bounds["min"].as_py()))
        self._max = max(self._max, int(bounds["max"].as_py()))
        self._rows += table.num_rows
        self.rows_written += table.num_rows
        if self._rows >= _ROWS_PER_SEGMENT:
            self._close_segment()

    def _close_segment(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        name = f"seg-{uuid.uuid4().hex}.parquet"
        self._staged.append((self._path, Segment(name, self._rows, self._min, self._max)))
        self._writer, self._path = None, None

    def commit(self) -> int:
        """Publish everything written but duplicates; returns the number of rows stored."""
        self._close_segment()
        if self._staged:
            self.duplicates = self._archive._commit(self._kind, self._staged, self._keys)
        self._staged = []
        return self.rows_written - self.duplicates

    def abort(self) -> None:
        """Throw away everything written: nothing becomes visible."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
        for path, _ in self._staged:
            path.unlink(missing_ok=True)
        self._staged = []

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.abort()
