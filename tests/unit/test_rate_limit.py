"""Rate limits counted across workers: exact on one worker, at most one share over per extra worker."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.access.rate_limit import MemoryCounts, RateLimiter, local_share
from chaincut.clock import FixedClock
from chaincut.errors import RateLimited

WINDOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # a minute's first second


def admit(limiter: RateLimiter, client: str, per_minute: int, limit: str = "checkins") -> bool:
    """As the HTTP guard does: this worker's share first, the shared counts when it says so."""
    try:
        if not limiter.try_check(limit, client, per_minute):
            limiter.check(limit, client, per_minute)
    except RateLimited:
        return False
    return True


class Workers:
    """Limiters sharing one count, as server workers share the store; their timers stand still."""

    def __init__(self, n: int, clock: FixedClock) -> None:
        self.counts = MemoryCounts()
        self.elapsed = [0.0]
        self.limiters = [RateLimiter(self.counts, clock, monotonic=lambda: self.elapsed[0]) for _ in range(n)]


def test_a_client_is_refused_at_the_limit_until_its_window_ends() -> None:
    clock = FixedClock(WINDOW + timedelta(seconds=10))
    limiter = Workers(1, clock).limiters[0]
    assert all(admit(limiter, "resident:a", 30) for _ in range(30))
    with pytest.raises(RateLimited) as caught:
        limiter.try_check("checkins", "resident:a", 30)
    assert caught.value.retry_after == 50  # the window ends 50 s later
    assert admit(limiter, "resident:b", 30)  # another client is unaffected
    assert admit(limiter, "resident:a", 30, limit="uploads")  # and so is another limit
    clock.advance(timedelta(seconds=50))
    assert admit(limiter, "resident:a", 30)


def test_two_workers_together_are_held_to_the_limit_and_at_most_one_share_more() -> None:
    workers = Workers(2, FixedClock(WINDOW))
    admitted = 0
    for i in range(200):  # the client's requests alternate between the workers
        admitted += admit(workers.limiters[i % 2], "resident:a", 30)
    assert 30 <= admitted <= 30 + local_share(30)  # each worker alone would have admitted 30
    for limiter in workers.limiters:
        limiter.sync()
    assert workers.counts.counts[("checkins", "resident:a", int(WINDOW.timestamp()))] == admitted


def test_the_hot_path_adds_to_the_shared_counts_about_once_a_second() -> None:
    workers = Workers(1, FixedClock(WINDOW))
    limiter = workers.limiters[0]
    for i in range(1000):  # a thousand phones, once each
        assert limiter.try_check("checkins", f"resident:{i}", 30)
    assert workers.counts.adds == 0
    workers.elapsed[0] += 1.0
    assert not limiter.try_check("checkins", "resident:x", 30)  # this one adds for everyone
    limiter.check("checkins", "resident:x", 30)
    assert workers.counts.adds == 1
    assert sum(workers.counts.counts.values()) == 1000  # in one add; resident:x waits for the next
    assert limiter.try_check("checkins", "resident:y", 30)  # the others carry on meanwhile


def test_a_worker_adds_when_a_client_has_used_its_share() -> None:
    workers = Workers(1, FixedClock(WINDOW))
    limiter = workers.limiters[0]
    share = local_share(1200)
    assert all(limiter.try_check("device-checkins", "venue:v/token:1", 1200) for _ in range(share))
    assert not limiter.try_check("device-checkins", "venue:v/token:1", 1200)
    limiter.check("device-checkins", "venue:v/token:1", 1200)
    assert workers.counts.counts[("device-checkins", "venue:v/token:1", int(WINDOW.timestamp()))] == share


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 4),
    per_minute=st.integers(1, 25),
    steps=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["request"] * 6 + ["sync", "tick"])), max_size=120
    ),
)
def test_no_schedule_admits_more_than_the_bound_or_refuses_below_the_limit(
    n: int, per_minute: int, steps: list[tuple[int, str]]
) -> None:
    workers = Workers(n, FixedClock(WINDOW + timedelta(seconds=30)))
    admitted = 0
    for worker, action in steps:
        limiter = workers.limiters[worker % n]
        if action == "sync":
            limiter.sync()
        elif action == "tick":
            workers.elapsed[0] += 1.0
        elif admit(limiter, "resident:a", per_minute):
            admitted += 1
        else:
            assert admitted >= per_minute  # a refusal is never wrong
        assert admitted <= per_minute + (n - 1) * local_share(per_minute)


def test_requests_being_added_still_count_against_the_worker_s_share() -> None:
    """While an add is in flight its requests are neither in the total read back nor forgotten."""

    class Stalled(MemoryCounts):
        def __init__(self) -> None:
            super().__init__()
            self.inside, self.go = threading.Event(), threading.Event()

        def add(
            self, window_start: int, increments: Mapping[tuple[str, str], int]
        ) -> dict[tuple[str, str], int]:
            totals = super().add(window_start, increments)
            self.inside.set()
            assert self.go.wait(10)
            return totals

    counts = Stalled()
    limiter = RateLimiter(counts, FixedClock(WINDOW), monotonic=lambda: 0.0)
    share = local_share(30)
    assert all(limiter.try_check("checkins", "resident:a", 30) for _ in range(share))
    adding = threading.Thread(target=limiter.sync)
    adding.start()
    assert counts.inside.wait(10)
    assert not limiter.try_check("checkins", "resident:a", 30)  # still the whole share
    counts.go.set()
    adding.join(10)
    assert limiter.try_check("checkins", "resident:a", 30)  # read back: the share is free again


def test_a_client_name_longer_than_the_store_keeps_is_counted_under_its_digest() -> None:
    workers = Workers(1, FixedClock(WINDOW))
    limiter, long_name = workers.limiters[0], "staff:" + "x" * 200
    assert all(admit(limiter, long_name, 3) for _ in range(3))
    assert not admit(limiter, long_name, 3)
    assert [len(client) for _limit, client, _window in workers.counts.counts] == [len("sha256:") + 64]


def test_a_client_whose_share_others_keep_spending_is_refused_only_at_the_limit() -> None:
    """Between each add and this request's turn, the event loop admits a whole share of the client."""
    admitted = [0]

    class Busy(FixedClock):
        """A clock whose reading in ``check`` (after each add) lets other requests in first."""

        inside = False

        def now(self) -> datetime:
            if not self.inside and armed:
                self.inside = True
                while limiter.try_check("checkins", "resident:a", 30):
                    admitted[0] += 1
                self.inside = False
            return super().now()

    armed = False
    limiter = RateLimiter(MemoryCounts(), Busy(WINDOW), monotonic=lambda: 0.0)
    armed = True
    with pytest.raises(RateLimited) as caught:
        limiter.check("checkins", "resident:a", 30)
    assert admitted[0] >= 30  # refused because the limit was reached, not for want of a turn
    assert caught.value.retry_after == 60
