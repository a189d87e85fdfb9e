"""The server's in-memory index of the archive, kept current while traces go on.

A server traces single cases from memory in milliseconds, but the archive changes
under it: an import appends segments, and the maintenance purge (every 300 s by
default) rewrites or drops the oldest ones. Reloading the whole index on each change
took 109 s at Hong Kong scale (140M visits) inside the next trace, holding twice the
index's memory. Here the index is kept in *runs*, one per segment of the archive,
and every trace reads an immutable :class:`IndexSnapshot` of them:

* A segment an import appended is read into a run of its own by a background
  thread. Until it is, traces stream that segment alone (:class:`ArchiveScanSource`
  over its file), so they see the new whereabouts at once and never wait for them.
* A segment a purge rewrote names the file it was cut from and the cut-off
  (``Segment.rewritten_from``, ``Segment.purged_before``). Its run stays, and rows
  that ended before the cut-off are filtered out of every answer; once they are a
  quarter of the run, the background thread drops them from a copy of that run.
* A segment that left the manifest otherwise (a purge emptied it; the archive was
  replaced) loses its run at once; the segments that replace it are streamed until
  read, as appended ones are. No change ever rebuilds the index as a whole.

A trace reads the two manifests (small JSON files) and, when they changed, swaps in
the snapshot that follows from them: the lock covers that read and the swap, never
a segment. In-flight traces keep the snapshot they started with. Memory: a run holds
24 bytes a visit and 40 an encounter (:class:`IndexSize`); reading or compacting one
needs memory for one segment's run besides, never a second copy of the index.

*Mapped* (a server's default): each run is also written, once, as files in the segment's
folder under ``ParquetArchive.derived`` (their format: :mod:`chaincut.tracing.run_files`),
and every process maps those files instead of holding its own copy, so server workers
share one copy in the page cache.
The first process to need a segment writes it (to a staging folder, renamed whole);
the others map it. Files hold no row a purge removed: a run with any is compacted at
once, a segment's folder goes with the segment, and stray folders are swept.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chaincut.store import ParquetArchive
from chaincut.store.archive import Kind, Segment
from chaincut.tracing.columns import (
    I64,
    EncounterArrays,
    VisitArrays,
    contains,
    expand_ranges,
    sorted_unique,
)
from chaincut.tracing.run_files import map_run, save_run, sync_folder
from chaincut.tracing.store_sources import ArchiveScanSource

__all__ = ["IndexSize", "IndexSnapshot", "ResidentIndex"]

log = logging.getLogger("chaincut.tracing_index")

I32 = NDArray[np.int32]
_SHIFT = np.int64(32)
_SPAN = np.int64((1 << 32) - 1)
_KINDS: tuple[Kind, Kind] = ("visits", "encounters")
_VISIT_COLUMNS = ["person_id", "venue_id", "entered_at", "left_at", "clipped"]
# Rows a purge removed stay in their run, filtered out of each answer (a comparison on
# the rows found), until they are this share of it; then a copy without them replaces it.
_COMPACT_SHARE = 0.25
# A mapped run is written to a staging folder, then renamed; one left behind (a crash) goes
# after an hour (a write takes seconds, even at 10M visits).
_STAGING = ".staging-"
_STAGING_SECONDS = 3600


def _row_type(rows: int) -> type[np.signedinteger[Any]]:
    return np.int32 if rows < 2**31 else np.int64


def _order(values: I32) -> NDArray[Any]:
    return np.argsort(values, kind="stable").astype(_row_type(len(values)))


def _nbytes(run: _VisitRun | _EncounterRun) -> int:
    arrays = (getattr(run, f.name) for f in fields(run))
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


def _covers(purged_before: int | None, segment: Segment) -> bool:
    """Whether rows read under the cut-off ``purged_before`` hold all of ``segment``'s (same origin)."""
    if purged_before is None:
        return True
    return segment.purged_before is not None and segment.purged_before >= purged_before


def _ranges(ordered: NDArray[Any], wanted: NDArray[Any]) -> tuple[I64, I64]:
    lo = np.searchsorted(ordered, wanted, side="left").astype(np.int64)
    hi = np.searchsorted(ordered, wanted, side="right").astype(np.int64)
    return lo, hi


