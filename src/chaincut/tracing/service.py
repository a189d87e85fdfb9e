"""Tracing as a tracer asks for it: a case's contacts, a person's over a window, a day's cases.

Contacts are computed from the whereabouts held at the time of asking, so a late
upload or a late check-out changes the next answer by itself. Every answer names
the policy version (and digest) that produced it.

Steps, in the field's own words: ``select_cases`` (the index cases and their
infectious windows), ``identify_contacts`` (the engine), then the orders module
notifies them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain import Case, Interval, Tier, Venue
from chaincut.errors import InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import ParquetArchive, Store
from chaincut.tracing.archive_index import IndexSize, ResidentIndex
from chaincut.tracing.columns import (
    TIER_CODES,
    ContactTable,
    EncounterArrays,
    EvidenceTable,
    IndexWindows,
)
from chaincut.tracing.engine import (
    WhereaboutsSource,
    exposures_of,
    summarise,
    trace,
    trace_in_chunks,
)
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.sources import PrefetchedSource, UnionSource
from chaincut.tracing.store_sources import ArchiveScanSource, SqlSource
from chaincut.tracing.trace import Trace
from chaincut.tracing.windows import Window, infectious_window

__all__ = [
    "BatchInputs",
    "BatchTrace",
    "ContactChange",
    "RiskyVenue",
    "Trace",
    "TracingService",
    "load_engine_behind",
]

# An open visit at a venue of a type the policy lacks has no default stay to close it at:
# it is read as open until the time of tracing (a stay this long ends there), so a trace it
# may meet is refused rather than judged on a guessed stay.
_UNKNOWN_TYPE_STAY_SECONDS = 2**40


def _default_stay_seconds(policy: Policy, venue_type: str) -> int:
    rule = policy.venue_types.get(venue_type)
    return _UNKNOWN_TYPE_STAY_SECONDS if rule is None else rule.default_stay_minutes * 60


@dataclass(frozen=True)
class RiskyVenue:
    """A venue and a time when an infectious case was there (or its air still was)."""

    venue: Venue
    start: datetime
    end: datetime
    cases: int


@dataclass(frozen=True)
class ContactChange:
    """How one person's standing differs between two traces (None: not a contact)."""

    person_ref: str
    before: Tier | None
    after: Tier | None
    minutes_before: float
    minutes_after: float


@dataclass(frozen=True)
class BatchTrace:
    """Many cases traced at once: how many contacts and evidence rows, and the contacts as columns.

    Root ``i`` of ``contacts`` is ``case_refs[i]``; ``contacts`` is None when the
    caller asked not to keep them (each chunk went to ``on_chunk`` instead).
    """

    case_refs: Sequence[str]
    policy_version: str
    as_of: datetime
    contact_count: int
    evidence_count: int
    close: int
    exposed: int
    contacts: ContactTable | None = None


@dataclass(frozen=True)
class BatchInputs:
    """A batch trace's starting point: the time of tracing, the policy's rules, the default stay
    (seconds, by venue id) that closes an open visit, and the cases' windows."""

    now: datetime
    as_of: int
    rules: TracingRules
    stay: np.ndarray[Any, np.dtype[np.int64]]
    windows: IndexWindows


class _IndexSlot:
    """Whether the archive is held in memory, and its index once built: one per process."""

    def __init__(self, resident: bool) -> None:
        self.resident = resident
        self.mapped = False  # the index in files shared between processes (keep_resident)
        self.index: ResidentIndex | None = None
        self.lock = threading.Lock()


