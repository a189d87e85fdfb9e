"""Transmission chains from the store: candidate infectors with their evidence, chain trees, links.

A read builds the chains afresh (:func:`chaincut.analytics.chains.infer_chains`) from what the
store holds of the confirmed and probable cases:

- **shared stays**: two cases' stays at one venue that overlap in time;
- **date-level exposures**: two cases the building list relates to one building, over the days
  their coarse exposure periods share (each the policy's ``[clusters]
  coarse_exposure_days_before_onset`` days before the case's day);
- **households** and **encounters** between two cases' people;
- the infectors tracers confirmed (``linked_case``), which always win over inference.

Each case's infectious window follows the policy's ``[infectious_window]`` (from its onset, else
its specimen date, else its report date as a specimen date) to its isolation, or now. Candidates
are ranked by the policy's serial interval (``[reproduction_number]``, a normal density, so that
negative intervals keep a weight), and a chain is active while a member was reported within the
``[clusters] active_days``. A tracer confirms an infector with :meth:`ChainService.confirm`: it
sets the case's ``linked_case``, is audited, and wins over inference from then on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from chaincut.access.audit import AuditTrail, event_for
from chaincut.analytics.chains import (
    CaseCandidates,
    ChainCase,
    ChainGraph,
    ChainNode,
    EvidenceShown,
    SerialIntervalDensity,
    Together,
    TransmissionChains,
    infer_chains,
)
from chaincut.analytics.epicurve import UnlinkedShare
from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.domain.access import Principal
from chaincut.errors import InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.store.cluster_inputs import ClusterCaseRow

__all__ = ["CaseChain", "ChainOverview", "ChainService", "chain_graph_dict", "node_dict"]

_COUNTED = (CaseStatus.CONFIRMED.value, CaseStatus.PROBABLE.value)


@dataclass(frozen=True)
class CaseChain:
    """A case's candidate infectors (with evidence), its place in its chain, and that chain."""

    candidates: CaseCandidates
    node: ChainNode
    chain: ChainGraph
    density: SerialIntervalDensity

    def as_dict(self) -> dict[str, Any]:
        c = self.candidates
        return {
            "case": c.ref,
            "day": c.day.isoformat(),
            "day_is_report": c.day_is_report,
            "serial_interval": self.density.as_dict(),
            "uniform": c.uniform,
            "candidates": [
                {
                    "case": k.ref,
                    "interval_days": k.interval_days,
                    "day_is_report": k.day_is_report,
                    "likelihood": k.likelihood,
                    "evidence": [_evidence_dict(e) for e in k.evidence],
                }
                for k in c.candidates
            ],
            "infector": node_dict(self.node),
            "chain": chain_graph_dict(self.chain),
        }


def _stay(pair: tuple[datetime, datetime] | None) -> list[str] | None:
    return None if pair is None else [pair[0].isoformat(), pair[1].isoformat()]


def _evidence_dict(e: EvidenceShown) -> dict[str, Any]:
    return {
        "kind": e.kind.value,
        "setting": e.setting_id,
        "case_stay": _stay(e.case_stay),
        "candidate_stay": _stay(e.candidate_stay),
        "days": None if e.days is None else [e.days[0].isoformat(), e.days[1].isoformat()],
    }


def node_dict(n: ChainNode) -> dict[str, Any]:
    return {
        "case": n.ref,
        "infector": n.infector,
        "source": n.source.value,
        "likelihood": n.likelihood,
        "generation": n.generation,
        "chain": n.chain,
        "cycle_broken": n.cycle_broken,
    }


def chain_graph_dict(g: ChainGraph) -> dict[str, Any]:
    """A chain as nodes and edges (for a graph: generation per node, confirmed or inferred per edge)."""
    return {
        "chain": g.chain,
        "root": g.root,
        "size": g.size,
        "active": g.active,
        "last_reported": g.last_reported.isoformat(),
        "nodes": [{"case": n.ref, "generation": n.generation, "source": n.source.value} for n in g.nodes],
        "edges": [
            {"infector": e.source, "infectee": e.target, "confirmed": e.confirmed, "likelihood": e.likelihood}
            for e in g.edges
        ],
    }


@dataclass(frozen=True)
class ChainOverview:
    """Every chain counted, the largest as graphs, and per report date the local cases with no source."""

    chains: int
    largest: tuple[ChainGraph, ...]
    first: date  # the unlinked share's first report date
    unlinked: UnlinkedShare

    def as_dict(self) -> dict[str, Any]:
        shares = self.unlinked.share()
        return {
            "chains": self.chains,
            "largest": [chain_graph_dict(g) for g in self.largest],
            "unlinked_share": [
                {
                    "reported": (self.first + timedelta(days=i)).isoformat(),
                    "local": int(n),
                    "no_known_source": int(u),
                    "share": shares[i],
                }
                for i, (n, u) in enumerate(zip(self.unlinked.local, self.unlinked.unlinked, strict=True))
            ],
            "unlinked_share_means": "local cases with no confirmed infector and no candidate infector",
        }