def _kept_order(order: NDArray[Any], keep: NDArray[np.bool_]) -> NDArray[Any]:
    """A sort order over the rows ``keep`` marks, renumbered as those rows are (order kept)."""
    renumber: NDArray[Any] = np.cumsum(keep, dtype=order.dtype) - 1
    kept: NDArray[Any] = renumber[order[keep[order]]]
    return kept


@dataclass(frozen=True, eq=False)
class _VisitRun:
    """One segment's visits, sorted by venue and entry time, and by person.

    Per visit: one int64 key (venue, and seconds from the run's first entry), the
    person and the stay's length as int32, and the person order as two int32
    columns; 24 bytes. The few visits whose stay was clipped to the venue type's
    longest believable stay are a sorted list of their rows (8 bytes each).
    """

    keys: I64
    person: I32
    stay: I32
    person_order: NDArray[Any]
    person_sorted: I32
    longest: I64  # by venue id: the longest stay there, how far back a search by entry must look
    clipped: I64  # the rows (in key order) of the visits whose stay was clipped, sorted
    base: int
    purged_before: int | None  # the cut-off the rows were read under (None: all of the origin's)

    @classmethod
    def read(cls, batches: Iterable[pa.RecordBatch], purged_before: int | None) -> _VisitRun:
        persons, venues, entries, stays, flags = [], [], [], [], []
        for batch in batches:
            entered = batch.column("entered_at").to_numpy()
            persons.append(batch.column("person_id").to_numpy().astype(np.int32))
            venues.append(batch.column("venue_id").to_numpy())
            entries.append(entered)
            stays.append((batch.column("left_at").to_numpy() - entered).astype(np.int32))
            flags.append(batch.column("clipped").to_numpy(zero_copy_only=False))
        if not persons:
            persons, stays = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
            venues, entries = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
            flags = [np.zeros(0, bool)]
        entered = np.concatenate(entries)
        del entries
        base = int(entered.min()) if len(entered) else 0
        keys = (np.concatenate(venues).astype(np.int64) << _SHIFT) | (entered - base)
        del venues, entered
        order = np.argsort(keys)
        keys = keys[order]
        person = np.concatenate(persons)[order]
        stay = np.concatenate(stays)[order]
        clipped = np.flatnonzero(np.concatenate(flags)[order]).astype(np.int64)
        del order, persons, stays, flags
        return cls._of(keys, person, stay, _order(person), clipped, base, purged_before)

    @classmethod
    def _of(
        cls,
        keys: I64,
        person: I32,
        stay: I32,
        person_order: NDArray[Any],
        clipped: I64,
        base: int,
        purged_before: int | None,
    ) -> _VisitRun:
        venue = keys >> _SHIFT
        longest = np.zeros(int(venue[-1]) + 1 if len(venue) else 0, dtype=np.int64)
        if len(venue):
            starts = np.flatnonzero(np.r_[True, venue[1:] != venue[:-1]])
            longest[venue[starts]] = np.maximum.reduceat(stay, starts)
        return cls(
            keys, person, stay, person_order, person[person_order], longest, clipped, base, purged_before
        )

    def __len__(self) -> int:
        return len(self.keys)

    def _visits(self, rows: I64) -> VisitArrays:
        keys = self.keys[rows]
        entered = (keys & _SPAN) + self.base
        clipped = contains(self.clipped, rows) if len(self.clipped) else np.zeros(len(rows), dtype=bool)
        return VisitArrays(
            self.person[rows].astype(np.int64), keys >> _SHIFT, entered, entered + self.stay[rows], clipped
        )

    def visits_of(self, people: I32, start: int, end: int) -> VisitArrays:
        # ``people`` is int32, the column's own type: an int64 needle would make NumPy
        # convert the whole column on every call.
        lo, hi = _ranges(self.person_sorted, people)
        found = self._visits(self.person_order[expand_ranges(lo, hi)[1]].astype(np.int64))
        return found.take((found.left >= start) & (found.entered <= end))

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        if not len(self.keys):
            return VisitArrays.empty()
        inside = venue < len(self.longest)
        longest = np.zeros(len(venue), dtype=np.int64)
        longest[inside] = self.longest[venue[inside]]
        low = (venue << _SHIFT) | np.clip(start - longest - self.base, 0, _SPAN)
        high = (venue << _SHIFT) | np.clip(end - self.base, 0, _SPAN)
        lo = np.searchsorted(self.keys, low, side="left").astype(np.int64)
        hi = np.searchsorted(self.keys, high, side="right").astype(np.int64)
        return self._visits(sorted_unique(expand_ranges(lo, hi)[1]))

    def without_ended_before(self, cutoff: int) -> _VisitRun:
        """A copy without the visits that ended before ``cutoff`` (both orders kept, nothing sorted)."""
        keep = (self.keys & _SPAN) + self.base + self.stay >= cutoff
        order = _kept_order(self.person_order, keep)
        renumber = np.cumsum(keep, dtype=np.int64) - 1
        clipped = renumber[self.clipped[keep[self.clipped]]]
        return self._of(
            self.keys[keep], self.person[keep], self.stay[keep], order, clipped, self.base, cutoff
        )


