"""The overlap engine against a brute-force oracle that restates the rules in plain Python.

The worlds and the oracle are in tests/support/tracing_oracle.py (the store's own
reads run them too: tests/integration/test_tracing_oracle_sql.py). Here the engine
reads columns in memory: one source, visits split over two sources as the archive
and SQL hold them, and a day's cases read once ahead and traced one root at a time.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.errors import UnknownVenueType
from chaincut.policy import load_policy
from chaincut.tracing.columns import (
    EncounterArrays,
    IndexWindows,
    VisitArrays,
)
from chaincut.tracing.engine import trace
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.sources import ArraySource, UnionSource
from chaincut.tracing.venue_index import VenueTimeIndex
from support.tracing_oracle import BASE, UNKNOWN, Answer, World, oracle, traced, worlds

# --- the engine on the same world ------------------------------------------------------------


def engine(world: World, mode: str) -> Answer:
    visits = VisitArrays.of(*(zip(*world.visits, strict=True) if world.visits else ([], [], [], [], [])))
    encounters = EncounterArrays.of(
        *(zip(*world.encounters, strict=True) if world.encounters else ([], [], [], []))
    )
    people = np.array(list(world.households), dtype=np.int64)
    households = np.array(list(world.households.values()), dtype=np.int64)
    if mode != "one":  # half the visits in one place, half in another, as archive and SQL are
        half = len(visits) // 2
        source = UnionSource(
            [
                ArraySource(visits.take(np.arange(half)), encounters, people, households),
                ArraySource(visits.take(np.arange(half, len(visits)))),
            ]
        )
    else:
        source = ArraySource(visits, encounters, people, households)
    return traced(world, source, mode)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.sampled_from(["one", "split", "chunked"]))
def test_the_engine_finds_what_the_oracle_finds(world: World, mode: str) -> None:
    try:
        expected_contacts, expected_evidence = oracle(world)
    except UnknownVenueType:  # the trace meets a stay at a venue of a type the policy lacks
        with pytest.raises(UnknownVenueType) as caught:
            engine(world, mode)
        assert caught.value.venue_type == UNKNOWN
        return
    contacts, evidence = engine(world, mode)
    assert contacts == expected_contacts
    assert sorted(evidence, key=repr) == sorted(expected_evidence, key=repr)


def test_a_venue_of_a_type_the_policy_lacks_refuses_only_the_traces_that_meet_it() -> None:
    """One such venue in the store used to refuse every trace (and before that, to be dropped unseen)."""
    policy = load_policy(None)
    rules = TracingRules.build(policy, {0: "restaurant", 1: "karaoke", 2: "taxi"})
    hour = 3600
    visits = VisitArrays.of(
        [0, 1, 2, 0],
        [0, 0, 1, 1],
        [BASE, BASE, BASE, BASE + 10 * hour],  # person 0 sang karaoke, but only after their window
        [BASE + hour, BASE + hour, BASE + hour, BASE + 11 * hour],
    )
    source = ArraySource(visits)
    unrelated = trace(IndexWindows.of([0], [0], [BASE], [BASE + 2 * hour]), source, rules, BASE + 12 * hour)
    assert unrelated.person.tolist() == [1]  # met at the restaurant, traced as before
    with pytest.raises(UnknownVenueType) as caught:  # person 2 was at the karaoke venue in their window
        trace(IndexWindows.of([0], [2], [BASE], [BASE + 2 * hour]), source, rules, BASE + 12 * hour)
    assert caught.value.venue_type == "karaoke"
    assert caught.value.code == "unknown_venue_type"
    assert "'karaoke' (this trace meets visits at a venue of that type)" in caught.value.message
    with pytest.raises(UnknownVenueType):  # person 0's window reaching the karaoke stay is refused too
        trace(IndexWindows.of([0], [0], [BASE], [BASE + 10 * hour]), source, rules, BASE + 12 * hour)


@settings(max_examples=200, deadline=None)
@given(st.integers(2**30, 2**30 + 2**20), st.integers(3 * 2**30, 2**32 - 1), st.integers(0, 2**32))
def test_a_coarse_venue_time_index_finds_a_superset_within_the_venue(
    first_venue: int, span: int, seed: int
) -> None:
    """Keys too wide for 64 bits are coarsened; a search still finds every visit, at its venue only."""
    rnd = random.Random(seed)  # spread-out draws, so the key really needs coarsening
    n = 300
    venues = [first_venue + rnd.randrange(3) for _ in range(n)]
    entered = [BASE + rnd.randrange(span) for _ in range(n)]
    left = [e + rnd.randrange(0, 5000) for e in entered]
    index = VenueTimeIndex(VisitArrays.of(range(n), venues, entered, left))
    assert index.quantum > 0  # venue and time need more than 62 bits: the key is coarse
    for _ in range(40):
        venue = first_venue + rnd.randrange(3)
        start = BASE + rnd.randrange(-1000, span + 1000)
        end = start + rnd.choice([rnd.randrange(0, 10_000), rnd.randrange(0, 2 * span)])  # or far beyond
        lo, hi = index.ranges(np.array([venue]), np.array([start]), np.array([end]))
        found = index.visits.take(np.arange(int(lo[0]), int(hi[0])))
        assert set(found.venue.tolist()) <= {venue}
        wanted = {
            p
            for p, v, e, out in zip(range(n), venues, entered, left, strict=True)
            if v == venue and e <= end and out >= start
        }
        assert wanted <= set(found.person.tolist())
