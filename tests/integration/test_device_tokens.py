"""Residents' and venues' tokens: checked without a database read, revocable within seconds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chaincut.access.principals import REVOCATION_POLL_SECONDS, PrincipalResolver
from chaincut.api.app import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from chaincut.security.device_tokens import DeviceClaims
from chaincut.settings import Settings
from chaincut.store import Database, upgrade
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


class Worker:
    """Another server worker on the same store: its own clock, its own poll timer."""

    def __init__(self, services: Services, clock: FixedClock) -> None:
        self.clock = clock
        self.elapsed = [0.0]
        self.resolver = PrincipalResolver(
            services.store, clock, services.principals._devices, monotonic=lambda: self.elapsed[0]
        )

    def accepts(self, secret: str) -> bool:
        return self.resolver.from_bearer(secret) is not None

    def after_a_poll(self) -> Worker:
        self.elapsed[0] += REVOCATION_POLL_SECONDS
        return self


def test_a_revocation_from_a_host_whose_clock_is_behind_reaches_every_worker(
    services: Services, clock: FixedClock
) -> None:
    _world(services)
    secret = services.accounts.issue_resident_token("P1", OPERATOR).secret
    worker = Worker(services, FixedClock(clock.now()))
    assert worker.accepts(secret)  # it has polled: nothing revoked yet
    # Another host, its clock a minute behind this worker's, revokes the token.
    other_host = bootstrap(services.settings, clock=FixedClock(clock.now() - timedelta(minutes=1)))
    try:
        assert other_host.accounts.revoke_device_tokens(OPERATOR, person_ref="P1") == 1
    finally:
        other_host.close()
    assert not worker.after_a_poll().accepts(secret)


def test_a_revocation_that_commits_late_reaches_every_worker(services: Services, clock: FixedClock) -> None:
    _world(services)
    secret = services.accounts.issue_resident_token("P1", OPERATOR).secret
    worker = Worker(services, FixedClock(clock.now()))
    assert worker.accepts(secret)
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref("P1")
        assert person_id is not None
        assert uow.tokens.revoke_for_person(person_id, at=to_epoch(clock.now())) == 1
        # The worker polls twice while the revocation is stamped but not yet committed.
        for _ in range(2):
            worker.clock.advance(timedelta(seconds=10))
            assert worker.after_a_poll().accepts(secret)
    assert not worker.after_a_poll().accepts(secret)


def test_revocations_commit_in_the_order_of_their_numbers(services: Services, clock: FixedClock) -> None:
    """A revocation numbered after one still uncommitted waits for it, so no worker skips the first."""
    _world(services)
    first = services.accounts.issue_resident_token("P1", OPERATOR).secret
    second = services.accounts.issue_resident_token("P2", OPERATOR).secret
    worker = Worker(services, clock)
    assert worker.accepts(first) and worker.accepts(second)
    done: list[int] = []

    def later() -> None:
        done.append(services.accounts.revoke_device_tokens(OPERATOR, person_ref="P2"))

    with services.store.write() as uow:
        person_id = uow.people.id_for_ref("P1")
        assert person_id is not None
        uow.tokens.revoke_for_person(person_id, at=to_epoch(clock.now()))
        thread = threading.Thread(target=later)
        thread.start()
        thread.join(timeout=1.0)
        # The second revoker waits on the first's number; a worker polling now sees neither.
        assert thread.is_alive() and not done
        assert worker.after_a_poll().accepts(first) and worker.accepts(second)
    thread.join(timeout=30)
    assert done == [1]
    worker.after_a_poll()
    assert not worker.accepts(first) and not worker.accepts(second)


def test_a_revoked_staff_token_leaves_every_worker_s_cache_at_its_next_poll(
    services: Services, clock: FixedClock
) -> None:
    secret = staff_headers(services, Role.SUPERVISOR, username="sup1")["Authorization"].removeprefix(
        "Bearer "
    )
    worker = Worker(services, clock)
    assert worker.accepts(secret)  # now cached in that worker
    assert services.accounts.revoke_token(secret)
    assert not worker.after_a_poll().accepts(secret)


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


def test_tokens_revoked_before_the_upgrade_stay_revoked(settings: Settings, clock: FixedClock) -> None:
    """Revision 0012 numbers the revocations already stored, so a new worker learns them too."""
    db = Database(settings.resolved_database_url())
    try:
        upgrade(db, "0007")
        epoch = to_epoch(clock.now())
        with db.write() as conn:
            conn.execute(
                sa.text("INSERT INTO people (ref, public_id, created_at) VALUES ('P1', 'pub1', :t)"),
                {"t": epoch},
            )
            person_id = conn.execute(sa.text("SELECT id FROM people")).scalar_one()
            for n, revoked in ((1, epoch), (2, None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO api_tokens (id, token_hash, kind, person_id, created_at, expires_at,"
                        " revoked_at) VALUES (:id, :hash, 'resident', :person, :t, :expires, :revoked)"
                    ),
                    {
                        "id": n,
                        "hash": bytes([n]) * 32,
                        "person": person_id,
                        "t": epoch,
                        "expires": epoch + 86_400,
                        "revoked": revoked,
                    },
                )
        upgrade(db)
    finally:
        db.dispose()
    services = bootstrap(settings, clock=clock)
    try:
        tokens = services.principals._devices
        revoked, live = (
            tokens.issue(DeviceClaims(n, "resident", person_id, "pub1", "P1", epoch + 86_400)) for n in (1, 2)
        )
        assert services.principals.from_bearer(revoked) is None
        assert services.principals.from_bearer(live) is not None
    finally:
        services.close()