@dataclass(frozen=True, eq=False)
class _EncounterRun:
    """One segment's encounters, ordered by each of the two people: 40 bytes an encounter."""

    person_a: I32
    person_b: I32
    start: I64
    end: I64
    a_order: NDArray[Any]
    b_order: NDArray[Any]
    a_sorted: I32
    b_sorted: I32
    purged_before: int | None

    @classmethod
    def read(cls, table: pa.Table, purged_before: int | None) -> _EncounterRun:
        person_a = table["person_a"].to_numpy().astype(np.int32)
        person_b = table["person_b"].to_numpy().astype(np.int32)
        start, end = table["start_at"].to_numpy(), table["end_at"].to_numpy()
        return cls._of(person_a, person_b, start, end, _order(person_a), _order(person_b), purged_before)

    @classmethod
    def _of(
        cls,
        person_a: I32,
        person_b: I32,
        start: I64,
        end: I64,
        a_order: NDArray[Any],
        b_order: NDArray[Any],
        purged_before: int | None,
    ) -> _EncounterRun:
        return cls(
            person_a,
            person_b,
            start,
            end,
            a_order,
            b_order,
            person_a[a_order],
            person_b[b_order],
            purged_before,
        )

    def __len__(self) -> int:
        return len(self.start)

    def encounters_of(self, people: I32, start: int, end: int) -> EncounterArrays:
        rows = [
            order[expand_ranges(*_ranges(ordered, people))[1]].astype(np.int64)
            for order, ordered in ((self.a_order, self.a_sorted), (self.b_order, self.b_sorted))
        ]
        row = sorted_unique(np.concatenate(rows))
        keep = row[(self.end[row] >= start) & (self.start[row] <= end)]
        return EncounterArrays(
            self.person_a[keep].astype(np.int64),
            self.person_b[keep].astype(np.int64),
            self.start[keep],
            self.end[keep],
        )

    def without_ended_before(self, cutoff: int) -> _EncounterRun:
        """A copy without the encounters that ended before ``cutoff``."""
        keep = self.end >= cutoff
        a_order, b_order = _kept_order(self.a_order, keep), _kept_order(self.b_order, keep)
        return self._of(
            self.person_a[keep],
            self.person_b[keep],
            self.start[keep],
            self.end[keep],
            a_order,
            b_order,
            cutoff,
        )


_Run = _VisitRun | _EncounterRun


@dataclass(frozen=True)
class _Entry:
    """A segment as the index holds it: the manifest's entry, and its run (None: not read yet)."""

    segment: Segment
    run: _Run | None

    @property
    def filter_from(self) -> int | None:
        """The cut-off answers from the run must still apply (None: none)."""
        cutoff = self.segment.purged_before
        if self.run is None or cutoff is None or self.run.purged_before == cutoff:
            return None
        return cutoff

    @property
    def purged_rows(self) -> int:
        """Rows the run holds that a purge has since removed from the segment."""
        return 0 if self.run is None else len(self.run) - self.segment.rows