class TracingService:
    """Finds contacts under the policy, from every kind of whereabouts the store holds.

    With ``resident`` (the server) the archive is held in memory and follows its
    imports and purges without a trace ever waiting for a reload
    (:class:`~chaincut.tracing.archive_index.ResidentIndex`); otherwise (the command
    line) each trace streams the archive.
    """

    def __init__(
        self, store: Store, policy: Policy, clock: Clock, zone: ZoneInfo, *, resident: bool = False
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._slot = _IndexSlot(resident)
        self._venue_key: tuple[int, int] | None = None
        self._venue_types: dict[int, str] = {}
        self._rules_cache: dict[
            tuple[Any, ...], tuple[TracingRules, np.ndarray[Any, np.dtype[np.int64]]]
        ] = {}

    @property
    def policy(self) -> Policy:
        return self._policy

    def keep_resident(self, *, mapped: bool = False) -> None:
        """Hold the archive in memory from now on (a long-running server wants this).

        With ``mapped``, each segment's index is a set of files beside the archive, written
        once by whichever process reads the segment first and mapped by every process: server
        workers share one copy (the operating system's page cache) instead of one each.
        """
        self._slot.resident = True
        self._slot.mapped = mapped

    def under(self, policy: Policy) -> TracingService:
        """The same tracing under another policy, sharing this one's archive index (one per process)."""
        other = TracingService(self._store, policy, self._clock, self._zone)
        other._slot = self._slot
        return other

    # --- the pieces -----------------------------------------------------------------------

    def _types(self) -> dict[int, str]:
        with self._store.read() as uow:
            key = uow.venues.count(), uow.venues.max_id()
            if key != self._venue_key:
                self._venue_types = uow.tracing.venue_types()
                self._venue_key = key
        return self._venue_types

    def _rules(self, policy: Policy) -> tuple[TracingRules, np.ndarray[Any, np.dtype[np.int64]]]:
        types = self._types()
        key = (policy.digest, policy.version, self._venue_key)
        cached = self._rules_cache.get(key)
        if cached is not None:
            return cached
        rules = TracingRules.build(policy, types)  # a trace meeting a type the policy lacks is refused
        stay = np.zeros(len(rules.tier), dtype=np.int64)
        if types:
            ids = np.fromiter(types.keys(), dtype=np.int64, count=len(types))
            stay[ids] = np.fromiter(
                (_default_stay_seconds(policy, n) for n in types.values()),
                dtype=np.int64,
                count=len(types),
            )
        if len(self._rules_cache) > 8:
            self._rules_cache.clear()
        self._rules_cache[key] = (rules, stay)
        return rules, stay

    def _archive_source(self) -> WhereaboutsSource | None:
        archive = self._store.archive
        if archive is None:
            return None
        if not self._slot.resident:
            return ArchiveScanSource(archive)
        return self._resident_index(archive).snapshot()

    def _resident_index(self, archive: ParquetArchive) -> ResidentIndex:
        slot = self._slot
        with slot.lock:
            if slot.index is None:
                slot.index = ResidentIndex(archive, mapped=slot.mapped)
            return slot.index

    def _source(self, stay: np.ndarray[Any, np.dtype[np.int64]], as_of: int) -> WhereaboutsSource:
        sql = SqlSource(self._store, stay, as_of)
        archive = self._archive_source()
        return sql if archive is None else UnionSource([sql, archive])

    def warm_up(self) -> None:
        """Load what traces would otherwise do without: venue types, and when the archive is
        resident, the engine's compiled loops and the archive.

        The server calls this on a thread of its own at start-up; until the archive is
        in memory, traces stream the part not read yet.
        """
        self._types()
        archive = self._store.archive
        if self._slot.resident and archive is not None:
            _load_kernels()  # so the first trace does not wait for them
            self._resident_index(archive).catch_up()

    def resident_encounters(self, person_id: int, start: int, end: int) -> EncounterArrays | None:
        """The archive's encounters of one person over [start, end] from the in-memory index; None
        when this process does not hold the archive in memory (the caller reads the segments)."""
        archive = self._store.archive
        if archive is None or not self._slot.resident:
            return None
        people = np.array([person_id], dtype=np.int64)
        return self._resident_index(archive).snapshot().encounters_of(people, start, end)

    def index_size(self) -> IndexSize | None:
        """What the resident index holds (None: not resident, or nothing held yet)."""
        index = self._slot.index
        return None if index is None else index.size()

    # --- single traces --------------------------------------------------------------------

    def trace_case(self, case_ref: str, *, policy: Policy | None = None) -> Trace:
        """The contacts of a registered case over its infectious window."""
        policy = policy or self._policy
        now = self._clock.now()
        with self._store.read() as uow:
            case = uow.cases.get_by_ref(case_ref)
            if case is None:
                raise NotFound(f"no case {case_ref!r}", field="case")
            person = uow.people.get(case.person_id)
        assert person is not None
        assert person.id is not None
        window = infectious_window(case, policy, self._zone, now)
        return self._trace_one(person.id, person.ref, window, policy, now, case_ref=case.ref, case_id=case.id)

    def trace_person(self, person_ref: str, start: datetime, end: datetime) -> Trace:
        """The contacts of any person over ``[start, end]``, as if they were infectious then."""
        now = self._clock.now()
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("the window's times need a time zone", field="from")
        if end < start:
            raise InvalidInput("the window ends before it starts", field="to")
        if end > now:
            raise InvalidInput("the window ends in the future", field="to")
        kept = timedelta(days=self._policy.retention.visits_days)
        if end - start > kept:
            raise InvalidInput(
                f"the window is longer than the {self._policy.retention.visits_days}-day retention",
                field="from",
            )
        if start < now - kept:
            raise InvalidInput(
                f"the window starts before the {self._policy.retention.visits_days}-day retention: "
                "those whereabouts are no longer held",
                field="from",
            )
        with self._store.read() as uow:
            person = uow.people.get_by_ref(person_ref)
        if person is None or person.id is None:
            raise NotFound(f"no person {person_ref!r}", field="person")
        window = Window(to_epoch(start), to_epoch(end))
        return self._trace_one(person.id, person.ref, window, self._policy, now)

    def _trace_one(
        self,
        person_id: int,
        person_ref: str,
        window: Window,
        policy: Policy,
        now: datetime,
        *,
        case_ref: str | None = None,
        case_id: int | None = None,
    ) -> Trace:
        rules, stay = self._rules(policy)
        as_of = to_epoch(now)
        evidence = EvidenceTable.empty()
        if not window.empty:
            windows = IndexWindows.of([0], [person_id], [window.start], [window.end])
            evidence = trace(windows, self._source(stay, as_of), rules, as_of)
        return Trace(
            index_person_id=person_id,
            index_person_ref=person_ref,
            window=Interval(from_epoch(window.start), from_epoch(max(window.start, window.end))),
            as_of=now,
            policy=policy,
            evidence=evidence,
            table=summarise(evidence, rules),
            rules=rules,
            store=self._store,
            case_ref=case_ref,
            case_id=case_id,
        )

    def compare(self, case_ref: str, other: Policy) -> list[ContactChange]:
        """Re-trace a case under ``other`` and say whose standing changed."""
        return self.comparison(case_ref, other)[2]

    def comparison(self, case_ref: str, other: Policy) -> tuple[int, int, list[ContactChange]]:
        """How many contacts a case has under this policy and under ``other``, and whose standing changed."""
        before, after = self.trace_case(case_ref), self.trace_case(case_ref, policy=other)
        old_refs = before.refs(c.person_id for c in before.contacts)
        new_refs = after.refs(c.person_id for c in after.contacts)
        old = {old_refs[c.person_id]: c for c in before.contacts}
        new = {new_refs[c.person_id]: c for c in after.contacts}
        changes = []
        for ref in sorted(set(old) | set(new), key=str):
            a, b = old.get(ref), new.get(ref)
            if a is not None and b is not None and a.tier == b.tier and a.seconds == b.seconds:
                continue
            changes.append(
                ContactChange(
                    person_ref=str(ref),
                    before=a.tier if a else None,
                    after=b.tier if b else None,
                    minutes_before=a.minutes if a else 0.0,
                    minutes_after=b.minutes if b else 0.0,
                )
            )
        return len(before.contacts), len(after.contacts), changes

    def risky_venues(self, start: datetime, end: datetime) -> list[RiskyVenue]:
        """Venue-time windows that cases visited while infectious, for residents to match.

        Each case's stay is clipped to its infectious window and extended by the venue
        type's after-leave minutes, as for tracing; overlapping stays at one venue
        merge into one window. Windows meeting ``[start, end]`` are listed.
        """
        now = self._clock.now()
        as_of = to_epoch(now)
        rules, stay = self._rules(self._policy)
        with self._store.read() as uow:
            cases, _ = uow.cases.list(limit=10**9)
        windows = [(c.person_id, infectious_window(c, self._policy, self._zone, now)) for c in cases]
        windows = [
            (p, w)
            for p, w in windows
            if not w.empty and w.end >= to_epoch(start) and w.start <= to_epoch(end)
        ]
        if not windows:
            return []
        index = IndexWindows.of(
            range(len(windows)),
            [p for p, _ in windows],
            [w.start for _, w in windows],
            [w.end for _, w in windows],
        )
        visits = self._source(stay, as_of).visits_of(
            index.person, int(index.start.min()), int(index.end.max())
        )
        exposures = exposures_of(index, visits, rules)
        lo, hi = to_epoch(start), to_epoch(end)
        keep = (exposures.end >= lo) & (exposures.start <= hi)
        spans = sorted(
            zip(
                exposures.venue[keep].tolist(),
                exposures.start[keep].tolist(),
                exposures.end[keep].tolist(),
                exposures.window[keep].tolist(),
                strict=True,
            )
        )
        merged: list[list[Any]] = []
        for venue, a, b, window in spans:
            if merged and merged[-1][0] == venue and a <= merged[-1][2]:
                merged[-1][2] = max(merged[-1][2], b)
                merged[-1][3].add(window)
            else:
                merged.append([venue, a, b, {window}])
        with self._store.read() as uow:
            venues = uow.venues.get_many(sorted({m[0] for m in merged}))
        return [
            RiskyVenue(venues[v], from_epoch(a), from_epoch(b), len(w))
            for v, a, b, w in merged
            if v in venues
        ]

    # --- many cases at once ---------------------------------------------------------------

    def trace_reported_on(
        self,
        day: date,
        *,
        keep_contacts: bool = True,
        on_chunk: Callable[[EvidenceTable, ContactTable], None] | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> BatchTrace:
        """Every case reported on ``day`` (local date), traced together."""
        with self._store.read() as uow:
            cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
        return self.trace_cases(
            cases, keep_contacts=keep_contacts, on_chunk=on_chunk, on_progress=on_progress
        )

    def rules(self) -> TracingRules:
        """The policy's rules as the engine applies them, for every venue the store knows."""
        return self._rules(self._policy)[0]

    def batch_inputs(self, cases: Sequence[Case]) -> BatchInputs:
        """What a batch trace of ``cases`` starts from: root ``i`` is ``cases[i]``, over its
        infectious window as of now (a case with an empty window has no row)."""
        now = self._clock.now()
        rules, stay = self._rules(self._policy)
        roots, people, starts, ends = [], [], [], []
        for i, case in enumerate(cases):
            window = infectious_window(case, self._policy, self._zone, now)
            if not window.empty:
                roots.append(i)
                people.append(case.person_id)
                starts.append(window.start)
                ends.append(window.end)
        windows = IndexWindows.of(roots, people, starts, ends)
        return BatchInputs(now, to_epoch(now), rules, stay, windows)

    def trace_cases(
        self,
        cases: Sequence[Case],
        *,
        keep_contacts: bool = True,
        on_chunk: Callable[[EvidenceTable, ContactTable], None] | None = None,
        roots_per_chunk: int = 500,
        workers: int | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> BatchTrace:
        """Trace ``cases`` together; root ``i`` in the result is ``cases[i]``.

        Whereabouts are read once for all of them, then the cases are traced a few
        hundred at a time, so memory stays bounded and each chunk's sorts fit in cache;
        each chunk's evidence and contacts go to ``on_chunk`` (to be written out),
        in the order of the cases. ``workers`` chunks are traced at once (default: one
        per core this process may use, at most four: each holds a chunk's evidence).
        ``on_progress(stage, done, total)`` hears of the read ("reading whereabouts") and of
        the cases traced ("tracing cases"; a case with no infectious window is done at once).
        """
        batch = self.batch_inputs(cases)
        now, as_of, rules, stay, windows = batch.now, batch.as_of, batch.rules, batch.stay, batch.windows
        kept: list[ContactTable] = []
        contacts = evidence_rows = close = exposed = 0
        report = on_progress or (lambda stage, done, total: None)
        if len(windows):
            load_engine_behind()  # while the archive is read
            report(_READING, 0, 1)
            source = self._source(stay, as_of)
            ahead = PrefetchedSource(source, windows, rules)
            report(_READING, 1, 1)
            chunks = trace_in_chunks(
                windows,
                source,
                rules,
                as_of,
                first_source=ahead,
                roots_per_chunk=roots_per_chunk,
                workers=_usable_cores() if workers is None else workers,
            )
            untraced = len(cases) - len(windows)  # no infectious window: nothing to trace
            report(_TRACING, untraced, len(cases))
            for chunk, (evidence, table) in enumerate(chunks, start=1):
                report(_TRACING, untraced + min(chunk * roots_per_chunk, len(windows)), len(cases))
                contacts += len(table)
                evidence_rows += len(evidence)
                close += int((table.tier == TIER_CODES[Tier.CLOSE]).sum())
                exposed += int((table.tier == TIER_CODES[Tier.EXPOSED]).sum())
                if on_chunk is not None:
                    on_chunk(evidence, table)
                if keep_contacts:
                    kept.append(table)
        return BatchTrace(
            case_refs=[c.ref for c in cases],
            policy_version=self._policy.version,
            as_of=now,
            contact_count=contacts,
            evidence_count=evidence_rows,
            close=close,
            exposed=exposed,
            contacts=ContactTable.concat(kept) if keep_contacts else None,
        )


_READING, _TRACING = "reading whereabouts", "tracing cases"
_MOST_WORKERS = 4  # beyond, reading the archive (before any chunk) is most of a day's trace


def _usable_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MOST_WORKERS))


def _load_kernels() -> None:
    from chaincut.tracing import kernels

    kernels.load()


_kernels_loading = threading.Lock()
_kernels_started = False


def load_engine_behind() -> None:
    """Load the engine's compiled loops on a thread of their own, once per process (~0.6 s)."""
    global _kernels_started
    with _kernels_loading:
        if _kernels_started:
            return
        _kernels_started = True
    # Not a daemon: a command that ends meanwhile waits for it rather than stop it mid-import.
    threading.Thread(target=_load_kernels, name="chaincut-kernels").start()
