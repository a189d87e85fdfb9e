"""The rule for check-ins arriving out of order, played in memory for every arrival order.

The store holds each visit's (entered, left, inferred); ``place_check_in`` says what a
check-in does to them. Whatever the order of arrival, the visits must end where the
rule's closed form puts them: ``min(entered + default stay, next start after entered)``,
or open when no later visit began.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.store import VisitSpan
from chaincut.whereabouts.arrivals import place_check_in

STAYS = {0: 1800, 1: 5400, 2: 7200}  # venue id -> default stay in seconds


def play(check_ins: list[tuple[int, int]], order: tuple[int, ...]) -> dict[int, tuple[int | None, bool]]:
    """Arrive in ``order``; each check-in sees every stored visit that is open or ends after it."""
    stored: dict[int, VisitSpan] = {}
    for i in order:
        at, venue = check_ins[i]
        near = [v for v in stored.values() if v.left_at is None or v.left_at > at]
        placement = place_check_in(at, STAYS[venue], near, STAYS.__getitem__)
        for visit_id, left in placement.closings:
            stored[visit_id] = stored[visit_id]._replace(left_at=left, left_inferred=True)
        stored[i] = VisitSpan(i, venue, at, placement.left_at, placement.left_at is not None)
    return {i: (v.left_at, v.left_inferred) for i, v in stored.items()}


def closed_form(check_ins: list[tuple[int, int]]) -> dict[int, tuple[int | None, bool]]:
    out: dict[int, tuple[int | None, bool]] = {}
    for i, (at, venue) in enumerate(check_ins):
        later = [t for t, _ in check_ins if t > at]
        left = min(at + STAYS[venue], min(later)) if later else None
        out[i] = (left, left is not None)
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40).map(lambda step: step * 300), st.sampled_from(sorted(STAYS))),
        min_size=1,
        max_size=5,
    )
)
def test_every_arrival_order_ends_every_visit_where_time_order_does(check_ins: list[tuple[int, int]]) -> None:
    expected = closed_form(check_ins)
    in_time_order = tuple(sorted(range(len(check_ins)), key=lambda i: check_ins[i][0]))
    assert play(check_ins, in_time_order) == expected
    for order in itertools.permutations(range(len(check_ins))):
        assert play(check_ins, order) == expected, order


def test_a_later_visit_is_never_touched_and_an_end_the_person_gave_never_moves() -> None:
    later = VisitSpan(1, 0, 1000, None, False)
    given_end = VisitSpan(2, 0, 100, 900, False)  # checked out at 900 by the person
    inferred_end = VisitSpan(3, 0, 200, 950, True)  # closed by a check-in that arrived first
    placement = place_check_in(500, 7200, [later, given_end, inferred_end], STAYS.__getitem__)
    assert placement.closings == [(3, 500)]
    assert placement.left_at == 1000  # closed where the later visit begins