@dataclass(frozen=True)
class IndexSize:
    """What the index holds in memory, and how many segments it still streams."""

    visits: int
    visit_bytes: int
    encounters: int
    encounter_bytes: int
    purged_rows: int  # held but filtered out, until their run is compacted
    unread_segments: int


Manifests = Mapping[Kind, tuple[Segment, ...]]


class IndexSnapshot:
    """The archive's whereabouts as the index held them at one moment (a whereabouts source).

    Answers come from the runs in memory (filtered by any cut-off a purge applied
    since they were read) and from streaming the segments not read yet.
    """

    def __init__(
        self, archive: ParquetArchive, manifests: Manifests, entries: Mapping[Kind, Mapping[str, _Entry]]
    ):
        self._archive = archive
        self.manifests = manifests
        self._entries = entries
        self._visit_runs = [
            (e.run, e.filter_from) for e in entries["visits"].values() if isinstance(e.run, _VisitRun)
        ]
        self._encounter_runs = [
            (e.run, e.filter_from) for e in entries["encounters"].values() if isinstance(e.run, _EncounterRun)
        ]
        unread = {kind: [e.segment.file for e in entries[kind].values() if e.run is None] for kind in _KINDS}
        self._unread = ArchiveScanSource(archive, unread) if any(unread.values()) else None

    @classmethod
    def empty(cls, archive: ParquetArchive) -> IndexSnapshot:
        return cls(archive, {kind: () for kind in _KINDS}, {kind: {} for kind in _KINDS})

    def following(self, manifests: Manifests) -> IndexSnapshot:
        """The snapshot for the archive's new ``manifests``, keeping every run that still serves.

        A run serves the segment of the same origin when it holds all of that
        segment's rows (a purge only ever removes rows); otherwise, and for a new
        origin, the segment is streamed until read.
        """
        entries: dict[Kind, dict[str, _Entry]] = {}
        for kind in _KINDS:
            held, kept = self._entries[kind], {}
            for segment in manifests[kind]:
                before = held.get(segment.origin)
                run = before.run if before is not None else None
                if run is not None and not _covers(run.purged_before, segment):
                    run = None
                kept[segment.origin] = _Entry(segment, run)
            entries[kind] = kept
        return IndexSnapshot(self._archive, manifests, entries)

    def with_run(self, kind: Kind, origin: str, run: _Run, replacing: _Run | None) -> IndexSnapshot:
        """This snapshot with ``run`` holding ``origin``'s rows, if it still holds ``replacing`` there."""
        entry = self._entries[kind].get(origin)
        if entry is None or entry.run is not replacing or not _covers(run.purged_before, entry.segment):
            return self
        entries = {**self._entries, kind: {**self._entries[kind], origin: _Entry(entry.segment, run)}}
        return IndexSnapshot(self._archive, self.manifests, entries)

    def entry(self, kind: Kind, origin: str) -> _Entry | None:
        return self._entries[kind].get(origin)

    def next_job(self, compact_share: float = _COMPACT_SHARE) -> tuple[Kind, str, _Entry] | None:
        """A segment to read, else a run holding more than ``compact_share`` purged rows, else None."""
        for kind in _KINDS:
            for origin, entry in self._entries[kind].items():
                if entry.run is None:
                    return kind, origin, entry
        for kind in _KINDS:
            for origin, entry in self._entries[kind].items():
                if entry.run is not None and entry.purged_rows > compact_share * len(entry.run):
                    return kind, origin, entry
        return None

    def size(self) -> IndexSize:
        runs = [e for kind in _KINDS for e in self._entries[kind].values()]
        return IndexSize(
            visits=sum(len(r) for r, _ in self._visit_runs),
            visit_bytes=sum(_nbytes(r) for r, _ in self._visit_runs),
            encounters=sum(len(r) for r, _ in self._encounter_runs),
            encounter_bytes=sum(_nbytes(r) for r, _ in self._encounter_runs),
            purged_rows=sum(e.purged_rows for e in runs),
            unread_segments=sum(e.run is None for e in runs),
        )

    # --- the whereabouts source -----------------------------------------------------------

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        people = sorted_unique(persons).astype(np.int32)
        parts = []
        for run, cutoff in self._visit_runs:
            found = run.visits_of(people, start, end)
            parts.append(found if cutoff is None else found.take(found.left >= cutoff))
        if self._unread is not None:
            parts.append(self._unread.visits_of(persons, start, end))
        return VisitArrays.concat(parts) if parts else VisitArrays.empty()

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        if not len(venue):
            return VisitArrays.empty()
        parts = []
        for run, cutoff in self._visit_runs:
            found = run.visits_near(venue, start, end)
            parts.append(found if cutoff is None else found.take(found.left >= cutoff))
        if self._unread is not None:
            parts.append(self._unread.visits_near(venue, start, end))
        return VisitArrays.concat(parts) if parts else VisitArrays.empty()

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        people = sorted_unique(persons).astype(np.int32)
        parts = []
        for run, cutoff in self._encounter_runs:
            found = run.encounters_of(people, start, end)
            parts.append(found if cutoff is None else _encounters_from(found, cutoff))
        if self._unread is not None:
            parts.append(self._unread.encounters_of(persons, start, end))
        return EncounterArrays.concat(parts) if parts else EncounterArrays.empty()

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        empty = np.zeros(0, dtype=np.int64)  # households are in SQL
        return empty, empty


