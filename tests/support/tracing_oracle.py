"""Random small worlds of whereabouts, and a brute-force oracle that traces them by the policy's rules.

Shared by the engine's tests on columns in memory (tests/unit/test_tracing_engine.py)
and through the store (tests/integration/test_tracing_oracle_sql.py). Hypothesis draws
worlds where the boundaries are likely: intervals on a coarse grid so they touch,
zero-length visits, windows cutting through visits, inferred check-outs (closed at the
type's default stay, as the store closes them), people at several venues at once, a
case at one venue twice, households, encounters, stays clipped to the venue type's
longest believable stay (which the evidence must say), and contacts of contacts to
depth 3. Some venues are of a type the policy lacks: the oracle refuses a trace that
meets a stay at one (at any generation) naming the type, as the engine must, and
answers any other. The oracle restates the rules one loop at a time.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import NamedTuple

from hypothesis import strategies as st

from chaincut.domain import Tier
from chaincut.policy import (
    ContactRule,
    ContactsOfContactsRule,
    EncounterRule,
    HouseholdRule,
    Policy,
    load_policy,
)
from chaincut.tracing.columns import KIND_CODES, ContactTable, EvidenceTable, IndexWindows
from chaincut.tracing.engine import WhereaboutsSource, summarise, trace, trace_in_chunks
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.sources import PrefetchedSource

__all__ = [
    "BASE",
    "GRID",
    "TYPES",
    "UNKNOWN",
    "Answer",
    "World",
    "answer_of",
    "oracle",
    "oracle_direct",
    "traced",
    "worlds",
]

Answer = tuple[dict[tuple[int, int], tuple[int, int, int, int]], list[tuple[object, ...]]]
"""Contacts as {(root, person): (tier, generation, seconds, via)} and every evidence row."""

BASE = 1_790_000_000  # 2026-09-21 UTC: realistic epoch seconds
GRID = 300  # five minutes: intervals on a grid touch and coincide often
TYPES = ["restaurant", "taxi", "elderly_home"]
UNKNOWN = "karaoke"  # a type the policy lacks (registered by another process under another policy)


class World(NamedTuple):
    policy: Policy
    venue_types: dict[int, str]
    visits: list[tuple[int, int, int, int, bool]]  # person, venue, entered, left, clipped
    encounters: list[tuple[int, int, int, int]]
    households: dict[int, int]
    windows: list[tuple[int, int, int, int]]  # root, person, start, end
    as_of: int


tiers = st.sampled_from(list(Tier))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    base = load_policy(None)
    venue_types = dict(base.venue_types)
    for name in TYPES:
        rule = ContactRule(
            min_overlap_minutes=draw(st.sampled_from([0, 5, 15, 60])),
            after_leave_minutes=draw(st.sampled_from([0, 5, 30])),
            tier=draw(tiers),
        )
        venue_types[name] = dataclasses.replace(venue_types[name], contact=rule)
    from_tiers = draw(st.sets(tiers, min_size=1))
    weakest = min(from_tiers, key=lambda t: t.rank)
    onward = draw(st.sampled_from([t for t in Tier if t.rank <= weakest.rank]))
    return dataclasses.replace(
        base,
        venue_types=venue_types,
        encounters=EncounterRule(draw(st.sampled_from([0, 5, 15])), draw(tiers)),
        household=HouseholdRule(draw(tiers)),
        contacts_of_contacts=ContactsOfContactsRule(draw(st.integers(1, 3)), frozenset(from_tiers), onward),
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    policy = draw(policies())
    people = draw(st.integers(2, 9))
    venues = draw(st.integers(1, 4))
    venue_types = {v: draw(st.sampled_from([*TYPES, *TYPES, UNKNOWN])) for v in range(venues)}
    horizon = 48  # grid steps: four hours of five-minute steps, crossing midnight is just more steps
    person = st.integers(0, people - 1)
    step = st.integers(0, horizon)

    visits = []
    for _ in range(draw(st.integers(0, 30))):
        p, v, start = draw(person), draw(st.integers(0, venues - 1)), draw(step)
        if draw(st.booleans()):  # checked out (possibly at once: zero length)
            length = draw(st.integers(0, 12)) * GRID + draw(st.sampled_from([0, 0, 1, 59]))
        elif venue_types[v] in policy.venue_types:  # nobody checked out: closed at the default stay
            length = policy.venue_rule(venue_types[v]).default_stay_minutes * 60
        else:  # a type with no default stay: open until the time of tracing, as the service reads it
            length = (horizon + 12 - start) * GRID
        clipped = draw(st.booleans()) and draw(st.booleans())  # the stay as stored had been clipped
        visits.append((p, v, BASE + start * GRID, BASE + start * GRID + length, clipped))

    encounters = []
    for _ in range(draw(st.integers(0, 15))):
        a, b = draw(person), draw(person)
        if a == b:
            continue
        start = draw(step)
        encounters.append((a, b, BASE + start * GRID, BASE + start * GRID + draw(st.integers(0, 6)) * 120))

    households = {p: draw(st.integers(0, 2)) for p in range(people) if draw(st.booleans())}

    windows = []
    for root in range(draw(st.integers(1, 3))):
        start = draw(step)
        end = start + draw(st.integers(0, horizon))
        windows.append((root, draw(person), BASE + start * GRID, BASE + end * GRID))
    as_of = BASE + (horizon + draw(st.integers(0, 12))) * GRID
    return World(policy, venue_types, visits, encounters, households, windows, as_of)


# --- the oracle: the rules, one loop at a time ---------------------------------------------


class Found(NamedTuple):
    kind: str
    tier: int
    seconds: int
    via: int
    venue: int
    first: int
    clipped: int = 0  # venue evidence: 1 the index person's stay was clipped, 2 the contact's


def oracle_direct(world: World, person: int, start: int, end: int) -> dict[int, list[Found]]:
    policy = world.policy
    found: dict[int, list[Found]] = defaultdict(list)
    for p, v, entered, left, clipped in world.visits:
        if p != person:
            continue
        a, b = max(entered, start), min(left, end)
        if a > b:
            continue
        kind = policy.venue_rule(world.venue_types[v])  # a type the policy lacks: the trace is refused
        b += kind.contact.after_leave_seconds
        for q, w, entered2, left2, clipped2 in world.visits:
            if w != v or q == person:
                continue
            s, t = max(entered2, a), min(left2, b)
            if s <= t and t - s >= kind.contact.min_overlap_seconds:
                flags = (1 if clipped else 0) | (2 if clipped2 else 0)
                found[q].append(Found("venue", kind.contact.tier.rank, t - s, person, v, s, flags))
    near: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for a_, b_, s0, e0 in world.encounters:
        for me, other in ((a_, b_), (b_, a_)):
            s, t = max(s0, start), min(e0, end)
            if me == person and s <= t:
                near[other].append((s, t))
    for other, spans in near.items():
        total = sum(t - s for s, t in spans)
        if total >= policy.encounters.cumulative_seconds:
            first = min(s for s, _ in spans)
            found[other].append(Found("encounter", policy.encounters.tier.rank, total, person, -1, first))
    if person in world.households:
        for member, household in world.households.items():
            if household == world.households[person] and member != person:
                found[member].append(Found("household", policy.household.tier.rank, 0, person, -1, start))
    return found


def oracle(world: World) -> Answer:
    """Contacts as {(root, person): (tier, generation, seconds, via)} and every evidence row."""
    coc = world.policy.contacts_of_contacts
    contacts: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    evidence: list[tuple[object, ...]] = []
    seen = {(root, person) for root, person, _, _ in world.windows}
    current = list(world.windows)
    for generation in range(1, coc.depth + 1):
        by_pair: dict[tuple[int, int], list[Found]] = defaultdict(list)
        for root, person, start, end in current:
            for other, items in oracle_direct(world, person, start, end).items():
                if (root, other) not in seen:
                    by_pair[(root, other)].extend(items)
        nxt = []
        for (root, other), items in by_pair.items():
            tier = max(f.tier for f in items) if generation == 1 else coc.tier.rank
            contacts[(root, other)] = (
                tier,
                generation,
                sum(f.seconds for f in items),
                min(f.via for f in items),
            )
            evidence += [(root, other, f.kind, f.tier, f.seconds, f.via, f.venue, f.clipped) for f in items]
            first = min(f.first for f in items)
            if tier in {t.rank for t in coc.from_tiers} and first <= world.as_of:
                nxt.append((root, other, first, world.as_of))
        seen |= set(by_pair)
        current = nxt
        if not current:
            break
    return contacts, evidence


def answer_of(table: EvidenceTable, summary: ContactTable) -> Answer:
    """The engine's evidence and contacts in the oracle's shape."""
    contacts = {
        (int(r), int(p)): (int(t), int(g), int(s), int(v))
        for r, p, t, g, s, v in zip(
            summary.root,
            summary.person,
            summary.tier,
            summary.generation,
            summary.seconds,
            summary.via,
            strict=True,
        )
    }
    kinds = {code: kind.value for kind, code in KIND_CODES.items()}
    rows = [
        (int(r), int(p), kinds[int(k)], int(t), int(s), int(v), int(w), int(c))
        for r, p, k, t, s, v, w, c in zip(
            table.root,
            table.person,
            table.kind,
            table.tier,
            table.seconds,
            table.via,
            table.venue,
            table.clipped,
            strict=True,
        )
    ]
    return contacts, rows


def traced(world: World, source: WhereaboutsSource, mode: str) -> Answer:
    """The engine's answer for the world's windows over ``source``: all at once, or (``chunked``)
    as a day's cases are traced, read once ahead and then one root at a time, two at once on
    threads (at depth 1)."""
    rules = TracingRules.build(world.policy, world.venue_types)
    windows = IndexWindows.of(*zip(*world.windows, strict=True))
    if mode == "chunked":
        ahead = PrefetchedSource(source, windows, rules)
        chunks = list(
            trace_in_chunks(
                windows, source, rules, world.as_of, first_source=ahead, roots_per_chunk=1, workers=2
            )
        )
        table = EvidenceTable.concat([evidence for evidence, _ in chunks])
        summary = ContactTable.concat([contacts for _, contacts in chunks])
    else:
        table = trace(windows, source, rules, world.as_of)
        summary = summarise(table, rules)
    return answer_of(table, summary)
