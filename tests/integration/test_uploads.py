"""A resident's visit-history upload over the HTTP API: all or nothing, retry-safe.

Runs on every storage backend through the ``services`` fixture. Record indexes in
``errors`` count from 0, like the positions in the uploaded ``visits`` array.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain import Visit, VisitSource
from chaincut.domain.access import Role
from support.auth import resident_headers, staff_headers

RESTAURANT_STAY = timedelta(minutes=90)  # venue_types.restaurant.default_stay_minutes in default.toml
TAXI_STAY = timedelta(minutes=30)  # venue_types.taxi.default_stay_minutes


@pytest.fixture
def staff(services: Services) -> dict[str, str]:
    """Staff who register people and venues."""
    return staff_headers(services, Role.SUPERVISOR, Role.VENUE_OPERATOR, username="desk")


@pytest.fixture
def client(services: Services, staff: dict[str, str]) -> Iterator[TestClient]:
    """P001's app: its requests carry P001's resident token."""
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        assert c.post("/people", json={"ref": "P001"}, headers=staff).status_code == 201
        for ref, name in (("V001", "Tsui Wah"), ("V002", "Maxim's")):
            venue = {"ref": ref, "venue_type": "restaurant", "name_en": name, "name_zh": "餐廳"}
            assert c.post("/venues", json=venue, headers=staff).status_code == 201
        c.headers.update(resident_headers(services, "P001"))
        yield c


@pytest.fixture
def token(client: TestClient, staff: dict[str, str]) -> str:
    value: str = client.get("/venues/V001/token", headers=staff).json()["token"]
    return value


def record(
    token: str, entered_at: datetime, minutes: int | None = 45, client_id: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"token": token, "entered_at": entered_at.isoformat()}
    if minutes is not None:
        out["left_at"] = (entered_at + timedelta(minutes=minutes)).isoformat()
    if client_id is not None:
        out["client_id"] = client_id
    return out


def upload(client: TestClient, visits: list[dict[str, Any]], person: str = "P001") -> Any:
    return client.post(f"/people/{person}/visit-history", json={"visits": visits})


def visit_of(services: Services, client_id: str) -> Visit | None:
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref("P001")
        assert person_id is not None
        return uow.visits.by_client_id(person_id, client_id)


def test_upload_and_retry(client: TestClient, services: Services, token: str, clock: FixedClock) -> None:
    now = clock.now()
    batch = [record(token, now - timedelta(days=d), client_id=f"h{d}") for d in (1, 2, 3)]
    first = upload(client, batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 3, "already_stored": 0, "clipped": 0}
    assert services.store.counts().visits == 3
    stored = visit_of(services, "h2")
    assert stored is not None
    assert stored.entered_at == now - timedelta(days=2)
    assert stored.left_at == now - timedelta(days=2) + timedelta(minutes=45)
    assert stored.left_inferred is False
    assert stored.source is VisitSource.UPLOAD

    retry = upload(client, batch)
    assert retry.status_code == 200, retry.text
    assert retry.json() == {"stored": 0, "already_stored": 3, "clipped": 0}
    assert services.store.counts().visits == 3

    # A batch that adds to what is stored keeps only the new record.
    more = upload(client, [*batch, record(token, now - timedelta(days=4), client_id="h4")])
    assert more.json() == {"stored": 1, "already_stored": 3, "clipped": 0}
    assert services.store.counts().visits == 4


def test_a_check_in_already_stored_is_not_stored_again(
    client: TestClient, services: Services, token: str, clock: FixedClock
) -> None:
    checkin = client.post("/checkins", json={"client_id": "scan-1", "person": "P001", "token": token})
    assert checkin.status_code == 201
    response = upload(client, [record(token, clock.now() - timedelta(hours=1), client_id="scan-1")])
    assert response.json() == {"stored": 0, "already_stored": 1, "clipped": 0}
    assert services.store.counts().visits == 1


def test_a_batch_with_bad_records_is_refused_whole(
    client: TestClient, services: Services, token: str, clock: FixedClock
) -> None:
    now = clock.now()
    batch = [record(token, now - timedelta(hours=h), client_id=f"r{h}") for h in range(1, 8)]
    batch[1]["token"] = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    batch[4]["left_at"] = (now - timedelta(hours=5, minutes=10)).isoformat()  # before its entered_at
    response = upload(client, batch)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "batch_rejected"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "token"), (4, "left_at")]
    assert all(e["message"] for e in body["errors"])
    assert services.store.counts().visits == 0

    # Every problem is listed, several per record where there are several.
    worse = [
        record(token, now + timedelta(hours=1), client_id="f1"),
        {"entered_at": (now - timedelta(hours=1)).isoformat()},
        record(token, now - timedelta(days=32), client_id="old"),
        record("CHAINCUT:1:a.b.c", now - timedelta(hours=1), client_id="bad id!"),
        record(token, now - timedelta(hours=2), client_id="dup"),
        record(token, now - timedelta(hours=3), client_id="dup"),
        {"plate": "NO1", "entered_at": (now - timedelta(hours=1)).isoformat()},
        record(token, now - timedelta(hours=1), minutes=120, client_id="late"),
    ]
    response = upload(client, worse)
    assert response.status_code == 422, response.text
    errors = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert errors == {
        (0, "entered_at"),
        (0, "left_at"),
        (1, "token"),
        (2, "entered_at"),
        (3, "token"),
        (3, "client_id"),
        (5, "client_id"),
        (6, "plate"),
        (7, "left_at"),
    }
    assert services.store.counts().visits == 0


def test_ten_thousand_records_are_accepted(
    client: TestClient, services: Services, token: str, clock: FixedClock
) -> None:
    now = clock.now()
    limit = services.policy.uploads.max_records_per_batch
    assert limit == 10_000
    batch = [record(token, now - timedelta(minutes=3 * n + 60), client_id=f"n{n}") for n in range(limit)]
    response = upload(client, batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": limit, "already_stored": 0, "clipped": 0}
    assert services.store.counts().visits == limit

    over = upload(client, [*batch, record(token, now - timedelta(minutes=30), client_id="one-more")])
    assert over.status_code == 422, over.text
    assert over.json()["code"] == "batch_too_large"  # the policy's limit, checked before anything is stored
    assert over.json()["field"] == "visits"
    assert services.store.counts().visits == limit


def test_an_empty_batch_is_refused(client: TestClient, services: Services) -> None:
    response = upload(client, [])
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "empty_batch"
    assert response.json()["field"] == "visits"
    missing = client.post("/people/P001/visit-history", json={})
    assert missing.status_code == 422
    assert missing.json()["field"] == "visits"


def test_malformed_records_name_index_and_field(client: TestClient, token: str) -> None:
    response = upload(client, [record(token, datetime(2026, 11, 19, 8, 0).astimezone()), {"token": token}])
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"
    assert response.json()["field"] == "visits.1.entered_at"
    naive = upload(client, [{"token": token, "entered_at": "2026-11-19T08:00:00"}])
    assert naive.status_code == 422
    assert naive.json()["field"] == "visits.0.entered_at"


def test_unknown_person_is_not_found(
    client: TestClient, services: Services, staff: dict[str, str], token: str, clock: FixedClock
) -> None:
    response = upload(client, [record(token, clock.now() - timedelta(hours=1))], person="P999")
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    # Someone else's history is not found either: an app uploads its owner's only.
    assert client.post("/people", json={"ref": "P002"}, headers=staff).status_code == 201
    other = upload(client, [record(token, clock.now() - timedelta(hours=1))], person="P002")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    # Without a resident's token nothing is uploaded.
    headers = {"Authorization": ""}
    anonymous = client.post("/people/P001/visit-history", json={"visits": []}, headers=headers)
    assert anonymous.status_code == 401, anonymous.text
    assert services.store.counts().visits == 0


def test_a_record_without_left_at_gets_the_default_stay(
    client: TestClient, services: Services, staff: dict[str, str], token: str, clock: FixedClock
) -> None:
    now = clock.now()
    taxi = {"venue_type": "taxi", "name_en": "Taxi", "name_zh": "的士", "plate": "HK 88"}
    assert client.post("/venues", json=taxi, headers=staff).status_code == 201
    batch = [
        record(token, now - timedelta(hours=5), minutes=None, client_id="open"),
        record(token, now - timedelta(minutes=20), minutes=None, client_id="recent"),
        {"plate": "hk88", "entered_at": (now - timedelta(hours=3)).isoformat(), "client_id": "cab"},
    ]
    response = upload(client, batch)
    assert response.json() == {"stored": 3, "already_stored": 0, "clipped": 0}, response.text

    opened = visit_of(services, "open")
    assert opened is not None
    assert opened.left_at == now - timedelta(hours=5) + RESTAURANT_STAY
    assert opened.left_inferred is True
    recent = visit_of(services, "recent")
    assert recent is not None
    assert recent.left_at == now  # the stay has not run out yet: never a time in the future
    assert recent.left_inferred is True
    cab = visit_of(services, "cab")
    assert cab is not None
    assert cab.source is VisitSource.TAXI
    assert cab.left_at == now - timedelta(hours=3) + TAXI_STAY


def test_concurrent_retried_uploads_store_once(
    client: TestClient, services: Services, token: str, clock: FixedClock
) -> None:
    """A phone retrying its upload while the first is still running never gets a 5xx."""
    now = clock.now()
    batch = [record(token, now - timedelta(hours=h), client_id=f"c{h}") for h in range(1, 40)]
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait(timeout=10)
        statuses.append(upload(client, batch).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 6
    assert services.store.counts().visits == len(batch)
