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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from chaincut.access.audit import AuditTrail, event_for
from chaincut.analytics.case_evidence import (
    CaseEvidence,
    OutbreakRead,
    local_midnights,
    order_by,
    read_outbreak,
    unique,
    unique_all,
)
from chaincut.analytics.chain_inputs import (
    ALWAYS_FROM,
    ALWAYS_UNTIL,
    NO_CASE,
    ChainCaseColumns,
    EvidenceColumns,
    EvidenceKind,
    SerialIntervalDensity,
)
from chaincut.analytics.chains import (
    CaseCandidates,
    ChainGraph,
    ChainNode,
    EvidenceShown,
    TransmissionChains,
    infer_chains,
)
from chaincut.analytics.epicurve import CLASSIFICATIONS, NO_DAY, UnlinkedShare
from chaincut.clock import Clock, from_epoch
from chaincut.domain.access import Principal
from chaincut.errors import InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.store.buildings import BuildingRow
from chaincut.store.cluster_inputs import NO_ID, NO_INSTANT, VenueSetting

__all__ = ["CaseChain", "ChainOverview", "ChainService", "chain_graph_dict", "node_dict"]

_KIND = {k: i for i, k in enumerate(EvidenceKind)}
_Rows = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
]
"""Evidence rows as columns: case a, case b (ids), kind, setting, a's stay and b's stay."""


