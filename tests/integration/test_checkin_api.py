"""Check-in and check-out over the HTTP API, on every storage backend.

Each test drives the real app (``create_app``) over the ``services`` fixture, so it
runs once on the embedded default (SQLite plus the Parquet archive) and once on
PostgreSQL. Times come from the fixed clock (2026-11-20T04:00Z).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaincut.access import RateLimiter
from chaincut.access.rate_limit import MemoryCounts
from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain import Venue, Visit, VisitSource
from chaincut.domain.access import Role
from chaincut.errors import Conflict
from chaincut.store.whereabouts import VisitRepository
from chaincut.venues.tokens import VenueClaims, VenueTokenSigner, generate_signing_key, key_id_for
from chaincut.whereabouts.checkin import CheckInRequest, CheckInService, VisitReceipt
from support.auth import resident_headers, staff_headers, venue_headers

RESTAURANT_STAY = timedelta(minutes=90)  # venue_types.restaurant.default_stay_minutes in default.toml
BAR_STAY = timedelta(minutes=120)  # venue_types.bar.default_stay_minutes


# A resident's app credentials, by person ref.
Phone = Callable[[str], dict[str, str]]


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """Staff who register people and venues; check-ins carry a resident's or a venue's token."""
    headers = staff_headers(services, Role.SUPERVISOR, Role.VENUE_OPERATOR, username="desk")
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        yield c


@pytest.fixture
def phone(services: Services) -> Phone:
    """The headers of a person's app (one resident token each, issued on first use)."""
    issued: dict[str, dict[str, str]] = {}

    def headers(ref: str) -> dict[str, str]:
        if ref not in issued:
            issued[ref] = resident_headers(services, ref)
        return issued[ref]

    return headers


def iso(at: datetime) -> str:
    return at.isoformat()


