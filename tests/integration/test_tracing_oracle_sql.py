"""The overlap engine reading through the store's SQL, against the brute-force oracle.

The same random worlds as tests/unit/test_tracing_engine.py (tests/support/tracing_oracle.py),
stored in the SQL tables of each backend and read back by ``SqlSource``, which sends
lists of ids a chunk at a time. The chunks are made tiny, so the two people of an
encounter often fall in different chunks: an encounter found by both chunks must
still count once, or its minutes add up twice and make false close contacts.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from chaincut.bootstrap import Services
from chaincut.errors import UnknownVenueType
from chaincut.store import tables as t
from chaincut.tracing.store_sources import SqlSource
from support.tracing_oracle import UNKNOWN, Answer, World, oracle, traced, worlds


def stored_once(world: World) -> World:
    """The world as the store holds it: an encounter once per natural key (unordered pair, start, end)."""
    seen: dict[tuple[int, int, int, int], None] = {}
    for a, b, start, end in world.encounters:
        seen.setdefault((min(a, b), max(a, b), start, end))
    return world._replace(encounters=list(seen))


def store_world(services: Services, world: World) -> None:
    """Replace the store's people, households, visits and encounters by the world's (ids kept)."""
    with services.store.write() as uow:
        conn = uow.connection
        for table in (t.encounters, t.visits, t.people, t.households):
            conn.execute(delete(table))
        households = sorted(set(world.households.values()))
        if households:
            conn.execute(insert(t.households), [{"id": h, "ref": f"hh-{h}"} for h in households])
        everyone = (
            {v[0] for v in world.visits}
            | {w[1] for w in world.windows}
            | {p for e in world.encounters for p in e[:2]}
            | set(world.households)
        )
        conn.execute(
            insert(t.people),
            [
                {
                    "id": p,
                    "ref": f"p-{p}",
                    "public_id": f"pub-{p}",
                    "household_id": world.households.get(p),
                    "created_at": 0,
                }
                for p in sorted(everyone)
            ],
        )
        if world.visits:
            conn.execute(
                insert(t.visits),
                [
                    # Check-ins, each with its client id: one person may enter one venue twice at once.
                    {
                        "person_id": p,
                        "venue_id": v,
                        "entered_at": entered,
                        "left_at": left,
                        "left_inferred": False,
                        "source": 1,
                        "client_id": f"c-{i}",
                        "clipped": clipped,
                    }
                    for i, (p, v, entered, left, clipped) in enumerate(world.visits)
                ],
            )
        if world.encounters:
            conn.execute(
                insert(t.encounters),
                [
                    {"person_a": a, "person_b": b, "start_at": s, "end_at": e}
                    for a, b, s, e in world.encounters
                ],
            )


def engine_through_sql(services: Services, world: World, mode: str, chunk_size: int) -> Answer:
    venues = max(world.venue_types) + 1
    source = SqlSource(services.store, np.zeros(venues, dtype=np.int64), world.as_of, chunk_size=chunk_size)
    return traced(world, source, mode)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(worlds(), st.sampled_from(["one", "chunked"]), st.integers(1, 3))
def test_the_engine_through_sql_finds_what_the_oracle_finds(
    services: Services, world: World, mode: str, chunk_size: int
) -> None:
    world = stored_once(world)
    store_world(services, world)

    try:
        expected_contacts, expected_evidence = oracle(world)
    except UnknownVenueType:  # the trace meets a stay at a venue of a type the policy lacks
        with pytest.raises(UnknownVenueType) as caught:
            engine_through_sql(services, world, mode, chunk_size)
        assert caught.value.venue_type == UNKNOWN
        return
    contacts, evidence = engine_through_sql(services, world, mode, chunk_size)

    assert contacts == expected_contacts
    assert sorted(evidence, key=repr) == sorted(expected_evidence, key=repr)
