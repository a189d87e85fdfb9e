"""Residents' and venues' tokens: checked without a database read, revocable within seconds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chaincut.api.app import create_app
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.retention import purge_expired
from support.auth import staff_headers

OPERATOR = Principal.system("tests")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def _world(services: Services) -> str:
    services.people.register(PersonDraft(ref="P1"))
    services.people.register(PersonDraft(ref="P2"))
    venue = services.venues.register(VenueDraft("restaurant", "Tea", "茶", ref="V1"))
    return services.venues.token(venue)


def test_a_resident_token_works_without_the_store_and_stops_when_revoked(
    services: Services, client: TestClient
) -> None:
    qr = _world(services)
    app_token = services.accounts.issue_resident_token("P1", OPERATOR).secret
    other = services.accounts.issue_resident_token("P2", OPERATOR).secret
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {app_token}"}).json()
    assert me["kind"] == "resident"
    with services.store.read() as uow:
        rows = uow.connection.execute(sa.text("SELECT token_hash FROM api_tokens")).all()
    assert app_token.encode() not in b"".join(r[0] for r in rows)  # only digests are kept
    first = client.post(
        "/checkins", json={"client_id": "c1", "token": qr}, headers={"Authorization": f"Bearer {app_token}"}
    )
    assert first.status_code == 201, first.text

    supervisor = staff_headers(services, Role.SUPERVISOR, username="sup1")
    revoked = client.delete("/people/P1/tokens", headers=supervisor)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1}
    again = client.post(
        "/checkins", json={"client_id": "c2", "token": qr}, headers={"Authorization": f"Bearer {app_token}"}
    )
    assert again.status_code == 401
    # The other person's app is untouched.
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    entries = [r for r in services.audit.about_person("P1") if r.event.action == "tokens.revoke"]
    assert entries and entries[0].event.actor == "staff:sup1"


def test_another_worker_learns_of_a_revocation_within_its_poll(services: Services, clock: FixedClock) -> None:
    from chaincut.access.principals import PrincipalResolver

    _world(services)
    secret = services.accounts.issue_resident_token("P1", OPERATOR).secret
    now = [0.0]
    worker = PrincipalResolver(services.store, clock, services.principals._devices, monotonic=lambda: now[0])
    assert worker.from_bearer(secret) is not None
    services.accounts.revoke_device_tokens(OPERATOR, person_ref="P1")
    now[0] += 1.0
    assert worker.from_bearer(secret) is not None  # not yet polled
    now[0] += 5.0
    assert worker.from_bearer(secret) is None


def test_expired_device_tokens_are_refused_and_revoked_ones_are_kept_until_they_expire(
    services: Services, client: TestClient, clock: FixedClock
) -> None:
    _world(services)
    secret = services.accounts.issue_venue_token("V1", OPERATOR).secret
    services.accounts.revoke_device_tokens(OPERATOR, venue_ref="V1")
    clock.advance(timedelta(days=60))
    purge_expired(services.store, services.policy, clock)
    with services.store.read() as uow:
        kept = uow.connection.execute(
            sa.text("SELECT count(*) FROM api_tokens WHERE kind = 'venue'")
        ).scalar()
    assert kept == 1  # deleting its row would let the revoked token back in
    clock.advance(timedelta(days=services.settings.device_token_days + 1))
    services.principals.forget_all()
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    purge_expired(services.store, services.policy, clock)
    with services.store.read() as uow:
        left = uow.connection.execute(
            sa.text("SELECT count(*) FROM api_tokens WHERE kind = 'venue'")
        ).scalar()
    assert left == 0


def test_a_venue_operator_handles_only_the_venues_they_registered(
    services: Services, client: TestClient
) -> None:
    mine = staff_headers(services, Role.VENUE_OPERATOR, username="op-mine")
    theirs = staff_headers(services, Role.VENUE_OPERATOR, username="op-theirs")
    body = {"venue_type": "restaurant", "name_en": "Mine", "name_zh": "我的", "ref": "VM"}
    assert client.post("/venues", json=body, headers=mine).status_code == 201
    other = {"venue_type": "restaurant", "name_en": "Theirs", "name_zh": "他們的", "ref": "VT"}
    assert client.post("/venues", json=other, headers=theirs).status_code == 201

    listed = client.get("/venues", headers=mine).json()
    assert [v["ref"] for v in listed["data"]] == ["VM"]
    assert client.post("/venues/VM/device-tokens", headers=mine).status_code == 201
    refused = client.post("/venues/VT/device-tokens", headers=mine)
    missing = client.post("/venues/NOPE/device-tokens", headers=mine)
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    assert client.get("/venues/VT/poster.png", headers=mine).status_code == 404
    assert client.delete("/venues/VT/device-tokens", headers=mine).status_code == 404
    # Staff with wider duties read every venue, but issue no device's token.
    supervisor = staff_headers(services, Role.SUPERVISOR, username="sup1")
    assert client.get("/venues/VT", headers=supervisor).status_code == 200
    assert client.post("/venues/VT/device-tokens", headers=supervisor).status_code == 403
