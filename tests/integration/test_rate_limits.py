"""Rate limits counted in the store, so that they hold across server workers and hosts.

Two apps on one store stand for two server workers (``chaincut serve --workers 2``, or
two hosts): each has its own limiter, and only the store is shared.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chaincut.access.rate_limit import WINDOW_SECONDS, StoredCounts, local_share
from chaincut.api import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain.access import Principal
from chaincut.people import PersonDraft
from chaincut.store.tables import rate_counts
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.retention import purge_expired

OPERATOR = Principal.system("tests")


@pytest.fixture
def second_worker(services: Services) -> Iterator[Services]:
    """Another worker on the same store and settings, with a limiter of its own."""
    other = bootstrap(services.settings, clock=services.clock)
    yield other
    other.close()


def _app(services: Services) -> TestClient:
    return TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False)


def _world(services: Services, people: int) -> str:
    for n in range(people):
        services.people.register(PersonDraft(ref=f"P{n}"))
    return services.venues.token(services.venues.register(VenueDraft("restaurant", "Tea", "茶", ref="V1")))


def test_two_workers_together_hold_a_resident_to_the_limit(
    services: Services, second_worker: Services
) -> None:
    limit = services.settings.rate_checkins_per_minute
    qr = _world(services, 1)
    app = {"Authorization": f"Bearer {services.accounts.issue_resident_token('P0', OPERATOR).secret}"}
    statuses: list[int] = []
    refused = []
    with _app(services) as first, _app(second_worker) as second:
        for n in range(2 * limit + 10):  # the phone's requests alternate between the workers
            worker = (first, second)[n % 2]
            response = worker.post("/checkins", json={"client_id": f"c{n}", "token": qr}, headers=app)
            statuses.append(response.status_code)
            if response.status_code == 429:
                refused.append(response)
    admitted = sum(s in (200, 201) for s in statuses)
    assert set(statuses) == {201, 429}
    # Each worker counting alone would have let 2 x 30 through.
    assert limit <= admitted <= limit + local_share(limit), statuses
    assert statuses[-10:] == [429] * 10
    assert refused[0].json()["code"] == "rate_limited"
    assert int(refused[0].headers["Retry-After"]) == WINDOW_SECONDS  # the clock stands at a minute's start


def test_a_venue_device_checks_people_in_under_its_own_higher_limit(services: Services) -> None:
    services.settings = services.settings.model_copy(
        update={"rate_checkins_per_minute": 5, "rate_device_checkins_per_minute": 12}
    )
    qr = _world(services, 14)
    kiosk = {"Authorization": f"Bearer {services.accounts.issue_venue_token('V1', OPERATOR).secret}"}
    door = {"Authorization": f"Bearer {services.accounts.issue_venue_token('V1', OPERATOR).secret}"}
    phone = {"Authorization": f"Bearer {services.accounts.issue_resident_token('P0', OPERATOR).secret}"}
    with _app(services) as client:

        def check_in(headers: dict[str, str], n: int, person: str | None = None) -> int:
            body = {"client_id": f"c{n}", "token": qr, **({"person": person} if person else {})}
            return client.post("/checkins", json=body, headers=headers).status_code

        # A phone at a phone's rate...
        assert [check_in(phone, n) for n in range(6)] == [201] * 5 + [429]
        # ...a kiosk checking in a queue of people at its own...
        assert [check_in(kiosk, 100 + n, f"P{n + 1}") for n in range(13)] == [201] * 12 + [429]
        # ...and each of a venue's devices has its own count.
        assert check_in(door, 200, "P13") == 201


def test_counts_of_windows_that_have_passed_are_deleted(services: Services) -> None:
    counts = StoredCounts(services.store)
    start = to_epoch(services.clock.now())
    start -= start % WINDOW_SECONDS
    for n in range(3):
        window = start + n * WINDOW_SECONDS
        assert counts.add(window, {("checkins", "resident:a"): 2, ("sign-in", "127.0.0.1"): 1}) == {
            ("checkins", "resident:a"): 2,
            ("sign-in", "127.0.0.1"): 1,
        }
    with services.store.read() as uow:
        windows = uow.connection.execute(select(rate_counts.c.window_start).distinct()).scalars().all()
    assert sorted(windows) == [
        start + WINDOW_SECONDS,
        start + 2 * WINDOW_SECONDS,
    ]  # this one and the one before


def test_counts_are_purged_when_traffic_stops(services: Services) -> None:
    # Workers drop old windows only as they add; with no request after the last, the counts (resident
    # ids, addresses) would stay. The maintenance purge deletes them once they no longer count.
    counts = StoredCounts(services.store)
    start = to_epoch(services.clock.now())
    start -= start % WINDOW_SECONDS
    counts.add(start, {("checkins", "resident:a"): 2, ("sign-in", "127.0.0.1"): 1})
    assert isinstance(services.clock, FixedClock)
    services.clock.advance(timedelta(seconds=WINDOW_SECONDS))
    kept = {r.kind: r.deleted for r in purge_expired(services.store, services.policy, services.clock)}
    assert kept["rate_counts"] == 0  # the window before the current one still counts
    services.clock.advance(timedelta(seconds=WINDOW_SECONDS))
    purged = {r.kind: r.deleted for r in purge_expired(services.store, services.policy, services.clock)}
    assert purged["rate_counts"] == 2
    with services.store.read() as uow:
        assert uow.connection.execute(select(rate_counts)).all() == []


def test_workers_adding_to_the_same_clients_at_once_lose_no_request(services: Services) -> None:
    window = to_epoch(services.clock.now())
    window -= window % WINDOW_SECONDS
    clients = [("checkins", f"resident:{n}") for n in range(200)]
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        counts, rng = StoredCounts(services.store), random.Random(seed)
        try:
            for _ in range(10):
                order = clients[:]
                rng.shuffle(order)
                counts.add(window, dict.fromkeys(order, 1))
        except BaseException as exc:  # a deadlock would surface here
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    with services.store.read() as uow:
        totals = uow.connection.execute(
            select(rate_counts.c.count).where(rate_counts.c.window_start == window)
        )
        assert sorted(totals.scalars()) == [40] * 200