def _ranks(names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each name's position in sorted order."""
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(np.array(names, dtype=np.str_), kind="stable")] = np.arange(len(names))
    return rank


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

    def build(self, read: OutbreakRead | None = None) -> TransmissionChains:
        """Every chain, inferred afresh from the store (or from ``read``, :func:`read_outbreak`).

        The store's cases and evidence go to :func:`infer_chains` as columns (keyed by case id),
        with no object per case or evidence row: a million cases in seconds (bench/clusters_chains.py).
        """
        read = read or read_outbreak(self._store, self._policy, self._clock, self._zone)
        today = read.today
        rules = self._policy.clusters
        window = self._policy.infectious_window
        inputs, listed, listed_links, venues = read.evidence, read.listed, read.listed_links, read.venues
        cases = inputs.cases
        ids = cases.id
        n = len(ids)
        first = np.where(
            cases.onset_on != NO_DAY,
            cases.onset_on - window.days_before_onset,
            np.where(cases.specimen_on != NO_DAY, cases.specimen_on, inputs.day)
            - window.days_before_specimen,
        )
        opens = local_midnights(first.astype(np.int64), self._zone)
        closes = np.where(cases.isolated_at != NO_INSTANT, cases.isolated_at, read.at)
        target = np.minimum(np.searchsorted(ids, cases.linked_case_id), max(n - 1, 0))
        counted = (cases.linked_case_id != NO_ID) & (ids[target] == cases.linked_case_id) if n else target > 0
        code = {c.value: i for i, c in enumerate(CLASSIFICATIONS)}
        columns = ChainCaseColumns(
            key=ids,
            refs=cases.ref,
            onset=cases.onset_on,
            reported=inputs.reported,
            classification=np.array([code[c] for c in cases.classification], dtype=np.int8),
            infector=np.where(counted, cases.linked_case_id, NO_CASE).astype(np.int64),
            window_start=opens,
            window_end=np.maximum(opens, closes).astype(np.int64),
        )
        settings: dict[str, int] = {}
        parts = [
            self._stay_evidence(inputs, venues, settings),
            self._household_evidence(inputs),
            self._encounter_evidence(inputs),
            self._building_evidence(
                inputs, listed, listed_links, settings, rules.coarse_exposure_days_before_onset
            ),
        ]
        evidence = EvidenceColumns(
            a=np.concatenate([p[0] for p in parts]),
            b=np.concatenate([p[1] for p in parts]),
            kind=np.concatenate([p[2] for p in parts]).astype(np.int8),
            setting=np.concatenate([p[3] for p in parts]).astype(np.int32),
            a_start=np.concatenate([p[4] for p in parts]),
            a_end=np.concatenate([p[5] for p in parts]),
            b_start=np.concatenate([p[6] for p in parts]),
            b_end=np.concatenate([p[7] for p in parts]),
            settings=tuple(settings),
        )
        return infer_chains(
            columns, evidence, self.density, zone=self._zone, today=today, active_days=rules.active_days
        )

    @staticmethod
    def _stay_evidence(
        inputs: CaseEvidence, venues: dict[int, VenueSetting], settings: dict[str, int]
    ) -> _Rows:
        """Two cases' stays at one venue that overlap (each stay of a person counts for each of its cases)."""
        stays = inputs.stays
        row, case = inputs.cases_of_people(stays.person_id)
        venue, start, end = stays.venue_id[row], stays.entered_at[row], stays.left_at[row]
        # Venues in the order they first appear, then stays by start, end and reference.
        _, venue_of, _, first_seen = unique_all(venue)
        venue_order = np.argsort(np.argsort(first_seen, kind="stable"), kind="stable")[venue_of.reshape(-1)]
        ref_rank = _ranks(inputs.cases.ref)
        order = order_by(venue_order, start, end, ref_rank[case])
        venue, start, end, case = venue[order], start[order], end[order], case[order]
        firsts, seconds = [], []
        step = 1
        while step < len(venue):
            together = (venue[step:] == venue[:-step]) & (start[step:] <= end[:-step])
            if not together.any():
                break
            i = np.flatnonzero(together)
            firsts.append(i)
            seconds.append(i + step)
            step += 1
        i = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
        j = np.concatenate(seconds) if seconds else np.zeros(0, dtype=np.int64)
        by_row = order_by(i, j)
        i, j = i[by_row], j[by_row]
        keep = case[i] != case[j]
        i, j = i[keep], j[keep]
        setting_of: dict[int, int] = {}
        for venue_id in unique(venue[i]).tolist():
            key = f"venue:{venues[venue_id].ref}"
            setting_of[venue_id] = settings.setdefault(key, len(settings))
        setting = np.array([setting_of[v] for v in venue[i].tolist()], dtype=np.int64)
        ids = inputs.cases.id
        kind = np.full(len(i), _KIND[EvidenceKind.STAY], dtype=np.int64)
        return (ids[case[i]], ids[case[j]], kind, setting, start[i], end[i], start[j], end[j])

    @staticmethod
    def _household_evidence(inputs: CaseEvidence) -> _Rows:
        """Every two cases of one household (households in the order of their first case)."""
        cases = inputs.cases
        housed = np.flatnonzero(cases.household_id != NO_ID)
        housed = housed[np.lexsort((cases.id[housed], cases.household_id[housed]))]
        house = cases.household_id[housed]
        starts = np.flatnonzero(np.concatenate(([True], house[1:] != house[:-1]))) if len(house) else housed
        group = np.cumsum(np.concatenate(([True], house[1:] != house[:-1]))) - 1 if len(house) else housed
        first_id = cases.id[housed[starts]] if len(house) else housed
        housed = housed[np.lexsort((cases.id[housed], first_id[group]))] if len(house) else housed
        house = cases.household_id[housed]
        i, j = _pairs_within_runs(house)
        a, b = cases.id[housed[i]], cases.id[housed[j]]
        always = np.full(len(a), ALWAYS_FROM, dtype=np.int64), np.full(len(a), ALWAYS_UNTIL, dtype=np.int64)
        kind = np.full(len(a), _KIND[EvidenceKind.HOUSEHOLD], dtype=np.int64)
        return (a, b, kind, np.full(len(a), -1, dtype=np.int64), always[0], always[1], always[0], always[1])

    @staticmethod
    def _encounter_evidence(inputs: CaseEvidence) -> _Rows:
        """Every encounter between two different cases' people (each case of each person)."""
        encounter, a, b = inputs.encounter_pairs()
        start, end = inputs.encounters.start_at[encounter], inputs.encounters.end_at[encounter]
        ids = inputs.cases.id
        kind = np.full(len(a), _KIND[EvidenceKind.ENCOUNTER], dtype=np.int64)
        return (ids[a], ids[b], kind, np.full(len(a), -1, dtype=np.int64), start, end, start, end)

    def _building_evidence(
        self,
        inputs: CaseEvidence,
        listed: Sequence[BuildingRow],
        listed_links: Sequence[tuple[str, str]],
        settings: dict[str, int],
        days_before: int,
    ) -> _Rows:
        """Two cases the building list relates to one building, over the days their periods share."""
        key_of = {b.ref: (f"venue:{b.venue_ref}" if b.venue_ref else f"building:{b.ref}") for b in listed}
        position = {ref: i for i, ref in enumerate(inputs.cases.ref)}
        building_no: dict[str, int] = {}
        where, who = [], []
        for building, case_ref in listed_links:
            if case_ref in position:
                where.append(building_no.setdefault(building, len(building_no)))
                who.append(position[case_ref])
        place = np.array(where, dtype=np.int64)
        case = np.array(who, dtype=np.int64)
        i, j = _pairs_within_runs(place)
        day_a, day_b = inputs.day[case[i]], inputs.day[case[j]]
        first = np.maximum(day_a, day_b) - days_before
        last = np.minimum(day_a, day_b) - 1
        keep = first <= last
        i, j, first, last = i[keep], j[keep], first[keep], last[keep]
        names = list(building_no)
        setting_of = [settings.setdefault(key_of[name], len(settings)) for name in names]
        setting = np.array(setting_of, dtype=np.int64)[place[i]] if len(i) else np.zeros(0, dtype=np.int64)
        span_start = local_midnights(first, self._zone)
        span_end = local_midnights(last + 1, self._zone) - 1
        ids = inputs.cases.id
        kind = np.full(len(i), _KIND[EvidenceKind.SHARED_DAYS], dtype=np.int64)
        return (ids[case[i]], ids[case[j]], kind, setting, span_start, span_end, span_start, span_end)

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

    def refresh(self, principal: Principal, read: OutbreakRead | None = None) -> int:
        """Infer every chain (from ``read``, else the store now) and store each case's inferred
        infector (for cluster pages); audited.

        Returns how many inferred infectors were stored. A tracer's confirmed infector is the
        case's ``linked_case`` and is read live, so it wins at once, before the next run.
        """
        read = read or read_outbreak(self._store, self._policy, self._clock, self._zone)
        chains = self.build(read)
        ids = read.evidence.cases.id  # the chains' cases are the read's, in its order
        owner = np.repeat(np.arange(len(chains.refs)), np.diff(chains.candidate_start))
        chosen = (chains.source == 2)[owner] & (chains.candidate == chains.infector[owner])
        case = ids[owner[chosen]]
        infector = ids[chains.infector[owner[chosen]]]
        ppm = np.rint(chains.likelihood[chosen] * 1e6).astype(np.int64)
        with self._store.write() as uow:
            rows = list(zip(case.tolist(), infector.tolist(), ppm.tolist(), strict=True))
            uow.inferred_infectors.replace(rows, read.at)
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


def _pairs_within_runs(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every pair of positions (i < j) whose keys are equal, where equal keys are contiguous
    (a household's cases, a building's), sorted by i then j: one vectorised pass per distance."""
    firsts, seconds = [], []
    step = 1
    while step < len(keys):
        same = keys[step:] == keys[:-step]
        if not same.any():
            break
        i = np.flatnonzero(same)
        firsts.append(i)
        seconds.append(i + step)
        step += 1
    i = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    j = np.concatenate(seconds) if seconds else np.zeros(0, dtype=np.int64)
    by_row = order_by(i, j)
    return i[by_row], j[by_row]
