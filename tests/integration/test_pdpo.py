"""The Personal Data (Privacy) Ordinance in practice: data access, correction with history, retention.

One person's whereabouts arrive every way they can (check-ins and an upload in SQL,
a bulk import in the Parquet archive on the embedded default or SQL on PostgreSQL),
with a case, an order, a follow-up and a correction. Their data-access report holds
all of it; then the clock moves past the policy's retention, the purge runs, and
what retention covers is gone from the report and from the store, while the audit
log (append-only, never purged) still says who accessed their data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.cli.app import app as cli_app
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import OrderStatus, Tier, VisitSource
from chaincut.domain.access import Principal, Role
from chaincut.settings import Settings
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA
from chaincut.store.tables import api_tokens, approvals, person_corrections, session_purposes, web_sessions
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.retention import purge_expired
from support.auth import PASSWORD, resident_headers, staff_headers

NAME = "<script>alert('pdpo')</script> Chan Tai Man"
PHONE, NEW_PHONE = "+852 5123 4567", "+852 9876 5432"
ADDRESS, NEW_ADDRESS = "Flat A, 1 Nathan Road", "Flat B, 2 Nathan Road"
PURPOSE = "data access request DAR-2026-17"
LATER = timedelta(days=40)  # past retention.visits_days, encounters_days and corrected_values_days (31)
TOOLS = Principal.system("tests")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def supervisor(services: Services, purpose: str | None = PURPOSE) -> dict[str, str]:
    return staff_headers(services, Role.SUPERVISOR, username="sup1", purpose=purpose)


def _bulk(services: Services, p1: int, p2: int, venue: int, start: int) -> None:
    visits = pa.table(
        {
            "person_id": [p1],
            "venue_id": [venue],
            "entered_at": [start],
            "left_at": [start + 3600],
            "left_inferred": [False],
            "source": [VisitSource.IMPORT.code],
            "clipped": [False],
        },
        schema=VISIT_SCHEMA,
    )
    encounters = pa.table(
        {"person_a": [p2], "person_b": [p1], "start_at": [start], "end_at": [start + 1200]},
        schema=ENCOUNTER_SCHEMA,
    )
    with services.store.bulk("visits") as sink:
        sink.write(visits)
    with services.store.bulk("encounters") as sink:
        sink.write(encounters)


def _populate(client: TestClient, services: Services, clock: FixedClock) -> None:
    """P001 with details, four visits (two check-ins, an upload, a bulk import), an encounter,
    a case, an order with history, a follow-up and a correction; P002 as the other person."""
    now = clock.now()
    tracer = staff_headers(services, Role.TRACER, username="tracer1")
    body = {"ref": "P001", "name": NAME, "phone": PHONE, "address": ADDRESS, "household": "H001"}
    response = client.post("/people", json={**body, "id_document": "A123456(3)"}, headers=tracer)
    assert response.status_code == 201, response.text
    assert client.post("/people", json={"ref": "P002", "name": "Lee"}, headers=tracer).status_code == 201
    venue = services.venues.register(VenueDraft("restaurant", "Harbour Cafe", "海港咖啡店", ref="V001"))
    token = services.venues.token(venue)

    resident = resident_headers(services, "P001")
    for client_id, days_ago in (("c-2", 2), ("c-10", 10)):
        entered = now - timedelta(days=days_ago)
        checkin = {"client_id": client_id, "token": token, "at": entered.isoformat()}
        assert client.post("/checkins", json=checkin, headers=resident).status_code == 201
        left = {"at": (entered + timedelta(minutes=45)).isoformat()}
        assert client.post(f"/checkins/{client_id}/checkout", json=left, headers=resident).status_code == 200
    upload = {
        "visits": [{"token": token, "entered_at": (now - timedelta(days=3)).isoformat(), "client_id": "u3"}]
    }
    response = client.post("/people/P001/visit-history", json=upload, headers=resident)
    assert response.json() == {"stored": 1, "already_stored": 0, "clipped": 0}, response.text
    with services.store.read() as uow:
        p1, p2 = uow.people.id_for_ref("P001"), uow.people.id_for_ref("P002")
    assert p1 is not None and p2 is not None and venue.id is not None
    _bulk(services, p1, p2, venue.id, to_epoch(now - timedelta(days=5)))

    services.cases.register(
        CaseDraft(
            ref="C001", person="P001", classification="local", onset_on=(now - timedelta(days=1)).date()
        ),
        actor="staff:sup1",
    )
    issued = services.orders.issue_by_ref(
        "P001",
        tier=Tier.CLOSE,
        kind=None,
        last_exposure_at=now - timedelta(days=1),
        case_ref=None,
        actor="staff:tracer1",
    )
    services.orders.change_status(
        issued.entry.order.public_id, OrderStatus.DELIVERED, "staff:tracer1", "by hand"
    )
    services.follow_ups.record("P001", date(2026, 11, 20), ["cough"], None, None, "staff:tracer1")

    correction = {"phone": NEW_PHONE, "address": NEW_ADDRESS, "reason": "resident reported a new number"}
    response = client.patch("/people/P001", json=correction, headers=supervisor(services))
    assert response.status_code == 200, response.text


def _report(client: TestClient, services: Services, **params: str) -> Any:
    response = client.get("/people/P001/subject-access", params=params, headers=supervisor(services))
    assert response.status_code == 200, response.text
    return response.json() if not params else response.text


def test_the_access_report_holds_everything_and_retention_removes_what_it_covers(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    _populate(client, services, clock)
    report = _report(client, services)

    person = report["person"]
    assert (person["name"], person["phone"], person["address"]) == (NAME, NEW_PHONE, NEW_ADDRESS)
    assert person["id_document_held"] is True and "A123456" not in str(report)
    assert report["household"] == {"ref": "H001", "district": None}
    assert sorted(v["source"] for v in report["visits"]) == ["import", "qr", "qr", "upload"]
    assert {v["venue_name_zh"] for v in report["visits"]} == {"海港咖啡店"}
    assert report["visits"][0]["entered_at"].endswith("+08:00")  # local time, offset stated
    assert [e["other_person"] for e in report["encounters"]] == ["withheld"]
    assert "P002" not in str(report["encounters"])
    assert [c["ref"] for c in report["cases"]] == ["C001"]
    (order,) = report["orders"]
    assert [h["status"] for h in order["history"]] == ["issued", "delivered"]
    assert order["history"][1]["note"] == "by hand"
    assert [f["symptoms"] for f in report["follow_ups"]] == [["cough"]]
    assert report["resident_tokens"]["count"] == 1
    assert set(report["resident_tokens"]["tokens"][0]) == {"issued_at", "expires_at", "revoked_at"}
    corrections = {c["field"]: c for c in report["corrections"]}
    assert set(corrections) == {"phone", "address"}
    assert (corrections["phone"]["old_value"], corrections["phone"]["new_value"]) == (PHONE, NEW_PHONE)
    assert corrections["address"]["reason"] == "resident reported a new number"
    assert corrections["address"]["corrected_by"] == "staff:sup1"
    actors = {(a["actor"], a["action"]) for a in report["audit"]}
    assert ("staff:sup1", "people.correct") in actors
    assert ("staff:sup1", "people.subject_access") in actors  # this very request
    assert any(a["purpose"] == PURPOSE for a in report["audit"])
    audited_before = len(report["audit"])

    # Give the access-control records something to purge: a web session, an export approval.
    opened = services.accounts.open_session("sup1", PASSWORD)
    signed_in = services.principals.from_session(opened.secret)
    assert signed_in is not None
    services.accounts.state_purpose(signed_in.session_id, "cases/C001", "reviewing the cluster")
    services.approvals.request(TOOLS, "C001", "export contacts for the cluster review")
    first = {r.kind: r.deleted for r in purge_expired(services.store, services.policy, clock)}
    assert first == dict.fromkeys(
        (
            "visits",
            "encounters",
            "corrections",
            "sessions",
            "tokens",
            "approvals",
            "signed_codes",
            "rate_counts",
            "warnings",
            "exposure_reports",
        ),
        0,
    )

    clock.advance(LATER)
    purged = {r.kind: r.deleted for r in purge_expired(services.store, services.policy, clock)}
    assert purged["visits"] == 4 and purged["encounters"] == 1
    assert purged["corrections"] == 2 and purged["approvals"] == 1 and purged["sessions"] == 1
    assert purged["tokens"] >= 2  # the staff tokens, long expired; the resident's has no expiry

    after = _report(client, services)
    assert after["visits"] == [] and after["encounters"] == []
    assert services.store.counts().visits == 0 and services.store.counts().encounters == 0
    kept = {c["field"]: c for c in after["corrections"]}
    assert kept["phone"]["old_value"] is None and kept["phone"]["old_value_deleted"] is True
    assert kept["phone"]["new_value"] == NEW_PHONE and kept["phone"]["reason"]  # the fact stays
    assert after["person"]["phone"] == NEW_PHONE
    assert [c["ref"] for c in after["cases"]] == ["C001"] and len(after["orders"]) == 1
    assert after["resident_tokens"]["count"] == 1
    assert len(after["audit"]) > audited_before  # the audit log is never purged
    with services.store.read() as uow:
        conn = uow.connection
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(session_purposes)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(approvals)).scalar_one() == 0
        kinds = conn.execute(select(api_tokens.c.kind)).scalars().all()
        olds = conn.execute(select(person_corrections.c.old_sealed)).scalars().all()
    assert sorted(kinds) == ["resident", "staff"]  # the resident's, and the one the report above used
    assert olds == [None, None]
    assert services.audit.verify().intact


def test_the_page_escapes_and_is_bilingual(client: TestClient, services: Services, clock: FixedClock) -> None:
    _populate(client, services, clock)
    page = _report(client, services, format="html")
    assert "&lt;script&gt;alert(&#x27;pdpo&#x27;)&lt;/script&gt; Chan Tai Man" in page
    assert "<script>" not in page
    assert "個人資料更正記錄" in page and "Corrections of your details" in page
    assert "海港咖啡店" in page and NEW_PHONE in page and PHONE in page
    assert "staff:sup1" in page and PURPOSE in page


def test_the_report_says_which_visits_were_clipped(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    """A left_at brought back to the longest believable stay must not read as the time the person gave.

    Before, the report (JSON and page) had no ``clipped``: from SQL nor from the archive.
    """
    _populate(client, services, clock)
    assert "clipped = yes" not in _report(client, services, format="html")  # none clipped yet
    now = clock.now()
    venue = services.venues.get("V001")
    resident = resident_headers(services, "P001")
    entered = now - timedelta(days=4)
    checkin = {"client_id": "c-late", "token": services.venues.token(venue), "at": entered.isoformat()}
    assert client.post("/checkins", json=checkin, headers=resident).status_code == 201
    late = client.post("/checkins/c-late/checkout", json={"at": now.isoformat()}, headers=resident)
    assert late.status_code == 200 and late.json()["clipped"] is True, late.text  # 4 days, past 12 h
    with services.store.read() as uow:
        p1 = uow.people.id_for_ref("P001")
    assert p1 is not None and venue.id is not None
    imported = to_epoch(now - timedelta(days=6))
    clipped_row = pa.table(
        {
            "person_id": [p1],
            "venue_id": [venue.id],
            "entered_at": [imported],
            "left_at": [imported + 12 * 3600],
            "left_inferred": [False],
            "source": [VisitSource.IMPORT.code],
            "clipped": [True],  # as an import stores a stay past the longest (the archive on embedded)
        },
        schema=VISIT_SCHEMA,
    )
    with services.store.bulk("visits") as sink:
        sink.write(clipped_row)

    visits = _report(client, services)["visits"]
    flagged = sorted((v["source"], v["entered_at"], v["left_at"]) for v in visits if v["clipped"] is True)
    local = ZoneInfo("Asia/Hong_Kong")
    assert flagged == [
        ("import", instant_at(imported, local), instant_at(imported + 12 * 3600, local)),
        (
            "qr",
            entered.astimezone(local).isoformat(),
            (entered + timedelta(hours=12)).astimezone(local).isoformat(),
        ),
    ]
    assert sorted(v["source"] for v in visits if v["clipped"] is False) == ["import", "qr", "qr", "upload"]
    page = _report(client, services, format="html")
    assert "<th>clipped</th>" in page
    assert "clipped = yes: the stay as given" in page and "最長可信逗留時間" in page


def instant_at(epoch: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).isoformat()


def test_correction_history_and_its_rules(client: TestClient, services: Services, clock: FixedClock) -> None:
    _populate(client, services, clock)
    sup = supervisor(services)
    clock.advance(timedelta(hours=1))
    response = client.patch("/people/P001", json={"phone": "+852 6000 0000", "reason": "typo"}, headers=sup)
    assert response.status_code == 422 and response.json()["field"] == "reason"
    response = client.patch(
        "/people/P001", json={"phone": "not a phone", "reason": "wrong number"}, headers=sup
    )
    assert response.status_code == 422 and response.json()["field"] == "phone"
    response = client.patch("/people/P001", json={"phone": NEW_PHONE, "reason": "same again"}, headers=sup)
    assert response.status_code == 422 and response.json()["code"] == "unchanged"
    response = client.patch("/people/P001", json={"household": "H002", "reason": "moved house"}, headers=sup)
    assert response.status_code == 200, response.text
    history = client.get("/people/P001/corrections", headers=sup).json()
    assert history["count"] == 3
    assert [(c["field"], c["old_value"], c["new_value"]) for c in history["data"]][-1] == (
        "household",
        "H001",
        "H002",
    )
    assert history["data"][0]["corrected_at"] < history["data"][-1]["corrected_at"]

    # No purpose, no correction; a tracer only for people linked to their cases.
    response = client.patch(
        "/people/P001", json={"name": "X", "reason": "why not"}, headers=supervisor(services, None)
    )
    assert response.status_code == 403 and response.json()["code"] == "purpose_required"
    tracer = staff_headers(services, Role.TRACER, username="tracer1")
    assert (
        client.patch("/people/P001", json={"name": "X Y", "reason": "a guess"}, headers=tracer).status_code
        == 404
    )

    # A later correction supersedes the first phone; the purge then drops both of its values.
    clock.advance(timedelta(days=1))
    sup = supervisor(services)  # a fresh token: staff tokens last hours, not days
    assert (
        client.patch(
            "/people/P001", json={"phone": "+852 6111 1111", "reason": "new phone"}, headers=sup
        ).status_code
        == 200
    )
    clock.advance(LATER)
    purge_expired(services.store, services.policy, clock)
    phones = [c for c in services.subject_access.corrections(_person(services)) if c["field"] == "phone"]
    assert [(c["old_value"], c["new_value"]) for c in phones] == [(None, None), (None, "+852 6111 1111")]


def _person(services: Services) -> Any:
    return services.people.get("P001")


def test_who_may_read_a_report(client: TestClient, services: Services, clock: FixedClock) -> None:
    _populate(client, services, clock)
    url = "/people/P001/subject-access"
    own = client.get(url, headers=resident_headers(services, "P001"))
    assert own.status_code == 200 and own.json()["person"]["name"] == NAME
    other = client.get(url, headers=resident_headers(services, "P002"))
    assert other.status_code == 404
    epidemiologist = staff_headers(services, Role.EPIDEMIOLOGIST, username="epi1")
    assert client.get(url, headers=epidemiologist).status_code == 403
    tracer = staff_headers(services, Role.TRACER, username="tracer1")
    assert client.get(url, headers=tracer).status_code == 403
    no_purpose = client.get(url, headers=supervisor(services, None))
    assert no_purpose.status_code == 403 and no_purpose.json()["code"] == "purpose_required"
    assert client.get(url).status_code == 401
    # The refused resident's attempt is on the record, as a denial.
    audit = services.audit.about_person("P001")
    assert any(r.event.outcome == "denied" and r.event.actor.startswith("resident:") for r in audit)


def test_the_command_line_writes_the_report(
    client: TestClient,
    services: Services,
    clock: FixedClock,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _populate(client, services, clock)
    for name, value in {
        "CHAINCUT_ENV": settings.env,
        "CHAINCUT_DATA_DIR": str(settings.data_dir),
        "CHAINCUT_DATABASE_URL": settings.resolved_database_url(),
        "CHAINCUT_IDENTITY_HASH_KEY": _secret(settings.identity_hash_key),
        "CHAINCUT_DATA_KEYS": _secret(settings.data_keys),
        "CHAINCUT_AUDIT_KEY": _secret(settings.audit_key),
        "CHAINCUT_VENUE_SIGNING_KEY_FILE": str(settings.venue_signing_key_file),
        "CHAINCUT_STAFF": "officer7",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    page = tmp_path / "report.html"
    result = runner.invoke(cli_app, ["people", "access-report", "--person", "P001", "--out", str(page)])
    assert result.exit_code == 0, result.output
    assert "&lt;script&gt;" in page.read_text(encoding="utf-8")
    assert page.stat().st_mode & 0o777 == 0o600
    result = runner.invoke(cli_app, ["people", "access-report", "--person", "P001"])
    assert result.exit_code == 0, result.output
    assert '"name": "<script>' in result.output
    assert any(r.event.actor == "cli:officer7" for r in services.audit.about_person("P001"))
    missing = runner.invoke(cli_app, ["people", "access-report", "--person", "NOBODY"])
    assert missing.exit_code == 1


def _secret(value: Any) -> str:
    assert value is not None
    return str(value.get_secret_value())
