"""Cluster ids that stay stable across runs, and tracers' decisions that win over inference.

Each run of :func:`~chaincut.analytics.clusters.infer_clusters` finds clusters afresh. To keep
the ids people know them by, :func:`settle` matches the run's clusters to the stored ones:

- each stored cluster's **successor** is the fresh cluster holding most of its cases (ties: the
  larger fresh cluster, then the first in the run's order); a stored cluster holding none of the
  run's clustered cases has none and is **dissolved**;
- a fresh cluster that is the successor of stored clusters keeps the **oldest** id (ids grow with
  age); the others are recorded as **merged** into it. A cluster that grows keeps its id; one
  that splits keeps it in the part holding most of its cases, the other parts get new ids;
- a fresh cluster that succeeds none gets a new id.

Then the decisions: a **rejected** membership (cluster, case) takes the case out of that
cluster (or of the cluster it was merged into) on every run; a **confirmed** one puts the case
there whatever inference says, keeping the cluster alive on its confirmed members alone if
need be. Clusters left with fewer than ``min_cases`` cases are dropped (new) or dissolved
(stored). Pure: the store reads and writes around it (``analytics.cluster_service``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Decision", "MembershipDecision", "Settled", "SettledCluster", "settle", "survivor"]


class Decision(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class MembershipDecision:
    """A tracer's decision on whether ``case`` belongs to stored cluster ``cluster_id``."""

    cluster_id: int
    case: int
    decision: Decision


@dataclass(frozen=True, slots=True)
class SettledCluster:
    """A cluster after settling: its stored id (None: new), the run's cluster it came from, its cases."""

    id: int | None
    fresh_index: int | None  # None when it lives on its confirmed members alone
    cases: frozenset[int]
    confirmed: frozenset[int]  # the cases a decision placed here


@dataclass(frozen=True, slots=True)
class Settled:
    clusters: tuple[SettledCluster, ...]
    merged: tuple[tuple[int, int], ...]  # (absorbed id, surviving id)
    dissolved: tuple[int, ...]


def survivor(cluster_id: int, merged_into: Mapping[int, int]) -> int:
    """The id a cluster lives on under: itself, or the cluster it was (transitively) merged into."""
    seen = {cluster_id}
    while cluster_id in merged_into:
        cluster_id = merged_into[cluster_id]
        if cluster_id in seen:
            raise ValueError(f"cluster {cluster_id} is recorded as merged into itself")
        seen.add(cluster_id)
    return cluster_id


def settle(
    stored: Mapping[int, Collection[int]],
    fresh: Sequence[Collection[int]],
    decisions: Sequence[MembershipDecision],
    *,
    merged_into: Mapping[int, int],
    min_cases: int,
) -> Settled:
    """Match the run's ``fresh`` clusters to the ``stored`` ones (id -> cases) and apply ``decisions``.

    ``merged_into`` maps ids merged by earlier runs to the id that absorbed them (decisions on an
    absorbed cluster apply to its survivor). Deterministic: the same input gives the same output.
    """
    where: dict[int, int] = {}
    for index, held in enumerate(fresh):
        for case in held:
            if case in where:
                raise ValueError(f"case {case} is in two of the run's clusters")
            where[case] = index
    heirs: dict[int, list[int]] = defaultdict(list)
    dissolved: list[int] = []
    for cluster_id in sorted(stored):
        overlap = Counter(where[c] for c in stored[cluster_id] if c in where)
        if not overlap:
            dissolved.append(cluster_id)
            continue
        successor = min(overlap, key=lambda i: (-overlap[i], -len(fresh[i]), i))
        heirs[successor].append(cluster_id)
    ids: list[int | None] = [None] * len(fresh)
    merged: list[tuple[int, int]] = []
    for index, olds in heirs.items():
        keeper = min(olds)
        ids[index] = keeper
        merged.extend((old, keeper) for old in olds if old != keeper)

    members: dict[int, set[int]] = {i: set(m) for i, m in enumerate(fresh)}
    by_id = {cluster_id: i for i, cluster_id in enumerate(ids) if cluster_id is not None}
    merges = {**merged_into, **dict(merged)}
    confirmed: dict[int, set[int]] = defaultdict(set)  # stored id -> cases
    for d in sorted(decisions, key=lambda d: (d.decision != Decision.REJECTED, d.cluster_id, d.case)):
        target = survivor(d.cluster_id, merges)
        if d.decision is Decision.REJECTED:
            holder = by_id.get(target)
            if holder is not None:
                members[holder].discard(d.case)
        else:
            confirmed[target].add(d.case)
    placed = {case: target for target, cases in confirmed.items() for case in cases}
    for held_cases in members.values():
        held_cases.difference_update(placed)

    clusters: list[SettledCluster] = []
    kept: set[int] = set()
    for index, carried in enumerate(ids):
        extra = confirmed.get(carried, set()) if carried is not None else set()
        together = members[index] | extra
        if len(together) < min_cases:
            continue
        if carried is not None:
            kept.add(carried)
        clusters.append(SettledCluster(carried, index, frozenset(together), frozenset(extra)))
    for target in sorted(confirmed):
        if target not in by_id and len(confirmed[target]) >= min_cases:
            alone = frozenset(confirmed[target])
            clusters.append(SettledCluster(target, None, alone, alone))
            kept.add(target)
    absorbed = {old for old, _ in merged}
    carried_ids = {i for i in ids if i is not None}
    gone = sorted(({*dissolved} | carried_ids) - kept - absorbed)
    return Settled(tuple(clusters), tuple(sorted(merged)), tuple(gone))
