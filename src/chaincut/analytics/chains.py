"""Transmission chains: who infected whom, ranked from where the cases were together.

**Candidate infectors.** A case ``j`` is a candidate infector of case ``i`` when a piece of
evidence puts them together (a shared venue stay, a household, an encounter, or a date-level
exposure at the same setting) at a time that

* overlaps ``j``'s infectious window (the caller computes each window with
  :mod:`chaincut.tracing.windows`, from the policy), and
* begins before the local midnight that starts ``i``'s day: its onset date, or its report date
  when it has no onset (``day_is_report`` says so). Exposure on the onset day itself is not
  counted: an incubation period is at least a day.

Two cases are together over the intersection of their two stays (a shared venue stay), over
the encounter, over the days of a date-level exposure (local midnight of the first day to the
end of the last), and always for a household (people living together are together every day).

**Ranking.** Each candidate's weight is the serial interval density at ``day_i - day_j`` in
whole days (onset of the case minus onset of the candidate); the weights are normalised over
the case's candidates, so a candidate's likelihood is the relative likelihood that it, rather
than another candidate, infected the case (Wallinga and Teunis, Am J Epidemiol 160:509, 2004,
eq. 1: p_ij = w(t_i - t_j) / sum_k w(t_i - t_k)). The density is a :class:`SerialIntervalDensity`:
a **normal** (the fit that keeps negative intervals, pre-symptomatic transmission: Du et al.,
Emerg Infect Dis 26:1341, 2020) or a **shifted gamma** (a gamma over ``interval + shift``, which
admits intervals down to ``-shift``), with its mean and standard deviation passed in (the
policy's ``[reproduction_number]`` serial interval, or a fit from
:mod:`chaincut.analytics.serial_interval`). A candidate with no onset (asymptomatic, or not yet
known) is placed on its report date, the same rule as for the case itself, and is flagged
(``day_is_report``); reporting follows onset, so such a candidate looks later than it was and
its interval shorter. When every candidate of a case has a density of 0 (a shifted gamma
outside its support), the candidates share the likelihood equally and the case says so
(``uniform``). Candidates are ranked by likelihood, then by the number of evidence rows, then by
reference: the order never depends on the input's order.

**Chains.** Each case's infector is the tracer-confirmed one when there is one (``linked_case``;
it always wins), else its top-ranked candidate (inferred), else none: the case is a root.
Imported cases were infected abroad and never get an inferred infector (Thompson et al.,
Epidemics 29:100356, 2019, as :mod:`chaincut.analytics.reproduction` treats them); their
candidates are still listed. Negative serial intervals let inferred edges close a cycle
(``a`` infects ``b`` infects ``a``); a cycle holding an inferred edge is broken at its weakest
inferred edge (lowest likelihood; ties: the infectee whose reference sorts first), whose infectee
then takes its next-ranked candidate that closes no cycle, or none (a root). Cycles are broken
one at a time, in order of that infectee's reference, and each break is reported. A cycle of
confirmed edges only is never changed: it is reported as a problem, and its cases and everything
they infected have no generation (``None``).

A chain is a connected component of the infector edges, as WHO Go.Data's chains are the
connected components of its relationship list; with one infector per case each chain is a tree,
and a case's generation is its distance from the root (the root is generation 0). A chain is
active while a member was reported fewer than ``active_days`` days before ``today`` (Go.Data:
a chain is active while it has a contact within the follow-up period). Chains are numbered from
0, largest first, then by the reference of the root.

**Unlinked share.** Per report date, the local cases (classified ``local``, ``linked``,
``unlinked`` or ``possibly_local``: the epidemic curve's :data:`LOCAL_CLASSIFICATIONS`) that
have no known source: no confirmed infector and no candidate. It is returned as the epidemic
curve's :class:`UnlinkedShare`, so the situation report draws both the same way: the curve's
share counts cases *classified* ``unlinked`` by tracers, this one cases with no evidence of a
source in the store.

**Scale.** Everything runs on NumPy columns: one pass over the evidence rows in each direction,
a sort of the surviving (case, candidate) rows, and pointer jumping for generations (log of
the deepest chain's depth passes over the cases). Only cycles are walked in Python. The inputs (cases,
evidence, the serial interval density) are defined in :mod:`chaincut.analytics.chain_inputs`:
row objects or columns, which a store fills from one query each.

**Bad input.** A case given twice raises ``ValueError`` (no answer is right). A confirmed
infector that names an unknown case or the case itself, and an evidence row that names an
unknown case, pairs a case with itself, or whose two stays never overlap, are listed in
``left_out`` with the reason; a confirmed cycle is listed in ``problems``. Evidence rows that
are well formed but put no pair together in time are counted (``unused_evidence``). Nothing is
dropped silently; no likelihood is ever NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from chaincut.analytics.chain_inputs import (
    EVIDENCE_KINDS,
    NO_CASE,
    ChainCase,
    ChainCaseColumns,
    EvidenceColumns,
    EvidenceKind,
    SerialIntervalDensity,
    Together,
)
from chaincut.analytics.epicurve import (
    CLASSIFICATIONS,
    LOCAL_CLASSIFICATIONS,
    NO_DAY,
    UnlinkedShare,
    day_number,
)
from chaincut.analytics.sorted_sets import order_by, unique_all
from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import CaseClassification

__all__ = [
    "Candidate",
    "CaseCandidates",
    "ChainEdge",
    "ChainGraph",
    "ChainLeftOut",
    "ChainNode",
    "ChainProblem",
    "CycleBreak",
    "EvidenceShown",
    "LinkSource",
    "TransmissionChains",
    "infer_chains",
]

_EPOCH = date(1970, 1, 1)


class LinkSource(StrEnum):
    """Where a case's infector comes from."""

    CONFIRMED = "confirmed"  # a tracer confirmed it (linked_case)
    INFERRED = "inferred"  # the top-ranked candidate
    NONE = "none"  # no infector: the root of its chain


