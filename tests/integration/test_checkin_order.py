"""Check-ins that arrive out of order, on the embedded default and on PostgreSQL.

A phone that was offline sends its queued scans late, so a check-in made at 12:00 may
reach the store after one made at 12:30. Where a check-in lands must depend on the time
it was made, never on when it arrived (the rule is chaincut.whereabouts.arrivals').
Hypothesis draws two or three check-ins (times on a five-minute grid, so they tie and
touch; venues with different default stays; the maintenance job running in between);
every order of their arrival is played, one check-in per transaction and batched with
other people's (``_record_together``), and each must leave exactly the visits the oracle
gives: a visit from ``e`` ends at ``min(e + default stay, next start after e)``, or, with
no later start, at ``e + default stay`` once maintenance has run after it ran out, and is
open before that. Every end is inferred.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock, to_epoch
from chaincut.people import PersonDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest, CheckInService, VisitReceipt

# venue ref -> (type, its default stay in minutes in default.toml)
VENUES = {"R1": ("restaurant", 90), "B1": ("bar", 120), "T1": ("taxi", 30)}
GRID = timedelta(minutes=5)
SPAN = 48  # grid steps: four hours, so some stays end before the next check-in and some after

_people = itertools.count()


class World:
    """People registered as needed, and the venues' tokens."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tokens: dict[str, str] = {}
        for ref, (kind, _) in VENUES.items():
            plate = "CC1234" if kind == "taxi" else None
            venue = services.venues.register(VenueDraft(kind, f"Venue {ref}", "場所", ref=ref, plate=plate))
            self.tokens[ref] = services.venues.token(venue)

    def person(self) -> str:
        ref = f"P{next(_people):06d}"
        self.services.people.register(PersonDraft(ref))
        return ref

    def visits(self, person: str) -> dict[str, tuple[int, int | None, bool]]:
        """The person's visits by client id: (entered, left, inferred) in epoch seconds."""
        with self.services.store.read() as uow:
            person_id = uow.people.id_for_ref(person)
            assert person_id is not None
            found = uow.visits.of_person(person_id, 0, 2**40)
        return {
            str(v.client_id): (
                to_epoch(v.entered_at),
                None if v.left_at is None else to_epoch(v.left_at),
                v.left_inferred,
            )
            for v in found
        }


@pytest.fixture
def world(services: Services) -> World:
    return World(services)


CheckIn = tuple[int, str]  # grid step, venue ref


def oracle(
    check_ins: list[CheckIn], start: datetime, now: datetime
) -> dict[str, tuple[int, int | None, bool]]:
    """The visits the check-ins make, whatever order they arrive in (maintenance runs last)."""
    times = [to_epoch(start + step * GRID) for step, _ in check_ins]
    out: dict[str, tuple[int, int | None, bool]] = {}
    for i, ((_, venue), at) in enumerate(zip(check_ins, times, strict=True)):
        stay_end = at + VENUES[venue][1] * 60
        later = [t for t in times if t > at]
        if later:
            left: int | None = min(stay_end, min(later))
        else:
            left = stay_end if stay_end <= to_epoch(now) else None
        out[f"c{i}"] = (at, left, left is not None)
    return out


def request(world: World, person: str, check_ins: list[CheckIn], i: int, start: datetime) -> CheckInRequest:
    step, venue = check_ins[i]
    return CheckInRequest(person, f"c{i}", token=world.tokens[venue], at=start + step * GRID)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    check_ins=st.lists(
        st.tuples(st.integers(0, SPAN), st.sampled_from(sorted(VENUES))), min_size=2, max_size=3
    ),
    maintenance_after=st.sets(st.integers(0, 2)),
    past=st.sampled_from([0, 1, 3]),
)
def test_every_arrival_order_of_two_or_three_check_ins_gives_the_same_visits(
    world: World,
    clock: FixedClock,
    check_ins: list[CheckIn],
    maintenance_after: set[int],
    past: int,
) -> None:
    services = world.services
    now = clock.now()
    # The check-ins span four hours ending ``past`` hours ago: with 0, the last stays are still running.
    start = now - timedelta(hours=past) - SPAN * GRID
    expected = oracle(check_ins, start, now)
    orders = list(itertools.permutations(range(len(check_ins))))
    one_by_one = {order: world.person() for order in orders}
    batched = {order: world.person() for order in orders}
    together = CheckInService(
        services.store, services.policy, clock, services.verifier, batch_statements=True
    )
    for step in range(len(check_ins)):
        for order, person in one_by_one.items():
            outcome = services.checkins.check_in(request(world, person, check_ins, order[step], start))
            assert isinstance(outcome, VisitReceipt)
        # Everyone's step-th check-in in one group commit: different people, so the batched statements.
        outcomes = together.check_in_many(
            [request(world, person, check_ins, order[step], start) for order, person in batched.items()]
        )
        assert all(isinstance(o, VisitReceipt) for o in outcomes), outcomes
        if step in maintenance_after:
            services.checkins.close_stale_visits()
    services.checkins.close_stale_visits()
    for path in (one_by_one, batched):
        for order, person in path.items():
            assert world.visits(person) == expected, (order, path is batched)


def test_a_late_backdated_check_in_never_shortens_the_newer_visit(world: World, clock: FixedClock) -> None:
    """The issue's case: 12:30 arrives first, then 12:00 queued offline; 12:30 stays as it was."""
    services = world.services
    person = world.person()
    now = clock.now()
    newer = services.checkins.check_in(
        CheckInRequest(person, "newer", token=world.tokens["B1"], at=now - timedelta(minutes=30))
    )
    assert newer.left_at is None
    late = services.checkins.check_in(
        CheckInRequest(person, "older", token=world.tokens["R1"], at=now - timedelta(minutes=60))
    )
    # The backdated visit ends where the newer one begins, inferred; the newer one is untouched.
    assert late.left_at == now - timedelta(minutes=30)
    assert late.left_inferred is True
    assert world.visits(person) == {
        "newer": (to_epoch(now - timedelta(minutes=30)), None, False),
        "older": (to_epoch(now - timedelta(minutes=60)), to_epoch(now - timedelta(minutes=30)), True),
    }


def test_an_end_the_person_gave_is_never_moved(world: World, clock: FixedClock) -> None:
    """A check-out is the person's word: a backdated check-in inside that visit leaves it alone."""
    services = world.services
    person = world.person()
    now = clock.now()
    services.checkins.check_in(
        CheckInRequest(person, "first", token=world.tokens["B1"], at=now - timedelta(minutes=90))
    )
    services.checkins.check_out(person, "first", now - timedelta(minutes=10))
    inside = services.checkins.check_in(
        CheckInRequest(person, "inside", token=world.tokens["R1"], at=now - timedelta(minutes=60))
    )
    assert inside.left_at is None  # no later visit began after it
    visits = world.visits(person)
    assert visits["first"] == (
        to_epoch(now - timedelta(minutes=90)),
        to_epoch(now - timedelta(minutes=10)),
        False,
    )
