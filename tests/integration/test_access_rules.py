"""The access rules themselves (issue 4), over HTTP and in the store, on every storage backend.

Sign-in lockout, token lifetimes, purpose-bound access to cases and people, export
approvals (four eyes), manual status changes, the audit log's tamper evidence (with
its append-only triggers dropped by a database owner), rate limits, security
headers, and ids that cannot be enumerated. Times come from the fixed clock
(2026-11-20T04:00Z); thresholds from the settings.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy.exc
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from chaincut.access.audit import ANCHOR_FILE
from chaincut.api import create_app
from chaincut.api.app import run_maintenance
from chaincut.api.headers import SECURITY_HEADERS
from chaincut.bootstrap import Services
from chaincut.cli.app import app as cli_app
from chaincut.clock import FixedClock
from chaincut.domain import Visit, VisitSource
from chaincut.domain.access import Principal, Role
from chaincut.domain.audit import AuditFlag
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from support.auth import PASSWORD, assign, resident_headers, staff_headers
from support.settings import cli_env

PURPOSE = "contact tracing"
_ADMIN = Principal.system("tests")
CONTACT_NAME = "Lee Siu Ming"


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def add_visit(services: Services, person: str, venue: str, entered: str, left: str) -> None:
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref(person)
        found = uow.venues.get_by_ref(venue)
        assert person_id is not None and found is not None and found.id is not None
        uow.visits.add(
            Visit(
                person_id=person_id,
                venue_id=found.id,
                entered_at=utc(entered),
                left_at=utc(left),
                source=VisitSource.UPLOAD,
                client_id=f"{person}-{entered}",
            )
        )


@pytest.fixture
def world(services: Services) -> Services:
    """Case C1 (P1) dined with P2 at R1; case C2 (P3) is nobody's here."""
    services.people.register(PersonDraft("P1", name="Chan Tai Man"))
    services.people.register(PersonDraft("P2", name=CONTACT_NAME))
    services.people.register(PersonDraft("P3"))
    services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="R1"))
    add_visit(services, "P1", "R1", "2026-11-18T11:00", "2026-11-18T12:00")
    add_visit(services, "P2", "R1", "2026-11-18T11:30", "2026-11-18T13:00")
    for ref, person in (("C1", "P1"), ("C2", "P3")):
        services.cases.register(
            CaseDraft(ref, person, "local", onset_on=date(2026, 11, 18), isolated_at=utc("2026-11-19T10:00")),
            actor="tester",
        )
    return services


def person_id(services: Services, ref: str) -> int:
    with services.store.read() as uow:
        found = uow.people.id_for_ref(ref)
    assert found is not None
    return found


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


# --- sign-in lockout ---------------------------------------------------------------------------


