"""Clusters of cases, inferred from where the cases were and from their direct links.

A cluster is a set of cases linked through shared settings (venues, residential buildings),
households, encounters and the links tracers record (``linked_case``). The method is
"setting first", the way the CHP's investigators named clusters after one venue:

1. **Setting groups.** At each setting whose kind links cases (the policy's
   ``non_linking_kinds`` are where cases were taken or tested, not where they met: hospitals,
   clinics, quarantine hotels...), the cases exposed there are ordered by their day (onset, or
   report date when there is no onset) and split where consecutive days are more than
   ``interval_days`` apart; each run of at least ``min_cases`` cases is a group.
2. **Venue groups merge** when they share at least ``merge_min_shared_cases`` cases: the same
   people at two venues (the dance halls of one network). A single shared case never merges
   two venues, so one person who went to a market and a restaurant does not chain two
   outbreaks into one (single linkage over all settings makes a giant component that swallows
   the small clusters).
3. **Each case joins one cluster**: of the merged venue groups it is in, the largest (ties:
   the one whose first setting id sorts first).
4. **Attach-only settings** (``attach_only_kinds``: residential buildings, which hold many
   households) never join two clusters: their cases that are in no venue cluster join the
   cluster most of the building's other cases are in, or form the building's own cluster.
   Buildings with cases in venue clusters go first (voting with those alone), then the others,
   largest first, so the result does not depend on how settings are named.
5. **Direct links** (household, encounter, ``linked_case``) join their two cases' clusters.

Clusters of fewer than ``min_cases`` cases are dropped. Coarse, date-level exposures (the
Department of Health's building list relates buildings to case numbers with no times) are
exposures in the ``coarse_exposure_days_before_onset`` days before the case's day. Exposures
that name an unknown case or setting, or a setting that does not link cases, are reported in
``left_out`` with the reason, never dropped silently. The output is sorted and repeats exactly
for the same input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from chaincut.analytics.epicurve import NO_DAY, day_number
from chaincut.analytics.sorted_sets import counted, isin, order_by, unique
from chaincut.policy.model import ClusterRules

__all__ = [
    "NO_TIME",
    "Cluster",
    "ClusterCase",
    "ClusterColumns",
    "ClusterFound",
    "ClusterInference",
    "ClusterStatus",
    "DirectLink",
    "Exposure",
    "LeftOut",
    "LinkKind",
    "Membership",
    "Setting",
    "building_kind",
    "infer_cluster_columns",
    "infer_clusters",
]

_EPOCH = date(1970, 1, 1)


class LinkKind(StrEnum):
    """Why two cases are linked directly, with no setting between them."""

    HOUSEHOLD = "household"
    ENCOUNTER = "encounter"
    LINKED_CASE = "linked_case"  # an epidemiological link recorded by a tracer


class ClusterStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class ClusterCase:
    """A case: its reference, onset date (None when asymptomatic or unknown) and report date."""

    ref: str
    onset: date | None
    reported: date
    classification: str = ""

    @property
    def day(self) -> date:
        """The day the case is placed on: its onset, or its report date when it has none."""
        return self.onset if self.onset is not None else self.reported


@dataclass(frozen=True, slots=True)
class Setting:
    """A place cases were: ``kind`` is its type (``restaurant``, ``residence``, ``hospital``...)."""

    id: str
    kind: str
    name_en: str = ""
    name_zh: str = ""


@dataclass(frozen=True, slots=True)
class Exposure:
    """A case at a setting: from ``start`` to ``end``, or coarse (both None: the date is not known)."""

    case_ref: str
    setting_id: str
    start: datetime | None = None
    end: datetime | None = None

    @property
    def coarse(self) -> bool:
        return self.start is None


@dataclass(frozen=True, slots=True)
class DirectLink:
    """Two cases linked with no setting between them (``day`` when it is known)."""

    case_a: str
    case_b: str
    kind: LinkKind
    day: date | None = None


@dataclass(frozen=True, slots=True)
class Membership:
    """The evidence that puts a case in its cluster: a setting (with when) or a direct link."""

    case_ref: str
    setting_id: str | None  # None for a direct link
    linked_case: str | None  # the other case of a direct link
    link: LinkKind | None
    start: datetime | None  # a timed exposure's stay
    end: datetime | None
    first_day: date | None  # a coarse exposure's date range (inclusive), or a link's day
    last_day: date | None


@dataclass(frozen=True, slots=True)
class Cluster:
    """A cluster: its cases (sorted), settings, evidence, onsets, size by day and status."""

    cases: tuple[str, ...]
    settings: tuple[str, ...]
    evidence: tuple[Membership, ...]
    first_onset: date | None
    last_onset: date | None
    last_reported: date
    size_by_day: tuple[tuple[date, int], ...]  # cases by their day (onset, else report date)
    status: ClusterStatus

    @property
    def size(self) -> int:
        return len(self.cases)


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An exposure or link that links no cases, and why."""

    case_ref: str
    target: str  # the setting id, or the other case of a link
    reason: str


