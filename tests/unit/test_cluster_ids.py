"""Stable cluster ids across runs (``analytics.cluster_ids.settle``), against hand-worked cases and
properties checked by brute force over random histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.analytics.cluster_ids import Decision, MembershipDecision, settle, survivor


def fs(*cases: int) -> frozenset[int]:
    return frozenset(cases)


def test_a_cluster_that_grows_keeps_its_id() -> None:
    out = settle({7: [1, 2]}, [fs(1, 2, 3)], [], merged_into={}, min_cases=2)
    assert [(c.id, c.cases) for c in out.clusters] == [(7, fs(1, 2, 3))]
    assert (out.merged, out.dissolved) == ((), ())


def test_when_two_merge_the_older_id_survives_and_the_younger_is_recorded() -> None:
    out = settle({3: [1, 2], 5: [3, 4, 5]}, [fs(1, 2, 3, 4, 5)], [], merged_into={}, min_cases=2)
    assert [c.id for c in out.clusters] == [3]  # 3 is older though 5 is larger
    assert out.merged == ((5, 3),)


def test_a_split_keeps_the_id_where_most_of_the_cases_went() -> None:
    out = settle({4: [1, 2, 3, 4, 5]}, [fs(1, 2), fs(3, 4, 5)], [], merged_into={}, min_cases=2)
    assert [(c.id, c.cases) for c in out.clusters] == [(None, fs(1, 2)), (4, fs(3, 4, 5))]


def test_a_cluster_whose_cases_are_in_no_cluster_now_is_dissolved_and_new_ones_get_no_id() -> None:
    out = settle({2: [1, 2]}, [fs(8, 9)], [], merged_into={}, min_cases=2)
    assert [(c.id, c.cases) for c in out.clusters] == [(None, fs(8, 9))]
    assert out.dissolved == (2,)


def test_a_rejection_holds_and_a_cluster_left_too_small_is_dissolved() -> None:
    reject = [MembershipDecision(2, 1, Decision.REJECTED)]
    out = settle({2: [1, 2]}, [fs(1, 2)], reject, merged_into={}, min_cases=2)
    assert out.clusters == ()
    assert out.dissolved == (2,)
    out = settle({2: [1, 2, 3]}, [fs(1, 2, 3)], reject, merged_into={}, min_cases=2)
    assert [(c.id, c.cases) for c in out.clusters] == [(2, fs(2, 3))]


def test_a_confirmation_moves_the_case_and_can_keep_a_cluster_alive_alone() -> None:
    moved = settle(
        {1: [8, 9], 2: [3, 4]},
        [fs(3, 4, 7), fs(8, 9)],
        [MembershipDecision(1, 7, Decision.CONFIRMED)],
        merged_into={},
        min_cases=2,
    )
    by_id = {c.id: c for c in moved.clusters}
    assert (by_id[2].cases, by_id[1].cases, by_id[1].confirmed) == (fs(3, 4), fs(7, 8, 9), fs(7))

    confirm = [MembershipDecision(1, 9, Decision.CONFIRMED), MembershipDecision(1, 8, Decision.CONFIRMED)]
    alone = settle({1: [8, 9], 2: [3, 4]}, [fs(3, 4, 5)], confirm, merged_into={}, min_cases=2)
    by_id = {c.id: c for c in alone.clusters}
    assert by_id[2].cases == fs(3, 4, 5)
    assert (by_id[1].cases, by_id[1].confirmed, by_id[1].fresh_index) == (fs(8, 9), fs(8, 9), None)
    assert alone.dissolved == ()


def test_a_decision_on_an_absorbed_cluster_applies_to_the_one_it_lives_on() -> None:
    reject = [MembershipDecision(5, 2, Decision.REJECTED)]
    out = settle({3: [1, 2, 4]}, [fs(1, 2, 4)], reject, merged_into={5: 3}, min_cases=2)
    assert [c.cases for c in out.clusters] == [fs(1, 4)]
    assert survivor(5, {5: 3, 3: 1}) == 1


histories = st.lists(
    st.lists(st.frozensets(st.integers(0, 30), min_size=1, max_size=8), max_size=6), min_size=1, max_size=4
)


@settings(max_examples=200, deadline=None)
@given(histories)
def test_over_random_runs_ids_are_unique_every_stored_id_is_accounted_for_and_merges_point_to_older_ids(
    runs: list[list[frozenset[int]]],
) -> None:
    stored: dict[int, list[int]] = {}
    created: list[int] = []  # every id ever given, in order of age
    merged_into: dict[int, int] = {}
    for raw in runs:
        fresh, seen = [], set()  # a run's clusters are disjoint
        for group in raw:
            group = group - seen
            seen |= group
            if group:
                fresh.append(group)
        out = settle(stored, fresh, [], merged_into=merged_into, min_cases=1)
        ids = [c.id for c in out.clusters if c.id is not None]
        assert len(ids) == len(set(ids))
        absorbed = [a for a, _ in out.merged]
        # every stored cluster is continued, absorbed or dissolved, exactly one of these
        assert sorted([*ids, *absorbed, *out.dissolved]) == sorted(stored)
        for a, b in out.merged:
            assert b < a and b in ids  # the older id survives, in a cluster of this run
        for c in out.clusters:
            if c.id is not None:  # the id came from a stored cluster sharing cases with it
                assert c.cases & set(stored[c.id])
        # brute force: a fresh cluster holds the oldest id of the stored ones whose largest share it got
        for c in out.clusters:
            heirs = [
                s
                for s, members in stored.items()
                if max(fresh, key=lambda f: (len(f & set(members)), len(f), -fresh.index(f))) == c.cases
                and c.cases & set(members)
            ]
            assert c.id == (min(heirs) if heirs else None)
        merged_into.update(dict(out.merged))
        stored = {}
        for c in out.clusters:
            cluster_id = c.id if c.id is not None else (max(created, default=0) + 1)
            if c.id is None:
                created.append(cluster_id)
            stored[cluster_id] = sorted(c.cases)
