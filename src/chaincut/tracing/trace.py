"""One trace as a tracer reads it: a case's contacts, a page at a time, and its JSON.

The engine's answer stays as columns; domain objects, people's and venues'
references and JSON are made only for the contacts asked for, because a case at
a busy venue has thousands and a screen shows a hundred.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from chaincut.clock import from_epoch
from chaincut.domain import Contact, Evidence, EvidenceKind, Interval, Tier, Venue
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.tracing.columns import (
    CLIPPED_CONTACT,
    CLIPPED_INDEX,
    KINDS,
    NO_VENUE,
    TIER_CODES,
    TIERS,
    ContactTable,
    EvidenceTable,
)
from chaincut.tracing.rules import TracingRules

__all__ = ["ContactOrder", "Trace"]


class ContactOrder(enum.Enum):
    """The orders a trace's contacts are listed in."""

    STRENGTH = "strength"  # the strongest tier first, then nearest generation, longest, by person
    LONGEST = "longest"  # the longest exposure first
    GENERATION = "generation"  # a case's own contacts first, then contacts of contacts


class Trace:
    """The contacts of one index person over one window, with the evidence for each.

    Held as the engine's columns: a screen shows a page of contacts and an export
    streams them, so domain objects (and the people's and venues' references) are
    made only for the contacts asked for. ``contacts`` makes them all.
    """

    def __init__(
        self,
        *,
        index_person_id: int,
        index_person_ref: str,
        window: Interval,
        as_of: datetime,
        policy: Policy,
        evidence: EvidenceTable,
        table: ContactTable,
        rules: TracingRules,
        store: Store,
        case_ref: str | None = None,
        case_id: int | None = None,
    ) -> None:
        self.index_person_id = index_person_id
        self.index_person_ref = index_person_ref
        self.window = window
        self.as_of = as_of
        self.policy_version = policy.version
        self.policy_digest = policy.digest
        self.case_ref = case_ref
        self.case_id = case_id
        self._evidence = evidence
        self._rules = rules
        self._store = store
        # Display order: the strongest tier first, then nearest generation, longest, by person.
        order = np.lexsort((table.person, -table.seconds, table.generation, -table.tier.astype(np.int64)))
        self._table = ContactTable(*(getattr(table, f.name)[order] for f in fields(ContactTable)))
        self._refs: dict[int, str] = {index_person_id: index_person_ref}
        self._venues: dict[int, Venue] = {}
        self._all: list[Contact] | None = None

    def __len__(self) -> int:
        return len(self._table)

    def count(self, tier: Tier | None = None) -> int:
        """How many contacts (of ``tier``)."""
        if tier is None:
            return len(self._table)
        return int((self._table.tier == TIER_CODES[tier]).sum())

    @property
    def contacts(self) -> list[Contact]:
        """Every contact, strongest first."""
        if self._all is None:
            self._all = self.page()
        return self._all

    def page(
        self,
        offset: int = 0,
        limit: int | None = None,
        tier: Tier | None = None,
        order: ContactOrder = ContactOrder.STRENGTH,
    ) -> list[Contact]:
        """Contacts ``offset`` to ``offset + limit`` (of ``tier``), strongest first or in ``order``."""
        rows = (
            np.arange(len(self._table))
            if tier is None
            else np.flatnonzero(self._table.tier == TIER_CODES[tier])
        )
        # Stable sorts: contacts that tie stay strongest first.
        if order is ContactOrder.LONGEST:
            rows = rows[np.argsort(-self._table.seconds[rows], kind="stable")]
        elif order is ContactOrder.GENERATION:
            rows = rows[np.argsort(self._table.generation[rows], kind="stable")]
        rows = rows[offset : None if limit is None else offset + limit]
        chosen = ContactTable(*(getattr(self._table, f.name)[rows] for f in fields(ContactTable)))
        mine = np.isin(self._evidence.person, chosen.person)
        return _contacts(self._evidence.take(mine), chosen, self._rules)

    def refs(self, person_ids: Iterable[int | None]) -> dict[int, str]:
        """The references of these people (looked up once, then remembered)."""
        wanted = sorted({p for p in person_ids if p is not None} - set(self._refs))
        if wanted:
            with self._store.read() as uow:
                self._refs.update(uow.people.refs_for(wanted))
        return self._refs

    def venues(self, venue_ids: Iterable[int | None]) -> dict[int, Venue]:
        """These venues (looked up once, then remembered)."""
        wanted = sorted({v for v in venue_ids if v is not None} - set(self._venues))
        if wanted:
            with self._store.read() as uow:
                self._venues.update(uow.venues.get_many(wanted))
        return self._venues

    def to_json(
        self, zone: ZoneInfo, *, offset: int = 0, limit: int | None = None, tier: Tier | None = None
    ) -> dict[str, Any]:
        """The documented JSON: one object with a ``contacts`` array (one page of it, if asked)."""
        contacts = self.page(offset, limit, tier)
        people = [c.person_id for c in contacts] + [c.via_person_id for c in contacts]
        people += [e.index_person_id for c in contacts for e in c.evidence]
        refs = self.refs(people)
        venues = self.venues(e.venue_id for c in contacts for e in c.evidence)

        def at(moment: datetime) -> str:
            return moment.astimezone(zone).isoformat()

        def interval(span: Interval | None) -> dict[str, str] | None:
            return None if span is None else {"start": at(span.start), "end": at(span.end)}

        def evidence(e: Evidence) -> dict[str, Any]:
            out: dict[str, Any] = {
                "kind": e.kind.value,
                "rule": e.rule,
                "tier": e.tier.value,
                "minutes": e.minutes,
                "index_person": refs.get(e.index_person_id),
            }
            if e.kind is EvidenceKind.VENUE and e.venue_id is not None:
                venue = venues.get(e.venue_id)
                out["venue"] = venue.ref if venue else None
                out["venue_name_en"] = venue.name_en if venue else None
                out["venue_name_zh"] = venue.name_zh if venue else None
                out["venue_type"] = venue.venue_type if venue else None
                out["index_interval"] = interval(e.index_interval)
                out["contact_interval"] = interval(e.contact_interval)
                out["overlap_minutes"] = e.minutes
                # Whose stay ran past the venue type's max_stay_minutes and was clipped to it.
                out["index_clipped"] = e.index_clipped
                out["contact_clipped"] = e.contact_clipped
            elif e.kind is EvidenceKind.ENCOUNTER:
                out["encounters"] = e.encounters
                out["first"] = at(e.contact_interval.start) if e.contact_interval else None
                out["last"] = at(e.contact_interval.end) if e.contact_interval else None
            return out

        return {
            "case": self.case_ref,
            "index_person": self.index_person_ref,
            "window": interval(self.window),
            "as_of": at(self.as_of),
            "policy": {"version": self.policy_version, "digest": self.policy_digest},
            "count": self.count(tier),
            "contacts": [
                {
                    "person": refs.get(c.person_id),
                    "tier": c.tier.value,
                    "generation": c.generation,
                    "via": None if c.via_person_id is None else refs.get(c.via_person_id),
                    "minutes": c.minutes,
                    "evidence": [evidence(e) for e in c.evidence],
                }
                for c in contacts
            ],
        }