_NONE, _CONFIRMED, _INFERRED = 0, 1, 2
_SOURCES = (LinkSource.NONE, LinkSource.CONFIRMED, LinkSource.INFERRED)


@dataclass(frozen=True, slots=True)
class EvidenceShown:
    """One evidence row behind a candidate, as seen from the case (``case_stay``) and the candidate.

    Stays are aware UTC datetimes (None for a household); a date-level exposure gives ``days``.
    """

    row: int  # the row's position in the evidence given
    kind: EvidenceKind
    setting_id: str | None
    case_stay: tuple[datetime, datetime] | None
    candidate_stay: tuple[datetime, datetime] | None
    days: tuple[date, date] | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate infector of a case.

    ``interval_days`` is the case's day minus the candidate's (onset, else report date:
    ``day_is_report``); ``likelihood`` is its share of the case's candidates' weights (the
    shares sum to 1); ``evidence`` are the rows that put the two together.
    """

    ref: str
    interval_days: int
    day_is_report: bool
    likelihood: float
    evidence: tuple[EvidenceShown, ...]


@dataclass(frozen=True, slots=True)
class CaseCandidates:
    """A case's candidate infectors, most likely first.

    ``day`` is the case's onset, or its report date when it has none (``day_is_report``);
    ``uniform`` is True when every candidate's density was 0 and they share the likelihood equally.
    """

    ref: str
    day: date
    day_is_report: bool
    uniform: bool
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class ChainNode:
    """A case in its chain: its infector (and where it comes from), generation and chain.

    ``likelihood`` is an inferred infector's; ``generation`` is None below a confirmed cycle.
    """

    ref: str
    infector: str | None
    source: LinkSource
    likelihood: float | None
    generation: int | None
    chain: int
    cycle_broken: bool  # the inferred infector was changed to break a cycle


@dataclass(frozen=True, slots=True)
class ChainEdge:
    """An edge of the chain graph, from infector to infectee."""

    source: str
    target: str
    confirmed: bool
    likelihood: float | None  # an inferred edge's


@dataclass(frozen=True, slots=True)
class ChainGraph:
    """One chain as a graph: nodes ordered by generation then reference, edges by infectee."""

    chain: int
    root: str  # for a chain around a confirmed cycle: the cycle's first reference
    size: int
    active: bool
    last_reported: date
    nodes: tuple[ChainNode, ...]
    edges: tuple[ChainEdge, ...]


@dataclass(frozen=True, slots=True)
class ChainLeftOut:
    """A confirmed infector or an evidence row that links nothing, and why.

    ``row`` is the evidence row's position (None for a confirmed infector).
    """

    case_ref: str
    other_ref: str
    row: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Something in the confirmed links a tracer must look at (a cycle of confirmed infectors)."""

    reason: str
    cases: tuple[str, ...]  # from the reference that sorts first, each followed by its infector


