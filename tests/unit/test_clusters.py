"""Clusters inferred from settings and direct links: a brute-force restatement, and each rule apart."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.analytics.clusters import (
    ClusterCase,
    ClusterStatus,
    DirectLink,
    Exposure,
    LinkKind,
    Setting,
    building_kind,
    infer_clusters,
)
from chaincut.policy import load_policy
from chaincut.policy.model import ClusterRules

DAY0 = date(2020, 11, 1)
TODAY = date(2020, 12, 17)


def rules(**changes: object) -> ClusterRules:
    return dataclasses.replace(load_policy(None).clusters, **changes)  # type: ignore[arg-type]


def case(ref: str, onset_day: int | None, reported_day: int | None = None) -> ClusterCase:
    onset = None if onset_day is None else DAY0 + timedelta(days=onset_day)
    reported = DAY0 + timedelta(days=reported_day if reported_day is not None else (onset_day or 0) + 2)
    return ClusterCase(ref, onset, reported)


# A restatement by brute force: sets and fixpoints, no union-find, no sorting tricks.
def brute_force(
    cases: list[ClusterCase],
    settings_: list[Setting],
    exposures: list[Exposure],
    links: list[DirectLink],
    r: ClusterRules,
) -> set[frozenset[str]]:
    day = {c.ref: c.day for c in cases}
    kind = {s.id: s.kind for s in settings_}
    groups: list[tuple[str, frozenset[str]]] = []
    for sid in kind:
        if kind[sid] in r.non_linking_kinds:
            continue
        here = {e.case_ref for e in exposures if e.setting_id == sid}
        # a run: cases connected through steps of at most interval_days along the day axis
        remaining = set(here)
        while remaining:
            seed = min(remaining, key=lambda c: (day[c], c))
            run = {seed}
            grew = True
            while grew:
                grew = False
                for c in here - run:
                    if any(abs((day[c] - day[m]).days) <= r.interval_days for m in run):
                        run.add(c)
                        grew = True
            remaining -= run
            if len(run) >= r.min_cases:
                groups.append((sid, frozenset(run)))
    venue = [g for g in groups if kind[g[0]] not in r.attach_only_kinds]
    # components of venue groups: those sharing >= merge_min_shared_cases cases
    components: list[set[int]] = []
    for i in range(len(venue)):
        joined = {i}
        for comp in [
            c
            for c in components
            if any(len(venue[i][1] & venue[j][1]) >= r.merge_min_shared_cases for j in c)
        ]:
            joined |= comp
            components.remove(comp)
        components.append(joined)
    comp_cases = [frozenset().union(*(venue[j][1] for j in comp)) for comp in components]

    # a cluster is named by its first group (setting id, first day): the implementation's tie-break
    def first(members: frozenset[str], sid: str) -> tuple[str, date]:
        return (sid, min(day[c] for c in members))

    names = [min(first(venue[j][1], venue[j][0]) for j in comp) for comp in components]
    size: dict[tuple[str, date], int] = {names[k]: len(comp_cases[k]) for k in range(len(components))}
    home: dict[str, tuple[str, date]] = {}
    for c in day:
        mine = [names[k] for k in range(len(components)) if c in comp_cases[k]]
        if mine:
            home[c] = min(mine, key=lambda n: (-size[n], n))
    # attach-only groups: those with cases in venue clusters first (voting with those alone), then
    # the others, largest first, voting with every case placed by then
    venue_home = dict(home)
    attach = sorted((first(g[1], g[0]), g[1]) for g in groups if kind[g[0]] in r.attach_only_kinds)
    voted = [(n, m) for n, m in attach if m & venue_home.keys()]
    unvoted = sorted(
        ((n, m) for n, m in attach if not m & venue_home.keys()), key=lambda x: (-len(x[1]), x[0])
    )
    for name, members in voted + unvoted:
        votes: dict[tuple[str, date], int] = {}
        source = venue_home if (name, members) in voted else home
        for c in members:
            if c in source:
                votes[source[c]] = votes.get(source[c], 0) + 1
        target = min(votes, key=lambda n: (-votes[n], -size[n], n)) if votes else name
        size.setdefault(target, 0)
        for c in members:
            if c not in home:
                home[c] = target
                size[target] += 1
    # clusters: cases by home, then joined through direct links (transitively)
    by_home: dict[tuple[str, date], set[str]] = {}
    for c, h in home.items():
        by_home.setdefault(h, set()).add(c)
    parts = list(by_home.values())
    for link in links:
        a = next((p for p in parts if link.case_a in p), None)
        b = next((p for p in parts if link.case_b in p), None)
        new = (a or {link.case_a}) | (b or {link.case_b})
        parts = [p for p in parts if p is not a and p is not b] + [new]
    return {frozenset(p) for p in parts if len(p) >= r.min_cases}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[ClusterCase], list[Setting], list[Exposure], list[DirectLink]]:
    n = draw(st.integers(2, 14))
    cases = [case(f"c{i:02}", draw(st.integers(0, 40))) for i in range(n)]
    kinds = ["restaurant", "dance", "residence", "hospital"]
    settings_ = [Setting(f"s{j}", draw(st.sampled_from(kinds))) for j in range(draw(st.integers(1, 6)))]
    pairs = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, len(settings_) - 1)), max_size=30))
    exposures = [Exposure(cases[i].ref, settings_[j].id) for i, j in sorted(pairs)]
    link_pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3))
    links = [DirectLink(cases[a].ref, cases[b].ref, LinkKind.HOUSEHOLD) for a, b in link_pairs if a != b]
    return cases, settings_, exposures, links


@settings(max_examples=300, deadline=None)
@given(worlds(), st.integers(0, 14), st.integers(1, 3))
def test_the_clusters_are_those_of_a_brute_force_restatement(
    world: tuple[list[ClusterCase], list[Setting], list[Exposure], list[DirectLink]],
    interval: int,
    merge: int,
) -> None:
    cases, settings_, exposures, links = world
    r = rules(interval_days=interval, merge_min_shared_cases=merge)
    inferred = infer_clusters(cases, settings_, exposures, links, r, today=TODAY)
    assert {frozenset(c.cases) for c in inferred.clusters} == brute_force(
        cases, settings_, exposures, links, r
    )
    for cluster in inferred.clusters:  # every member has evidence, and only members do
        assert {m.case_ref for m in cluster.evidence} == set(cluster.cases)
        assert sum(n for _, n in cluster.size_by_day) == cluster.size


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_the_output_does_not_depend_on_the_order_of_the_input(
    world: tuple[list[ClusterCase], list[Setting], list[Exposure], list[DirectLink]], rnd: random.Random
) -> None:
    cases, settings_, exposures, links = world
    first = infer_clusters(cases, settings_, exposures, links, rules(), today=TODAY)
    for seq in (cases, settings_, exposures, links):
        rnd.shuffle(seq)  # type: ignore[arg-type]
    assert infer_clusters(cases, settings_, exposures, links, rules(), today=TODAY) == first


def test_coarse_exposures_lie_in_the_14_days_before_onset_and_timed_ones_keep_their_stay() -> None:
    cases = [case("a", 10), case("b", 12)]
    stay = datetime(2020, 11, 5, 19, 0)
    exposures = [Exposure("a", "v"), Exposure("b", "v", stay, stay + timedelta(hours=2))]
    (cluster,) = infer_clusters(
        cases, [Setting("v", "restaurant")], exposures, [], rules(), today=TODAY
    ).clusters
    coarse, timed = cluster.evidence
    assert (coarse.case_ref, coarse.setting_id, coarse.start) == ("a", "v", None)
    assert (coarse.first_day, coarse.last_day) == (DAY0 + timedelta(days=10 - 14), DAY0 + timedelta(days=9))
    assert (timed.start, timed.end, timed.first_day) == (stay, stay + timedelta(hours=2), stay.date())
    assert cluster.settings == ("v",)
    assert (cluster.first_onset, cluster.last_onset) == (DAY0 + timedelta(days=10), DAY0 + timedelta(days=12))
    assert cluster.size_by_day == ((DAY0 + timedelta(days=10), 1), (DAY0 + timedelta(days=12), 1))


def test_cases_at_the_same_setting_more_than_the_interval_apart_are_not_linked() -> None:
    cases = [case("a", 0), case("b", 14), case("c", 29)]
    exposures = [Exposure(ref, "v") for ref in ("a", "b", "c")]
    (cluster,) = infer_clusters(cases, [Setting("v", "bar")], exposures, [], rules(), today=TODAY).clusters
    assert cluster.cases == ("a", "b")  # 14 days apart: linked; 15: not


def test_settings_that_link_no_cases_are_left_out_with_the_reason() -> None:
    cases = [case("a", 1), case("b", 2)]
    exposures = [Exposure("a", "h"), Exposure("b", "h"), Exposure("zz", "h"), Exposure("a", "nowhere")]
    inferred = infer_clusters(cases, [Setting("h", "hospital")], exposures, [], rules(), today=TODAY)
    assert inferred.clusters == ()
    reasons = {(x.case_ref, x.target): x.reason for x in inferred.left_out}
    assert reasons[("a", "h")] == "setting kind 'hospital' links no cases"
    assert reasons[("zz", "h")] == "unknown case"
    assert reasons[("a", "nowhere")] == "unknown setting"
    assert len(inferred.left_out) == 4


def test_one_shared_case_does_not_merge_two_venues_but_two_do() -> None:
    cases = [case(c, 5) for c in "abcdef"]
    venues = [Setting("v1", "restaurant"), Setting("v2", "market")]
    one = [Exposure(c, "v1") for c in "abc"] + [Exposure(c, "v2") for c in "cdef"]
    inferred = infer_clusters(cases, venues, one, [], rules(), today=TODAY)
    assert [c.cases for c in inferred.clusters] == [("c", "d", "e", "f"), ("a", "b")]  # c joins the larger
    two = [*one, Exposure("d", "v1")]
    (merged,) = infer_clusters(cases, venues, two, [], rules(), today=TODAY).clusters
    assert merged.cases == tuple("abcdef") and merged.settings == ("v1", "v2")


def test_a_residence_attaches_its_cases_but_never_joins_two_clusters() -> None:
    cases = [case(c, 5) for c in "abcdxy"]
    found = [
        Setting("v1", "restaurant"),
        Setting("v2", "bar"),
        Setting("home", "residence"),
        Setting("h2", "residence"),
    ]
    exposures = [Exposure(c, "v1") for c in "ab"] + [Exposure(c, "v2") for c in "cd"]
    exposures += [Exposure(c, "home") for c in "bcx"] + [Exposure(c, "h2") for c in "y"]
    inferred = infer_clusters(cases, found, exposures, [], rules(), today=TODAY)
    assert sorted(c.cases for c in inferred.clusters) == [("a", "b", "x"), ("c", "d")]
    x_evidence = [m for c in inferred.clusters for m in c.evidence if m.case_ref == "x"]
    assert [m.setting_id for m in x_evidence] == ["home"]


def test_residences_attach_the_same_way_whatever_their_settings_are_called() -> None:
    # A building where one case met others at a venue, and a second building sharing a resident
    # with the first: the first follows the venue cluster, the second follows the first, whichever
    # of the two names sorts first (Fung Nin Building, Hong Kong, December 2020).
    cases = [case(f"c{i}", 10 + i) for i in range(6)]
    for home_a, home_b in (("b-home", "a-home"), ("a-home", "b-home")):
        settings_ = [
            Setting("venue", "restaurant"),
            Setting(home_a, "residence"),
            Setting(home_b, "residence"),
        ]
        exposures = [
            Exposure("c0", "venue"),
            Exposure("c1", "venue"),
            *(Exposure(ref, home_a) for ref in ("c1", "c2", "c3")),
            *(Exposure(ref, home_b) for ref in ("c3", "c4", "c5")),
        ]
        inferred = infer_clusters(cases, settings_, exposures, (), rules(), today=TODAY)
        assert [c.cases for c in inferred.clusters] == [("c0", "c1", "c2", "c3", "c4", "c5")], home_a


def test_direct_links_join_clusters_and_are_the_evidence() -> None:
    cases = [case(c, 5) for c in "abcd"]
    exposures = [Exposure(c, "v") for c in "ab"]
    links = [DirectLink("b", "c", LinkKind.LINKED_CASE, DAY0), DirectLink("d", "d", LinkKind.ENCOUNTER)]
    inferred = infer_clusters(cases, [Setting("v", "gym")], exposures, links, rules(), today=TODAY)
    (cluster,) = inferred.clusters
    assert cluster.cases == ("a", "b", "c")
    c_evidence = [m for m in cluster.evidence if m.case_ref == "c"]
    assert [(m.linked_case, m.link, m.setting_id, m.first_day) for m in c_evidence] == [
        ("b", LinkKind.LINKED_CASE, None, DAY0)
    ]
    assert [x.reason for x in inferred.left_out] == ["a case linked to itself"]


def test_a_cluster_is_active_while_a_member_was_reported_within_the_active_days() -> None:
    r = rules(active_days=28)
    cases = [case("a", 0, reported_day=1), case("b", 3, reported_day=10)]
    exposures = [Exposure(c, "v") for c in "ab"]
    last = DAY0 + timedelta(days=10)

    def status(today: date) -> ClusterStatus:
        (cluster,) = infer_clusters(cases, [Setting("v", "bar")], exposures, [], r, today=today).clusters
        assert cluster.last_reported == last
        return cluster.status

    assert status(last + timedelta(days=27)) is ClusterStatus.ACTIVE
    assert status(last + timedelta(days=28)) is ClusterStatus.INACTIVE


def test_a_case_with_no_onset_is_placed_on_its_report_date() -> None:
    cases = [case("a", None, reported_day=20), case("b", 30)]
    exposures = [Exposure(c, "v") for c in "ab"]
    (cluster,) = infer_clusters(cases, [Setting("v", "bar")], exposures, [], rules(), today=TODAY).clusters
    assert cluster.first_onset == cluster.last_onset == DAY0 + timedelta(days=30)
    assert cluster.size_by_day[0] == (DAY0 + timedelta(days=20), 1)


def test_a_case_or_setting_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="case 'a' is given twice"):
        infer_clusters([case("a", 1), case("a", 2)], [], [], [], rules(), today=TODAY)
    with pytest.raises(ValueError, match="setting 'v' is given twice"):
        infer_clusters([], [Setting("v", "bar"), Setting("v", "gym")], [], [], rules(), today=TODAY)


def test_building_kinds_follow_the_policy_s_words_in_order() -> None:
    words = load_policy(None).clusters.building_kinds
    assert building_kind(
        "Tung Wah Group Of Hospitals Fong Shu Chuen Hostel", words, otherwise="residence"
    ) == ("social_service")
    assert building_kind("Union Hospital", words, otherwise="venue") == "hospital"
    assert building_kind("Novotel Citygate Hong Kong", words, otherwise="residence") == "residence"
    assert building_kind("Penny's Bay Quarantine Centre", words, otherwise="residence") == "quarantine"
    assert building_kind("Golden Era Plaza", words, otherwise="venue") == "venue"


def test_links_alone_make_clusters_when_no_setting_is_known_at_all() -> None:
    cases = [case("c0", 1), case("c1", 3), case("c2", 5)]
    links = [DirectLink("c0", "c1", LinkKind.LINKED_CASE), DirectLink("c1", "c2", LinkKind.HOUSEHOLD)]
    inferred = infer_clusters(cases, [], [], links, rules(), today=TODAY)
    assert [c.cases for c in inferred.clusters] == [("c0", "c1", "c2")]
    assert [c.settings for c in inferred.clusters] == [()]
    assert {(m.case_ref, m.linked_case) for m in inferred.clusters[0].evidence} == {
        ("c0", "c1"),
        ("c1", "c0"),
        ("c1", "c2"),
        ("c2", "c1"),
    }