def _contacts(evidence: EvidenceTable, table: ContactTable, rules: TracingRules) -> list[Contact]:
    """Domain contacts for one root: the strongest first, then by person.

    Built from whole columns (sorted and turned into Python lists in one go), with
    each instant converted once, because a case at a busy venue has thousands.
    """
    rows = np.lexsort((evidence.rule, evidence.index_start, evidence.person))
    column = {f: getattr(evidence, f)[rows].tolist() for f in _EVIDENCE_COLUMNS}
    moments: dict[int, datetime] = {}

    def at(seconds: int) -> datetime:
        moment = moments.get(seconds)
        if moment is None:
            moment = moments[seconds] = from_epoch(seconds)
        return moment

    rule_names: dict[tuple[int, int], str] = {}
    by_person: dict[int, list[Evidence]] = {}
    for person, kind, rule, tier, seconds, via, venue, a, b, c, d, encounters, clipped in zip(
        *(column[f] for f in _EVIDENCE_COLUMNS), strict=True
    ):
        name = rule_names.get((kind, rule))
        if name is None:
            name = rule_names[(kind, rule)] = rules.rule_name(kind, rule)
        by_person.setdefault(person, []).append(
            Evidence(
                kind=KINDS[kind],
                rule=name,
                tier=TIERS[tier],
                seconds=seconds,
                index_person_id=via,
                venue_id=None if venue == NO_VENUE else venue,
                index_interval=Interval(at(a), at(b)),
                contact_interval=Interval(at(c), at(d)),
                encounters=encounters,
                index_clipped=bool(clipped & CLIPPED_INDEX),
                contact_clipped=bool(clipped & CLIPPED_CONTACT),
            )
        )
    order = np.arange(len(table))  # the caller's order
    return [
        Contact(
            person_id=person,
            tier=TIERS[tier],
            generation=generation,
            seconds=seconds,
            evidence=tuple(by_person[person]),
            via_person_id=None if generation == 1 else via,
        )
        for person, tier, generation, seconds, via in zip(
            table.person[order].tolist(),
            table.tier[order].tolist(),
            table.generation[order].tolist(),
            table.seconds[order].tolist(),
            table.via[order].tolist(),
            strict=True,
        )
    ]


_EVIDENCE_COLUMNS = (
    "person",
    "kind",
    "rule",
    "tier",
    "seconds",
    "via",
    "venue",
    "index_start",
    "index_end",
    "contact_start",
    "contact_end",
    "encounters",
    "clipped",
)
