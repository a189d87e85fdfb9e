"""``chaincut demo``: a district built, loaded and ready to trace, as the README's first command runs it."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import bootstrap
from chaincut.cli.app import app
from chaincut.settings import Settings

PURPOSE = {"X-Chaincut-Purpose": "tracing the demo case"}


def test_the_demo_builds_a_district_with_a_case_to_trace(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"CHAINCUT_DATA_DIR": str(data_dir), "CHAINCUT_ENV": "development"}
    runner = CliRunner()
    built = runner.invoke(app, ["demo", "--people", "2000", "--no-serve"], env=env)
    assert built.exit_code == 0, built.output
    assert "loaded 2,000 people" in built.output
    assert "chaincut trace --case C-DEMO" in built.output

    traced = runner.invoke(app, ["trace", "--case", "C-DEMO", "--json"], env=env)
    assert traced.exit_code == 0, traced.output
    doc = json.loads(traced.stdout)
    assert doc["case"] == "C-DEMO"
    assert doc["count"] == len(doc["contacts"]) > 0  # the busiest resident met people
    assert all(c["evidence"] for c in doc["contacts"])

    # Demo staff, their passwords beside the data (owner only); the guide says how to sign in.
    accounts = data_dir / "demo-accounts.json"
    assert stat.S_IMODE(accounts.stat().st_mode) == 0o600
    passwords = json.loads(accounts.read_text(encoding="utf-8"))
    assert set(passwords) == {"demo-tracer", "demo-supervisor", "demo-admin", "demo-policy-editor"}
    assert "/auth/token" in built.output
    assert "demo-tracer" in built.output

    again = runner.invoke(app, ["demo", "--people", "2000", "--no-serve"], env=env)
    assert again.exit_code == 0, again.output
    assert "already holds data" in again.output  # a second run keeps the store and the case
    assert json.loads(accounts.read_text(encoding="utf-8")) == passwords  # and the accounts

    # A demo made before the policy editor's account gets that one, and keeps the others.
    older = {name: word for name, word in passwords.items() if name != "demo-policy-editor"}
    accounts.write_text(json.dumps(older), encoding="utf-8")
    before = bootstrap(Settings(env="development", data_dir=data_dir))
    with before.store.write() as uow:
        uow.connection.exec_driver_sql("DELETE FROM staff WHERE username = 'demo-policy-editor'")
    before.close()
    upgraded = runner.invoke(app, ["demo", "--people", "2000", "--no-serve"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    renewed = json.loads(accounts.read_text(encoding="utf-8"))
    assert {k: v for k, v in renewed.items() if k != "demo-policy-editor"} == older
    assert renewed["demo-policy-editor"] != passwords["demo-policy-editor"]
    passwords = renewed

    # Over the API: the demo tracer, assigned the case, traces it for a stated purpose.
    services = bootstrap(Settings(env="development", data_dir=data_dir))
    try:
        with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:

            def sign_in(username: str) -> dict[str, str]:
                body = {"username": username, "password": passwords[username]}
                response = c.post("/auth/token", json=body)
                assert response.status_code == 200, response.text
                return {"Authorization": f"Bearer {response.json()['access_token']}"}

            tracer = sign_in("demo-tracer")
            contacts = c.get("/cases/C-DEMO/contacts", params={"limit": 5}, headers={**tracer, **PURPOSE})
            assert contacts.status_code == 200, contacts.text
            assert contacts.json()["count"] == doc["count"]
            unstated = c.get("/cases/C-DEMO/contacts", headers=tracer)
            assert (unstated.status_code, unstated.json()["code"]) == (403, "purpose_required")
            # The administrator runs the system and reads nobody's whereabouts.
            admin = c.get("/cases/C-DEMO/contacts", headers={**sign_in("demo-admin"), **PURPOSE})
            assert (admin.status_code, admin.json()["code"]) == (403, "forbidden")
            assert c.get("/status", headers=sign_in("demo-supervisor")).status_code == 200
            # On the web, the demo tracer's queue holds the demo case (the guide says so).
            queue = c.get("/console/cases", headers={**tracer, "Accept": "text/html"})
            assert queue.status_code == 200 and 'data-case="C-DEMO"' in queue.text
            assert '"My cases" holds the demo case' in built.output
            # The resident of the guide holds a signed code, verifiable against the demo's keys.
            token = re.search(r"Bearer (ccr_[A-Za-z0-9_\-.]+)", built.output)
            assert token is not None
            signed = c.get("/me/code/signed", headers={"Authorization": f"Bearer {token[1]}"})
            assert signed.status_code == 200, signed.text
            assert services.trusted_codes.verify(signed.json()["qr"], services.clock.now()).valid
            # The residents' app: the guide's poster address opens the check-in page, and a counter's
            # enrolment code (chaincut people enrol) enrols a phone as the guide's resident.
            poster = re.search(r"(http://localhost:8000/v#CHAINCUT:1:\S+)", built.output)
            assert poster is not None and "/app" in built.output
            assert c.get("/v").status_code == 200
            person = re.search(r"chaincut people enrol --person (\S+)", built.output)
            assert person is not None
            enrolled = runner.invoke(app, ["people", "enrol", "--person", person[1], "--no-qr"], env=env)
            assert enrolled.exit_code == 0, enrolled.output
            code = re.search(r"enrolment code for \S+: ([0-9A-Z]{5}-[0-9A-Z]{5})", enrolled.output)
            assert code is not None and f"http://localhost:8000/app/enrol#{code[1]}" in enrolled.output
            phone = c.post("/enrolments", json={"code": code[1]})
            assert phone.status_code == 201 and phone.json()["person"] == person[1]
            checked_in = c.post(
                "/checkins",
                json={"client_id": "demo-phone-1", "token": poster[1]},
                headers={"Authorization": f"Bearer {phone.json()['token']}"},
            )
            assert checked_in.status_code == 201, checked_in.text
            # The demo supervisor operates a café of their own: its page offers kiosks.
            cafe = c.get(
                "/console/venues/V-DEMO-CAFE", headers={**sign_in("demo-supervisor"), "Accept": "text/html"}
            )
            assert cafe.status_code == 200 and "/console/venues/V-DEMO-CAFE/kiosks" in cafe.text
        # Each contact got an order, so the tracer's follow-up worklist has everyone to call today.
        with services.store.read() as uow:
            tracer_record = uow.staff.get_by_username("demo-tracer")
        assert tracer_record is not None
        worklist = services.follow_ups.worklist(tracer_record.id, limit=5_000)
        assert len(worklist.rows) == doc["count"] and any(r.due_today for r in worklist.rows)
        assert '"Follow-ups" its contacts to call today' in built.output
        # The demo case's contacts were traced when it was registered: their codes say so.
        colours = {services.codes.current(contact["person"]).colour for contact in doc["contacts"]}
        assert colours and colours <= {"red", "amber"}
        # A few of its contacts at one venue fell ill: a cluster for the cluster pages and the dashboard.
        listed, _ = services.clusters.listing(limit=10, settings_shown=1)
        assert listed, "the demo infers a cluster"
        assert max(cluster.size for cluster, *_ in listed) >= 3
        with services.store.read() as uow:
            districts = uow.connection.exec_driver_sql(
                "SELECT count(*) FROM cases WHERE ref LIKE 'C-DEMO-%' AND district IS NOT NULL"
            ).scalar()
        assert districts  # and cases on the district map
    finally:
        services.close()