class ChainService:
    """Transmission chains over the store, for epidemiologists, supervisors and tracers."""

    def __init__(self, store: Store, policy: Policy, clock: Clock, zone: ZoneInfo, audit: AuditTrail) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._audit = audit

    @property
    def density(self) -> SerialIntervalDensity:
        r = self._policy.reproduction_number
        return SerialIntervalDensity.normal(r.serial_interval_mean_days, r.serial_interval_sd_days)

    def build(self) -> TransmissionChains:
        """Every chain, inferred afresh from the store."""
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        rules = self._policy.clusters
        window = self._policy.infectious_window
        with self._store.read() as uow:
            rows = uow.cluster_inputs.cases(_COUNTED)
            earliest = min((_day(r, today) for r in rows), default=today)
            since = self._midnight(earliest - timedelta(days=rules.coarse_exposure_days_before_onset))
            stays = uow.cluster_inputs.case_stays(since)
            met = uow.cluster_inputs.case_encounters(since)
            listed = uow.buildings.all()
            listed_links = uow.buildings.case_links()
            venues = uow.cluster_inputs.venues(sorted({v for _, v, _, _ in stays}))
        by_id = {r.id: r for r in rows}
        by_person: dict[int, list[ClusterCaseRow]] = defaultdict(list)
        for r in rows:
            by_person[r.person_id].append(r)
        cases: list[ChainCase] = []
        for r in rows:
            if r.onset_on is not None:
                first = r.onset_on - timedelta(days=window.days_before_onset)
            else:
                first = (r.specimen_on or _day(r, today)) - timedelta(days=window.days_before_specimen)
            opens = datetime.combine(first, time(0), tzinfo=self._zone)
            closes = from_epoch(r.isolated_at) if r.isolated_at is not None else now
            infector = by_id[r.linked_case_id].ref if r.linked_case_id in by_id else None
            cases.append(
                ChainCase(
                    r.ref,
                    r.onset_on,
                    _day(r, today, reported=True),
                    CaseClassification(r.classification),
                    infector,
                    (opens, max(opens, closes)),
                )
            )
        evidence: list[Together] = []
        at_venue: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        for person_id, venue_id, entered, left in stays:
            for r in by_person.get(person_id, []):
                at_venue[venue_id].append((entered, left if left is not None else entered, r.ref))
        for venue_id, visits in at_venue.items():
            setting = f"venue:{venues[venue_id].ref}"
            visits.sort()
            for i, (start_a, end_a, ref_a) in enumerate(visits):
                for start_b, end_b, ref_b in visits[i + 1 :]:
                    if start_b > end_a:
                        break
                    if ref_a != ref_b:
                        evidence.append(
                            Together.stay(
                                ref_a,
                                ref_b,
                                setting,
                                (from_epoch(start_a), from_epoch(end_a)),
                                (from_epoch(start_b), from_epoch(end_b)),
                            )
                        )
        household: dict[int, list[str]] = defaultdict(list)
        for r in rows:
            if r.household_id is not None:
                household[r.household_id].append(r.ref)
        for refs in household.values():
            evidence.extend(Together.household(a, b) for i, a in enumerate(refs) for b in refs[i + 1 :])
        for person_a, person_b, start, end in met:
            for ra in by_person.get(person_a, []):
                for rb in by_person.get(person_b, []):
                    if ra.id != rb.id:
                        evidence.append(
                            Together.encounter(ra.ref, rb.ref, from_epoch(start), from_epoch(end))
                        )
        key_of = {b.ref: (f"venue:{b.venue_ref}" if b.venue_ref else f"building:{b.ref}") for b in listed}
        by_ref = {r.ref: r for r in rows}
        at_building: dict[str, list[ClusterCaseRow]] = defaultdict(list)
        for building, case_ref in listed_links:
            if case_ref in by_ref:
                at_building[building].append(by_ref[case_ref])
        days_before = timedelta(days=rules.coarse_exposure_days_before_onset)
        for building, there in at_building.items():
            for i, a in enumerate(there):
                for b in there[i + 1 :]:
                    first = max(_day(a, today), _day(b, today)) - days_before
                    last = min(_day(a, today), _day(b, today)) - timedelta(days=1)
                    if first <= last:
                        evidence.append(Together.shared_days(a.ref, b.ref, key_of[building], first, last))
        return infer_chains(
            cases, evidence, self.density, zone=self._zone, today=today, active_days=rules.active_days
        )

    def for_case(self, case_ref: str) -> CaseChain:
        """A case's candidate infectors with the evidence, its infector, generation and chain."""
        chains = self.build()
        try:
            chains.index(case_ref)
        except (KeyError, ValueError) as exc:
            raise NotFound(f"no confirmed or probable case {case_ref!r}") from exc
        node = chains.node(case_ref)
        return CaseChain(chains.candidates(case_ref), node, chains.graph(node.chain), self.density)

    def overview(self, limit: int, days: int = 28) -> ChainOverview:
        """How many chains there are, the ``limit`` largest, and the unlinked share of the last ``days``."""
        chains = self.build()
        last = self._clock.now().astimezone(self._zone).date()
        first = last - timedelta(days=days - 1)
        graphs = tuple(chains.graph(k) for k in range(min(limit, chains.chains)))
        return ChainOverview(chains.chains, graphs, first, chains.unlinked_share(first, last))

    def refresh(self, principal: Principal) -> int:
        """Infer every chain and store each case's inferred infector (for cluster pages); audited.

        Returns how many inferred infectors were stored. A tracer's confirmed infector is the
        case's ``linked_case`` and is read live, so it wins at once, before the next run.
        """
        chains = self.build()
        owner = np.repeat(np.arange(len(chains.refs)), np.diff(chains.candidate_start))
        inferred = chains.source == 2
        chosen = inferred[owner] & (chains.candidate == chains.infector[owner])
        at = to_epoch(self._clock.now())
        with self._store.write() as uow:
            ids = uow.cases.ids_for(list(chains.refs))
            rows = [
                (ids[chains.refs[int(i)]], ids[chains.refs[int(chains.infector[i])]], float(p))
                for i, p in zip(owner[chosen], chains.likelihood[chosen], strict=True)
            ]
            uow.inferred_infectors.replace(rows, at)
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "chains.refresh",
                    "analytics/chains",
                    details={
                        "inferred": len(rows),
                        "chains": chains.chains,
                        "policy_version": self._policy.version,
                    },
                ),
            )
        return len(rows)

    def graph_among(self, refs: Sequence[str]) -> dict[str, Any]:
        """The infector edges among ``refs`` (a cluster's members) as nodes and edges, for a graph.

        Read, not inferred: a tracer's confirmed infectors as they stand, else the inferred ones
        of the last :meth:`refresh` (``computed_at``). An edge is drawn when both of its cases
        are among ``refs`` (an infector outside them is named on the node); generations count
        from the members with no infector among them (0), so they are the cluster's own.
        """
        with self._store.read() as uow:
            links = uow.inferred_infectors.links_of(refs)
            computed = uow.inferred_infectors.computed_at()
        wanted = set(links)
        parent: dict[str, tuple[str, bool, float | None]] = {}
        for ref, (confirmed, inferred, likelihood) in links.items():
            if confirmed is not None:
                parent[ref] = (confirmed, True, None)
            elif inferred is not None:
                parent[ref] = (inferred, False, likelihood)
        generation: dict[str, int | None] = {}
        for ref in sorted(wanted):
            path: list[str] = []
            at = ref
            while at not in generation and at in parent and parent[at][0] in wanted and at not in path:
                path.append(at)
                at = parent[at][0]
            if at in path:  # a cycle of confirmed links: no generation for it or below it
                base: int | None = None
            elif at in generation:
                base = generation[at]
            else:
                base = 0
                generation[at] = 0
            for step in reversed(path):
                base = None if base is None else base + 1
                generation[step] = base
        nodes = [
            {
                "case": ref,
                "infector": parent[ref][0] if ref in parent else None,
                "source": ("confirmed" if parent[ref][1] else "inferred") if ref in parent else "none",
                "likelihood": parent[ref][2] if ref in parent else None,
                "generation": generation.get(ref, 0),
            }
            for ref in sorted(wanted)
        ]
        edges = [
            {"infector": p, "infectee": ref, "confirmed": confirmed, "likelihood": likelihood}
            for ref, (p, confirmed, likelihood) in sorted(parent.items())
            if p in wanted
        ]
        return {
            "computed_at": None if computed is None else from_epoch(computed).isoformat(),
            "nodes": nodes,
            "edges": edges,
        }

    def unlinked_share(self, first: date, last: date) -> UnlinkedShare:
        """Per report date, the local cases with no confirmed infector and no candidate."""
        if first > last:
            raise InvalidInput(f"from {first.isoformat()} is after to {last.isoformat()}", field="from")
        return self.build().unlinked_share(first, last)

    def confirm(self, principal: Principal, case_ref: str, infector_ref: str | None) -> None:
        """Record ``infector_ref`` as the case's infector (``linked_case``; None clears it); audited.

        It wins over inference on every later read. A case cannot be its own infector.
        """
        if infector_ref == case_ref:
            raise InvalidInput("infector: a case cannot be its own infector", field="infector")
        with self._store.write() as uow:
            wanted = [case_ref] + ([infector_ref] if infector_ref else [])
            ids = uow.cases.ids_for(wanted)
            if case_ref not in ids:
                raise NotFound(f"no case {case_ref!r}")
            if infector_ref is not None and infector_ref not in ids:
                raise InvalidInput(f"infector: no case {infector_ref!r}", field="infector")
            previous = uow.cases.linked_of([ids[case_ref]]).get(ids[case_ref])
            uow.cases.set_links([(ids[case_ref], ids[infector_ref] if infector_ref else None)])
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "chains.confirm",
                    f"cases/{case_ref}/infector",
                    record=case_ref,
                    details={"infector": infector_ref, "previous": previous},
                ),
            )

    def _midnight(self, day: date) -> int:
        return to_epoch(datetime.combine(day, time(0), tzinfo=self._zone))


def _day(r: ClusterCaseRow, today: date, *, reported: bool = False) -> date:
    first, second = (r.reported_on, r.onset_on) if reported else (r.onset_on, r.reported_on)
    return first or second or today