def _encounters_from(found: EncounterArrays, cutoff: int) -> EncounterArrays:
    keep = found.end >= cutoff
    return EncounterArrays(found.person_a[keep], found.person_b[keep], found.start[keep], found.end[keep])


class ResidentIndex:
    """The archive held in memory for a long-running process, following its changes.

    :meth:`snapshot` is what a trace calls: it never reads a segment. Segments are
    read, and runs compacted, by :meth:`catch_up`, on a background thread started
    when a snapshot has work for it, or in the caller's thread (``warm_up``).
    """

    def __init__(self, archive: ParquetArchive, *, mapped: bool = False) -> None:
        self._archive = archive
        self._mapped = mapped
        # Mapped runs are files: rows a purge removed are compacted away at once, not kept on disk.
        self._compact_share = 0.0 if mapped else _COMPACT_SHARE
        self._snapshot = IndexSnapshot.empty(archive)
        self._swap = threading.Lock()  # held to read the manifests and swap, never to read a segment
        self._building = threading.Lock()  # one reader of segments at a time
        self._worker = threading.Lock()
        self._worker_running = False
        self._more_work = False
        self.segments_read = 0  # how many segment files were read into runs (tests, benchmarks)
        self.runs_compacted = 0
        self.runs_mapped = 0  # how many runs another process (or an earlier one) had written

    def _manifests(self) -> Manifests:
        return {kind: tuple(self._archive.segments(kind)) for kind in _KINDS}

    def snapshot(self) -> IndexSnapshot:
        """The index for the archive as its manifests are now; reads no segment, waits for none."""
        current = self._snapshot
        if current.manifests == self._manifests():
            return current
        with self._swap:
            # Read again under the lock, so that swaps follow the archive's commits in order.
            current = self._snapshot = self._snapshot.following(self._manifests())
        if current.next_job(self._compact_share) is not None:
            self._start_worker()
        return current

    def size(self) -> IndexSize:
        return self._snapshot.size()

    def catch_up(self) -> IndexSnapshot:
        """Read every segment not in memory yet and compact what purges left, in this thread.

        Traces go on meanwhile, on the snapshots this swaps in one segment at a time.
        """
        with self._building:
            tried: set[tuple[Kind, str, str, bool]] = set()
            while True:
                snapshot = self.snapshot()
                job = snapshot.next_job(self._compact_share)
                if job is None:
                    if self._mapped:
                        self._sweep()
                    return snapshot
                kind, origin, entry = job
                attempt = (kind, origin, entry.segment.file, entry.run is None)
                if attempt in tried:  # no progress: the next change of the archive retries
                    return snapshot
                tried.add(attempt)
                try:
                    run = self._run(kind, entry)
                except OSError:
                    if self.snapshot().entry(kind, origin) == entry:
                        raise  # the manifest names a file that cannot be read
                    continue  # a purge replaced the file meanwhile: the new manifest names the next
                with self._swap:
                    self._snapshot = self._snapshot.with_run(kind, origin, run, entry.run)
                del run
                pa.default_memory_pool().release_unused()  # what reading the segment held, given back

    def _run(self, kind: Kind, entry: _Entry) -> _Run:
        segment = entry.segment
        folder = self._archive.derived(kind) / segment.file
        if self._mapped:
            held = self._held(kind, segment, folder)
            if held is not None:
                self.runs_mapped += 1
                return held
        run: _Run
        if entry.run is not None:
            assert segment.purged_before is not None  # only a purge leaves rows to drop
            self.runs_compacted += 1
            run = entry.run.without_ended_before(segment.purged_before)
        elif kind == "visits":
            self.segments_read += 1
            batches = self._archive.scan("visits", _VISIT_COLUMNS, files=[segment.file])
            run = _VisitRun.read(batches, segment.purged_before)
        else:
            self.segments_read += 1
            table = self._archive.read("encounters", files=[segment.file])
            run = _EncounterRun.read(table, segment.purged_before)
        if not self._mapped:
            return run
        return self._written(kind, segment, run, folder)

    def _held(self, kind: Kind, segment: Segment, folder: Path) -> _Run | None:
        """The run another process (or an earlier one) wrote for ``segment``; None when there is
        none, or it is damaged (then removed, to be written again)."""
        if not folder.exists():
            return None
        try:  # a folder is renamed into place whole: any file missing from it is damage too
            run: _Run = map_run(_VisitRun, folder) if kind == "visits" else map_run(_EncounterRun, folder)
            if len(run) == segment.rows and run.purged_before == segment.purged_before:
                return run
            raise ValueError(f"{folder} holds {len(run):,} rows, its segment {segment.rows:,}")
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "the tracing index's files for %s are damaged, written again: %s", segment.file, error
            )
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def _written(self, kind: Kind, segment: Segment, run: _Run, folder: Path) -> _Run:
        """``run`` written to ``folder`` and mapped from there; when another process wrote it
        first, theirs; when it cannot be written (a full disk), ``run`` itself, held in memory."""
        staging = folder.with_name(f"{_STAGING}{uuid.uuid4().hex}")
        try:
            save_run(run, staging)
            os.rename(staging, folder)  # atomic: a folder is whole or absent
            sync_folder(folder.parent)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            theirs = self._held(kind, segment, folder)
            if theirs is not None:
                return theirs
            log.warning("the tracing index for %s is held in memory, not in files: %s", segment.file, error)
            return run
        mapped = self._held(kind, segment, folder)
        return run if mapped is None else mapped

    def _sweep(self) -> None:
        """Remove runs of segments the archive no longer holds, and abandoned stagings.

        A purge removes its segments' runs itself (``ParquetArchive.derived``); this catches
        a run written just as its segment was purged, and a crashed write. The folders are
        listed before the manifests are read, so a folder written meanwhile for a newer
        segment is never taken for a stale one.
        """
        for kind in _KINDS:
            try:
                folders = list(self._archive.derived(kind).iterdir())
            except FileNotFoundError:
                continue
            named = {segment.file for segment in self._archive.segments(kind)}
            for folder in folders:
                if folder.name.startswith(_STAGING):
                    try:
                        stale = time.time() - folder.stat().st_mtime > _STAGING_SECONDS
                    except FileNotFoundError:
                        continue
                else:
                    stale = folder.name not in named
                if stale:
                    shutil.rmtree(folder, ignore_errors=True)

    def _start_worker(self) -> None:
        with self._worker:
            self._more_work = True
            if self._worker_running:
                return
            self._worker_running = True
        threading.Thread(target=self._work, name="tracing-index", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._worker:
                if not self._more_work:
                    self._worker_running = False
                    return
                self._more_work = False
            try:
                self.catch_up()
            except Exception:  # traces keep streaming what is unread; the next change retries
                log.exception("reading the archive into the tracing index failed")
