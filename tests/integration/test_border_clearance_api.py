"""Clearance over HTTP and from the command line: an officer clears online; a checkpoint syncs, clears
with the server stopped, and uploads its log when the server is back (each decision recorded once)."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.border import BookingRequest, BookingService
from chaincut.border.commitments import commit_seed
from chaincut.border.testing import FakeCodeVerifier, fake_verifier_factory
from chaincut.cli.app import app as chaincut_cli
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, Role
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.people import PersonDraft
from chaincut.policy import BookingMode
from support.auth import staff_headers
from support.border import NOW, code_claims
from support.serving import ThreadedServer, free_port

TODAY = date(2026, 11, 20)
DOC = "M123456(7)"


def _codes(services: Services) -> dict[str, HealthCodeClaims | str]:
    """The travellers' codes: T1 green and booked this afternoon, T2 red, T3 green with an old test."""
    subjects = {}
    for ref, doc in (("T1", DOC), ("T2", "N7654321"), ("T3", "P1111111")):
        services.people.register(PersonDraft(ref=ref, id_document=doc))
        with services.store.read() as uow:
            person_id = uow.people.id_for_ref(ref)
        assert person_id is not None
        services.border.book(
            BookingRequest(person_id, doc, TODAY, "shenzhen_bay", "afternoon", (), f"r-{ref}")
        )
        subjects[ref] = services.subjects.subject_of(services.hasher.hash(doc))
    return {
        "QR-T1": code_claims(subjects["T1"]),
        "QR-T2": code_claims(subjects["T2"], code_id="code-2", colour="red", reasons=("confirmed case",)),
        "QR-T3": code_claims(
            subjects["T3"], code_id="code-3", last_negative_test_at=NOW - timedelta(hours=60)
        ),
        "QR-FORGED": "signature does not verify",
    }


@pytest.fixture
def client(services: Services) -> Iterator[tuple[TestClient, dict[str, HealthCodeClaims | str]]]:
    codes = _codes(services)
    services.clearances = services.clearances.with_verifier(FakeCodeVerifier(codes))
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c, codes


def test_an_officer_clears_online_and_a_replay_is_refused(
    services: Services, client: tuple[TestClient, Any]
) -> None:
    http, _codes = client
    officer = staff_headers(services, Role.BORDER_OFFICER)
    cleared = http.post(
        "/border/clearances", json={"qr": "QR-T1", "checkpoint": "shenzhen_bay"}, headers=officer
    )
    assert cleared.status_code == 201, cleared.text
    body = cleared.json()
    assert (body["cleared"], body["reasons"], body["slot"], body["colour"]) == (
        True,
        [],
        "afternoon",
        "green",
    )
    assert body["booking"]["checkpoint"] == "shenzhen_bay" and body["officer"] == "staff:borderofficer"

    again = http.post(
        "/border/clearances", json={"qr": "QR-T1", "checkpoint": "shenzhen_bay"}, headers=officer
    )
    assert again.status_code == 201
    assert [r["code"] for r in again.json()["reasons"]] == ["code_replayed", "booking_used"]
    red = http.post("/border/clearances", json={"qr": "QR-T2", "checkpoint": "shenzhen_bay"}, headers=officer)
    assert red.json()["reasons"] == [
        {"code": "colour_not_cleared", "text": "red: confirmed case (only green may cross)"}
    ]
    nowhere = http.post("/border/clearances", json={"qr": "QR-T1", "checkpoint": "airport"}, headers=officer)
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "checkpoint"
    tracer = staff_headers(services, Role.TRACER)
    assert (
        http.post(
            "/border/clearances", json={"qr": "QR-T1", "checkpoint": "shenzhen_bay"}, headers=tracer
        ).status_code
        == 403
    )