@dataclass(frozen=True, slots=True)
class ClusterInference:
    clusters: tuple[Cluster, ...]  # largest first, then by first day and first case
    left_out: tuple[LeftOut, ...]


_LINK_KINDS: tuple[LinkKind, ...] = tuple(LinkKind)
NO_TIME = np.iinfo(np.int64).min
"""A coarse exposure's start and end in :class:`ClusterColumns` (no time known)."""


@dataclass(frozen=True)
class ClusterColumns:
    """The input of cluster inference as columns, for a store's million cases.

    Cases: ``refs``, ``day`` (day numbers, days since 1970-01-01, of the onset, else the report
    date) and ``reported``. Settings: ``setting_ids`` and ``setting_kinds``. Exposures, one entry
    each: the case's and the setting's positions, and the stay in epoch seconds (``start`` and
    ``end``; :data:`NO_TIME` for a coarse exposure). Direct links: the two cases' positions, the
    kind (a position in :class:`LinkKind`'s order) and the day number (``NO_DAY``: not known).
    """

    refs: tuple[str, ...]
    day: npt.NDArray[np.int64]
    reported: npt.NDArray[np.int64]
    setting_ids: tuple[str, ...]
    setting_kinds: tuple[str, ...]
    exposure_case: npt.NDArray[np.int64]
    exposure_setting: npt.NDArray[np.int64]
    exposure_start: npt.NDArray[np.int64]
    exposure_end: npt.NDArray[np.int64]
    link_a: npt.NDArray[np.int64]
    link_b: npt.NDArray[np.int64]
    link_kind: npt.NDArray[np.int8]
    link_day: npt.NDArray[np.int64]


@dataclass(frozen=True)
class ClusterFound:
    """Clusters as columns (largest first, as :class:`ClusterInference`), with their evidence.

    Cluster k's cases are ``member[member_start[k]:member_start[k + 1]]`` (positions, by
    reference), its evidence rows ``evidence_start[k]`` to ``evidence_start[k + 1]``, ordered as
    :class:`Cluster`'s evidence: a setting's (``evidence_setting`` >= 0, ``evidence_exposure`` the
    exposure's position) or a direct link's (``evidence_linked`` the other case, ``evidence_link``
    its kind). Day numbers (``NO_DAY``: none) and epoch seconds (``NO_TIME``: none) as in
    :class:`Membership`; a timed stay's days are its UTC dates. ``left_exposures`` are the
    exposures at settings whose kind links no cases; ``self_links`` the links of a case to itself.
    """

    member_start: npt.NDArray[np.int64]
    member: npt.NDArray[np.int64]
    evidence_start: npt.NDArray[np.int64]
    evidence_case: npt.NDArray[np.int64]
    evidence_setting: npt.NDArray[np.int64]
    evidence_exposure: npt.NDArray[np.int64]
    evidence_linked: npt.NDArray[np.int64]
    evidence_link: npt.NDArray[np.int64]
    evidence_first: npt.NDArray[np.int64]
    evidence_last: npt.NDArray[np.int64]
    evidence_start_at: npt.NDArray[np.int64]
    evidence_end_at: npt.NDArray[np.int64]
    left_exposures: npt.NDArray[np.int64]
    self_links: npt.NDArray[np.int64]

    @property
    def clusters(self) -> int:
        return len(self.member_start) - 1


