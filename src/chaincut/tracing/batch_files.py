"""A day's trace as files: its contacts, and the evidence for each, as Parquet.

Both engines write the same columns (the Spark engine in
:mod:`chaincut.tracing.spark.job`), with people, cases and venues by reference:

* contacts: case, person, tier, generation, minutes, via, first_exposure, last_exposure;
  in the order of the cases, then of the people's ids;
* evidence: case, person, via, generation, kind, rule, tier, minutes, venue,
  index_start, index_end, contact_start, contact_end, encounters, index_clipped,
  contact_clipped; one row per piece of evidence, in no promised order.

Instants are UTC timestamps in milliseconds; minutes are rounded to two places. A
file is written under a temporary name beside it and renamed once complete, so a
trace that fails leaves no partial file (and an earlier file of that name as it was).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chaincut.domain import EvidenceKind
from chaincut.store import Store
from chaincut.tracing.columns import (
    CLIPPED_CONTACT,
    CLIPPED_INDEX,
    I64,
    KIND_CODES,
    KINDS,
    NO_VENUE,
    TIERS,
    ContactTable,
    EvidenceTable,
)
from chaincut.tracing.rules import ENCOUNTER_RULE, HOUSEHOLD_RULE, TracingRules

__all__ = ["CONTACT_FILE_COLUMNS", "EVIDENCE_FILE_COLUMNS", "BatchFiles", "partial_path"]

CONTACT_FILE_COLUMNS = (
    "case",
    "person",
    "tier",
    "generation",
    "minutes",
    "via",
    "first_exposure",
    "last_exposure",
)
EVIDENCE_FILE_COLUMNS = (
    "case",
    "person",
    "via",
    "generation",
    "kind",
    "rule",
    "tier",
    "minutes",
    "venue",
    "index_start",
    "index_end",
    "contact_start",
    "contact_end",
    "encounters",
    "index_clipped",
    "contact_clipped",
)


def partial_path(path: str) -> str:
    """Where a file is written until it is complete: beside ``path``, a name of its own."""
    return f"{path}.partial-{uuid.uuid4().hex[:12]}"


def _moments(seconds: I64) -> pa.Array:
    return pa.array(seconds * 1000, pa.timestamp("ms", tz="UTC"))


def _names(codes: np.ndarray[tuple[int], np.dtype[np.int8]], names: dict[int, str]) -> pa.Array:
    lookup = np.array([names.get(i, "") for i in range(max(names) + 1)], dtype=object)
    return pa.array(lookup[codes.astype(np.int64)], pa.string())


class _File:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = Path(partial_path(str(path)))
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
        self.writer.write_table(table)

    def finish(self, empty: pa.Table) -> None:
        if self.writer is None:
            self.write(empty)
        assert self.writer is not None
        self.writer.close()
        os.replace(self.partial, self.path)

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.partial.unlink(missing_ok=True)


class BatchFiles:
    """Writes each chunk of a batch trace to the contacts file (and the evidence file, if asked).

    Use it as a context manager: the files appear, complete, when the block ends
    without error; otherwise nothing is left behind.
    """

    def __init__(
        self,
        store: Store,
        case_refs: Sequence[str],
        rules: TracingRules,
        contacts: Path,
        evidence: Path | None = None,
    ) -> None:
        with store.read() as uow:
            people = uow.people.ref_index().sort_by("id")
            venues = uow.venues.ref_index().sort_by("id") if evidence is not None else None
        self._case_refs = pa.array(case_refs, pa.string())
        self._people = people["id"].to_numpy(), people["ref"]
        self._venues = None if venues is None else (venues["id"].to_numpy(), venues["ref"])
        self._rules = rules
        self._contacts = _File(contacts)
        self._evidence = None if evidence is None else _File(evidence)

    def __enter__(self) -> BatchFiles:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        files = [f for f in (self._contacts, self._evidence) if f is not None]
        if error is not None:
            for file in files:
                file.abandon()
            return
        self._contacts.finish(self._contact_table(ContactTable.empty()))
        if self._evidence is not None:
            self._evidence.finish(self._evidence_table(EvidenceTable.empty()))

    def write(self, evidence: EvidenceTable, contacts: ContactTable) -> None:
        """One chunk's contacts (and evidence)."""
        self._contacts.write(self._contact_table(contacts))
        if self._evidence is not None:
            self._evidence.write(self._evidence_table(evidence))

    def _refs(self, ids: I64) -> pa.Array:
        known, refs = self._people
        return refs.take(pa.array(np.searchsorted(known, ids)))

    def _contact_table(self, contacts: ContactTable) -> pa.Table:
        columns = {
            "case": self._case_refs.take(pa.array(contacts.root)),
            "person": self._refs(contacts.person),
            "tier": _names(contacts.tier, {code: tier.value for code, tier in TIERS.items()}),
            "generation": contacts.generation,
            "minutes": np.round(contacts.seconds / 60, 2),
            "via": self._refs(contacts.via),
            "first_exposure": _moments(contacts.first_start),
            "last_exposure": _moments(contacts.last_end),
        }
        return pa.table({name: columns[name] for name in CONTACT_FILE_COLUMNS})

    def _evidence_table(self, evidence: EvidenceTable) -> pa.Table:
        assert self._venues is not None
        known, venue_refs = self._venues
        at_venue = evidence.venue != NO_VENUE
        venue_row = np.searchsorted(known, np.where(at_venue, evidence.venue, 0))
        venue = venue_refs.take(pa.array(venue_row, mask=~at_venue))
        # Each row's rule by name, as Trace shows it (rules.rule_name), a column at a time.
        venue_rules = np.array([*self._rules.rule_names, ""], dtype=object)
        rules = venue_rules[np.where(evidence.rule >= 0, evidence.rule, len(venue_rules) - 1)]
        for kind, name in (
            (EvidenceKind.ENCOUNTER, ENCOUNTER_RULE),
            (EvidenceKind.HOUSEHOLD, HOUSEHOLD_RULE),
        ):
            rules[evidence.kind == KIND_CODES[kind]] = name
        columns = {
            "case": self._case_refs.take(pa.array(evidence.root)),
            "person": self._refs(evidence.person),
            "via": self._refs(evidence.via),
            "generation": evidence.generation,
            "kind": _names(evidence.kind, {code: kind.value for code, kind in KINDS.items()}),
            "rule": pa.array(rules, pa.string()),
            "tier": _names(evidence.tier, {code: tier.value for code, tier in TIERS.items()}),
            "minutes": np.round(evidence.seconds / 60, 2),
            "venue": venue,
            "index_start": _moments(evidence.index_start),
            "index_end": _moments(evidence.index_end),
            "contact_start": _moments(evidence.contact_start),
            "contact_end": _moments(evidence.contact_end),
            "encounters": evidence.encounters,
            "index_clipped": (evidence.clipped & CLIPPED_INDEX) != 0,
            "contact_clipped": (evidence.clipped & CLIPPED_CONTACT) != 0,
        }
        return pa.table({name: columns[name] for name in EVIDENCE_FILE_COLUMNS})