def test_sync_and_offline_upload_over_http(services: Services, client: tuple[TestClient, Any]) -> None:
    http, _codes = client
    officer = staff_headers(services, Role.BORDER_OFFICER)
    bundle = http.get(
        "/border/sync", params={"checkpoint": "shenzhen_bay", "day": "2026-11-20"}, headers=officer
    )
    assert bundle.status_code == 200, bundle.text
    doc = bundle.json()
    assert doc["format"] == "chaincut-clearance-bundle/2" and len(doc["bookings"]) == 3
    assert doc["rules"]["slot_hours"]["afternoon"] == "12:00-18:00"
    assert doc["trust_list"] == {"format": "chaincut-checkpoint-trust-1", "lists": []}  # no keys yet
    decision = {
        "decision_id": "offline-abc-1",
        "checkpoint": "shenzhen_bay",
        "day": "2026-11-20",
        "slot": "afternoon",
        "decided_at": NOW.isoformat(),
        "cleared": True,
        "reasons": [],
        "code_id": "code-1",
        "subject": doc["bookings"][0]["subject"],
        "colour": "green",
        "booking_id": doc["bookings"][0]["booking_id"],
    }
    for expected in ((1, 0), (0, 1)):
        sent = http.post("/border/clearances/offline", json={"decisions": [decision]}, headers=officer)
        assert sent.status_code == 200, sent.text
        assert (sent.json()["stored"], sent.json()["replayed"]) == expected
        assert sent.json()["data"][0]["offline"] is True
    naive = decision | {"decision_id": "offline-abc-2", "decided_at": "2026-11-20T12:00:00"}
    refused = http.post("/border/clearances/offline", json={"decisions": [naive]}, headers=officer)
    assert refused.status_code == 422 and refused.json()["field"] == "decided_at"
    contradictory = decision | {"decision_id": "offline-abc-3", "cleared": False}
    refused = http.post("/border/clearances/offline", json={"decisions": [contradictory]}, headers=officer)
    assert refused.status_code == 422 and refused.json()["field"] == "cleared"


# --- the command line, offline ---------------------------------------------------------------------


def test_a_checkpoint_clears_offline_with_the_server_stopped_then_uploads(
    embedded_services: Services, tmp_path: Path
) -> None:
    services = embedded_services
    codes = _codes(services)
    token = staff_headers(services, Role.BORDER_OFFICER, purpose=None)["Authorization"].removeprefix(
        "Bearer "
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runner = CliRunner()
    obj = {"verifier_factory": fake_verifier_factory(codes), "clock": FixedClock(NOW + timedelta(minutes=5))}
    bundle, log = tmp_path / "bundle.json", tmp_path / "decisions.jsonl"

    app = create_app(services, schedule_maintenance=False)
    with ThreadedServer(app, port):
        synced = runner.invoke(
            chaincut_cli,
            [
                "border",
                "sync",
                "--server",
                url,
                "--token",
                token,
                "--checkpoint",
                "shenzhen_bay",
                "--day",
                "2026-11-20",
                "-o",
                str(bundle),
            ],
        )
        assert synced.exit_code == 0, synced.output
        assert "synced 3 bookings for shenzhen_bay on 2026-11-20" in synced.output
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600

    # The server is stopped: nothing below can reach it.
    def clear(qr: str) -> Any:
        return runner.invoke(
            chaincut_cli, ["border", "clear", "--bundle", str(bundle), "--log", str(log), qr], obj=obj
        )

    first = clear("QR-T1")
    assert first.exit_code == 0, first.output
    assert "CLEARED (booking" in first.output and "the named traveller of 1 travellers" in first.output
    replay = clear("QR-T1")
    assert replay.exit_code == 1
    assert "code_replayed" in replay.output and "booking_used" in replay.output
    red = clear("QR-T2")
    assert red.exit_code == 1 and "colour_not_cleared: red: confirmed case" in red.output
    stale = clear("QR-T3")
    assert "no_negative_test: the last negative test was at 2026-11-18 00:00, 60 hours ago" in stale.output
    forged = clear("QR-FORGED")
    assert "invalid_code: the code is not valid: signature does not verify" in forged.output
    as_json = runner.invoke(
        chaincut_cli,
        ["border", "clear", "--bundle", str(bundle), "--log", str(log), "--json", "QR-T1"],
        obj=obj,
    )
    assert json.loads(as_json.output)["reasons"][0]["code"] == "code_replayed"
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [d["cleared"] for d in logged] == [True, False, False, False, False, False]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert DOC not in log.read_text() and "M123456" not in log.read_text()

    down = runner.invoke(
        chaincut_cli, ["border", "upload", "--log", str(log), "--server", url, "--token", token]
    )
    assert down.exit_code == 1 and "cannot reach" in down.output

    with ThreadedServer(create_app(services, schedule_maintenance=False), port):
        up = runner.invoke(
            chaincut_cli, ["border", "upload", "--log", str(log), "--server", url, "--token", token]
        )
        assert up.exit_code == 0, up.output
        assert "uploaded 6 decisions: 6 recorded now, 0 recorded before, 0 conflicts" in up.output
        again = runner.invoke(
            chaincut_cli, ["border", "upload", "--log", str(log), "--server", url, "--token", token]
        )
        assert "0 recorded now, 6 recorded before" in again.output
    with services.store.read() as uow:
        stored = uow.clearances.on_day(TODAY)
        audited = [r for r in uow.audit.find(limit=1000) if r.event.resource == "border/clearances"]
    assert sorted(c.public_id for c in stored) == sorted(d["decision_id"] for d in logged)
    assert all(c.offline and c.officer == "staff:borderofficer" for c in stored)
    assert sum(c.decision.cleared for c in stored) == 1
    assert len(audited) == 6


def test_the_clear_command_refuses_what_the_bundles_trust_cannot_verify(
    embedded_services: Services, tmp_path: Path
) -> None:
    services = embedded_services
    _codes(services)
    bundle = tmp_path / "bundle.json"
    document = services.clearances.bundle(Principal.system("officer"), "shenzhen_bay", TODAY).to_dict()
    bundle.write_text(json.dumps(document))
    # Decided when synced: a bundle older than the policy's maximum age would be refused whole.
    at_sync = {"clock": FixedClock(NOW)}
    result = CliRunner().invoke(
        chaincut_cli, ["border", "clear", "--bundle", str(bundle), "QR-T1"], obj=at_sync
    )
    assert result.exit_code == 1
    assert "invalid_code: the code is not valid: the QR text does not start with 'CC1:'" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document | {"day": "someday"}))
    refused = CliRunner().invoke(chaincut_cli, ["border", "clear", "--bundle", str(broken), "QR-T1"])
    assert refused.exit_code == 2 and "day: expected a date YYYY-MM-DD" in refused.output