def register_person(client: TestClient, ref: str = "P001") -> dict[str, Any]:
    response = client.post("/people", json={"ref": ref})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def register_venue(
    client: TestClient, ref: str = "V001", venue_type: str = "restaurant", **extra: str
) -> dict[str, Any]:
    payload = {"ref": ref, "venue_type": venue_type, "name_en": f"Venue {ref}", "name_zh": "茶餐廳", **extra}
    response = client.post("/venues", json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_of(client: TestClient, ref: str) -> str:
    response = client.get(f"/venues/{ref}/token")
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def check_in(client: TestClient, app: dict[str, str], client_id: str, token: str) -> None:
    """A resident's app checks its owner in."""
    response = client.post("/checkins", json={"client_id": client_id, "token": token}, headers=app)
    assert response.status_code == 201, response.text


def stored_visit(services: Services, person_ref: str, client_id: str) -> Visit | None:
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref(person_ref)
        assert person_id is not None
        return uow.visits.by_client_id(person_id, client_id)


def assert_refused(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["field"] == field, body
    return body


# --- check-in, retries, check-out -------------------------------------------------------------


def test_check_in_is_idempotent_on_client_id(client: TestClient, services: Services, phone: Phone) -> None:
    register_person(client)
    register_venue(client, "V001")
    register_venue(client, "V002")
    token = token_of(client, "V001")
    app = phone("P001")

    # A resident's app need not name its owner: the token says who checks in.
    first = client.post("/checkins", json={"client_id": "phone-1:0001", "token": token}, headers=app)
    assert first.status_code == 201, first.text
    visit = first.json()
    assert visit["venue_ref"] == "V001"
    assert visit["venue_name_zh"] == "茶餐廳"
    assert datetime.fromisoformat(visit["entered_at"]) == services.clock.now()
    assert visit["left_at"] is None
    assert visit["left_inferred"] is False

    retry = client.post(
        "/checkins", json={"client_id": "phone-1:0001", "person": "P001", "token": token}, headers=app
    )
    assert retry.status_code == 200, retry.text
    assert retry.json() == visit
    assert services.store.counts().visits == 1

    elsewhere = client.post(
        "/checkins",
        json={"client_id": "phone-1:0001", "person": "P001", "token": token_of(client, "V002")},
        headers=app,
    )
    assert_refused(elsewhere, 409, "conflict", "client_id")
    assert services.store.counts().visits == 1
    stored = stored_visit(services, "P001", "phone-1:0001")
    assert stored is not None
    assert stored.source is VisitSource.QR


def test_the_same_client_id_is_separate_for_each_person(
    client: TestClient, services: Services, phone: Phone
) -> None:
    register_person(client, "P001")
    register_person(client, "P002")
    register_venue(client)
    token = token_of(client, "V001")
    for person in ("P001", "P002"):
        body = {"client_id": "1", "person": person, "token": token}
        response = client.post("/checkins", json=body, headers=phone(person))
        assert response.status_code == 201, response.text
    assert services.store.counts().visits == 2


def test_concurrent_retries_store_one_visit(
    client: TestClient, services: Services, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone that fires its retries in parallel still gets one visit, and never a 5xx."""
    register_person(client)
    register_venue(client)
    token = token_of(client, "V001")
    app = phone("P001")
    # Each round in a minute of its own for the rate limit (30 check-ins a minute), not tested here.
    minute = FixedClock(services.clock.now())
    monkeypatch.setattr(services, "rate_limits", RateLimiter(MemoryCounts(), minute))
    statuses: list[int] = []
    workers = 8
    for round_ in range(4):
        minute.advance(timedelta(minutes=1))
        barrier = threading.Barrier(workers)
        body = {"client_id": f"race-{round_}", "person": "P001", "token": token}

        def send(body: dict[str, str] = body, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(timeout=10)
            statuses.append(client.post("/checkins", json=body, headers=app).status_code)

        threads = [threading.Thread(target=send) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(set(statuses)) == [200, 201], statuses
    assert statuses.count(201) == 4
    assert services.store.counts().visits == 4


def test_check_out(client: TestClient, services: Services, clock: FixedClock, phone: Phone) -> None:
    register_person(client)
    register_venue(client)
    token = token_of(client, "V001")
    app = phone("P001")
    entered = clock.now()
    checked_in = client.post(
        "/checkins", json={"client_id": "c1", "person": "P001", "token": token}, headers=app
    )
    assert checked_in.status_code == 201, checked_in.text

    early = client.post(
        "/checkins/c1/checkout",
        json={"person": "P001", "at": iso(entered - timedelta(minutes=1))},
        headers=app,
    )
    assert_refused(early, 422, "checkout_before_checkin", "at")
    still_open = stored_visit(services, "P001", "c1")
    assert still_open is not None
    assert still_open.left_at is None

    clock.advance(timedelta(minutes=40))
    out = client.post("/checkins/c1/checkout", json={"person": "P001"}, headers=app)
    assert out.status_code == 200, out.text
    assert datetime.fromisoformat(out.json()["left_at"]) == entered + timedelta(minutes=40)
    assert out.json()["left_inferred"] is False
    stored = stored_visit(services, "P001", "c1")
    assert stored is not None
    assert stored.left_at == entered + timedelta(minutes=40)
    assert stored.left_inferred is False

    # A repeated check-out keeps the first time.
    clock.advance(timedelta(minutes=5))
    again = client.post("/checkins/c1/checkout", json={}, headers=app)
    assert again.status_code == 200, again.text
    assert datetime.fromisoformat(again.json()["left_at"]) == entered + timedelta(minutes=40)

    assert_refused(
        client.post("/checkins/nope/checkout", json={"person": "P001"}, headers=app),
        404,
        "not_found",
        "client_id",
    )
    device = venue_headers(services, "V001")
    unknown = client.post("/checkins/c1/checkout", json={"person": "P999"}, headers=device)
    assert_refused(unknown, 404, "not_found", "person")
    # A resident's app checks out its owner only: another person is "no such person" to it.
    register_person(client, "P002")
    other = client.post("/checkins/c1/checkout", json={"person": "P002"}, headers=app)
    assert_refused(other, 404, "not_found", "person")


def test_explicit_check_out_overrides_an_inferred_one(
    client: TestClient, services: Services, clock: FixedClock, phone: Phone
) -> None:
    register_person(client)
    register_venue(client)
    token = token_of(client, "V001")
    entered = clock.now()
    checked_in = client.post("/checkins", json={"client_id": "c1", "token": token}, headers=phone("P001"))
    assert checked_in.status_code == 201, checked_in.text
    clock.advance(timedelta(hours=3))
    assert services.checkins.close_stale_visits().closed == 1
    inferred = stored_visit(services, "P001", "c1")
    assert inferred is not None
    assert inferred.left_inferred is True
    at = entered + timedelta(minutes=100)
    out = client.post("/checkins/c1/checkout", json={"person": "P001", "at": iso(at)}, headers=phone("P001"))
    assert out.status_code == 200, out.text
    assert out.json()["left_inferred"] is False
    assert datetime.fromisoformat(out.json()["left_at"]) == at


# --- refused tokens ---------------------------------------------------------------------------


def _altered(token: str) -> list[str]:
    """The token with one character changed in each part, plus truncations and junk."""
    prefix, rest = token[: len("CHAINCUT:1:")], token[len("CHAINCUT:1:") :]
    header, payload, signature = rest.split(".")

    def flip(segment: str, at: int) -> str:
        return segment[:at] + ("A" if segment[at] != "A" else "B") + segment[at + 1 :]

    return [
        f"{prefix}{flip(header, 3)}.{payload}.{signature}",
        f"{prefix}{header}.{flip(payload, len(payload) // 2)}.{signature}",
        f"{prefix}{header}.{payload}.{flip(signature, 10)}",
        f"{prefix}{header}.{payload}",
        f"{prefix}{header}.{payload}.",
        token[:-1],
        token.replace("CHAINCUT:1:", "CHAINCUT:2:"),
        rest,
        "",
        "not a token",
        "CHAINCUT:1:a.b.c",
        "CHAINCUT:1:" + "é" * 10,
    ]


def test_forged_altered_or_malformed_tokens_are_refused(
    client: TestClient, services: Services, phone: Phone
) -> None:
    register_person(client)
    register_venue(client)
    token = token_of(client, "V001")
    for n, bad in enumerate(_altered(token)):
        body = {"client_id": f"bad-{n}", "person": "P001", "token": bad}
        response = client.post("/checkins", json=body, headers=phone("P001"))
        body = assert_refused(response, 422, "invalid_venue_token", "token")
        assert body["message"].startswith("venue QR token refused"), (bad, body)
    assert services.store.counts().visits == 0


def test_a_token_signed_by_another_key_is_refused(
    client: TestClient, services: Services, clock: FixedClock, phone: Phone
) -> None:
    register_person(client)
    venue = register_venue(client)
    claims = VenueClaims(venue["public_id"], venue["venue_type"], clock.now())
    key = generate_signing_key()
    forged = VenueTokenSigner(key, key_id_for(key.public_key())).sign(claims)
    response = client.post("/checkins", json={"client_id": "f1", "token": forged}, headers=phone("P001"))
    assert_refused(response, 422, "invalid_venue_token", "token")

    # Another key under the genuine key id (read from a genuine poster): the signature fails.
    genuine = token_of(client, "V001")
    header = json.loads(base64.urlsafe_b64decode(genuine.split(":")[2].split(".")[0] + "=="))
    impostor = VenueTokenSigner(key, header["kid"]).sign(claims)
    response = client.post("/checkins", json={"client_id": "f2", "token": impostor}, headers=phone("P001"))
    body = assert_refused(response, 422, "invalid_venue_token", "token")
    assert "signature" in body["message"]
    assert services.store.counts().visits == 0


def test_a_genuine_token_for_an_unregistered_venue_is_not_found(
    client: TestClient, services: Services, phone: Phone
) -> None:
    register_person(client)
    unregistered = Venue(ref="X", public_id="nosuchvenue", venue_type="restaurant", name_en="X", name_zh="X")
    token = services.venues.token(unregistered)
    response = client.post("/checkins", json={"client_id": "x1", "token": token}, headers=phone("P001"))
    assert_refused(response, 404, "not_found", "token")


# --- refused requests -------------------------------------------------------------------------


def test_unknown_person_and_bad_times(
    client: TestClient, services: Services, clock: FixedClock, phone: Phone
) -> None:
    register_person(client)
    register_venue(client)
    token = token_of(client, "V001")
    now = clock.now()
    app = phone("P001")

    def check_in(**fields: Any) -> Any:
        body = {"client_id": "t1", "person": "P001", "token": token, **fields}
        return client.post("/checkins", json=body, headers=app)

    # A venue's device names the visitor: an unknown one is not found.
    device = venue_headers(services, "V001")
    unknown = client.post(
        "/checkins", json={"client_id": "t1", "person": "P999", "token": token}, headers=device
    )
    assert_refused(unknown, 404, "not_found", "person")
    # A resident's app that names someone else is refused the same way.
    assert_refused(check_in(person="P999"), 404, "not_found", "person")
    assert_refused(check_in(at=iso(now + timedelta(hours=1))), 422, "time_in_future", "at")
    assert_refused(check_in(at=iso(now - timedelta(days=31, seconds=1))), 422, "outside_retention", "at")
    naive = check_in(at=now.replace(tzinfo=None).isoformat())
    assert_refused(naive, 422, "invalid_request", "at")
    assert services.store.counts().visits == 0

    # Within the allowed skew and within retention are accepted.
    assert check_in(at=iso(now + timedelta(minutes=4))).status_code == 201
    old = client.post(
        "/checkins",
        json={"client_id": "t2", "person": "P001", "token": token, "at": iso(now - timedelta(days=30))},
        headers=app,
    )
    assert old.status_code == 201, old.text
    # A time with another UTC offset is the same instant.
    hk = client.post(
        "/checkins",
        json={"client_id": "t3", "person": "P001", "token": token, "at": "2026-11-20T11:30:00+08:00"},
        headers=app,
    )
    assert hk.status_code == 201, hk.text
    assert datetime.fromisoformat(hk.json()["entered_at"]) == now - timedelta(minutes=30)


def test_check_ins_need_the_visitors_or_the_venues_credentials(
    client: TestClient, services: Services, phone: Phone
) -> None:
    register_person(client)
    register_venue(client, "V001")
    register_venue(client, "V002")
    token = token_of(client, "V001")
    body = {"client_id": "c1", "person": "P001", "token": token}
    with TestClient(client.app, raise_server_exceptions=False) as anonymous:
        assert_refused(anonymous.post("/checkins", json=body), 401, "not_authenticated", None)
    # Staff do not check people in; a venue's device does so at its own venue only.
    assert_refused(client.post("/checkins", json=body), 403, "forbidden", None)
    elsewhere = client.post("/checkins", json=body, headers=venue_headers(services, "V002"))
    assert_refused(elsewhere, 422, "wrong_venue", "token")
    assert services.store.counts().visits == 0
    at_its_venue = client.post("/checkins", json=body, headers=venue_headers(services, "V001"))
    assert at_its_venue.status_code == 201, at_its_venue.text
    assert services.store.counts().visits == 1


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"client_id": 17, "person": "P001", "token": "x"}, "client_id"),
    ({"person": "P001", "token": "x"}, "client_id"),
    ({"client_id": "c1", "person": ["P001"], "token": "x"}, "person"),
    ({"client_id": "c1", "person": "P001", "token": 12}, "token"),
    ({"client_id": "c1", "person": "P001", "token": "x", "at": "yesterday"}, "at"),
    ({"client_id": "", "person": "P001", "token": "x"}, "client_id"),
    ({"client_id": "c" * 65, "person": "P001", "token": "x"}, "client_id"),
    ({"client_id": "c1", "person": "P001", "token": "x" * 2049}, "token"),
]


def test_malformed_requests_name_the_field(client: TestClient, services: Services, phone: Phone) -> None:
    register_person(client)
    register_venue(client)
    for payload, field in MALFORMED:
        response = client.post("/checkins", json=payload, headers=phone("P001"))
        body = assert_refused(response, 422, "invalid_request", field)
        assert body["errors"][0]["field"] == field, payload
    # A venue's device must name the visitor (a resident's app checks in its owner).
    device = venue_headers(services, "V001")
    unnamed = client.post("/checkins", json={"client_id": "c1", "token": "x"}, headers=device)
    assert_refused(unnamed, 422, "invalid_input", "person")
    assert services.store.counts().visits == 0


def test_other_bad_requests_are_4xx(client: TestClient, services: Services, phone: Phone) -> None:
    register_person(client)
    register_venue(client, "V001")
    register_venue(client, "T1", "taxi", plate="XY99")
    token = token_of(client, "V001")
    app = phone("P001")

    not_json = client.post(
        "/checkins", content=b"{not json", headers={**app, "content-type": "application/json"}
    )
    assert_refused(not_json, 422, "invalid_request", None)
    assert_refused(client.post("/checkins", json=[1, 2], headers=app), 422, "invalid_request", None)
    both = client.post(
        "/checkins", json={"client_id": "c1", "person": "P001", "token": token, "plate": "XY99"}, headers=app
    )
    assert_refused(both, 422, "invalid_input", "token")
    neither = client.post("/checkins", json={"client_id": "c1", "person": "P001"}, headers=app)
    assert_refused(neither, 422, "invalid_input", "token")
    spaces = client.post(
        "/checkins", json={"client_id": "has space", "person": "P001", "token": token}, headers=app
    )
    assert_refused(spaces, 422, "invalid_input", "client_id")
    # A venue's device checking someone out must say whom.
    device = venue_headers(services, "V001")
    assert client.post("/checkins/c1/checkout", json={}, headers=device).status_code == 422
    assert client.get("/venues/NOPE/token").status_code == 404
    assert client.get("/venues", params={"limit": 0}).status_code == 422
    assert services.store.counts().visits == 0


# --- group commit: check-ins arriving together share one transaction ---------------------------


def test_a_batch_answers_each_check_in_on_its_own(client: TestClient, services: Services) -> None:
    """One bad check-in in a batch is refused alone; the others in its transaction are stored."""
    for ref in ("P001", "P002", "P003"):
        register_person(client, ref)
    register_venue(client, "V001")
    token = token_of(client, "V001")
    outcomes = services.checkins.check_in_many(
        [
            CheckInRequest(person_ref="P001", client_id="ok-1", token=token),
            CheckInRequest(person_ref="P999", client_id="unknown-person", token=token),
            CheckInRequest(person_ref="P002", client_id="bad id!", token=token),
            CheckInRequest(person_ref="P002", client_id="forged", token=token[:-4] + "AAAA"),
            CheckInRequest(person_ref="P003", client_id="ok-3", token=token),
            CheckInRequest(person_ref="P002", client_id="ok-2", token=token),
        ]
    )
    assert [type(o).__name__ for o in outcomes] == [
        "VisitReceipt", "NotFound", "InvalidInput", "InvalidVenueToken", "VisitReceipt", "VisitReceipt",
    ]  # fmt: skip
    receipts = [o for o in outcomes if isinstance(o, VisitReceipt)]
    assert [r.client_id for r in receipts] == ["ok-1", "ok-3", "ok-2"]
    assert not any(r.replayed for r in receipts)
    assert services.store.counts().visits == 3


def test_a_batch_keeps_each_persons_order_and_retries(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    """In one batch, a person's second check-in closes the first; a repeated client_id is a retry."""
    register_person(client, "P001")
    register_person(client, "P002")
    register_venue(client, "R1", "restaurant")
    register_venue(client, "R2", "restaurant")
    r1, r2 = token_of(client, "R1"), token_of(client, "R2")
    at = clock.now()
    outcomes = services.checkins.check_in_many(
        [
            CheckInRequest(person_ref="P002", client_id="x", token=r1, at=at - timedelta(minutes=20)),
            CheckInRequest(person_ref="P001", client_id="a", token=r1, at=at - timedelta(minutes=10)),
            CheckInRequest(person_ref="P001", client_id="a", token=r1, at=at - timedelta(minutes=10)),
            CheckInRequest(person_ref="P001", client_id="b", token=r2, at=at),
            CheckInRequest(person_ref="P001", client_id="a", token=r2),
        ]
    )
    first, retry, second = outcomes[1], outcomes[2], outcomes[3]
    assert isinstance(first, VisitReceipt)
    assert not first.replayed
    assert isinstance(retry, VisitReceipt)
    assert retry.replayed
    assert retry.entered_at == first.entered_at
    assert isinstance(second, VisitReceipt)
    assert isinstance(outcomes[4], Conflict)  # client_id "a" was used at another venue
    assert isinstance(outcomes[0], VisitReceipt)
    assert services.store.counts().visits == 3
    a = stored_visit(services, "P001", "a")
    assert a is not None
    assert a.left_at == at
    assert a.left_inferred is True
    b = stored_visit(services, "P001", "b")
    assert b is not None
    assert b.left_at is None
    x = stored_visit(services, "P002", "x")
    assert x is not None
    assert x.left_at is None  # another person's visit is left alone


def test_a_batch_of_different_people_is_written_in_three_statements(
    client: TestClient, services: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common case (everyone in the batch differs) takes the batched path, same rules."""
    for ref in ("P001", "P002", "P003", "P004", "P005"):
        register_person(client, ref)
    register_venue(client, "R1", "restaurant")
    register_venue(client, "R2", "restaurant")
    r1, r2 = token_of(client, "R1"), token_of(client, "R2")
    at = clock.now()
    earlier = at - timedelta(minutes=30)
    for person, client_id in (("P001", "open"), ("P002", "r"), ("P003", "z")):
        assert services.checkins.check_in_many(
            [CheckInRequest(person_ref=person, client_id=client_id, token=r1, at=earlier)]
        )[0]

    def one_at_a_time(*_: object) -> None:
        raise AssertionError("the batch went through the one-by-one path")

    monkeypatch.setattr(VisitRepository, "check_in", one_at_a_time)
    batched = CheckInService(services.store, services.policy, clock, services.verifier, batch_statements=True)
    outcomes = batched.check_in_many(
        [
            CheckInRequest(person_ref="P001", client_id="next", token=r2, at=at),  # closes "open"
            CheckInRequest(person_ref="P002", client_id="r", token=r1, at=earlier),  # a retry
            CheckInRequest(person_ref="P003", client_id="z", token=r2, at=at),  # "z" was at R1
            CheckInRequest(person_ref="P004", client_id="f", token=r1[:-4] + "AAAA"),  # forged
            CheckInRequest(person_ref="P005", client_id="new", token=r2, at=at),
        ]
    )
    assert [type(o).__name__ for o in outcomes] == [
        "VisitReceipt", "VisitReceipt", "Conflict", "InvalidVenueToken", "VisitReceipt",
    ]  # fmt: skip
    assert isinstance(outcomes[1], VisitReceipt)
    assert outcomes[1].replayed
    assert isinstance(outcomes[0], VisitReceipt)
    assert not outcomes[0].replayed
    assert services.store.counts().visits == 5
    closed = stored_visit(services, "P001", "open")
    assert closed is not None
    assert closed.left_at == at
    assert closed.left_inferred is True
    for person, client_id in (("P001", "next"), ("P002", "r"), ("P003", "z"), ("P005", "new")):
        visit = stored_visit(services, person, client_id)
        assert visit is not None
        assert visit.left_at is None, (person, client_id)


def test_a_batch_that_fails_as_a_whole_is_retried_one_by_one(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected database error fails only the check-in that causes it."""
    register_person(client, "P001")
    register_person(client, "P002")
    register_venue(client)
    token = token_of(client, "V001")
    real_check_in = VisitRepository.check_in

    def failing(self: VisitRepository, visit: Visit) -> int | None:
        if visit.client_id == "poison":
            raise RuntimeError("the disk is on fire")
        return real_check_in(self, visit)

    monkeypatch.setattr(VisitRepository, "check_in", failing)
    outcomes = services.checkins.check_in_many(
        [
            CheckInRequest(person_ref="P001", client_id="before", token=token),
            CheckInRequest(person_ref="P002", client_id="poison", token=token),
            CheckInRequest(person_ref="P002", client_id="after", token=token),
        ]
    )
    assert isinstance(outcomes[0], VisitReceipt)
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], VisitReceipt)
    assert stored_visit(services, "P001", "before") is not None
    assert stored_visit(services, "P002", "poison") is None
    assert stored_visit(services, "P002", "after") is not None
    assert services.store.counts().visits == 2


def test_concurrent_check_ins_are_answered_each_on_their_own(
    client: TestClient, services: Services, phone: Phone
) -> None:
    """Many people checking in at once over HTTP: every good one 201, the bad ones 4xx, nothing lost."""
    people = [f"P{n:03d}" for n in range(24)]
    for ref in people:
        register_person(client, ref)
    register_venue(client)
    token = token_of(client, "V001")
    # Each person's own app; the unknown person is named by the venue's device.
    credentials = {ref: phone(ref) for ref in people} | {"P999": venue_headers(services, "V001")}
    results: dict[str, int] = {}
    barrier = threading.Barrier(len(people) + 2)

    def send(person: str, client_id: str) -> None:
        barrier.wait(timeout=10)
        body = {"client_id": client_id, "person": person, "token": token}
        response = client.post("/checkins", json=body, headers=credentials[person])
        results[f"{person}/{client_id}"] = response.status_code

    jobs = [(ref, f"c-{ref}") for ref in people] + [("P999", "c-x"), ("P001", "bad id!")]
    threads = [threading.Thread(target=send, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results.pop("P999/c-x") == 404
    assert results.pop("P001/bad id!") == 422
    assert set(results.values()) == {201}
    assert len(results) == len(people)
    assert services.store.counts().visits == len(people)


# --- open visits are closed, inferred ---------------------------------------------------------


def test_a_new_check_in_closes_the_open_visit(
    client: TestClient, services: Services, clock: FixedClock, phone: Phone
) -> None:
    register_person(client)
    register_venue(client, "R1", "restaurant")
    register_venue(client, "B1", "bar")
    register_venue(client, "R2", "restaurant")
    start = clock.now()

    check_in(client, phone("P001"), "a", token_of(client, "R1"))
    clock.advance(timedelta(minutes=30))
    check_in(client, phone("P001"), "b", token_of(client, "B1"))
    first = stored_visit(services, "P001", "a")
    assert first is not None
    assert first.left_at == start + timedelta(minutes=30)  # the next check-in, within the stay
    assert first.left_inferred is True

    # Five hours later: the bar visit is closed at its default stay, not at the new check-in.
    clock.advance(timedelta(hours=5))
    check_in(client, phone("P001"), "c", token_of(client, "R2"))
    second = stored_visit(services, "P001", "b")
    assert second is not None
    assert second.left_at == second.entered_at + BAR_STAY
    assert second.left_inferred is True
    third = stored_visit(services, "P001", "c")
    assert third is not None
    assert third.left_at is None


def test_stale_visits_are_closed_after_the_default_stay(
    client: TestClient, services: Services, clock: FixedClock, phone: Phone
) -> None:
    register_person(client, "P001")
    register_person(client, "P002")
    register_venue(client, "R1", "restaurant")
    register_venue(client, "B1", "bar")
    entered = clock.now()
    check_in(client, phone("P001"), "r", token_of(client, "R1"))
    check_in(client, phone("P002"), "b", token_of(client, "B1"))

    clock.advance(RESTAURANT_STAY - timedelta(seconds=1))
    assert services.checkins.close_stale_visits().closed == 0
    visit = stored_visit(services, "P001", "r")
    assert visit is not None
    assert visit.left_at is None

    clock.advance(timedelta(seconds=1))
    assert services.checkins.close_stale_visits().closed == 1
    visit = stored_visit(services, "P001", "r")
    assert visit is not None
    assert visit.left_at == entered + RESTAURANT_STAY
    assert visit.left_inferred is True
    bar = stored_visit(services, "P002", "b")
    assert bar is not None
    assert bar.left_at is None  # a bar's stay is longer

    clock.advance(timedelta(hours=10))
    assert services.checkins.close_stale_visits().closed == 1
    bar = stored_visit(services, "P002", "b")
    assert bar is not None
    assert bar.left_at == entered + BAR_STAY
    assert bar.left_inferred is True
    assert services.checkins.close_stale_visits().closed == 0


# --- taxis ------------------------------------------------------------------------------------


def test_taxi_check_in_by_plate(client: TestClient, services: Services, phone: Phone) -> None:
    register_person(client)
    app = phone("P001")
    taxi = client.post(
        "/venues", json={"venue_type": "taxi", "name_en": "Taxi", "name_zh": "的士", "plate": "ab 1234"}
    )
    assert taxi.status_code == 201, taxi.text
    assert taxi.json()["plate"] == "AB1234"
    ref = taxi.json()["ref"]

    response = client.post("/checkins", json={"client_id": "t1", "plate": "Ab 12 34"}, headers=app)
    assert response.status_code == 201, response.text
    assert response.json()["venue_ref"] == ref
    visit = stored_visit(services, "P001", "t1")
    assert visit is not None
    assert visit.source is VisitSource.TAXI

    # The taxi's own QR poster also records a taxi ride.
    by_token = client.post(
        "/checkins", json={"client_id": "t2", "person": "P001", "token": token_of(client, ref)}, headers=app
    )
    assert by_token.status_code == 201, by_token.text
    visit = stored_visit(services, "P001", "t2")
    assert visit is not None
    assert visit.source is VisitSource.TAXI

    unknown = client.post("/checkins", json={"client_id": "t3", "plate": "ZZ9"}, headers=app)
    assert_refused(unknown, 404, "not_found", "plate")


def test_taxi_registration_rules(client: TestClient, services: Services) -> None:
    def register(**fields: str) -> Any:
        return client.post(
            "/venues", json={"venue_type": "taxi", "name_en": "Taxi", "name_zh": "的士", **fields}
        )

    assert_refused(register(), 422, "invalid_input", "plate")
    assert_refused(register(plate="AB-1234"), 422, "invalid_input", "plate")
    assert register(plate="ab 1234").status_code == 201
    assert_refused(register(plate="AB1234"), 409, "conflict", "plate")
    assert_refused(register(plate="AB 1234", ref="another-taxi"), 409, "conflict", "plate")
    not_taxi = client.post(
        "/venues", json={"venue_type": "restaurant", "name_en": "R", "name_zh": "餐", "plate": "CD1"}
    )
    assert_refused(not_taxi, 422, "invalid_input", "plate")
    assert services.store.counts().venues == 1


# --- venue registration and listing ----------------------------------------------------------


def test_venue_registration_validation(client: TestClient, services: Services) -> None:
    unknown = client.post("/venues", json={"venue_type": "karaoke", "name_en": "K", "name_zh": "卡拉OK"})
    body = assert_refused(unknown, 422, "invalid_input", "venue_type")
    for known in services.policy.venue_types:
        assert known in body["message"]

    blank = client.post("/venues", json={"venue_type": "bar", "name_en": "   ", "name_zh": "酒吧"})
    assert_refused(blank, 422, "invalid_input", "name_en")
    missing = client.post("/venues", json={"venue_type": "bar", "name_en": "Bar"})
    assert_refused(missing, 422, "invalid_request", "name_zh")
    bad_ref = client.post("/venues", json={"venue_type": "bar", "name_en": "B", "name_zh": "吧", "ref": "-x"})
    assert_refused(bad_ref, 422, "invalid_input", "ref")
    register_venue(client, "V001")
    dup = client.post("/venues", json={"venue_type": "bar", "name_en": "B", "name_zh": "吧", "ref": "V001"})
    assert_refused(dup, 409, "conflict", "ref")
    assert services.store.counts().venues == 1

    generated = client.post("/venues", json={"venue_type": "bar", "name_en": " Bar ", "name_zh": "吧"})
    assert generated.status_code == 201, generated.text
    assert generated.json()["ref"].startswith("venue-")
    assert generated.json()["name_en"] == "Bar"
    fetched = client.get(f"/venues/{generated.json()['ref']}")
    assert fetched.status_code == 200
    assert fetched.json() == generated.json()
    assert_refused(client.get("/venues/NOPE"), 404, "not_found", "ref")


def test_venue_list_pages_and_filters(client: TestClient) -> None:
    for n in range(7):
        register_venue(client, f"R{n:02d}", "restaurant", district="Wan Chai" if n % 2 else "Central")
    for n in range(3):
        register_venue(client, f"G{n:02d}", "gym")

    everything = client.get("/venues").json()
    assert everything["count"] == 10
    assert [v["ref"] for v in everything["data"]] == sorted(v["ref"] for v in everything["data"])

    page = client.get("/venues", params={"offset": 2, "limit": 3}).json()
    assert page["count"] == 10
    assert [v["ref"] for v in page["data"]] == [v["ref"] for v in everything["data"][2:5]]
    beyond = client.get("/venues", params={"offset": 50}).json()
    assert beyond == {"data": [], "count": 10}

    gyms = client.get("/venues", params={"venue_type": "gym"}).json()
    assert gyms["count"] == 3
    assert {v["ref"] for v in gyms["data"]} == {"G00", "G01", "G02"}
    restaurants = client.get("/venues", params={"venue_type": "restaurant", "limit": 2, "offset": 6}).json()
    assert restaurants["count"] == 7
    assert [v["ref"] for v in restaurants["data"]] == ["R06"]
    wan_chai = client.get("/venues", params={"district": "Wan Chai"}).json()
    assert wan_chai["count"] == 3
    assert client.get("/venues", params={"venue_type": "hotel"}).json() == {"data": [], "count": 0}
    assert_refused(client.get("/venues", params={"limit": 501}), 422, "invalid_request", "query.limit")
    assert_refused(client.get("/venues", params={"offset": -1}), 422, "invalid_request", "query.offset")
