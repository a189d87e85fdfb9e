"""The engine's data as columns: whereabouts, index windows, evidence and contacts.

Everything is NumPy: int64 seconds since the Unix epoch, closed intervals, and
people and venues by the store's ids. Distinct values and membership are found
by sorting, not hashing: NumPy 2's hash-based ``unique``/``isin`` were 10-20x
slower on tens of millions of keys (bench/trace.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from chaincut.domain import EvidenceKind, Tier

__all__ = [
    "CLIPPED_CONTACT",
    "CLIPPED_INDEX",
    "I8",
    "I64",
    "KINDS",
    "KIND_CODES",
    "NO_VENUE",
    "TIERS",
    "TIER_CODES",
    "ContactTable",
    "EncounterArrays",
    "EvidenceTable",
    "Flags",
    "IndexWindows",
    "VisitArrays",
    "contains",
    "evidence_rows",
    "expand_ranges",
    "pair_keys",
    "sorted_unique",
]

I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
Flags = NDArray[np.bool_]

# Bits of an evidence row's ``clipped``: whose stay was clipped to the venue type's longest
# believable stay (chaincut.policy ``max_stay_minutes``), so a tracer can judge the evidence.
CLIPPED_INDEX = 1
CLIPPED_CONTACT = 2

KIND_CODES = {EvidenceKind.VENUE: 0, EvidenceKind.ENCOUNTER: 1, EvidenceKind.HOUSEHOLD: 2}
KINDS = {code: kind for kind, code in KIND_CODES.items()}
TIER_CODES = {tier: tier.rank for tier in Tier}
TIERS = {code: tier for tier, code in TIER_CODES.items()}
NO_VENUE = -1

_SHIFT = np.int64(32)
_SPAN = np.int64((1 << 32) - 1)


def _i64(values: object) -> I64:
    return np.ascontiguousarray(values, dtype=np.int64)


@dataclass(frozen=True)
class VisitArrays:
    """Closed visits as columns: who, where, from when, until when, and whether the stay was
    clipped to the venue type's longest believable stay (a stuck clock)."""

    person: I64
    venue: I64
    entered: I64
    left: I64
    clipped: Flags

    @classmethod
    def of(
        cls, person: object, venue: object, entered: object, left: object, clipped: object = None
    ) -> VisitArrays:
        who = _i64(person)
        flags = (
            np.zeros(len(who), dtype=bool) if clipped is None else np.ascontiguousarray(clipped, dtype=bool)
        )
        return cls(who, _i64(venue), _i64(entered), _i64(left), flags)

    @classmethod
    def empty(cls) -> VisitArrays:
        return cls.of([], [], [], [])

    @classmethod
    def concat(cls, parts: Sequence[VisitArrays]) -> VisitArrays:
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def __len__(self) -> int:
        return len(self.person)

    def take(self, rows: NDArray[np.int64] | NDArray[np.int32] | NDArray[np.bool_]) -> VisitArrays:
        return VisitArrays(
            self.person[rows], self.venue[rows], self.entered[rows], self.left[rows], self.clipped[rows]
        )


@dataclass(frozen=True)
class EncounterArrays:
    """Encounters as columns: two people near each other from ``start`` to ``end``."""

    person_a: I64
    person_b: I64
    start: I64
    end: I64

    @classmethod
    def of(cls, person_a: object, person_b: object, start: object, end: object) -> EncounterArrays:
        return cls(_i64(person_a), _i64(person_b), _i64(start), _i64(end))

    @classmethod
    def empty(cls) -> EncounterArrays:
        return cls.of([], [], [], [])

    @classmethod
    def concat(cls, parts: Sequence[EncounterArrays]) -> EncounterArrays:
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def __len__(self) -> int:
        return len(self.person_a)


@dataclass(frozen=True)
class IndexWindows:
    """The people to trace from: row ``i`` traces ``person[i]`` over ``[start[i], end[i]]``.

    ``root`` numbers the trace each row belongs to (one per case in a batch); the
    engine keeps roots apart, so one batch gives each case its own contacts.
    """

    root: I64
    person: I64
    start: I64
    end: I64

    @classmethod
    def of(cls, root: object, person: object, start: object, end: object) -> IndexWindows:
        return cls(_i64(root), _i64(person), _i64(start), _i64(end))

    def __len__(self) -> int:
        return len(self.root)


