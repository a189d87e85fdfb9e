"""The engine's compiled loops against plain Python: the radix sort, the grouping and the pair test."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.policy import load_policy
from chaincut.tracing import kernels
from chaincut.tracing.columns import ContactTable, EvidenceTable, VisitArrays, evidence_rows
from chaincut.tracing.engine import _summarise_apart, summarise
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.venue_index import VenueTimeIndex

keys = st.lists(st.integers(0, 2**40 - 1), max_size=300)


@settings(max_examples=150, deadline=None)
@given(keys, st.sampled_from([1, 5, 11, 12, 40]))
def test_the_radix_order_is_a_stable_sort(values: list[int], bits: int) -> None:
    key = np.array([v % (1 << bits) for v in values], dtype=np.int64)
    order = kernels.sort_order(key, bits)
    assert order.tolist() == np.argsort(key, kind="stable").tolist()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 7),  # key
            st.integers(1, 3),  # tier
            st.integers(1, 3),  # generation
            st.integers(0, 50),  # via
            st.integers(0, 10**6),  # first
            st.integers(0, 10**6),  # last
            st.integers(0, 10**4),  # seconds
        ),
        max_size=60,
    )
)
def test_grouping_keeps_one_row_per_key_with_its_reductions(rows: list[tuple[int, ...]]) -> None:
    expected: dict[int, list[int]] = {}
    for key, tier, generation, via, first, last, seconds in rows:
        kept = expected.get(key)
        if kept is None:
            expected[key] = [tier, generation, via, first, last, seconds]
        else:
            kept[:] = [
                max(kept[0], tier),
                min(kept[1], generation),
                min(kept[2], via),
                min(kept[3], first),
                max(kept[4], last),
                kept[5] + seconds,
            ]
    columns = [np.array([r[i] for r in rows], dtype=np.int64) for i in range(7)]
    key, tier, generation, via, first, last, seconds = kernels.group_pairs(
        columns[0], 3, columns[1].astype(np.int8), *columns[2:]
    )
    assert tier.dtype == np.int8
    got = {
        int(k): [int(t), int(g), int(v), int(f), int(la), int(s)]
        for k, t, g, v, f, la, s in zip(key, tier, generation, via, first, last, seconds, strict=True)
    }
    assert key.tolist() == sorted(expected)
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_venue_hits_are_the_pairs_that_overlap_long_enough(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 40))
    entered = np.array(data.draw(st.lists(st.integers(0, 500), min_size=n, max_size=n)), dtype=np.int64)
    stay = np.array(data.draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), dtype=np.int64)
    person = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.int64)
    m = data.draw(st.integers(0, 10))
    start = np.array(data.draw(st.lists(st.integers(0, 500), min_size=m, max_size=m)), dtype=np.int64)
    end = start + np.array(data.draw(st.lists(st.integers(0, 200), min_size=m, max_size=m)), dtype=np.int64)
    least = np.array(data.draw(st.lists(st.integers(0, 60), min_size=m, max_size=m)), dtype=np.int64)
    who = np.array(data.draw(st.lists(st.integers(0, 4), min_size=m, max_size=m)), dtype=np.int64)
    lo = np.array(data.draw(st.lists(st.integers(0, n), min_size=m, max_size=m)), dtype=np.int64)
    hi = np.array([data.draw(st.integers(int(low), n)) for low in lo], dtype=np.int64)
    left = entered + stay
    expected = [
        (i, r, min(int(left[r]), int(end[i])) - max(int(entered[r]), int(start[i])))
        for i in range(m)
        for r in range(int(lo[i]), int(hi[i]))
        if min(left[r], end[i]) - max(entered[r], start[i]) >= least[i] and person[r] != who[i]
    ]
    exposure, row, seconds = kernels.venue_hits(lo, hi, start, end, least, who, entered, left, person)
    assert list(zip(exposure.tolist(), row.tolist(), seconds.tolist(), strict=True)) == expected


def _evidence(rows: list[tuple[int, int, int, int, int]]) -> EvidenceTable:
    root, person, tier, generation, seconds = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
    return evidence_rows(
        len(rows),
        root=root,
        person=person,
        via=person + 1,
        kind=0,
        tier=tier,
        generation=generation,
        seconds=seconds,
        index_start=seconds,
        index_end=seconds + 100,
        contact_start=seconds + 10,
        contact_end=seconds + 200,
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5), st.integers(0, 9), st.integers(1, 3), st.integers(1, 2), st.integers(0, 999)
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([0, 2**31, 2**40]),
)
def test_contacts_are_the_same_whether_their_keys_pack_or_not(
    rows: list[tuple[int, int, int, int, int]], far: int
) -> None:
    """Pairs packed into one key go through the radix sort; others (a person id beyond 32 bits
    beside a wide span of roots, or a negative one) are grouped apart, with the same result."""
    policy = load_policy(None)
    rules = TracingRules.build(policy, {0: "restaurant"})
    evidence = _evidence([(r * (far or 1), p + far, t, g, s) for r, p, t, g, s in rows])
    got, expected = summarise(evidence, rules), _summarise_apart(evidence, rules)
    for f in fields(ContactTable):
        assert getattr(got, f.name).tolist() == getattr(expected, f.name).tolist(), f.name
    assert len(got) == len({(r * (far or 1), p + far) for r, p, *_ in rows})


def test_a_negative_venue_id_is_sorted_apart_and_still_found() -> None:
    visits = VisitArrays.of([1, 2, 3], [5, -3, 5], [300, 100, 200], [400, 150, 250])
    index = VenueTimeIndex(visits)
    assert index.visits.venue.tolist() == [-3, 5, 5]
    lo, hi = index.ranges(np.array([5]), np.array([0]), np.array([1000]))
    assert index.visits.person[int(lo[0]) : int(hi[0])].tolist() == [3, 1]