@dataclass(frozen=True, slots=True)
class CycleBreak:
    """An inferred cycle, broken where ``infectee``'s infector went from ``dropped`` to ``replaced_by``."""

    cycle: tuple[str, ...]  # before the break, from the first reference, each followed by its infector
    infectee: str
    dropped: str
    replaced_by: str | None


@dataclass(frozen=True, eq=False)
class TransmissionChains:
    """Candidate infectors, chain trees and generations for a set of cases (see the module's docstring).

    Columns, one entry per case in the input's order: ``day`` (day number of the onset, else
    the report date), ``infector`` (index of the case's infector, :data:`NO_CASE` for a root),
    ``source`` (0 none, 1 confirmed, 2 inferred), ``generation`` (-1: undefined, below a
    confirmed cycle) and ``chain``. Per chain: ``chain_root``, ``chain_size``,
    ``chain_last_reported`` (day number) and ``chain_active``. Candidates are a compressed table:
    case i's are ``candidate[candidate_start[i]:candidate_start[i + 1]]``, most likely first,
    and candidate entry c's evidence rows are ``evidence_row[evidence_start[c]:evidence_start[c + 1]]``.
    """

    refs: tuple[str, ...]
    density: SerialIntervalDensity
    today: date
    active_days: int
    day: npt.NDArray[np.int64]
    onset_known: npt.NDArray[np.bool_]
    reported: npt.NDArray[np.int64]
    local: npt.NDArray[np.bool_]
    candidate_start: npt.NDArray[np.int64]
    candidate: npt.NDArray[np.int64]
    likelihood: npt.NDArray[np.float64]
    uniform: npt.NDArray[np.bool_]
    evidence_start: npt.NDArray[np.int64]
    evidence_row: npt.NDArray[np.int64]
    infector: npt.NDArray[np.int64]
    source: npt.NDArray[np.int8]
    cycle_broken: npt.NDArray[np.bool_]
    generation: npt.NDArray[np.int64]
    chain: npt.NDArray[np.int64]
    chain_root: npt.NDArray[np.int64]
    chain_size: npt.NDArray[np.int64]
    chain_last_reported: npt.NDArray[np.int64]
    chain_active: npt.NDArray[np.bool_]
    chain_member_start: npt.NDArray[np.int64]
    chain_members: npt.NDArray[np.int64]
    left_out: tuple[ChainLeftOut, ...]
    problems: tuple[ChainProblem, ...]
    cycles_broken: tuple[CycleBreak, ...]
    unused_evidence: int
    evidence: EvidenceColumns
    evidence_a: npt.NDArray[np.int64]  # the position of each evidence row's case a (-1: unknown)
    zone: ZoneInfo
    _index: dict[str, int] = field(repr=False, compare=False)

    def index(self, ref: str) -> int:
        """The case's position; KeyError when there is no such case."""
        return self._index[ref]

    def candidates(self, ref: str) -> CaseCandidates:
        """The case's candidate infectors, most likely first, with the evidence for each."""
        i = self.index(ref)
        out = []
        for c in range(int(self.candidate_start[i]), int(self.candidate_start[i + 1])):
            j = int(self.candidate[c])
            rows = self.evidence_row[int(self.evidence_start[c]) : int(self.evidence_start[c + 1])]
            out.append(
                Candidate(
                    ref=self.refs[j],
                    interval_days=int(self.day[i] - self.day[j]),
                    day_is_report=not bool(self.onset_known[j]),
                    likelihood=float(self.likelihood[c]),
                    evidence=tuple(self._shown(int(r), i) for r in rows),
                )
            )
        return CaseCandidates(
            ref=ref,
            day=_EPOCH + timedelta(days=int(self.day[i])),
            day_is_report=not bool(self.onset_known[i]),
            uniform=bool(self.uniform[i]),
            candidates=tuple(out),
        )

    def _shown(self, row: int, case: int) -> EvidenceShown:
        ev = self.evidence
        kind = EVIDENCE_KINDS[int(ev.kind[row])]
        sid = None if int(ev.setting[row]) < 0 else ev.settings[int(ev.setting[row])]
        a_stay = (int(ev.a_start[row]), int(ev.a_end[row]))
        b_stay = (int(ev.b_start[row]), int(ev.b_end[row]))
        mine, theirs = (a_stay, b_stay) if int(self.evidence_a[row]) == case else (b_stay, a_stay)
        if kind is EvidenceKind.HOUSEHOLD:
            return EvidenceShown(row, kind, sid, None, None, None)
        if kind is EvidenceKind.SHARED_DAYS:
            first = from_epoch(mine[0]).astimezone(self.zone).date()
            last = from_epoch(mine[1]).astimezone(self.zone).date()
            return EvidenceShown(row, kind, sid, None, None, (first, last))
        return EvidenceShown(
            row,
            kind,
            sid,
            (from_epoch(mine[0]), from_epoch(mine[1])),
            (from_epoch(theirs[0]), from_epoch(theirs[1])),
            None,
        )

    def node(self, ref: str) -> ChainNode:
        """The case's place in its chain."""
        return self._node(self.index(ref))

    def _node(self, i: int) -> ChainNode:
        parent = int(self.infector[i])
        source = _SOURCES[int(self.source[i])]
        likelihood = None
        if source is LinkSource.INFERRED:
            likelihood = self._likelihood_of(i, parent)
        gen = int(self.generation[i])
        return ChainNode(
            ref=self.refs[i],
            infector=None if parent == NO_CASE else self.refs[parent],
            source=source,
            likelihood=likelihood,
            generation=None if gen < 0 else gen,
            chain=int(self.chain[i]),
            cycle_broken=bool(self.cycle_broken[i]),
        )

    def _likelihood_of(self, i: int, j: int) -> float:
        lo, hi = int(self.candidate_start[i]), int(self.candidate_start[i + 1])
        hit = np.flatnonzero(self.candidate[lo:hi] == j)
        return float(self.likelihood[lo + int(hit[0])])

    @property
    def chains(self) -> int:
        """How many chains there are (roots included: a case with no link is a chain of one)."""
        return len(self.chain_size)

    def graph(self, chain: int) -> ChainGraph:
        """A chain as nodes and edges, for drawing."""
        members = self.chain_members[
            int(self.chain_member_start[chain]) : int(self.chain_member_start[chain + 1])
        ]
        nodes = sorted(
            (self._node(int(i)) for i in members),
            key=lambda n: (n.generation is None, n.generation or 0, n.ref),
        )
        edges = tuple(
            ChainEdge(n.infector, n.ref, n.source is LinkSource.CONFIRMED, n.likelihood)
            for n in sorted(nodes, key=lambda n: n.ref)
            if n.infector is not None
        )
        return ChainGraph(
            chain=chain,
            root=self.refs[int(self.chain_root[chain])],
            size=int(self.chain_size[chain]),
            active=bool(self.chain_active[chain]),
            last_reported=_EPOCH + timedelta(days=int(self.chain_last_reported[chain])),
            nodes=tuple(nodes),
            edges=edges,
        )

    def unlinked_share(self, first: date, last: date) -> UnlinkedShare:
        """Per report date from ``first`` to ``last``: local cases, and those with no known source.

        A case has a known source when a tracer confirmed its infector or it has a candidate.
        """
        if last < first:
            raise ValueError(f"last: {last.isoformat()} is before first {first.isoformat()}")
        start, length = day_number(first), (last - first).days + 1
        offset = self.reported - start
        inside = self.local & (offset >= 0) & (offset < length)
        has_source = (self.source == _CONFIRMED) | (np.diff(self.candidate_start) > 0)
        local = np.bincount(offset[inside], minlength=length).astype(np.int64)
        unlinked = np.bincount(offset[inside & ~has_source], minlength=length).astype(np.int64)
        return UnlinkedShare(local=local, unlinked=unlinked)