def _ranks(names: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each name's position in sorted order (names are distinct)."""
    rank = np.empty(len(names), dtype=np.int64)
    if len(names):
        rank[np.argsort(np.array(names, dtype=np.str_), kind="stable")] = np.arange(len(names))
    return rank


def _components(nodes: int, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each node's component, named by its smallest node (so results do not depend on order)."""
    from scipy import sparse  # loaded when used, as scipy.stats is
    from scipy.sparse import csgraph

    graph = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(nodes, nodes)).tocsr()
    _, label = csgraph.connected_components(graph, directed=False)
    smallest = np.full(nodes, nodes, dtype=np.int64)
    np.minimum.at(smallest, label, np.arange(nodes, dtype=np.int64))
    out: npt.NDArray[np.int64] = smallest[label]
    return out


def _firsts(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Where each run of equal (sorted) keys begins."""
    out = np.ones(len(keys), dtype=np.bool_)
    out[1:] = keys[1:] != keys[:-1]
    return out


def infer_cluster_columns(columns: ClusterColumns, rules: ClusterRules) -> ClusterFound:
    """Infer the clusters from columns (the module's method; :func:`infer_clusters` over rows).

    NumPy over the exposures; only the attach-only groups (residential buildings) are walked in
    Python, one group at a time, because each one's vote sees the cases placed before it.
    """
    c = columns
    n, m = len(c.refs), len(c.setting_ids)
    ref_rank, setting_rank = _ranks(c.refs), _ranks(c.setting_ids)
    linking = np.array([k not in rules.non_linking_kinds for k in c.setting_kinds], dtype=np.bool_)
    attach_only = np.array([k in rules.attach_only_kinds for k in c.setting_kinds], dtype=np.bool_)
    links_somewhere = linking[c.exposure_setting] if m else np.zeros(0, dtype=np.bool_)
    left_exposures = np.flatnonzero(~links_somewhere).astype(np.int64)
    kept = np.flatnonzero(links_somewhere)

    # 1. Setting groups: each setting's cases by (day, reference), split where days are > interval apart.
    pair = unique(c.exposure_setting[kept] * n + c.exposure_case[kept])
    ps, pc = pair // max(n, 1), pair % max(n, 1)
    order = order_by(setting_rank[ps], c.day[pc], ref_rank[pc])
    ps, pc = ps[order], pc[order]
    new_run = np.ones(len(ps), dtype=np.bool_)
    new_run[1:] = (ps[1:] != ps[:-1]) | ((c.day[pc][1:] - c.day[pc][:-1]) > rules.interval_days)
    run = np.cumsum(new_run) - 1
    run_size = np.bincount(run) if len(run) else np.zeros(0, dtype=np.int64)
    kept_runs = np.flatnonzero(run_size >= rules.min_cases)
    group_count = len(kept_runs)
    group_of_run = np.full(len(run_size), -1, dtype=np.int64)
    group_of_run[kept_runs] = np.arange(group_count)
    in_group = run_size[run] >= rules.min_cases if len(run) else np.zeros(0, dtype=np.bool_)
    gm_group, gm_case = group_of_run[run[in_group]], pc[in_group]
    group_start = np.searchsorted(gm_group, np.arange(group_count + 1)).astype(np.int64)
    group_setting = gm_case[:0] if group_count == 0 else ps[in_group][group_start[:-1]]
    is_attach = attach_only[group_setting]

    # 2. Venue groups sharing enough cases merge (components named by their smallest group).
    venue_rows = ~is_attach[gm_group]
    vg, vc = gm_group[venue_rows], gm_case[venue_rows]
    by_case = np.lexsort((vg, vc))
    vg, vc = vg[by_case], vc[by_case]
    first_parts, second_parts = [], []
    step = 1
    while step < len(vc):
        same = vc[step:] == vc[:-step]
        if not same.any():
            break
        first_parts.append(vg[:-step][same])
        second_parts.append(vg[step:][same])
        step += 1
    if first_parts:
        shared, counts = counted(np.concatenate(first_parts) * group_count + np.concatenate(second_parts))
        enough = shared[counts >= rules.merge_min_shared_cases]
        root = _components(group_count, enough // group_count, enough % group_count)
    else:
        root = np.arange(group_count, dtype=np.int64)
    vr = root[vg]
    held = unique(vr * n + vc)
    size = np.bincount(held // max(n, 1), minlength=group_count).astype(np.int64)

    # 3. Each case joins the largest merged group it is in (ties: the smallest root).
    home = np.full(n, -1, dtype=np.int64)
    pick = order_by(vc, -size[vr], vr)
    firsts = _firsts(vc[pick])
    home[vc[pick][firsts]] = vr[pick][firsts]

    # 4. Attach-only groups, one at a time (see the module's docstring for the order).
    venue_home = home.tolist()
    homes = home.tolist()
    sizes = size.tolist()
    component_of = root.copy()
    attach_groups = np.flatnonzero(is_attach)
    voted_mask = (
        np.bincount(gm_group, weights=(home[gm_case] >= 0), minlength=group_count) > 0
        if group_count
        else np.zeros(0, dtype=np.bool_)
    )
    voted = [int(i) for i in attach_groups if voted_mask[i]]
    unvoted = sorted(
        (int(i) for i in attach_groups if not voted_mask[i]),
        key=lambda i: (
            -(int(group_start[i + 1]) - int(group_start[i])),
            int(setting_rank[group_setting[i]]),
            i,
        ),
    )
    voted_set = set(voted)
    for i in [*voted, *unvoted]:
        members = gm_case[group_start[i] : group_start[i + 1]].tolist()
        source = venue_home if i in voted_set else homes
        votes = Counter(source[ref] for ref in members if source[ref] >= 0)
        if votes:
            target = min(votes, key=lambda r: (-votes[r], -sizes[r], r))
        else:
            target = i
            sizes[target] = 0
        component_of[i] = target
        for ref in members:
            if homes[ref] < 0:
                homes[ref] = target
                sizes[target] += 1
    home = np.array(homes, dtype=np.int64)

    # 5. Direct links join their cases' clusters; a case in no group gets a node of its own.
    self_link = c.link_a == c.link_b
    self_links = np.flatnonzero(self_link).astype(np.int64)
    la, lb = c.link_a[~self_link], c.link_b[~self_link]
    lk, ld = c.link_kind[~self_link].astype(np.int64), c.link_day[~self_link]
    alone = unique(np.concatenate((la, lb)))
    alone = alone[home[alone] < 0]
    home[alone] = group_count + alone
    final = _components(group_count + n, home[la], home[lb])
    placed = np.flatnonzero(home >= 0)
    cluster_of_case = np.full(n, -1, dtype=np.int64)
    cluster_of_case[placed] = final[home[placed]]

    # Clusters of at least min_cases, largest first, then by first day and first reference.
    by_cluster = order_by(cluster_of_case[placed], ref_rank[placed])
    member = placed[by_cluster]
    label = cluster_of_case[member]
    starts = np.flatnonzero(_firsts(label))
    lengths = np.diff(np.append(starts, len(member)))
    first_day = np.minimum.reduceat(c.day[member], starts) if len(member) else np.zeros(0, dtype=np.int64)
    big = lengths >= rules.min_cases
    starts, lengths, first_day = starts[big], lengths[big], first_day[big]
    first_ref = ref_rank[member[starts]]
    ranked = np.lexsort((first_ref, first_day, -lengths))
    starts, lengths = starts[ranked], lengths[ranked]
    number = np.full(group_count + n, -1, dtype=np.int64)
    number[label[starts]] = np.arange(len(starts))
    member = (
        np.concatenate([member[s : s + k] for s, k in zip(starts.tolist(), lengths.tolist(), strict=True)])
        if len(starts)
        else np.zeros(0, dtype=np.int64)
    )
    member_start = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    cluster_no = np.full(n, -1, dtype=np.int64)
    cluster_no[placed] = number[cluster_of_case[placed]]

    # Evidence: each member's exposures at its cluster's settings, and its links.
    group_cluster = number[final[component_of]] if group_count else np.zeros(0, dtype=np.int64)
    wanted = unique(group_cluster * m + group_setting)
    e_case, e_setting = c.exposure_case[kept], c.exposure_setting[kept]
    e_key = cluster_no[e_case] * m + e_setting
    at_cluster = (cluster_no[e_case] >= 0) & isin(e_key, wanted)
    ex = kept[at_cluster]
    ex_case = c.exposure_case[ex]
    coarse = c.exposure_start[ex] == NO_TIME
    ex_first = np.where(
        coarse, c.day[ex_case] - rules.coarse_exposure_days_before_onset, c.exposure_start[ex] // 86_400
    )
    ex_last = np.where(coarse, c.day[ex_case] - 1, c.exposure_end[ex] // 86_400)
    minus = np.full(len(ex), -1, dtype=np.int64)
    a_side = cluster_no[la] >= 0
    lcase = np.concatenate((la[a_side], lb[a_side]))
    lother = np.concatenate((lb[a_side], la[a_side]))
    lkind = np.concatenate((lk[a_side], lk[a_side]))
    lday = np.concatenate((ld[a_side], ld[a_side]))
    lminus = np.full(len(lcase), -1, dtype=np.int64)
    link_value_rank = _ranks([k.value for k in _LINK_KINDS])
    ev_case = np.concatenate((ex_case, lcase))
    ev_setting = np.concatenate((c.exposure_setting[ex], lminus))
    ev_exposure = np.concatenate((ex, lminus))
    ev_linked = np.concatenate((minus, lother))
    ev_link = np.concatenate((minus, lkind))
    ev_first = np.concatenate((ex_first, lday))
    ev_last = np.concatenate((ex_last, lday))
    ev_start = np.concatenate((c.exposure_start[ex], np.full(len(lcase), NO_TIME, dtype=np.int64)))
    ev_end = np.concatenate(
        (np.where(coarse, NO_TIME, c.exposure_end[ex]), np.full(len(lcase), NO_TIME, dtype=np.int64))
    )
    ev_order = order_by(
        cluster_no[ev_case],
        ref_rank[ev_case],
        _rank_or_none(setting_rank, ev_setting),
        _rank_or_none(ref_rank, ev_linked),
        _rank_or_none(link_value_rank, ev_link),
        ev_first,
        np.where(ev_start == NO_TIME, -1, ev_start),  # no time first, as NO_TIME sorts, in a narrower key
    )  # ties keep the rows' order: exposures by position, then links (``tie``'s order)
    ev_cluster = cluster_no[ev_case][ev_order]
    return ClusterFound(
        member_start=member_start,
        member=member,
        evidence_start=np.searchsorted(ev_cluster, np.arange(len(starts) + 1)).astype(np.int64),
        evidence_case=ev_case[ev_order],
        evidence_setting=ev_setting[ev_order],
        evidence_exposure=ev_exposure[ev_order],
        evidence_linked=ev_linked[ev_order],
        evidence_link=ev_link[ev_order],
        evidence_first=ev_first[ev_order],
        evidence_last=ev_last[ev_order],
        evidence_start_at=ev_start[ev_order],
        evidence_end_at=ev_end[ev_order],
        left_exposures=left_exposures,
        self_links=self_links,
    )


def infer_clusters(
    cases: Iterable[ClusterCase],
    settings: Iterable[Setting],
    exposures: Iterable[Exposure],
    links: Iterable[DirectLink],
    rules: ClusterRules,
    *,
    today: date,
) -> ClusterInference:
    """Infer the clusters (see the module's docstring for the method); ``today`` sets the status."""
    by_ref: dict[str, ClusterCase] = {}
    for case in cases:
        if case.ref in by_ref:
            raise ValueError(f"case {case.ref!r} is given twice")
        by_ref[case.ref] = case
    by_id: dict[str, Setting] = {}
    for setting in settings:
        if setting.id in by_id:
            raise ValueError(f"setting {setting.id!r} is given twice")
        by_id[setting.id] = setting
    case_index = {ref: i for i, ref in enumerate(by_ref)}
    setting_index = {sid: i for i, sid in enumerate(by_id)}
    left_out: list[LeftOut] = []
    known: list[Exposure] = []
    for exposure in exposures:
        if exposure.case_ref not in by_ref:
            left_out.append(LeftOut(exposure.case_ref, exposure.setting_id, "unknown case"))
        elif exposure.setting_id not in by_id:
            left_out.append(LeftOut(exposure.case_ref, exposure.setting_id, "unknown setting"))
        else:
            known.append(exposure)
    good: list[DirectLink] = []
    for link in links:
        bad = next((r for r in (link.case_a, link.case_b) if r not in by_ref), None)
        if bad is not None:
            other = link.case_b if bad == link.case_a else link.case_a
            left_out.append(LeftOut(bad, other, "unknown case"))
        else:
            good.append(link)
    refs = tuple(by_ref)
    days = np.array([day_number(by_ref[r].day) for r in refs], dtype=np.int64)
    columns = ClusterColumns(
        refs=refs,
        day=days,
        reported=np.array([day_number(by_ref[r].reported) for r in refs], dtype=np.int64),
        setting_ids=tuple(by_id),
        setting_kinds=tuple(s.kind for s in by_id.values()),
        exposure_case=np.array([case_index[e.case_ref] for e in known], dtype=np.int64),
        exposure_setting=np.array([setting_index[e.setting_id] for e in known], dtype=np.int64),
        exposure_start=np.array([NO_TIME if e.start is None else 0 for e in known], dtype=np.int64),
        exposure_end=np.array([NO_TIME if e.start is None else 0 for e in known], dtype=np.int64),
        link_a=np.array([case_index[k.case_a] for k in good], dtype=np.int64),
        link_b=np.array([case_index[k.case_b] for k in good], dtype=np.int64),
        link_kind=np.array([_LINK_KINDS.index(k.kind) for k in good], dtype=np.int8),
        link_day=np.array([NO_DAY if k.day is None else day_number(k.day) for k in good], dtype=np.int64),
    )
    found = infer_cluster_columns(columns, rules)
    for e in found.left_exposures.tolist():
        kind = by_id[known[e].setting_id].kind
        left_out.append(
            LeftOut(known[e].case_ref, known[e].setting_id, f"setting kind {kind!r} links no cases")
        )
    for k in found.self_links.tolist():
        left_out.append(LeftOut(good[k].case_a, good[k].case_b, "a case linked to itself"))

    clusters: list[Cluster] = []
    for k in range(found.clusters):
        members = tuple(
            refs[i] for i in found.member[found.member_start[k] : found.member_start[k + 1]].tolist()
        )
        evidence: list[Membership] = []
        for r in range(int(found.evidence_start[k]), int(found.evidence_start[k + 1])):
            ref = refs[int(found.evidence_case[r])]
            e = int(found.evidence_exposure[r])
            if e >= 0:
                evidence.append(_setting_evidence(known[e], by_ref[ref].day, rules))
            else:
                other = refs[int(found.evidence_linked[r])]
                day = (
                    None
                    if found.evidence_first[r] == NO_DAY
                    else _EPOCH + timedelta(days=int(found.evidence_first[r]))
                )
                kind = _LINK_KINDS[int(found.evidence_link[r])]
                evidence.append(Membership(ref, None, other, kind, None, None, day, day))
        onsets = [o for o in (by_ref[ref].onset for ref in members) if o is not None]
        day_counts = Counter(by_ref[ref].day for ref in members)
        last_reported = max(by_ref[ref].reported for ref in members)
        active = (today - last_reported).days < rules.active_days
        clusters.append(
            Cluster(
                cases=members,
                settings=tuple(sorted({m.setting_id for m in evidence if m.setting_id is not None})),
                evidence=tuple(sorted(evidence, key=_evidence_key)),
                first_onset=min(onsets, default=None),
                last_onset=max(onsets, default=None),
                last_reported=last_reported,
                size_by_day=tuple(sorted(day_counts.items())),
                status=ClusterStatus.ACTIVE if active else ClusterStatus.INACTIVE,
            )
        )
    left_out.sort(key=lambda x: (x.case_ref, x.target, x.reason))
    return ClusterInference(tuple(clusters), tuple(left_out))


def _setting_evidence(exposure: Exposure, day: date, rules: ClusterRules) -> Membership:
    if exposure.start is None:
        first = day - timedelta(days=rules.coarse_exposure_days_before_onset)
        return Membership(
            exposure.case_ref, exposure.setting_id, None, None, None, None, first, day - timedelta(1)
        )
    end = exposure.end if exposure.end is not None else exposure.start
    return Membership(
        exposure.case_ref,
        exposure.setting_id,
        None,
        None,
        exposure.start,
        end,
        exposure.start.date(),
        end.date(),
    )


def _evidence_key(m: Membership) -> tuple[str, str, str, str, date, datetime]:
    return (
        m.case_ref,
        m.setting_id or "",
        m.linked_case or "",
        m.link.value if m.link else "",
        m.first_day or date.min,
        m.start or datetime.min,
    )


def _rank_or_none(rank: npt.NDArray[np.int64], index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``rank[index]``, and -1 where ``index`` is -1 (none), also when ``rank`` is empty."""
    padded = np.append(rank, -1).astype(np.int64)
    return padded[np.where(index >= 0, index, len(rank))]


def building_kind(name: str, building_kinds: Sequence[tuple[str, Sequence[str]]], *, otherwise: str) -> str:
    """The kind of a building-list setting: the first kind one of whose words is in ``name``.

    Words match case-insensitively anywhere in the name; a name with none of them is ``otherwise``
    (``residence`` for the buildings cases lived in, ``venue`` for the visited ones).
    """
    lowered = name.casefold()
    for kind, words in building_kinds:
        if any(word.casefold() in lowered for word in words):
            return kind
    return otherwise
