"""Bulk import of visits and encounters, vectorised end to end.

Rows are checked a whole batch at a time with Arrow and NumPy; Python only
touches a row to describe why it was refused. Persons and venues are referred
to by their external references, mapped to ids through an in-memory index.
A visit at a venue whose type the policy lacks is refused, naming the type; a
stay longer than its venue type's ``max_stay_minutes`` is clipped to it, marked
clipped, and counted in the report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chaincut.clock import Clock, to_epoch
from chaincut.domain import VisitSource
from chaincut.errors import UnknownVenueType
from chaincut.policy import Policy, VenueTypeRule
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA, Store
from chaincut.whereabouts.importing.ledger import new_import
from chaincut.whereabouts.importing.outcome import ImportOptions, ImportReport, ImportRun, RowTriage
from chaincut.whereabouts.importing.readers import RowBatch, RowError, read_rows
from chaincut.whereabouts.importing.timestamps import describe_instant_error, parse_instants

__all__ = ["import_encounters", "import_visits"]

Kind = Literal["visits", "encounters"]
_SOURCES = {s.value: s.code for s in VisitSource}
_FUTURE_TOLERANCE = timedelta(minutes=5)


class _RefIndex:
    """Maps external references to store ids for a whole batch at once.

    pyarrow's ``index_in`` builds a hash set of the value set on every call: for a
    city's 7.5M people that is 3 s per batch of a million visits, most of an import.
    Above ``_HASHED_FROM`` references the index is hashed once instead (a 64-bit hash
    of each reference, sorted), each batch is hashed the same way and looked up by
    binary search, and every hit is checked against the reference itself, so a
    collision can never map a row to the wrong person.
    """

    def __init__(self, table: pa.Table, extra: str | None = None) -> None:
        self.refs = table["ref"].combine_chunks()
        self.ids = table["id"].combine_chunks()
        self.extra = table[extra].combine_chunks() if extra else None
        self._hashes: np.ndarray | None = None
        self._order: np.ndarray | None = None
        self._last: tuple[pa.Array, np.ndarray] | None = None  # the last dictionary and its positions
        if len(self.refs) >= _HASHED_FROM:
            hashes = _hash_strings(self.refs)
            order = np.argsort(hashes)
            hashes = hashes[order]
            if not bool(np.any(hashes[1:] == hashes[:-1])):  # a collision inside: keep index_in
                self._hashes, self._order = hashes, order

    def positions(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Row positions in the index (-1 where the ref is unknown)."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            dict_pos = self._dictionary_positions(column.dictionary)
            if not len(dict_pos):  # an all-null column
                return np.full(len(column), -1, dtype=np.int64)
            null = column.indices.is_null().to_numpy(zero_copy_only=False)
            indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)  # (a null made floats)
            out = dict_pos[indices]
            out[null] = -1
            return np.asarray(out, dtype=np.int64)
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        if self._hashes is not None and self._order is not None and len(column):
            hashes = _hash_strings(column)
            needles = np.argsort(hashes)  # a binary search runs far faster on sorted needles
            at = np.empty(len(hashes), dtype=np.int64)
            at[needles] = np.searchsorted(self._hashes, hashes[needles])
            np.minimum(at, len(self._hashes) - 1, out=at)
            candidate = self._order[at]
            same = pc.equal(column, self.refs.take(pa.array(candidate))).fill_null(False)
            hit = (self._hashes[at] == hashes) & same.to_numpy(zero_copy_only=False)
            return np.where(hit, candidate, -1).astype(np.int64)
        found = pc.index_in(column, value_set=self.refs)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _dictionary_positions(self, dictionary: pa.Array) -> np.ndarray:
        """Positions of a batch's dictionary entries, reusing what the last batch's gave.

        Reading a Parquet file, pyarrow hands each batch the dictionary of everything
        read so far: the same one, or the last one with new entries appended (7.5M
        people's references by the end of a city's visits). Only new entries are looked up.
        """
        if self._last is not None:
            known, known_pos = self._last
            if len(dictionary) >= len(known) and dictionary.slice(0, len(known)).equals(known):
                tail = dictionary.slice(len(known))
                if not len(tail):
                    return known_pos
                dict_pos = np.concatenate([known_pos, self.positions(tail.cast(pa.string()))])
                self._last = (dictionary, dict_pos)
                return dict_pos
        dict_pos = self.positions(dictionary.cast(pa.string()))
        self._last = (dictionary, dict_pos)
        return dict_pos

    def take_ids(self, positions: np.ndarray) -> np.ndarray:
        ids = self.ids.to_numpy(zero_copy_only=False)
        if not len(ids):  # nothing registered yet: every reference is unknown
            return np.full(len(positions), -1, dtype=np.int64)
        return np.where(positions >= 0, ids[np.maximum(positions, 0)], -1)


_HASHED_FROM = 200_000
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _hash_strings(strings: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string (nulls hash as empty), computed 8 bytes at a time.

    The length goes in first and each 8-byte word of the string is mixed in; a string's
    hash depends on its bytes alone, not on the other strings of its array.
    """
    strings = strings.cast(pa.large_string()) if not pa.types.is_large_string(strings.type) else strings
    n = len(strings)
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[strings.offset : strings.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(1, np.uint8)
    if not len(data):
        data = np.zeros(1, np.uint8)
    lengths = offsets[1:] - offsets[:-1]
    if strings.null_count:
        lengths = np.where(strings.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    width = max(int(lengths.max()) if n else 0, 1)
    width = (width + 7) // 8 * 8
    with np.errstate(over="ignore"):
        h = np.full(n, _FNV_OFFSET, dtype=np.uint64) ^ lengths.astype(np.uint64)
        for word in range(width // 8):
            column = np.arange(word * 8, word * 8 + 8)
            inside = column[None, :] < lengths[:, None]
            where = np.minimum(offsets[:-1, None] + column[None, :], len(data) - 1)
            chunk = np.where(inside, data[where], 0).astype(np.uint8)
            value = np.ascontiguousarray(chunk).view(np.uint64).reshape(n)
            mixed = (h ^ value) * _FNV_PRIME
            mixed ^= mixed >> np.uint64(29)
            mixed *= _MIX
            # Only the words a string has: its hash must not depend on the longest in its array.
            h = np.where(word * 8 < lengths, mixed, h)
    return h


def _text(column: pa.Array | pa.ChunkedArray, i: int) -> str | None:
    value = column[i].as_py()
    return None if value is None else str(value)


def _good_rows(
    batch: RowBatch,
    reasons: list[tuple[np.ndarray, str, str | None]],
    triage: RowTriage,
) -> np.ndarray:
    """The mask of rows that pass every check; each other row is reported by its first failure."""
    bad = np.zeros(len(batch.lines), dtype=bool)
    for mask, _, _ in reasons:
        bad |= mask
    for i in np.flatnonzero(bad):
        for mask, field, message in reasons:
            if mask[i]:
                if message is None:
                    message = describe_instant_error(_text(batch.columns[field], int(i)))
                triage(RowError(int(batch.lines[i]), field, message, batch.raw_text(int(i))))
                break
    return ~bad


def _stream(
    store: Store,
    kind: Kind,
    path: Path,
    options: ImportOptions,
    required: list[str],
    optional: list[str],
    check: Callable[[RowBatch, RowTriage], pa.Table],
    clock: Clock,
) -> ImportReport:
    """Check and store the file's rows; a file imported before is refused first (``ledger``)."""
    record = new_import(store, kind, path, clock, options)
    with ImportRun(kind, path, options) as run:
        with store.bulk(kind, record) as sink:
            for batch in read_rows(path, required=required, optional=optional, broken=run.broken):
                table = check(batch, run.triage)
                run.triage.raise_if_any()  # in abort mode, at the first bad batch
                sink.write(table)
                run.read(len(batch.lines), batch.bytes_read)
                if "clipped" in table.column_names:
                    run.report.clipped += int(pc.sum(table["clipped"]).as_py() or 0)
            run.triage.raise_if_any()
            record.rows_read, record.rows_rejected = run.report.read, run.triage.total
        run.report.stored = sink.outcome.stored
        run.report.duplicates = sink.outcome.duplicates
        run.report.import_id = sink.outcome.import_id
    return run.report


def import_visits(
    store: Store, policy: Policy, clock: Clock, path: Path, options: ImportOptions
) -> ImportReport:
    """Load a visits file (person, venue, entered_at, left_at, optional source)."""
    with store.read() as uow:
        people = _RefIndex(uow.people.ref_index())
        venue_table = uow.venues.ref_index_with_types()
    venues = _RefIndex(venue_table, extra="venue_type")
    type_names = venues.extra.to_pylist() if venues.extra is not None else []
    # Each venue's type's stays, by the policy's one rule: a venue of a type the policy
    # lacks gets none, and its rows are refused naming the type (no stay is guessed).
    rules: dict[str, VenueTypeRule | None] = {}
    for name in set(type_names):
        try:
            rules[name] = policy.venue_rule(name)
        except UnknownVenueType:
            rules[name] = None
    type_code = {name: i for i, name in enumerate(sorted(rules))}
    venue_type = np.array([type_code[t] for t in type_names], dtype=np.int64)
    venue_stay = np.array([_minutes(rules[t], "default") * 60 for t in type_names], dtype=np.int64)
    venue_max_stay = np.array([_minutes(rules[t], "max") * 60 for t in type_names], dtype=np.int64)
    unknown_types = [(type_code[name], name) for name in sorted(rules) if rules[name] is None]
    now = to_epoch(clock.now())
    newest = now + int(_FUTURE_TOLERANCE.total_seconds())
    oldest = now - policy.retention.visits_days * 86400

    def check(batch: RowBatch, triage: RowTriage) -> pa.Table:
        cols = batch.columns
        n = len(batch.lines)
        person_pos = people.positions(cols["person"])
        venue_pos = venues.positions(cols["venue"])
        entered, entered_ok = parse_instants(cols["entered_at"])
        if "left_at" in cols:
            left_col = cols["left_at"]
            left_missing = _is_blank(left_col)
            left, left_ok = parse_instants(left_col)
        else:
            left_missing = np.ones(n, dtype=bool)
            left, left_ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        known_venue = venue_pos >= 0
        at_venue = np.maximum(venue_pos, 0)
        stay = np.where(known_venue, venue_stay[at_venue] if len(venue_stay) else 0, 0)
        longest = np.where(known_venue, venue_max_stay[at_venue] if len(venue_max_stay) else 0, 0)
        kind = np.where(known_venue, venue_type[at_venue] if len(venue_type) else -1, -1)
        inferred = left_missing
        given_left = left
        left = np.where(inferred, entered + stay, left)
        left_ok = left_ok | inferred
        # A stay longer than the venue type's longest believable one (a stuck clock) is clipped.
        clipped = left_ok & entered_ok & ~inferred & (left > entered + longest) & (longest > 0)
        left = np.where(clipped, entered + longest, left)
        if "source" in cols:
            source_col = cols["source"]
            if pa.types.is_dictionary(source_col.type):
                source_col = source_col.cast(pa.string())
            blank = _is_blank(source_col)
            codes = pc.index_in(source_col, value_set=pa.array(list(_SOURCES))).fill_null(-1)
            order = np.array(list(_SOURCES.values()), dtype=np.int8)
            code_pos = codes.to_numpy(zero_copy_only=False)
            source_ok = (code_pos >= 0) | blank
            source = np.where(blank, VisitSource.IMPORT.code, order[np.maximum(code_pos, 0)])
        else:
            source_ok = np.ones(n, dtype=bool)
            source = np.full(n, VisitSource.IMPORT.code, dtype=np.int8)
        reasons: list[tuple[np.ndarray, str, str | None]] = [
            (person_pos < 0, "person", "unknown person reference"),
            (venue_pos < 0, "venue", "unknown venue reference"),
            *(
                (kind == code, "venue", f"the venue's type {name!r} is not in the policy's venue_types")
                for code, name in unknown_types
            ),
            (~entered_ok, "entered_at", None),
            (~left_ok, "left_at", None),
            (entered_ok & left_ok & (left < entered), "left_at", "left_at is before entered_at"),
            (entered_ok & (entered > newest), "entered_at", "time is in the future"),
            (left_ok & (given_left > newest) & ~inferred, "left_at", "time is in the future"),
            (
                left_ok & (left < oldest) & ~inferred & ~clipped,
                "left_at",
                f"older than the {policy.retention.visits_days}-day retention",
            ),
            (
                # The file gave no left_at, or one past believable: the field at fault is entered_at.
                (inferred | clipped) & (left < oldest),
                "entered_at",
                f"older than the {policy.retention.visits_days}-day retention",
            ),
            (~source_ok, "source", "expected one of " + ", ".join(_SOURCES)),
        ]
        good = _good_rows(batch, reasons, triage)
        table = pa.table(
            {
                "person_id": people.take_ids(person_pos)[good],
                "venue_id": venues.take_ids(venue_pos)[good],
                "entered_at": entered[good],
                "left_at": np.minimum(left, np.maximum(entered, now))[good],
                "left_inferred": inferred[good],
                "source": source.astype(np.int8)[good],
                "clipped": clipped[good],
            },
            schema=VISIT_SCHEMA,
        )
        return table

    return _stream(
        store,
        "visits",
        path,
        options,
        ["person", "venue", "entered_at"],
        ["left_at", "source"],
        check,
        clock,
    )


def import_encounters(
    store: Store, policy: Policy, clock: Clock, path: Path, options: ImportOptions
) -> ImportReport:
    """Load an encounters file (person_a, person_b, start, end)."""
    with store.read() as uow:
        people = _RefIndex(uow.people.ref_index())
    now = to_epoch(clock.now())
    newest = now + int(_FUTURE_TOLERANCE.total_seconds())
    oldest = now - policy.retention.encounters_days * 86400

    def check(batch: RowBatch, triage: RowTriage) -> pa.Table:
        cols = batch.columns
        a_pos = people.positions(cols["person_a"])
        b_pos = people.positions(cols["person_b"])
        start, start_ok = parse_instants(cols["start"])
        end, end_ok = parse_instants(cols["end"])
        a_ids, b_ids = people.take_ids(a_pos), people.take_ids(b_pos)
        reasons: list[tuple[np.ndarray, str, str | None]] = [
            (a_pos < 0, "person_a", "unknown person reference"),
            (b_pos < 0, "person_b", "unknown person reference"),
            (
                (a_pos >= 0) & (a_ids == b_ids),
                "person_b",
                "an encounter needs two different people",
            ),
            (~start_ok, "start", None),
            (~end_ok, "end", None),
            (start_ok & end_ok & (end < start), "end", "end is before start"),
            (end_ok & (end > newest), "end", "time is in the future"),
            (
                end_ok & (end < oldest),
                "end",
                f"older than the {policy.retention.encounters_days}-day retention",
            ),
        ]
        good = _good_rows(batch, reasons, triage)
        table = pa.table(
            {
                "person_a": a_ids[good],
                "person_b": b_ids[good],
                "start_at": start[good],
                "end_at": end[good],
            },
            schema=ENCOUNTER_SCHEMA,
        )
        return table

    return _stream(
        store, "encounters", path, options, ["person_a", "person_b", "start", "end"], [], check, clock
    )


def _minutes(rule: VenueTypeRule | None, which: Literal["default", "max"]) -> int:
    """A venue type's default or longest stay in minutes; 0 for a type the policy lacks (refused)."""
    if rule is None:
        return 0
    return rule.default_stay_minutes if which == "default" else rule.max_stay_minutes


def _is_blank(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        empty = pc.equal(pc.utf8_trim_whitespace(column), "").fill_null(True)
        return np.asarray(nulls | empty.to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(nulls, dtype=bool)