def token_for(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/auth/token", json={"username": username, "password": password})


def test_five_failures_lock_the_account_for_fifteen_minutes(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    assert services.settings.login_max_failures == 5
    assert services.settings.login_lockout_minutes == 15
    services.accounts.add("bob", PASSWORD, frozenset({Role.TRACER}), _ADMIN)
    for _ in range(5):
        refused(token_for(client, "bob", "wrong password!"), 401, "sign_in_failed")
    locked = token_for(client, "bob")  # the right password, but locked
    refused(locked, 401, "sign_in_failed")
    clock.advance(timedelta(minutes=14, seconds=59))
    refused(token_for(client, "bob"), 401, "sign_in_failed")
    clock.advance(timedelta(seconds=2))
    opened = token_for(client, "bob")
    assert opened.status_code == 200, opened.text
    assert (
        client.get("/auth/me", headers={"Authorization": f"Bearer {opened.json()['access_token']}"}).json()[
            "name"
        ]
        == "staff:bob"
    )

    attempts = [r for r in services.audit.by_actor("staff:bob") if r.event.action == "auth.sign_in"]
    # Five wrong passwords and two tries while locked, each audited as denied; then the success.
    assert [r.event.outcome for r in attempts] == ["denied"] * 7 + ["ok"]
    assert all(r.event.record == "bob" for r in attempts)


def test_unknown_locked_and_disabled_accounts_get_the_same_answer(
    client: TestClient, services: Services
) -> None:
    services.accounts.add("carol", PASSWORD, frozenset({Role.TRACER}), _ADMIN)
    services.accounts.add("dave", PASSWORD, frozenset({Role.TRACER}), _ADMIN)
    services.accounts.add("erin", PASSWORD, frozenset({Role.TRACER}), _ADMIN)
    for _ in range(5):
        token_for(client, "dave", "wrong password!")
    services.accounts.disable("erin", _ADMIN)
    answers = [
        token_for(client, "nobody"),  # unknown
        token_for(client, "carol", "wrong password!"),  # wrong password
        token_for(client, "dave"),  # locked, right password
        token_for(client, "erin"),  # disabled, right password
        token_for(client, "Not A Username!"),
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.content for r in answers}) == 1
    assert answers[0].json()["code"] == "sign_in_failed"


# --- tokens ------------------------------------------------------------------------------------


def test_a_revoked_staff_token_is_refused(client: TestClient, services: Services) -> None:
    headers = staff_headers(services, Role.TRACER, username="tracer1")
    assert client.get("/auth/me", headers=headers).status_code == 200
    assert client.post("/auth/logout", headers=headers).status_code == 204
    refused(client.get("/auth/me", headers=headers), 401, "not_authenticated")
    refused(client.get("/cases", headers=headers), 401, "not_authenticated")


def test_an_expired_staff_token_is_refused(client: TestClient, services: Services, clock: FixedClock) -> None:
    headers = staff_headers(services, Role.TRACER, username="tracer1")
    assert client.get("/auth/me", headers=headers).status_code == 200  # now in the lookup cache
    clock.advance(timedelta(hours=services.settings.staff_token_hours, seconds=1))
    refused(client.get("/auth/me", headers=headers), 401, "not_authenticated")


def test_disabling_an_account_ends_its_tokens_at_once(client: TestClient, services: Services) -> None:
    tracer = staff_headers(services, Role.TRACER, username="tracer1")
    admin = staff_headers(services, Role.ADMINISTRATOR, username="admin1")
    assert client.get("/cases", headers=tracer).status_code == 200  # cached as valid
    assert client.post("/staff/tracer1/disable", headers=admin).status_code == 200
    refused(client.get("/cases", headers=tracer), 401, "not_authenticated")
    refused(token_for(client, "tracer1"), 401, "sign_in_failed")


# --- purpose-bound access to records -----------------------------------------------------------


def test_an_unassigned_case_looks_like_a_missing_one(client: TestClient, world: Services) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    for path in ("/cases/{}", "/cases/{}/timeline", "/cases/{}/contacts"):
        hidden = client.get(path.format("C1"), headers=tracer)
        missing = client.get(path.format("C404"), headers=tracer)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content
    listed = client.get("/cases", headers=tracer).json()
    assert listed["count"] == 0
    denied = [r for r in world.audit.by_actor("staff:tracer1") if r.event.record == "C1"]
    assert denied and all(AuditFlag.DENIED in r.event.flags for r in denied)


def test_an_assigned_case_needs_a_stated_purpose(client: TestClient, world: Services) -> None:
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    assigned = client.post("/cases/C1/assignments", json={"staff": "tracer1"}, headers=supervisor)
    assert assigned.status_code == 201, assigned.text

    bare = {"Authorization": tracer["Authorization"]}
    body = refused(client.get("/cases/C1/timeline", headers=bare), 403, "purpose_required")
    assert body["field"] == "X-Chaincut-Purpose"
    refused(
        client.get("/cases/C1/timeline", headers={**bare, "X-Chaincut-Purpose": "why"}),
        403,
        "purpose_required",
    )

    timeline = client.get("/cases/C1/timeline", headers=tracer)
    assert timeline.status_code == 200, timeline.text
    assert client.get("/cases/C1/contacts", headers=tracer).status_code == 200
    assert client.get("/cases/C2", headers=tracer).status_code == 404  # still not theirs

    p1 = person_id(world, "P1")
    reads = [
        r
        for r in world.audit.about_person("P1")
        if r.event.actor == "staff:tracer1" and r.event.action == "whereabouts.read"
    ]
    assert reads, "the timeline read was not audited"
    entry = reads[0].event
    assert (entry.record, entry.purpose, entry.outcome, entry.subject_person_id) == ("C1", PURPOSE, "ok", p1)
    assert entry.roles == "tracer"


def test_a_tracer_reads_the_people_linked_to_an_assigned_case_and_nobody_else(
    client: TestClient, world: Services
) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    hidden_before = client.get("/people/P2", headers=tracer)
    assert hidden_before.status_code == 404  # not yet assigned C1
    assign(world, "C1", "tracer1")
    hidden, missing = client.get("/people/P3", headers=tracer), client.get("/people/P404", headers=tracer)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert client.get("/people/P1", headers=tracer).status_code == 200  # the case's own person
    # P2 is C1's traced contact (traced when C1 was registered, for health codes): linked to the case.
    read = client.get("/people/P2", headers=tracer)
    assert read.status_code == 200, read.text
    assert read.json()["name"] == CONTACT_NAME
    order = client.post("/orders", json={"person": "P2", "case": "C1", "tier": "exposed"}, headers=tracer)
    assert order.status_code == 201, order.text


def test_an_epidemiologist_reads_cases_but_no_whereabouts(client: TestClient, world: Services) -> None:
    epi = staff_headers(world, Role.EPIDEMIOLOGIST, username="epi1")
    case = client.get("/cases/C1", headers=epi)
    assert case.status_code == 200, case.text
    assert client.get("/cases", headers=epi).json()["count"] == 2
    for path in ("/cases/C1/timeline", "/cases/C1/contacts", "/people/P1"):
        refused(client.get(path, headers=epi), 403, "forbidden")
    window = {"from": "2026-11-18T00:00:00Z", "to": "2026-11-19T00:00:00Z"}
    refused(client.get("/people/P2/contacts", params=window, headers=epi), 403, "forbidden")


# --- export approvals --------------------------------------------------------------------------


def request_export(client: TestClient, headers: dict[str, str]) -> str:
    made = client.post("/cases/C1/exports", json={"purpose": "hand the list to the hotline"}, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending"
    approval: str = made.json()["id"]
    return approval


def decide(
    client: TestClient, approval: str, headers: dict[str, str], *, approve: bool = True
) -> httpx.Response:
    return client.post(
        f"/approvals/{approval}/decision",
        json={"approve": approve, "reason": "checked the purpose"},
        headers=headers,
    )


def export(client: TestClient, headers: dict[str, str], approval: str | None = None) -> httpx.Response:
    params = {"approval": approval} if approval else {}
    return client.get("/cases/C1/contacts.csv", params=params, headers=headers)


def test_an_export_needs_another_supervisor_s_approval(client: TestClient, world: Services) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    other_tracer = staff_headers(world, Role.TRACER, username="tracer2")
    sup1 = staff_headers(world, Role.SUPERVISOR, username="sup1")
    sup2 = staff_headers(world, Role.SUPERVISOR, username="sup2")
    assign(world, "C1", "tracer1")
    assign(world, "C1", "tracer2")

    refused(export(client, tracer), 403, "approval_required")
    approval = request_export(client, tracer)
    refused(export(client, tracer, approval), 403, "approval_required")  # still pending
    refused(decide(client, approval, tracer), 403, "forbidden")  # tracers do not decide

    own = request_export(client, sup1)
    refused(decide(client, own, sup1), 403, "own_request")
    assert client.get("/approvals", headers=sup2).json()["count"] == 2

    decided = decide(client, approval, sup2)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decided_by"]) == ("approved", "staff:sup2")
    assert decide(client, approval, sup1).status_code == 409  # decided once

    csv_export = export(client, tracer, approval)
    assert csv_export.status_code == 200, csv_export.text
    assert CONTACT_NAME in csv_export.text
    assert "P2" in csv_export.text
    refused(export(client, other_tracer, approval), 403, "approval_required")  # not theirs
    exported = world.audit.flagged(AuditFlag.PERSONAL_EXPORT)
    assert [(r.event.actor, r.event.details.get("approval")) for r in exported] == [
        ("staff:tracer1", approval)
    ]


def test_rejected_and_expired_approvals_are_refused(
    client: TestClient, world: Services, clock: FixedClock
) -> None:
    staff_headers(world, Role.TRACER, username="tracer1")
    assign(world, "C1", "tracer1")

    def signed_in() -> tuple[dict[str, str], dict[str, str]]:
        return staff_headers(world, Role.TRACER, username="tracer1"), staff_headers(
            world, Role.SUPERVISOR, username="sup2"
        )

    tracer, sup2 = signed_in()
    rejected = request_export(client, tracer)
    assert decide(client, rejected, sup2, approve=False).json()["status"] == "rejected"
    refused(export(client, tracer, rejected), 403, "approval_required")

    approved = request_export(client, tracer)
    assert decide(client, approved, sup2).status_code == 200
    late = request_export(client, tracer)
    clock.advance(timedelta(hours=world.settings.approval_hours, seconds=1))
    tracer, sup2 = signed_in()  # the old tokens expired too
    refused(export(client, tracer, approved), 403, "approval_required")
    refused(decide(client, late, sup2), 409, "conflict")  # too late to decide


# --- manual status changes ---------------------------------------------------------------------


def test_manual_status_changes_need_a_supervisor_and_a_reason(client: TestClient, world: Services) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    assign(world, "C1", "tracer1")
    change = {"status": "probable", "reason": "the second test was negative"}
    refused(client.patch("/cases/C1/status", json=change, headers=tracer), 403, "forbidden")
    no_reason = client.patch("/cases/C1/status", json={"status": "probable"}, headers=supervisor)
    assert no_reason.status_code == 422
    changed = client.patch("/cases/C1/status", json=change, headers=supervisor)
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "probable"
    flagged = world.audit.flagged(AuditFlag.MANUAL_STATUS_CHANGE)
    assert [(r.event.actor, r.event.record, r.event.details.get("reason")) for r in flagged] == [
        ("staff:sup1", "C1", change["reason"])
    ]


def test_releasing_an_order_early_needs_a_supervisor_and_a_note(client: TestClient, world: Services) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    assign(world, "C1", "tracer1")
    order = client.post("/orders", json={"person": "P2", "case": "C1", "tier": "exposed"}, headers=tracer)
    assert order.status_code == 201, order.text
    path = f"/orders/{order.json()['public_id']}/status"
    # An ordinary step on is no manual change: a tracer may, unflagged.
    delivered = client.post(path, json={"status": "delivered"}, headers=tracer)
    assert delivered.status_code == 200, delivered.text
    assert world.audit.flagged(AuditFlag.MANUAL_STATUS_CHANGE) == []
    release = {"status": "released", "note": "tested negative twice"}
    refused(client.post(path, json=release, headers=tracer), 403, "supervisor_required")
    no_note = client.post(path, json={"status": "released"}, headers=supervisor)
    assert no_note.status_code == 422
    assert no_note.json()["field"] == "note"
    released = client.post(path, json=release, headers=supervisor)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    flagged = world.audit.flagged(AuditFlag.MANUAL_STATUS_CHANGE)
    assert [(r.event.actor, r.event.details.get("status")) for r in flagged] == [("staff:sup1", "released")]


# --- the audit log's tamper evidence -----------------------------------------------------------


def cli_verify(settings: Settings) -> tuple[int, str]:
    """``chaincut audit verify`` against the test's store: exit status, and what it said (both streams)."""
    result = CliRunner().invoke(cli_app, ["audit", "verify"], env=cli_env(settings))
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def audited(client: TestClient, world: Services) -> int:
    """A log written by real use of the API; its last sequence number."""
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    assert (
        client.post("/cases/C1/assignments", json={"staff": "tracer1"}, headers=supervisor).status_code == 201
    )
    assert client.get("/cases/C1/timeline", headers=tracer).status_code == 200
    assert client.get("/cases/C2", headers=tracer).status_code == 404
    assert client.get("/people/P1", headers=supervisor).status_code == 200
    assert (
        client.post(
            "/cases/C1/exports", json={"purpose": "a list for the hotline"}, headers=tracer
        ).status_code
        == 201
    )
    report = world.audit.verify()
    assert report.intact, report.breaks
    assert report.last_seq >= 8
    return report.last_seq


def owner_sql(services: Services, *statements: str, **params: Any) -> None:
    with services.db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def drop_append_only(services: Services) -> None:
    """What a database owner could do: switch off the triggers that refuse UPDATE and DELETE."""
    if services.db.is_sqlite:
        owner_sql(services, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        owner_sql(services, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")


def test_an_intact_log_verifies(audited: int, world: Services, settings: Settings) -> None:
    report = world.audit.verify()
    assert (report.intact, report.checked, report.last_seq) == (True, audited, audited)
    status, said = cli_verify(settings)
    assert status == 0, said
    assert "intact" in said


def test_the_log_refuses_update_and_delete(audited: int, world: Services) -> None:
    for statement in (
        "UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            owner_sql(world, statement)
    assert world.audit.verify().intact


_FIELDS = "at, actor, roles, action, resource, record, purpose, outcome, flags, details, subject_person_id"


def _alter(services: Services, last: int) -> int:
    owner_sql(services, "UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = :seq", seq=3)
    return 3


def _delete_middle(services: Services, last: int) -> int:
    owner_sql(services, "DELETE FROM audit_log WHERE seq = :seq", seq=4)
    return 5


def _insert_forged(services: Services, last: int) -> int:
    # A copy of the last entry that claims to follow it, under another action, and the head moved on.
    forged_fields = _FIELDS.replace("action", "'users.add'")
    owner_sql(
        services,
        f"INSERT INTO audit_log (seq, {_FIELDS}, prev_mac, mac) "
        f"SELECT :new, {forged_fields}, mac, mac FROM audit_log WHERE seq = :last",
        "UPDATE audit_head SET seq = :new WHERE id = 1",
        new=last + 1,
        last=last,
    )
    return last + 1


def _swap(services: Services, last: int) -> int:
    owner_sql(
        services,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -1",
    )
    return 2


def _cut_tail(services: Services, last: int) -> int:
    owner_sql(services, "DELETE FROM audit_log WHERE seq > :keep", keep=last - 2)
    return last - 1


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_alter, "was altered"),
        (_delete_middle, "missing"),
        (_insert_forged, "altered"),
        (_swap, "does not follow"),
        (_cut_tail, "missing"),
    ],
    ids=["alter", "delete-middle", "insert-forged", "swap", "cut-tail"],
)
def test_tampering_is_found_where_it_happened(
    audited: int, world: Services, settings: Settings, tamper: Any, problem: str
) -> None:
    drop_append_only(world)
    at = tamper(world, audited)
    report = world.audit.verify()
    assert not report.intact
    first = report.breaks[0]
    assert first.seq == at, report.breaks
    assert problem in first.problem, report.breaks
    status, said = cli_verify(settings)
    assert status == 1, said
    assert "audit log broken" in said
    assert f"at #{at}:" in said, said


# --- rate limits -------------------------------------------------------------------------------


def venue_token(client: TestClient, services: Services) -> str:
    staff = staff_headers(services, Role.TRACER, username="tracer9")
    token: str = client.get("/venues/R1/token", headers=staff).json()["token"]
    return token


def test_the_31st_check_in_in_a_minute_is_refused(client: TestClient, world: Services) -> None:
    assert world.settings.rate_checkins_per_minute == 30
    token = venue_token(client, world)
    p1, p2 = resident_headers(world, "P1"), resident_headers(world, "P2")
    for n in range(30):
        response = client.post("/checkins", json={"client_id": f"c-{n}", "token": token}, headers=p1)
        assert response.status_code in (200, 201), response.text
    limited = client.post("/checkins", json={"client_id": "c-30", "token": token}, headers=p1)
    refused(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    other = client.post("/checkins", json={"client_id": "other-1", "token": token}, headers=p2)
    assert other.status_code == 201, other.text


def test_uploads_are_rate_limited_per_resident(client: TestClient, world: Services) -> None:
    limit = world.settings.rate_uploads_per_minute
    token = venue_token(client, world)
    visit = {"token": token, "entered_at": "2026-11-19T10:00:00Z", "left_at": "2026-11-19T11:00:00Z"}
    p1, p2 = resident_headers(world, "P1"), resident_headers(world, "P2")
    for _ in range(limit):
        response = client.post("/people/P1/visit-history", json={"visits": [visit]}, headers=p1)
        assert response.status_code == 200, response.text
    limited = client.post("/people/P1/visit-history", json={"visits": [visit]}, headers=p1)
    refused(limited, 429, "rate_limited")
    assert "Retry-After" in limited.headers
    assert client.post("/people/P2/visit-history", json={"visits": [visit]}, headers=p2).status_code == 200


def test_signing_in_is_rate_limited(client: TestClient, services: Services) -> None:
    limit = services.settings.rate_logins_per_minute
    for _ in range(limit):
        assert token_for(client, "nobody").status_code == 401
    limited = token_for(client, "nobody")
    refused(limited, 429, "rate_limited")
    assert "Retry-After" in limited.headers


# --- security headers and enumeration ----------------------------------------------------------


def test_security_headers_on_every_kind_of_answer(client: TestClient, services: Services) -> None:
    supervisor = staff_headers(services, Role.SUPERVISOR, username="sup1")
    answers = {
        200: client.get("/health"),
        401: client.get("/cases"),
        404: client.get("/cases/C404", headers=supervisor),
        422: client.post("/auth/token", json={"username": "x"}),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (status, name)


_PUBLIC_ID = re.compile(r"^[a-z2-7]{26}$")


def test_public_ids_are_random_and_residents_cannot_probe_others(client: TestClient, world: Services) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    assign(world, "C1", "tracer1")
    ids = [client.get(f"/people/{ref}", headers=supervisor).json()["public_id"] for ref in ("P1", "P2", "P3")]
    order = client.post("/orders", json={"person": "P2", "case": "C1", "tier": "exposed"}, headers=tracer)
    assert order.status_code == 201, order.text
    ids.append(order.json()["public_id"])
    assert all(_PUBLIC_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)

    token = venue_token(client, world)
    visit = {"token": token, "entered_at": "2026-11-19T10:00:00Z", "left_at": "2026-11-19T11:00:00Z"}
    p1 = resident_headers(world, "P1")
    other = client.post("/people/P2/visit-history", json={"visits": [visit]}, headers=p1)
    missing = client.post("/people/P404/visit-history", json={"visits": [visit]}, headers=p1)
    assert other.status_code == missing.status_code == 404
    assert other.content == missing.content
    as_other = client.post("/checkins", json={"client_id": "x1", "token": token, "person": "P2"}, headers=p1)
    as_missing = client.post(
        "/checkins", json={"client_id": "x2", "token": token, "person": "P404"}, headers=p1
    )
    assert as_other.status_code == as_missing.status_code == 404
    assert as_other.content == as_missing.content
    refused(client.get("/people/P2", headers=p1), 403, "forbidden")
    refused(client.get("/people/P404", headers=p1), 403, "forbidden")


# --- security review of the access-control change -----------------------------------------------


def issue(client: TestClient, headers: dict[str, str], person: str, case: str | None) -> httpx.Response:
    body = {"person": person, "tier": "exposed"} | ({"case": case} if case else {})
    return client.post("/orders", json=body, headers=headers)


def test_a_tracer_orders_only_the_case_s_own_person_and_its_contacts(
    client: TestClient, world: Services
) -> None:
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    assign(world, "C1", "tracer1")
    # P3 is no contact of C1: ordering them from it must not open their record to the tracer.
    stranger, missing = issue(client, tracer, "P3", "C1"), issue(client, tracer, "P404", "C1")
    assert stranger.status_code == missing.status_code == 404
    assert stranger.content == missing.content
    assert stranger.json()["field"] == "person"
    assert client.get("/people/P3", headers=tracer).status_code == 404
    # A supervisor cannot either: the case does not reach P3.
    assert issue(client, supervisor, "P3", "C1").status_code == 404
    denied = [r for r in world.audit.about_person("P3") if r.event.actor == "staff:tracer1"]
    assert denied and all(AuditFlag.DENIED in r.event.flags for r in denied)

    contact = issue(client, tracer, "P2", "C1")
    assert contact.status_code == 201, contact.text
    assert issue(client, tracer, "P1", "C1").status_code == 201  # the case's own person
    issued = [
        r
        for r in world.audit.about_person("P2")
        if r.event.resource == "orders" and r.event.record == contact.json()["public_id"]
    ]
    assert [(r.event.actor, r.event.subject_person_id) for r in issued] == [
        ("staff:tracer1", person_id(world, "P2"))
    ]

    # Without a case, an ad-hoc order is a supervisor's.
    refused(issue(client, tracer, "P3", None), 403, "supervisor_required")
    with world.store.read() as uow:
        assert uow.orders.count() == 2
    assert issue(client, supervisor, "P3", None).status_code == 201


def test_a_second_role_does_not_widen_listing(client: TestClient, world: Services) -> None:
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    assert issue(client, supervisor, "P3", "C2").status_code == 201
    dual = staff_headers(world, Role.TRACER, Role.EPIDEMIOLOGIST, username="dual1")
    # The epidemiologist role reads every case record, but opens no one's orders.
    assert client.get("/cases", headers=dual).json()["count"] == 2
    refused(client.get("/orders", headers=dual), 403, "filter_required")
    assert client.get("/orders", params={"case": "C2"}, headers=dual).status_code == 404
    listed = client.get("/orders", headers=supervisor)
    assert listed.json()["count"] == 1
    lists = [r for r in world.audit.by_actor("staff:dual1") if r.event.action == "cases.read"]
    assert [r.event.resource for r in lists] == ["cases"]  # GET /cases is audited


def test_an_approval_serves_one_export_and_runs_from_its_decision(
    client: TestClient, world: Services, clock: FixedClock
) -> None:
    assign_tracer = staff_headers(world, Role.TRACER, username="tracer1")
    assign(world, "C1", "tracer1")
    approval = request_export(client, assign_tracer)
    hours = world.settings.approval_hours
    clock.advance(timedelta(hours=hours - 1))  # decided an hour before the request would expire
    tracer = staff_headers(world, Role.TRACER, username="tracer1")
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup2")
    assert decide(client, approval, supervisor).status_code == 200
    clock.advance(timedelta(hours=2))  # past the request's time, within the decision's
    first = export(client, tracer, approval)
    assert first.status_code == 200, first.text
    assert CONTACT_NAME in first.text
    refused(export(client, tracer, approval), 403, "approval_required")  # spent
    assert world.approvals.get(approval).status == "used"

    exported = world.audit.flagged(AuditFlag.PERSONAL_EXPORT)
    assert len(exported) == 1
    refusals = [
        r
        for r in world.audit.flagged(AuditFlag.DENIED)
        if r.event.resource == "approvals" and r.event.record == approval
    ]
    assert [(r.event.actor, r.event.outcome, r.event.subject_person_id) for r in refusals] == [
        ("staff:tracer1", "denied", person_id(world, "P1"))
    ]


def test_a_case_status_change_is_flagged_only_once_made(
    client: TestClient, world: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    change = {"status": "probable", "reason": "the second test was negative"}

    def fails(*_args: object) -> None:
        raise sqlalchemy.exc.OperationalError("UPDATE cases", {}, Exception("database went away"))

    with monkeypatch.context() as patched:
        patched.setattr(world.cases, "set_status", fails)
        assert client.patch("/cases/C1/status", json=change, headers=supervisor).status_code == 500
    assert world.audit.flagged(AuditFlag.MANUAL_STATUS_CHANGE) == []
    assert client.patch("/cases/C1/status", json=change, headers=supervisor).status_code == 200
    flagged = world.audit.flagged(AuditFlag.MANUAL_STATUS_CHANGE)
    assert [(r.event.record, r.event.subject_person_id) for r in flagged] == [("C1", person_id(world, "P1"))]


def test_a_resident_s_report_does_not_name_another_person_s_case(client: TestClient, world: Services) -> None:
    supervisor = staff_headers(world, Role.SUPERVISOR, username="sup1")
    assert issue(client, supervisor, "P2", "C1").status_code == 201  # P2 is C1's (P1's) contact
    own = client.get("/people/P2/subject-access", headers=resident_headers(world, "P2"))
    assert own.status_code == 200, own.text
    assert [o["case"] for o in own.json()["orders"]] == ["a case"]
    assert "C1" not in own.text
    staff = client.get("/people/P2/subject-access", headers=supervisor)
    assert [o["case"] for o in staff.json()["orders"]] == ["C1"]
    # The case's own person sees their own case's ref.
    assert issue(client, supervisor, "P1", "C1").status_code == 201
    index = client.get("/people/P1/subject-access", headers=resident_headers(world, "P1")).json()
    assert [o["case"] for o in index["orders"]] == ["C1"]


def test_a_cut_tail_with_a_rewritten_head_is_found_by_the_anchor(
    audited: int, world: Services, settings: Settings
) -> None:
    run_maintenance(world)  # verifies, then anchors the head outside the database
    anchor_file = settings.data_dir / ANCHOR_FILE
    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600
    anchored = json.loads(anchor_file.read_text(encoding="utf-8"))
    assert anchored["seq"] == audited
    assert len(bytes.fromhex(anchored["mac"])) == 32

    drop_append_only(world)
    keep = audited - 2
    owner_sql(
        world,
        "DELETE FROM audit_log WHERE seq > :keep",
        "UPDATE audit_head SET seq = :keep, mac = (SELECT mac FROM audit_log WHERE seq = :keep) WHERE id = 1",
        keep=keep,
    )
    # Without the anchor the shorter chain is consistent in itself.
    assert world.audit.verify(settings.data_dir / "no-such-anchor.json").intact
    report = world.audit.verify()
    assert not report.intact
    assert report.breaks[0].seq == keep + 1
    assert f"entries after #{keep} are missing" in report.breaks[0].problem, report.breaks
    assert f"#{audited}" in report.breaks[0].problem
    status, said = cli_verify(settings)
    assert status == 1, said
    assert f"at #{keep + 1}: entries after #{keep} are missing" in said
    assert json.loads(anchor_file.read_text(encoding="utf-8"))["seq"] == audited  # not moved on


def test_an_entry_rewritten_at_the_anchor_is_found(audited: int, world: Services, settings: Settings) -> None:
    status, said = cli_verify(settings)  # an intact chain: the command line anchors it
    assert status == 0, said
    anchor_file = settings.data_dir / ANCHOR_FILE
    assert json.loads(anchor_file.read_text(encoding="utf-8"))["seq"] == audited
    forged = json.loads(anchor_file.read_text(encoding="utf-8")) | {"mac": "00" * 32}
    anchor_file.write_text(json.dumps(forged), encoding="utf-8")
    report = world.audit.verify()
    assert [(b.seq, b.problem) for b in report.breaks] == [
        (audited, f"entry #{audited} no longer matches the anchor")
    ]