def infer_chains(
    cases: ChainCaseColumns | Iterable[ChainCase],
    evidence: EvidenceColumns | Iterable[Together],
    density: SerialIntervalDensity,
    *,
    zone: ZoneInfo,
    today: date,
    active_days: int,
) -> TransmissionChains:
    """Rank each case's candidate infectors and build the chains (see the module's docstring).

    ``zone`` places local days (onsets, date-level exposures) in time; ``today`` and
    ``active_days`` set which chains are active.
    """
    if active_days < 1:
        raise ValueError(f"active_days: expected at least 1, got {active_days}")
    names: dict[int, str] = {}
    if isinstance(cases, ChainCaseColumns):
        columns = cases
    else:
        columns, unknown = ChainCaseColumns.from_cases(cases)
        names |= {k: ref for ref, k in unknown.items()}
    if isinstance(evidence, EvidenceColumns):
        ev = evidence
    else:
        keys = {ref: i for i, ref in enumerate(columns.refs)} | {names[k]: k for k in names}
        ev, unknown_ev = EvidenceColumns.from_rows(evidence, keys, zone)
        names |= {k: ref for ref, k in unknown_ev.items()}
    return _infer(columns, ev, density, zone=zone, today=today, active_days=active_days, names=names)


def _positions(
    sorted_keys: npt.NDArray[np.int64], order: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The case position of each key; -1 for keys that are no case's.

    Store ids are nearly dense, so a table over the keys' range answers in one gather; keys
    spread wider than four times the cases are looked up by binary search instead.
    """
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    low, high = int(sorted_keys[0]), int(sorted_keys[-1])
    if high - low < 4 * len(sorted_keys) + 1024:
        table = np.full(high - low + 1, -1, dtype=np.int64)
        table[sorted_keys - low] = order
        inside = (keys >= low) & (keys <= high)
        return np.where(inside, table[np.where(inside, keys - low, 0)], -1).astype(np.int64)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[at] == keys, order[at], -1).astype(np.int64)


def _local_midnights(days: npt.NDArray[np.int64], zone: ZoneInfo) -> npt.NDArray[np.int64]:
    """Epoch seconds of local midnight starting each day number."""
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    unique, inverse, _ = unique_all(days)[:3]
    starts = np.array(
        [to_epoch(datetime.combine(_EPOCH + timedelta(days=int(d)), time(0), tzinfo=zone)) for d in unique],
        dtype=np.int64,
    )
    return starts[inverse.reshape(-1)]


def _infer(
    cases: ChainCaseColumns,
    ev: EvidenceColumns,
    density: SerialIntervalDensity,
    *,
    zone: ZoneInfo,
    today: date,
    active_days: int,
    names: Mapping[int, str],
) -> TransmissionChains:
    n = len(cases.key)
    refs = cases.refs
    index: dict[str, int] = {}
    for i, ref in enumerate(refs):
        if ref in index:
            raise ValueError(f"case {ref!r} is given twice")
        index[ref] = i
    order = np.argsort(cases.key, kind="stable").astype(np.int64)
    sorted_keys = cases.key[order]
    if n > 1 and bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
        dup = int(sorted_keys[1:][sorted_keys[1:] == sorted_keys[:-1]][0])
        raise ValueError(f"case key {dup} is given twice")

    def name(key: int) -> str:
        return names.get(key, f"<unknown case key {key}>")

    ref_rank = np.empty(n, dtype=np.int64)
    ref_rank[np.argsort(np.array(refs, dtype=np.str_), kind="stable")] = np.arange(n)
    day = np.where(cases.onset == NO_DAY, cases.reported, cases.onset)
    onset_known = cases.onset != NO_DAY
    midnight = _local_midnights(day, zone)
    window_ok = cases.window_start <= cases.window_end

    # Confirmed infectors.
    left_out: list[ChainLeftOut] = []
    confirmed = np.full(n, NO_CASE, dtype=np.int64)
    named = np.flatnonzero(cases.infector != NO_CASE)
    named_pos = _positions(sorted_keys, order, cases.infector[named])
    for i, p, k in zip(named.tolist(), named_pos.tolist(), cases.infector[named].tolist(), strict=True):
        if p < 0:
            left_out.append(ChainLeftOut(refs[i], name(k), None, "confirmed infector: unknown case"))
        elif p == i:
            left_out.append(ChainLeftOut(refs[i], refs[i], None, "confirmed infector: the case itself"))
        else:
            confirmed[i] = p

    # Evidence rows: known cases, two different cases, stays that overlap.
    pa = _positions(sorted_keys, order, ev.a)
    pb = _positions(sorted_keys, order, ev.b)
    ts = np.maximum(ev.a_start, ev.b_start)
    te = np.minimum(ev.a_end, ev.b_end)
    unknown_a, unknown_b = pa < 0, pb < 0
    same = ~unknown_a & ~unknown_b & (pa == pb)
    apart = ~unknown_a & ~unknown_b & ~same & (ts > te)
    for r in np.flatnonzero(unknown_a | unknown_b | same | apart).tolist():
        a_name = refs[int(pa[r])] if pa[r] >= 0 else name(int(ev.a[r]))
        b_name = refs[int(pb[r])] if pb[r] >= 0 else name(int(ev.b[r]))
        if unknown_a[r]:
            left_out.append(ChainLeftOut(a_name, b_name, r, "unknown case"))
        elif unknown_b[r]:
            left_out.append(ChainLeftOut(b_name, a_name, r, "unknown case"))
        elif same[r]:
            left_out.append(ChainLeftOut(a_name, b_name, r, "a case together with itself"))
        else:
            left_out.append(ChainLeftOut(a_name, b_name, r, "the two stays do not overlap in time"))
    good = np.flatnonzero(~(unknown_a | unknown_b | same | apart))

    # Both directions: the candidate j, the case i, when they were together.
    row_parts, cand_parts, case_parts = [], [], []
    used = np.zeros(len(ev.a), dtype=np.bool_)
    t0, t1 = ts[good], te[good]
    for cand_all, case_all in ((pa[good], pb[good]), (pb[good], pa[good])):
        ws, we = cases.window_start[cand_all], cases.window_end[cand_all]
        keep = window_ok[cand_all] & (t0 <= we) & (t1 >= ws) & (np.maximum(t0, ws) < midnight[case_all])
        row_parts.append(good[keep])
        cand_parts.append(cand_all[keep])
        case_parts.append(case_all[keep])
        used[good[keep]] = True
    del t0, t1, ws, we, keep, cand_all, case_all
    unused = int(len(good) - int(used[good].sum()))
    rows, cand, case = np.concatenate(row_parts), np.concatenate(cand_parts), np.concatenate(case_parts)
    del row_parts, cand_parts, case_parts

    # One entry per (case, candidate), evidence rows in order.
    by_pair = order_by(case, cand, rows)
    rows, cand, case = rows[by_pair], cand[by_pair], case[by_pair]
    del by_pair
    if len(rows):
        new = np.concatenate(([True], (case[1:] != case[:-1]) | (cand[1:] != cand[:-1])))
    else:
        new = np.zeros(0, dtype=np.bool_)
    pair_first = np.flatnonzero(new).astype(np.int64)
    pair_case, pair_cand = case[pair_first], cand[pair_first]
    pair_count = np.diff(np.append(pair_first, len(rows))).astype(np.int64)
    logw = density.log_density(day[pair_case] - day[pair_cand])

    # Rank within each case: likelihood, evidence rows, then reference.
    rank = np.lexsort((ref_rank[pair_cand], -pair_count, -logw, pair_case))
    pair_case, pair_cand, pair_count, logw = pair_case[rank], pair_cand[rank], pair_count[rank], logw[rank]
    old_first = pair_first[rank]
    evidence_start = np.concatenate(([0], np.cumsum(pair_count))).astype(np.int64)
    gather = np.repeat(old_first - evidence_start[:-1], pair_count) + np.arange(len(rows), dtype=np.int64)
    evidence_row = rows[gather]
    del rows, cand, case, gather

    candidate_start = np.searchsorted(pair_case, np.arange(n + 1)).astype(np.int64)
    counts = np.diff(candidate_start)
    has = counts > 0
    group = np.repeat(np.arange(n), counts)
    top = np.full(n, -np.inf)
    top[has] = logw[candidate_start[:-1][has]]  # ranked: the first has the highest density
    uniform = has & ~np.isfinite(top)
    safe_top = np.where(np.isfinite(top), top, 0.0)
    weight = np.where(uniform[group], 1.0, np.exp(logw - safe_top[group]))
    total = np.bincount(group, weights=weight, minlength=n)
    likelihood = weight / np.where(total > 0, total, 1.0)[group]

    # Infectors: confirmed, else the top candidate (never for imported cases).
    imported = cases.classification == CLASSIFICATIONS.index(CaseClassification.IMPORTED)
    infector = confirmed.copy()
    source = np.where(confirmed != NO_CASE, _CONFIRMED, _NONE).astype(np.int8)
    infer = (confirmed == NO_CASE) & has & ~imported
    infector[infer] = pair_cand[candidate_start[:-1][infer]]
    source[infer] = _INFERRED

    cycle_broken, confirmed_cycles, problems, breaks = _break_cycles(
        infector, source, likelihood, candidate_start, pair_cand, ref_rank, refs
    )
    generation, root = _generations(infector, confirmed_cycles, ref_rank)
    roots, chain_of_root, size = unique_all(root)[:3]
    chain_of_root = chain_of_root.reshape(-1)
    last_reported = np.full(len(roots), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_reported, chain_of_root, cases.reported)
    numbering = np.lexsort((ref_rank[roots], -size))
    renumber = np.empty(len(roots), dtype=np.int64)
    renumber[numbering] = np.arange(len(roots))
    chain = renumber[chain_of_root]
    chain_root, chain_size, chain_last = roots[numbering], size[numbering], last_reported[numbering]
    chain_members = np.lexsort((ref_rank, chain)).astype(np.int64)
    member_start = np.concatenate(([0], np.cumsum(chain_size))).astype(np.int64)

    local_codes = [i for i, c in enumerate(CLASSIFICATIONS) if c in LOCAL_CLASSIFICATIONS]
    left_out.sort(key=lambda x: (x.case_ref, x.other_ref, -1 if x.row is None else x.row, x.reason))
    return TransmissionChains(
        refs=refs,
        density=density,
        today=today,
        active_days=active_days,
        day=day,
        onset_known=onset_known,
        reported=cases.reported,
        local=np.isin(cases.classification, np.array(local_codes, dtype=np.int8)),
        candidate_start=candidate_start,
        candidate=pair_cand,
        likelihood=likelihood,
        uniform=uniform,
        evidence_start=evidence_start,
        evidence_row=evidence_row,
        infector=infector,
        source=source,
        cycle_broken=cycle_broken,
        generation=generation,
        chain=chain,
        chain_root=chain_root,
        chain_size=chain_size.astype(np.int64),
        chain_last_reported=chain_last,
        chain_active=(day_number(today) - chain_last) < active_days,
        chain_member_start=member_start,
        chain_members=chain_members,
        left_out=tuple(left_out),
        problems=tuple(problems),
        cycles_broken=tuple(breaks),
        unused_evidence=unused,
        evidence=ev,
        evidence_a=pa,
        zone=zone,
        _index=index,
    )


def _break_cycles(
    infector: npt.NDArray[np.int64],
    source: npt.NDArray[np.int8],
    likelihood: npt.NDArray[np.float64],
    candidate_start: npt.NDArray[np.int64],
    pair_cand: npt.NDArray[np.int64],
    ref_rank: npt.NDArray[np.int64],
    refs: Sequence[str],
) -> tuple[npt.NDArray[np.bool_], list[list[int]], list[ChainProblem], list[CycleBreak]]:
    """Break the cycles holding an inferred edge, in place; report the confirmed ones.

    Returns which cases had their inferred infector changed, the confirmed cycles (each case
    followed by its infector), the problems and the breaks (see the module's docstring for the rule).
    """
    cycle_broken = np.zeros(len(infector), dtype=np.bool_)
    problems: list[ChainProblem] = []
    breaks: list[CycleBreak] = []
    on_cycle = _on_cycles(infector)
    confirmed_cycles: list[list[int]] = []
    if on_cycle.any():
        cycles = _cycles(infector, on_cycle, ref_rank)
        for members in cycles:
            if all(source[m] == _CONFIRMED for m in members):
                confirmed_cycles.append(members)
                problems.append(
                    ChainProblem(
                        "a cycle of confirmed infectors: each case was confirmed as infected by the next,"
                        " and the last by the first",
                        tuple(refs[m] for m in members),
                    )
                )
        inferred_cycles = [m for m in cycles if any(source[x] == _INFERRED for x in m)]
        weakest = []
        for members in inferred_cycles:
            inferred = [m for m in members if source[m] == _INFERRED]
            lik = {
                m: float(likelihood[_entry(candidate_start, pair_cand, m, int(infector[m]))])
                for m in inferred
            }
            weakest.append((min(inferred, key=lambda m: (lik[m], ref_rank[m])), members))
        for m, members in sorted(weakest, key=lambda w: int(ref_rank[w[0]])):
            dropped = int(infector[m])
            start = _entry(candidate_start, pair_cand, m, dropped) + 1
            infector[m], source[m] = NO_CASE, _NONE
            cycle_broken[m] = True
            replacement: int | None = None
            for c in range(start, int(candidate_start[m + 1])):
                j = int(pair_cand[c])
                if not _descends_from(infector, j, m):
                    replacement = j
                    break
            if replacement is not None:
                infector[m], source[m] = replacement, _INFERRED
            breaks.append(
                CycleBreak(
                    tuple(refs[x] for x in members),
                    refs[m],
                    refs[dropped],
                    None if replacement is None else refs[replacement],
                )
            )

    return cycle_broken, confirmed_cycles, problems, breaks


def _entry(
    candidate_start: npt.NDArray[np.int64], candidate: npt.NDArray[np.int64], case: int, who: int
) -> int:
    """The position of ``who`` among ``case``'s candidates in the candidate table."""
    lo, hi = int(candidate_start[case]), int(candidate_start[case + 1])
    return lo + int(np.flatnonzero(candidate[lo:hi] == who)[0])


def _on_cycles(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which cases lie on a cycle of ``parent`` (each case has at most one parent).

    Peels off cases nobody points to, layer by layer; in a graph where each node has at most
    one parent, what never peels off is exactly the cycles.
    """
    n = len(parent)
    has_parent = parent >= 0
    indegree = np.bincount(parent[has_parent], minlength=n)
    alive = np.ones(n, dtype=np.bool_)
    frontier = np.flatnonzero(indegree == 0)
    while len(frontier):
        alive[frontier] = False
        up = parent[frontier]
        up = up[up >= 0]
        if not len(up):
            break
        touched, _, dec = unique_all(up)[:3]
        indegree[touched] -= dec
        frontier = touched[(indegree[touched] == 0) & alive[touched]]
    on: npt.NDArray[np.bool_] = alive & has_parent
    return on


def _cycles(
    parent: npt.NDArray[np.int64], on_cycle: npt.NDArray[np.bool_], ref_rank: npt.NDArray[np.int64]
) -> list[list[int]]:
    """Each cycle's cases from the one whose reference sorts first, each followed by its infector."""
    seen: set[int] = set()
    cycles = []
    for start in sorted(np.flatnonzero(on_cycle).tolist(), key=lambda i: int(ref_rank[i])):
        if start in seen:
            continue
        members = [start]
        seen.add(start)
        at = int(parent[start])
        while at != start:
            members.append(at)
            seen.add(at)
            at = int(parent[at])
        cycles.append(members)
    return cycles


def _descends_from(parent: npt.NDArray[np.int64], case: int, ancestor: int) -> bool:
    """Whether ``ancestor`` is ``case`` or among its infectors' infectors (cycles elsewhere are stopped)."""
    seen: set[int] = set()
    at = case
    while at >= 0 and at not in seen:
        if at == ancestor:
            return True
        seen.add(at)
        at = int(parent[at])
    return False


def _generations(
    parent: npt.NDArray[np.int64], confirmed_cycles: Sequence[list[int]], ref_rank: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each case's generation (-1 at or below a confirmed cycle) and its chain's root.

    Pointer jumping: each case holds an ancestor and its distance to it; each pass replaces
    the ancestor by the ancestor's ancestor, so the root is reached in log2(depth) passes.
    A confirmed cycle's cases all point at its first reference, which stands in for a root.
    """
    n = len(parent)
    jump = np.where(parent >= 0, parent, np.arange(n)).astype(np.int64)
    dist = (parent >= 0).astype(np.int64)
    undefined_root = np.zeros(n, dtype=np.bool_)
    for members in confirmed_cycles:
        rep = min(members, key=lambda m: int(ref_rank[m]))
        jump[members] = rep
        dist[members] = 0
        undefined_root[rep] = True
    while True:
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        dist = dist + dist[jump]
        jump = nxt
    generation = np.where(undefined_root[jump], -1, dist).astype(np.int64)
    return generation, jump