def _ballot_entry(services: Services, day: date) -> None:
    rules = replace(services.policy.border, mode=BookingMode.BALLOT)
    entries = BookingService(services.store, rules, services.clock, services.settings.zone, services.hasher)
    services.people.register(PersonDraft(ref="B1"))
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref("B1")
    assert person_id is not None
    entries.book(BookingRequest(person_id, "B1111111", day, "man_kam_to", "night", (), "e1"))


def test_the_draw_command_draws_one_day_with_its_committed_seed_or_every_due_day(
    embedded_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = embedded_services
    # An entry for a day long past, stored directly with its commitment: the command line runs on
    # the real clock.
    services.people.register(PersonDraft(ref="B1"))
    old = date(2023, 1, 8)
    commit_seed(services.store, services.clock, old, "s", actor="tests", roles="tests")
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref("B1")
        uow.ballot.add(
            {
                "public_id": "entry-old-1",
                "person_id": person_id,
                "day": old,
                "checkpoint": "man_kam_to",
                "slot": "night",
                "request_id": "e1",
                "created_at": 1_673_000_000,
            },
            [(services.hasher.hash("B1111111"), None)],
        )
    monkeypatch.setenv("CHAINCUT_ENV", "production")
    settings = services.settings
    for name, value in (
        ("DATA_DIR", str(settings.data_dir)),
        ("IDENTITY_HASH_KEY", settings.identity_hash_key.get_secret_value()),  # type: ignore[union-attr]
        ("DATA_KEYS", settings.data_keys.get_secret_value()),  # type: ignore[union-attr]
        ("AUDIT_KEY", settings.audit_key.get_secret_value()),  # type: ignore[union-attr]
        ("VENUE_SIGNING_KEY_FILE", str(settings.venue_signing_key_file)),
        ("STAFF", "duty-officer"),
        ("PASSWORD_MEMORY_KIB", "1024"),
        ("PASSWORD_TIME_COST", "1"),
    ):
        monkeypatch.setenv(f"CHAINCUT_{name}", value)
    runner = CliRunner()
    due = runner.invoke(chaincut_cli, ["border", "draw", "--due", "--json"])
    assert due.exit_code == 0, due.output
    assert [(d["day"], d["won"], d["lost"]) for d in json.loads(due.output)] == [("2023-01-08", 1, 0)]
    assert json.loads(runner.invoke(chaincut_cli, ["border", "draw", "--due", "--json"]).output) == []
    again = runner.invoke(chaincut_cli, ["border", "draw", "--day", "2023-01-08", "--seed", "s"])
    assert again.exit_code == 1 and "the ballot for 2023-01-08 has been drawn" in again.output
    day = ["--day", "2026-11-23"]
    unseeded = runner.invoke(chaincut_cli, ["border", "draw", *day])
    assert unseeded.exit_code == 1 and "no seed was committed for 2026-11-23" in unseeded.output
    committed = runner.invoke(chaincut_cli, ["border", "commit", *day, "--seed", "public-seed-7"])
    assert committed.exit_code == 0, committed.output
    digest = hashlib.sha256(b"public-seed-7").hexdigest()
    assert f"committed 2026-11-23: sha256 {digest}" in committed.output
    twice = runner.invoke(chaincut_cli, ["border", "commit", *day, "--seed", "another"])
    assert twice.exit_code == 1 and "already committed" in twice.output
    ground = runner.invoke(chaincut_cli, ["border", "draw", *day, "--seed", "public-seed-8"])
    assert ground.exit_code == 1 and "not the one committed" in ground.output
    given = runner.invoke(chaincut_cli, ["border", "draw", *day, "--seed", "public-seed-7"])
    assert given.exit_code == 0 and "drew 2026-11-23: 0 won, 0 lost (seed public-seed-7)" in given.output
    assert runner.invoke(chaincut_cli, ["border", "draw"]).exit_code == 2
    published = runner.invoke(
        chaincut_cli, ["border", "commitments", "--from", "2023-01-01", "--to", "2026-12-31", "--json"]
    )
    assert [(c["day"], c["seed"]) for c in json.loads(published.output)] == [
        ("2023-01-08", "s"),
        ("2026-11-23", "public-seed-7"),
    ]
    assert json.loads(published.output)[1]["commitment"] == digest
    with services.store.read() as uow:
        drawn = [r.event for r in uow.audit.find(limit=100) if r.event.action == "border.ballot.draw"]
    assert [(e.actor, e.record, e.details["seed_given"]) for e in drawn] == [
        ("cli:duty-officer", "2023-01-08", False),
        ("cli:duty-officer", "2026-11-23", True),
    ]


def test_the_server_draws_due_ballots_on_its_timer_only_when_asked(embedded_services: Services) -> None:
    services = embedded_services
    _ballot_entry(services, TODAY + timedelta(days=1))
    assert isinstance(services.clock, FixedClock)
    services.clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # 20:00 local: the 21st is due
    with TestClient(create_app(services, schedule_maintenance=False)):
        time.sleep(0.2)
    with services.store.read() as uow:
        assert uow.ballot.draw(TODAY + timedelta(days=1)) is None  # tests do not draw unless asked
    with TestClient(create_app(services, schedule_maintenance=False, schedule_ballot=True)):
        deadline = time.monotonic() + 10
        while True:
            with services.store.read() as uow:
                record = uow.ballot.draw(TODAY + timedelta(days=1))
            if record is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert record is not None and record.drawn_by == "system:ballot"


def test_the_clear_command_reads_the_code_from_a_picture(embedded_services: Services, tmp_path: Path) -> None:
    services = embedded_services
    codes = _codes(services)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps(services.clearances.bundle(Principal.system("officer"), "shenzhen_bay", TODAY).to_dict())
    )
    picture = tmp_path / "code.png"
    segno.make_qr("QR-T1", error="q").save(str(picture), scale=6)
    obj = {"verifier_factory": fake_verifier_factory(codes), "clock": FixedClock(NOW)}
    result = CliRunner().invoke(
        chaincut_cli, ["border", "clear", "--bundle", str(bundle), "--image", str(picture)], obj=obj
    )
    assert result.exit_code == 0, result.output
    assert "CLEARED" in result.output
    assert json.loads((tmp_path / "decisions.jsonl").read_text())["code_id"] == "code-1"
    blank = tmp_path / "blank.png"
    blank.write_bytes(b"not a picture")
    unreadable = CliRunner().invoke(
        chaincut_cli, ["border", "clear", "--bundle", str(bundle), "--image", str(blank)], obj=obj
    )
    assert unreadable.exit_code == 2 and "no QR code could be read" in unreadable.output
