"""The policy's contact rules as arrays the engine indexes by venue id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chaincut.domain import EvidenceKind
from chaincut.errors import UnknownVenueType
from chaincut.policy import Policy
from chaincut.tracing.columns import I8, I64, KIND_CODES, TIER_CODES

__all__ = ["ENCOUNTER_RULE", "HOUSEHOLD_RULE", "TracingRules"]

ENCOUNTER_RULE = "encounters"
HOUSEHOLD_RULE = "household"


@dataclass(frozen=True)
class TracingRules:
    """The policy's rules as arrays the engine can index by venue id.

    A venue of a type the policy lacks (registered by another process under another
    policy while this one serves) has no rule: it is marked in ``unknown``, and a trace
    that meets one of its visits is refused naming the type (:meth:`refuse_unknown`),
    while traces that never meet such a venue go on as before.
    """

    min_overlap: I64  # seconds, by venue id
    after_leave: I64  # seconds, by venue id
    tier: I8  # tier code by venue id; 0 for a venue registered after these rules were built
    rule: NDArray[np.int16]  # index into rule_names by venue id
    rule_names: tuple[str, ...]
    encounter_seconds: int
    encounter_tier: int
    household_tier: int
    depth: int
    onward_tiers: frozenset[int]
    onward_tier: int
    # By venue id: index into unknown_types for a venue of a type the policy lacks, else -1.
    unknown: NDArray[np.int16]
    unknown_types: tuple[str, ...]
    known_types: tuple[str, ...]  # the policy's, as a refusal lists them

    @classmethod
    def build(cls, policy: Policy, venue_types: Mapping[int, str]) -> TracingRules:
        """Rules for ``policy`` given every venue's type (venue id -> type name).

        A type the policy lacks does not stop the rules being built: only a trace that
        meets a venue of that type is refused (the policy's one rule, UnknownVenueType,
        naming it), rather than its visits being left out unseen.
        """
        size = max(venue_types, default=-1) + 1
        names = tuple(sorted(policy.venue_types))
        code_of = {name: i for i, name in enumerate(names)}
        unknown_types = tuple(sorted(set(venue_types.values()) - set(names)))
        unknown_of = {name: i for i, name in enumerate(unknown_types)}
        min_overlap = np.zeros(size, dtype=np.int64)
        after_leave = np.zeros(size, dtype=np.int64)
        tier = np.zeros(size, dtype=np.int8)
        rule = np.full(size, -1, dtype=np.int16)
        unknown = np.full(size, -1, dtype=np.int16)
        if venue_types:
            ids = np.fromiter(venue_types.keys(), dtype=np.int64, count=len(venue_types))
            type_names = list(venue_types.values())
            per_type = [policy.venue_types[name].contact for name in names]
            codes = np.array([code_of.get(t, -1) for t in type_names], dtype=np.int16)
            unknown[ids] = np.array([unknown_of.get(t, -1) for t in type_names], dtype=np.int16)
            known = codes >= 0
            lookup_overlap = np.array([c.min_overlap_seconds for c in per_type], dtype=np.int64)
            lookup_after = np.array([c.after_leave_seconds for c in per_type], dtype=np.int64)
            lookup_tier = np.array([TIER_CODES[c.tier] for c in per_type], dtype=np.int8)
            ids, codes = ids[known], codes[known]
            min_overlap[ids] = lookup_overlap[codes]
            after_leave[ids] = lookup_after[codes]
            tier[ids] = lookup_tier[codes]
            rule[ids] = codes
        coc = policy.contacts_of_contacts
        return cls(
            min_overlap=min_overlap,
            after_leave=after_leave,
            tier=tier,
            rule=rule,
            rule_names=tuple(f"venue_types.{n}.contact" for n in names),
            encounter_seconds=policy.encounters.cumulative_seconds,
            encounter_tier=TIER_CODES[policy.encounters.tier],
            household_tier=TIER_CODES[policy.household.tier],
            depth=coc.depth,
            onward_tiers=frozenset(TIER_CODES[t] for t in coc.from_tiers),
            onward_tier=TIER_CODES[coc.tier],
            unknown=unknown,
            unknown_types=unknown_types,
            known_types=names,
        )

    def unknown_mask(self, venue: I64) -> NDArray[np.bool_]:
        """Which of ``venue`` are of a type the policy lacks."""
        found = np.zeros(len(venue), dtype=bool)
        if self.unknown_types:
            inside = (venue >= 0) & (venue < len(self.unknown))
            found[inside] = self.unknown[venue[inside]] >= 0
        return found

    def refuse_unknown(self, venue: I64) -> None:
        """UnknownVenueType naming the first type the policy lacks among ``venue`` (visits a trace meets)."""
        met = self.unknown_mask(venue)
        if met.any():
            name = self.unknown_types[int(self.unknown[venue[met]].min())]
            raise UnknownVenueType(
                name, self.known_types, context=" (this trace meets visits at a venue of that type)"
            )

    def rule_name(self, kind: int, rule: int) -> str:
        if kind == KIND_CODES[EvidenceKind.ENCOUNTER]:
            return ENCOUNTER_RULE
        if kind == KIND_CODES[EvidenceKind.HOUSEHOLD]:
            return HOUSEHOLD_RULE
        return self.rule_names[rule]

    def _known(self, venue: I64) -> NDArray[np.bool_]:
        inside = (venue >= 0) & (venue < len(self.tier))
        known = np.zeros(len(venue), dtype=bool)
        known[inside] = self.tier[venue[inside]] > 0
        return known