@dataclass(frozen=True)
class EvidenceTable:
    """Every piece of evidence found, one row each, as columns.

    ``root`` is the trace it belongs to, ``person`` the contact, ``via`` the index
    person of the window that found it (the root person at generation 1). Venue
    rows carry the index interval (clipped and extended) and the contact's stay, and
    in ``clipped`` whose stay had been clipped to the venue type's longest believable
    stay (CLIPPED_INDEX, CLIPPED_CONTACT bits); encounter rows the first start and
    last end of the clipped encounters and their count; household rows the index window.
    """

    root: I64
    person: I64
    via: I64
    generation: I64
    kind: I8
    tier: I8
    rule: NDArray[np.int16]
    seconds: I64
    venue: I64
    index_start: I64
    index_end: I64
    contact_start: I64
    contact_end: I64
    encounters: I64
    clipped: I8

    @classmethod
    def empty(cls) -> EvidenceTable:
        return cls(**{f.name: np.zeros(0, dtype=_EVIDENCE_DTYPES[f.name]) for f in fields(cls)})

    @classmethod
    def concat(cls, parts: Sequence[EvidenceTable]) -> EvidenceTable:
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.root)

    def take(self, rows: NDArray[np.int64] | NDArray[np.bool_]) -> EvidenceTable:
        return EvidenceTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


_EVIDENCE_DTYPES = {
    "root": np.int64,
    "person": np.int64,
    "via": np.int64,
    "generation": np.int64,
    "kind": np.int8,
    "tier": np.int8,
    "rule": np.int16,
    "seconds": np.int64,
    "venue": np.int64,
    "index_start": np.int64,
    "index_end": np.int64,
    "contact_start": np.int64,
    "contact_end": np.int64,
    "encounters": np.int64,
    "clipped": np.int8,
}


def evidence_rows(n: int, **columns: object) -> EvidenceTable:
    defaults: dict[str, object] = {
        "venue": NO_VENUE,
        "encounters": 0,
        "rule": -1,
        "generation": 0,
        "clipped": 0,
    }
    built = {}
    for f in fields(EvidenceTable):
        value = np.asarray(columns.get(f.name, defaults.get(f.name)), dtype=_EVIDENCE_DTYPES[f.name])
        built[f.name] = value if value.shape == (n,) else np.broadcast_to(value, (n,)).copy()
    return EvidenceTable(**built)


def expand_ranges(lo: I64, hi: I64) -> tuple[I64, I64]:
    """For ranges ``[lo[i], hi[i])``: the owner ``i`` and the position of every element."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    position = lo[owner] + (np.arange(len(owner), dtype=np.int64) - starts[owner])
    return owner, position


@dataclass(frozen=True)
class ContactTable:
    """One row per (root, contact): their tier, generation, seconds, via and first exposure."""

    root: I64
    person: I64
    tier: I8
    generation: I64
    seconds: I64
    via: I64
    first_start: I64
    last_end: I64

    def __len__(self) -> int:
        return len(self.root)

    @classmethod
    def empty(cls) -> ContactTable:
        zero = np.zeros(0, dtype=np.int64)
        return cls(zero, zero, np.zeros(0, dtype=np.int8), zero, zero, zero, zero, zero)

    @classmethod
    def concat(cls, parts: Sequence[ContactTable]) -> ContactTable:
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def pair_keys(root: I64, person: I64) -> I64:
    return (root << _SHIFT) | person


def sorted_unique(keys: I64) -> I64:
    """``np.unique`` by sorting: NumPy 2.x's default hash table is ~20x slower on 10M+ keys."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def contains(found: I64, keys: I64) -> NDArray[np.bool_]:
    """``np.isin(keys, found)`` by binary search in the (smaller) sorted ``found``."""
    found = sorted_unique(found)
    if not len(found):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(found, keys), len(found) - 1)
    hit: NDArray[np.bool_] = found[at] == keys
    return hit
