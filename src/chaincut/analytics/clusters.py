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

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from chaincut.policy.model import ClusterRules

__all__ = [
    "Cluster",
    "ClusterCase",
    "ClusterInference",
    "ClusterStatus",
    "DirectLink",
    "Exposure",
    "LeftOut",
    "LinkKind",
    "Membership",
    "Setting",
    "building_kind",
    "infer_clusters",
]


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


class _Sets:
    """Union-find over small integers, the smaller root kept (so results do not depend on order)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


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
    left_out: list[LeftOut] = []
    at: dict[str, dict[str, list[Exposure]]] = defaultdict(lambda: defaultdict(list))
    for exposure in exposures:
        if exposure.case_ref not in by_ref:
            left_out.append(LeftOut(exposure.case_ref, exposure.setting_id, "unknown case"))
        elif exposure.setting_id not in by_id:
            left_out.append(LeftOut(exposure.case_ref, exposure.setting_id, "unknown setting"))
        elif by_id[exposure.setting_id].kind in rules.non_linking_kinds:
            kind = by_id[exposure.setting_id].kind
            left_out.append(
                LeftOut(exposure.case_ref, exposure.setting_id, f"setting kind {kind!r} links no cases")
            )
        else:
            at[exposure.setting_id][exposure.case_ref].append(exposure)

    # 1. Setting groups: runs of cases whose days are at most interval_days apart.
    groups: list[tuple[str, tuple[str, ...]]] = []
    for setting_id in sorted(at):
        ordered = sorted(at[setting_id], key=lambda ref: (by_ref[ref].day, ref))
        run: list[str] = []
        for ref in ordered:
            if run and (by_ref[ref].day - by_ref[run[-1]].day).days > rules.interval_days:
                if len(run) >= rules.min_cases:
                    groups.append((setting_id, tuple(run)))
                run = []
            run.append(ref)
        if len(run) >= rules.min_cases:
            groups.append((setting_id, tuple(run)))
    venue = [i for i, (sid, _) in enumerate(groups) if by_id[sid].kind not in rules.attach_only_kinds]
    attach = [i for i, (sid, _) in enumerate(groups) if by_id[sid].kind in rules.attach_only_kinds]

    # 2. Venue groups that share enough cases merge.
    merged = _Sets()
    holders: dict[str, list[int]] = defaultdict(list)
    for i in venue:
        merged.find(i)
        for ref in groups[i][1]:
            holders[ref].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for held in holders.values():
        for x in range(len(held)):
            for y in range(x + 1, len(held)):
                shared[held[x], held[y]] += 1
    for (a, b), n in sorted(shared.items()):
        if n >= rules.merge_min_shared_cases:
            merged.union(a, b)
    component_cases: dict[int, set[str]] = defaultdict(set)
    for i in venue:
        component_cases[merged.find(i)].update(groups[i][1])

    # 3. Each case joins the largest merged group it is in.
    home: dict[str, int] = {}
    for ref in sorted(holders):
        roots = {merged.find(i) for i in holders[ref]}
        home[ref] = min(roots, key=lambda r: (-len(component_cases[r]), r))

    # 4. Attach-only groups: their cases in no cluster join the cluster of the others. First the
    # groups some of whose cases are in venue clusters (votes from those alone, so the order of
    # setting ids does not matter), then the rest, largest first, voting with what is placed by then.
    component_of = {i: merged.find(i) for i in venue}
    venue_home = dict(home)
    voted = [i for i in attach if any(ref in venue_home for ref in groups[i][1])]
    voted_set = set(voted)
    unvoted = sorted(
        (i for i in attach if i not in voted_set), key=lambda i: (-len(groups[i][1]), groups[i][0])
    )
    for i in [*voted, *unvoted]:
        members = groups[i][1]
        source = venue_home if i in voted_set else home
        votes = Counter(source[ref] for ref in members if ref in source)
        if votes:
            target = min(votes, key=lambda r: (-votes[r], -len(component_cases[r]), r))
        else:
            target = merged.find(i)
            component_cases[target] = set()
        component_of[i] = target
        for ref in members:
            if ref not in home:
                home[ref] = target
                component_cases[target].add(ref)

    # 5. Direct links join their cases' clusters.
    final = _Sets()
    next_id = len(groups)
    seen_links: list[DirectLink] = []
    for link in sorted(links, key=lambda k: (k.case_a, k.case_b, k.kind.value, k.day or date.min)):
        bad = next((r for r in (link.case_a, link.case_b) if r not in by_ref), None)
        if bad is not None:
            other = link.case_b if bad == link.case_a else link.case_a
            left_out.append(LeftOut(bad, other, "unknown case"))
            continue
        if link.case_a == link.case_b:
            left_out.append(LeftOut(link.case_a, link.case_b, "a case linked to itself"))
            continue
        for ref in (link.case_a, link.case_b):
            if ref not in home:
                home[ref] = next_id
                next_id += 1
        final.union(home[link.case_a], home[link.case_b])
        seen_links.append(link)
    clusters_of: dict[int, list[str]] = defaultdict(list)
    for ref in sorted(home):
        clusters_of[final.find(home[ref])].append(ref)

    # Evidence: each member's exposures at its cluster's settings, and its links.
    group_settings: dict[int, set[str]] = defaultdict(set)
    for i, component in component_of.items():
        group_settings[final.find(component)].add(groups[i][0])
    link_evidence: dict[str, list[Membership]] = defaultdict(list)
    for link in seen_links:
        for ref, other in ((link.case_a, link.case_b), (link.case_b, link.case_a)):
            link_evidence[ref].append(Membership(ref, None, other, link.kind, None, None, link.day, link.day))

    # Each case's settings, in setting order: a member's evidence is read from its own exposures
    # (not from every setting of its cluster, which grows with the cluster's size squared).
    settings_of: dict[str, list[str]] = defaultdict(list)
    for sid in sorted(at):
        for ref in at[sid]:
            settings_of[ref].append(sid)

    clusters: list[Cluster] = []
    for root, member_list in clusters_of.items():
        members = tuple(member_list)
        if len(members) < rules.min_cases:
            continue
        evidence: list[Membership] = []
        settings_used: set[str] = set()
        in_cluster = group_settings[root]
        for ref in members:
            day = by_ref[ref].day
            for sid in settings_of.get(ref, ()):
                if sid not in in_cluster:
                    continue
                for exposure in at[sid][ref]:
                    settings_used.add(sid)
                    evidence.append(_setting_evidence(exposure, day, rules))
            evidence.extend(link_evidence.get(ref, ()))
        onsets = [o for o in (by_ref[ref].onset for ref in members) if o is not None]
        days = Counter(by_ref[ref].day for ref in members)
        last_reported = max(by_ref[ref].reported for ref in members)
        active = (today - last_reported).days < rules.active_days
        clusters.append(
            Cluster(
                cases=members,
                settings=tuple(sorted(settings_used)),
                evidence=tuple(sorted(evidence, key=_evidence_key)),
                first_onset=min(onsets, default=None),
                last_onset=max(onsets, default=None),
                last_reported=last_reported,
                size_by_day=tuple(sorted(days.items())),
                status=ClusterStatus.ACTIVE if active else ClusterStatus.INACTIVE,
            )
        )
    clusters.sort(key=lambda c: (-c.size, c.size_by_day[0][0], c.cases[0]))
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
