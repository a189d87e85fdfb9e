"""The policy's contact rules as arrays the engine indexes by venue id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chaincut.domain import EvidenceKind
from chaincut.policy import Policy
from chaincut.tracing.columns import I8, I64, KIND_CODES, TIER_CODES

__all__ = ["ENCOUNTER_RULE", "HOUSEHOLD_RULE", "TracingRules"]

ENCOUNTER_RULE = "encounters"
HOUSEHOLD_RULE = "household"


@dataclass(frozen=True)
class TracingRules:
    """The policy's rules as arrays the engine can index by venue id."""

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

    @classmethod
    def build(cls, policy: Policy, venue_types: Mapping[int, str]) -> TracingRules:
        """Rules for ``policy`` given every venue's type (venue id -> type name).

        A venue of a type the policy lacks raises UnknownVenueType naming it (the policy's
        one rule), rather than its visits being left out of every trace unseen.
        """
        size = max(venue_types, default=-1) + 1
        for name in sorted(set(venue_types.values())):
            policy.venue_rule(name)
        names = tuple(sorted(policy.venue_types))
        code_of = {name: i for i, name in enumerate(names)}
        min_overlap = np.zeros(size, dtype=np.int64)
        after_leave = np.zeros(size, dtype=np.int64)
        tier = np.zeros(size, dtype=np.int8)
        rule = np.full(size, -1, dtype=np.int16)
        if venue_types:
            ids = np.fromiter(venue_types.keys(), dtype=np.int64, count=len(venue_types))
            type_names = list(venue_types.values())
            per_type = [policy.venue_types[name].contact for name in names]
            codes = np.array([code_of.get(t, -1) for t in type_names], dtype=np.int16)
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
