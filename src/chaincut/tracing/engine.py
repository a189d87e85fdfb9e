"""The overlap engine: from index people's infectious windows to their contacts.

Everything here is vectorised NumPy over int64 seconds since the Unix epoch; every
interval is closed (both ends included). The rules, which the brute-force oracle in
the tests restates in plain Python:

* **Venue.** An index person's visit ``[entered, left]`` is clipped to their window
  ``[w0, w1]`` giving ``[a, b]`` (none when ``a > b``), then extended by the venue
  type's ``after_leave`` to ``[a, b + after_leave]``. Another person's visit to the
  same venue meets it over ``[max(entered', a), min(left', b + after_leave)]``; when
  that is not empty and lasts at least ``min_overlap``, the visitor is a contact and
  the pair is one piece of evidence whose seconds are the overlap. The evidence says
  whose stay, as stored, had been clipped to the venue type's longest believable stay.
* **Encounter.** Each encounter of the index person, clipped to the window, counts
  when not empty; per other person their seconds add up, and at least the policy's
  cumulative seconds make them a contact (one piece of evidence per person).
* **Household.** Every other member of the index person's household.
* A person's tier is the strongest their evidence earns; their seconds the sum of
  their evidence's seconds.
* **Contacts of contacts.** Generation ``g + 1`` is traced from generation ``g``'s
  contacts whose tier the policy names, each over the window from their first
  exposure to the time of tracing. A person already found for the same root case (or
  the root case's person) is not found again; the new ones get the policy's tier,
  and their ``via`` is the lowest id of the people they were found through.
* **A venue type the policy lacks.** When a stay of an index person (of any
  generation) at a venue of such a type meets their window, the trace is refused
  (UnknownVenueType naming the type), never answered without it; traces that meet
  no such stay are not affected.

The engine reads whereabouts only through a :class:`WhereaboutsSource`, so the same
code runs on the embedded archive, on SQL, and on an in-memory index.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from chaincut.domain import EvidenceKind
from chaincut.tracing.columns import (
    CLIPPED_CONTACT,
    CLIPPED_INDEX,
    I8,
    I64,
    KIND_CODES,
    ContactTable,
    EncounterArrays,
    EvidenceTable,
    Flags,
    IndexWindows,
    VisitArrays,
    contains,
    evidence_rows,
    expand_ranges,
    pair_keys,
    sorted_unique,
)
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.venue_index import VenueTimeIndex

__all__ = [
    "Exposures",
    "IndexedSource",
    "WhereaboutsSource",
    "exposures_of",
    "summarise",
    "trace",
    "trace_in_chunks",
]


class WhereaboutsSource(Protocol):
    """Where the engine reads whereabouts from; each answer may be a superset."""

    def visits_of(self, persons: I64, start: int, end: int) -> VisitArrays:
        """Visits of ``persons`` that meet ``[start, end]``."""
        ...

    def visits_near(self, venue: I64, start: I64, end: I64) -> VisitArrays:
        """Visits at ``venue[i]`` that meet ``[start[i], end[i]]``, for every ``i``."""
        ...

    def encounters_of(self, persons: I64, start: int, end: int) -> EncounterArrays:
        """Encounters involving ``persons`` that meet ``[start, end]``."""
        ...

    def household_members(self, persons: I64) -> tuple[I64, I64]:
        """Pairs ``(person, other member of their household)`` for ``persons``."""
        ...


@runtime_checkable
class IndexedSource(WhereaboutsSource, Protocol):
    """A source that holds every visit near the exposures asked about, already indexed."""

    def venue_index(self) -> VenueTimeIndex:
        """The index of the visits ``visits_near`` would answer from (a superset)."""
        ...


def _join_by_person(windows: IndexWindows, person: I64) -> tuple[I64, I64]:
    """Pairs ``(window row, element row)`` where the element's person is the window's."""
    order = np.argsort(windows.person, kind="stable")
    sorted_people = windows.person[order]
    lo = np.searchsorted(sorted_people, person, side="left")
    hi = np.searchsorted(sorted_people, person, side="right")
    element, position = expand_ranges(lo, hi)
    return order[position], element


@dataclass(frozen=True)
class Exposures:
    window: I64
    venue: I64
    start: I64
    end: I64  # extended by the rule's after-leave seconds
    clipped: Flags  # the index person's stay was clipped to the type's longest believable stay


def exposures_of(windows: IndexWindows, visits: VisitArrays, rules: TracingRules) -> Exposures:
    """Index people's stays clipped to their windows and extended by the after-leave minutes.

    A stay that meets its window at a venue of a type the policy lacks refuses the trace
    (UnknownVenueType naming the type): it has no rule to judge it by, and leaving it out
    would hide its contacts. Stays at such venues outside every window do not matter.
    """
    window, row = _join_by_person(windows, visits.person)
    start = np.maximum(visits.entered[row], windows.start[window])
    end = np.minimum(visits.left[row], windows.end[window])
    met = start <= end
    venue = visits.venue[row]
    rules.refuse_unknown(venue[met])
    met &= rules._known(venue)
    venue = venue[met]
    return Exposures(
        window[met], venue, start[met], end[met] + rules.after_leave[venue], visits.clipped[row][met]
    )


def _venue_evidence(
    windows: IndexWindows, exposures: Exposures, index: VenueTimeIndex, rules: TracingRules
) -> EvidenceTable:
    from chaincut.tracing.kernels import venue_hits  # numba: loaded when a trace runs

    lo, hi = index.ranges(exposures.venue, exposures.start, exposures.end)
    # Everything per exposure is looked up once here, not once per candidate pair; only
    # the hits (three numbers each) are kept.
    index_person = windows.person[exposures.window]
    exposure, row, seconds = venue_hits(
        lo,
        hi,
        exposures.start,
        exposures.end,
        rules.min_overlap[exposures.venue],
        index_person,
        index.visits.entered,
        index.visits.left,
        index.visits.person,
    )
    if not len(exposure):
        return EvidenceTable.empty()
    window, venue = exposures.window[exposure], exposures.venue[exposure]
    return evidence_rows(
        len(exposure),
        root=windows.root[window],
        person=index.visits.person[row],
        via=index_person[exposure],
        kind=KIND_CODES[EvidenceKind.VENUE],
        tier=rules.tier[venue],
        rule=rules.rule[venue],
        seconds=seconds,
        venue=venue,
        index_start=exposures.start[exposure],
        index_end=exposures.end[exposure],
        contact_start=index.visits.entered[row],
        contact_end=index.visits.left[row],
        clipped=np.where(exposures.clipped[exposure], CLIPPED_INDEX, 0)
        | np.where(index.visits.clipped[row], CLIPPED_CONTACT, 0),
    )


def _encounter_evidence(windows: IndexWindows, found: EncounterArrays, rules: TracingRules) -> EvidenceTable:
    index = np.concatenate([found.person_a, found.person_b])
    other = np.concatenate([found.person_b, found.person_a])
    starts, ends = np.concatenate([found.start, found.start]), np.concatenate([found.end, found.end])
    window, row = _join_by_person(windows, index)
    start = np.maximum(starts[row], windows.start[window])
    end = np.minimum(ends[row], windows.end[window])
    met = start <= end
    window, other, start, end = window[met], other[row][met], start[met], end[met]
    if not len(window):
        return EvidenceTable.empty()
    keys = np.stack([window, other])
    groups, inverse = np.unique(keys, axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    seconds = np.bincount(inverse, weights=end - start, minlength=groups.shape[1]).astype(np.int64)
    count = np.bincount(inverse, minlength=groups.shape[1]).astype(np.int64)
    first = np.full(groups.shape[1], np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(groups.shape[1], np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, inverse, start)
    np.maximum.at(last, inverse, end)
    keep = seconds >= rules.encounter_seconds
    window, other = groups[0][keep], groups[1][keep]
    return evidence_rows(
        len(window),
        root=windows.root[window],
        person=other,
        via=windows.person[window],
        kind=KIND_CODES[EvidenceKind.ENCOUNTER],
        tier=rules.encounter_tier,
        seconds=seconds[keep],
        index_start=windows.start[window],
        index_end=windows.end[window],
        contact_start=first[keep],
        contact_end=last[keep],
        encounters=count[keep],
    )


def _household_evidence(
    windows: IndexWindows, person: I64, member: I64, rules: TracingRules
) -> EvidenceTable:
    window, row = _join_by_person(windows, person)
    member = member[row]
    keep = member != windows.person[window]
    window, member = window[keep], member[keep]
    return evidence_rows(
        len(window),
        root=windows.root[window],
        person=member,
        via=windows.person[window],
        kind=KIND_CODES[EvidenceKind.HOUSEHOLD],
        tier=rules.household_tier,
        seconds=0,
        index_start=windows.start[window],
        index_end=windows.end[window],
        contact_start=windows.start[window],
        contact_end=windows.end[window],
    )


def _one_generation(
    windows: IndexWindows, source: WhereaboutsSource, rules: TracingRules
) -> list[EvidenceTable]:
    if not len(windows):
        return []
    people = sorted_unique(windows.person)
    first, last = int(windows.start.min()), int(windows.end.max())
    exposures = exposures_of(windows, source.visits_of(people, first, last), rules)
    parts = []
    if len(exposures.venue):
        if isinstance(source, IndexedSource):  # its whereabouts are already sorted for this
            index = source.venue_index()
        else:
            index = VenueTimeIndex(source.visits_near(exposures.venue, exposures.start, exposures.end))
        parts.append(_venue_evidence(windows, exposures, index, rules))
    parts.append(_encounter_evidence(windows, source.encounters_of(people, first, last), rules))
    parts.append(_household_evidence(windows, *source.household_members(people), rules))
    return parts


def trace(
    windows: IndexWindows,
    source: WhereaboutsSource,
    rules: TracingRules,
    as_of: int,
    *,
    first_source: WhereaboutsSource | None = None,
) -> EvidenceTable:
    """Every piece of evidence for every root in ``windows``, down to the policy's depth.

    Each row's ``generation`` says how far from its root case it was found; the
    people found at a generation are not found again at a later one. The first
    generation reads from ``first_source`` when given (whereabouts fetched ahead).
    """
    found = pair_keys(windows.root, windows.person)  # the root people themselves
    parts: list[EvidenceTable] = []
    current = windows
    for generation in range(1, rules.depth + 1):
        reading = first_source if generation == 1 and first_source is not None else source
        found_now = _one_generation(current, reading, rules)
        if generation > 1:  # (at 1 the only people found before are the roots, never their own contacts)
            found_now = [e.take(~contains(found, pair_keys(e.root, e.person))) for e in found_now]
        for evidence in found_now:
            evidence.generation[:] = generation
        parts += found_now
        if not any(len(e) for e in found_now) or generation == rules.depth:
            break
        evidence = EvidenceTable.concat(found_now)
        found = sorted_unique(np.concatenate([found, pair_keys(evidence.root, evidence.person)]))
        current = _next_windows(evidence, rules, as_of)
    return EvidenceTable.concat([p for p in parts if len(p)])


def trace_in_chunks(
    windows: IndexWindows,
    source: WhereaboutsSource,
    rules: TracingRules,
    as_of: int,
    *,
    first_source: WhereaboutsSource | None = None,
    roots_per_chunk: int = 500,
    workers: int = 1,
) -> Iterator[tuple[EvidenceTable, ContactTable]]:
    """``trace`` a few hundred roots at a time, yielding each chunk's evidence and contacts.

    Memory stays bounded however many cases a day brings; the roots of one chunk
    are traced together, so results equal one ``trace`` of everything. Chunks come in
    order of their roots.

    With ``workers`` above one, and a ``first_source`` that answers the whole trace
    (the policy's depth is 1: later generations would read ``source``, which need not
    be safe to share between threads), that many chunks are traced at once on threads:
    the engine's loops release the GIL. At most ``workers + 1`` chunks are held.
    """
    roots = sorted_unique(windows.root)

    def one(begin: int) -> tuple[EvidenceTable, ContactTable]:
        chosen = roots[begin : begin + roots_per_chunk]
        mine = contains(chosen, windows.root)
        part = IndexWindows(windows.root[mine], windows.person[mine], windows.start[mine], windows.end[mine])
        evidence = trace(part, source, rules, as_of, first_source=first_source)
        return evidence, summarise(evidence, rules)

    begins = range(0, len(roots), roots_per_chunk)
    if workers <= 1 or len(begins) < 2 or first_source is None or rules.depth > 1:
        yield from map(one, begins)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="chaincut-trace")
    try:
        pending: deque[Future[tuple[EvidenceTable, ContactTable]]] = deque()
        for begin in begins:
            pending.append(pool.submit(one, begin))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # a failed chunk, or a consumer that stops early: start no more
        pool.shutdown(wait=True, cancel_futures=True)


def _next_windows(evidence: EvidenceTable, rules: TracingRules, as_of: int) -> IndexWindows:
    contacts = summarise(evidence, rules)
    onward = np.isin(contacts.tier, list(rules.onward_tiers))
    start = contacts.first_start[onward]
    keep = start <= as_of
    return IndexWindows.of(
        contacts.root[onward][keep],
        contacts.person[onward][keep],
        start[keep],
        np.full(int(keep.sum()), as_of, dtype=np.int64),
    )


def summarise(evidence: EvidenceTable, rules: TracingRules) -> ContactTable:
    """Collapse evidence to contacts: strongest tier, summed seconds, earliest exposure.

    One row per (root, person), ordered by root, then person.
    """
    if not len(evidence):
        return ContactTable.empty()
    from chaincut.tracing.kernels import group_pairs  # numba: loaded when a trace runs

    # Grouped by a radix sort of the pairs, packed with the root from its smallest (roots
    # number a day's cases and people are store ids: both fit, and a stray one is sorted apart).
    base = int(evidence.root.min())
    person_bits = max(int(evidence.person.max()), 1).bit_length()
    root_bits = max(int(evidence.root.max()) - base, 1).bit_length()
    if root_bits + person_bits > 63 or int(evidence.person.min()) < 0:
        return _summarise_apart(evidence, rules)
    key = ((evidence.root - base) << person_bits) | evidence.person
    key, tier, generation, via, first, last, seconds = group_pairs(
        key,
        root_bits + person_bits,
        evidence.tier,
        evidence.generation,
        evidence.via,
        np.maximum(evidence.contact_start, evidence.index_start),
        np.minimum(evidence.contact_end, evidence.index_end),
        evidence.seconds,
    )
    tier[generation > 1] = rules.onward_tier
    return ContactTable(
        root=(key >> person_bits) + base,
        person=key & ((1 << person_bits) - 1),
        tier=tier,
        generation=generation,
        seconds=seconds,
        via=via,
        first_start=first,
        last_end=last,
    )


def _summarise_apart(evidence: EvidenceTable, rules: TracingRules) -> ContactTable:
    """``summarise`` for pairs that do not pack into one non-negative 63-bit key."""
    order = np.lexsort((evidence.person, evidence.root))
    root, person = evidence.root[order], evidence.person[order]
    starts = np.flatnonzero(np.r_[True, (root[1:] != root[:-1]) | (person[1:] != person[:-1])])

    def grouped(values: I64 | I8, reduce: np.ufunc) -> I64:
        reduced: I64 = reduce.reduceat(values[order], starts)
        return reduced

    generation = grouped(evidence.generation, np.minimum)
    tier = grouped(evidence.tier, np.maximum).astype(np.int8)
    tier[generation > 1] = rules.onward_tier
    return ContactTable(
        root=root[starts],
        person=person[starts],
        tier=tier,
        generation=generation,
        seconds=grouped(evidence.seconds, np.add),
        via=grouped(evidence.via, np.minimum),
        first_start=grouped(np.maximum(evidence.contact_start, evidence.index_start), np.minimum),
        last_end=grouped(np.minimum(evidence.contact_end, evidence.index_end), np.maximum),
    )
