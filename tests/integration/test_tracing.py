"""Tracing a case through the store, on the embedded default and on PostgreSQL.

One small, hand-made outbreak: a case (P1) dined at a restaurant and visited a care
home during their infectious window. Visits come from check-ins in SQL and from a
bulk import (the archive on the embedded default), so a trace must read both.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chaincut.bootstrap import Services
from chaincut.cli.app import app
from chaincut.clock import to_epoch
from chaincut.domain import Tier, Visit, VisitSource
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.people import PersonDraft
from chaincut.policy import ContactRule
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA
from chaincut.tracing.batch_files import BatchFiles
from chaincut.tracing.cases import CaseDraft
from chaincut.tracing.service import TracingService
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.importing import ImportOptions, ImportReport, import_encounters
from support.settings import cli_env


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_visit(services: Services, person: str, venue: str, entered: str, left: str | None) -> None:
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref(person)
        found = uow.venues.get_by_ref(venue)
        assert person_id is not None
        assert found is not None
        assert found.id is not None
        uow.visits.add(
            Visit(
                person_id=person_id,
                venue_id=found.id,
                entered_at=utc(entered),
                left_at=utc(left) if left else None,
                source=VisitSource.UPLOAD,
                client_id=f"{person}-{entered}",
            )
        )


def bulk_visits(services: Services, rows: list[tuple[str, str, str, str]]) -> None:
    """Visits as a bulk import stores them: the archive on the embedded default, SQL on PostgreSQL."""
    with services.store.read() as uow:
        people = {r[0]: uow.people.id_for_ref(r[0]) for r in rows}
        venues = {r[1]: uow.venues.get_by_ref(r[1]) for r in rows}
    table = pa.table(
        {
            "person_id": [people[r[0]] for r in rows],
            "venue_id": [venues[r[1]].id for r in rows],  # type: ignore[union-attr]
            "entered_at": [to_epoch(utc(r[2])) for r in rows],
            "left_at": [to_epoch(utc(r[3])) for r in rows],
            "left_inferred": [False] * len(rows),
            "source": [VisitSource.IMPORT.code] * len(rows),
            "clipped": [False] * len(rows),
        },
        schema=VISIT_SCHEMA,
    )
    with services.store.bulk("visits") as sink:
        sink.write(table)


@pytest.fixture
def outbreak(services: Services) -> Services:
    return build_outbreak(services)


def build_outbreak(services: Services) -> Services:
    for ref in ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"):
        household = "H1" if ref in ("P1", "P4") else None
        services.people.register(PersonDraft(ref, household=household))
    services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="R1"))
    services.venues.register(VenueDraft("elderly_home", "Sunshine Home", "陽光護老院", ref="E1"))
    # The case, inside the window (opens 2026-11-16 00:00 HKT = 11-15 16:00 UTC).
    add_visit(services, "P1", "R1", "2026-11-18T11:00", "2026-11-18T12:00")
    add_visit(services, "P1", "E1", "2026-11-19T09:00", None)  # never checked out: inferred at 2 h
    add_visit(services, "P1", "R1", "2026-11-14T11:00", "2026-11-14T12:00")  # before the window
    # Others at the restaurant.
    add_visit(services, "P2", "R1", "2026-11-18T11:30", "2026-11-18T13:00")  # 60 min with the case + 30 after
    bulk_visits(
        services,
        [
            ("P3", "R1", "2026-11-18T12:10", "2026-11-18T12:40"),  # after the case left: 20 min of the 30
            ("P6", "R1", "2026-11-18T12:31", "2026-11-18T13:00"),  # came after the 30 minutes
            ("P7", "R1", "2026-11-14T11:00", "2026-11-14T12:00"),  # with the case, before the window
        ],
    )
    add_visit(services, "P9", "E1", "2026-11-19T09:20", "2026-11-19T11:00")
    encounters = pa.table(
        {
            "person_a": [services.people.get("P5").id, services.people.get("P1").id],
            "person_b": [services.people.get("P1").id, services.people.get("P5").id],
            "start_at": [to_epoch(utc("2026-11-17T08:00")), to_epoch(utc("2026-11-17T08:10"))],
            "end_at": [to_epoch(utc("2026-11-17T08:10")), to_epoch(utc("2026-11-17T08:20"))],
        },
        schema=ENCOUNTER_SCHEMA,
    )
    with services.store.bulk("encounters") as sink:
        sink.write(encounters)
    services.cases.register(
        CaseDraft(
            "C1",
            "P1",
            "local",
            onset_on=date(2026, 11, 18),
            isolated_at=utc("2026-11-19T10:00"),
        ),
        actor="tester",
    )
    return services


def by_person(trace_json: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["person"]: c for c in trace_json["contacts"]}  # type: ignore[attr-defined, index]


def test_a_case_s_contacts_with_their_evidence(outbreak: Services) -> None:
    trace = outbreak.tracing.trace_case("C1")
    doc = trace.to_json(outbreak.settings.zone)
    contacts = by_person(doc)
    assert {p: (c["tier"], c["minutes"]) for p, c in contacts.items()} == {
        "P9": ("close", 100.0),  # care home: 09:20 to the case's 10:00 isolation + 60 min
        "P4": ("close", 0.0),  # household
        "P5": ("close", 20.0),  # two 10-minute encounters
        "P2": ("exposed", 60.0),
        "P3": ("exposed", 20.0),
    }
    assert doc["policy"] == {"version": outbreak.policy.version, "digest": outbreak.policy.digest}
    assert doc["window"] == {"start": "2026-11-16T00:00:00+08:00", "end": "2026-11-19T18:00:00+08:00"}
    [evidence] = contacts["P2"]["evidence"]  # type: ignore[misc]
    assert evidence["kind"] == "venue"
    assert evidence["venue"] == "R1"
    assert evidence["venue_name_zh"] == "太興"
    assert evidence["rule"] == "venue_types.restaurant.contact"
    assert evidence["index_interval"] == {
        "start": "2026-11-18T19:00:00+08:00",
        "end": "2026-11-18T20:30:00+08:00",
    }
    assert evidence["contact_interval"] == {
        "start": "2026-11-18T19:30:00+08:00",
        "end": "2026-11-18T21:00:00+08:00",
    }
    assert evidence["index_person"] == "P1"
    [care] = contacts["P9"]["evidence"]  # type: ignore[misc]
    # The case never checked out: inferred at the 2 h default stay, but clipped at isolation (10:00 UTC).
    assert care["index_interval"]["start"] == "2026-11-19T17:00:00+08:00"
    assert care["index_interval"]["end"] == "2026-11-19T19:00:00+08:00"
    [near] = contacts["P5"]["evidence"]  # type: ignore[misc]
    assert (near["kind"], near["encounters"], near["rule"]) == ("encounter", 2, "encounters")
    assert contacts["P4"]["evidence"][0]["kind"] == "household"  # type: ignore[index]
    assert [c.tier for c in trace.contacts[:3]] == [Tier.CLOSE] * 3  # the strongest first


def test_an_encounter_imported_twice_counts_once(outbreak: Services, tmp_path: Path) -> None:
    """Two 8-minute encounters pass the 15-minute rule; the same 8 minutes imported twice must not."""
    csv_file = tmp_path / "encounters.csv"
    csv_file.write_text("person_a,person_b,start,end\nP8,P1,2026-11-17T09:00:00Z,2026-11-17T09:08:00Z\n")
    export = tmp_path / "encounters-export.jsonl"  # the same encounter from another export, pair reversed
    export.write_text('{"person_a": "P1", "person_b": "P8", "start": 1794906000, "end": 1794906480}\n')
    later = tmp_path / "later.csv"  # a second, real 8-minute encounter
    later.write_text("person_a,person_b,start,end\nP1,P8,2026-11-17T09:30:00Z,2026-11-17T09:38:00Z\n")
    s, options = outbreak, ImportOptions()

    def load(path: Path) -> ImportReport:
        return import_encounters(s.store, s.policy, s.clock, path, options)

    assert load(csv_file).stored == 1
    with pytest.raises(Conflict, match="already imported"):
        load(csv_file)
    skipped = load(export)
    assert (skipped.stored, skipped.duplicates) == (0, 1)
    once = by_person(outbreak.tracing.trace_case("C1").to_json(outbreak.settings.zone))
    assert load(later).stored == 1
    twice = by_person(outbreak.tracing.trace_case("C1").to_json(outbreak.settings.zone))

    assert "P8" not in once
    assert (twice["P8"]["tier"], twice["P8"]["minutes"]) == ("close", 16.0)


def test_a_late_upload_changes_the_next_trace(outbreak: Services) -> None:
    before = {c.person_id for c in outbreak.tracing.trace_case("C1").contacts}
    add_visit(outbreak, "P8", "R1", "2026-11-18T11:45", "2026-11-18T12:15")
    after = outbreak.tracing.trace_case("C1")
    p8 = outbreak.people.get("P8").id
    assert p8 not in before
    assert p8 in {c.person_id for c in after.contacts}


def test_a_resident_index_answers_the_same(outbreak: Services) -> None:
    resident = TracingService(
        outbreak.store, outbreak.policy, outbreak.clock, outbreak.settings.zone, resident=True
    )
    resident.warm_up()
    zone = outbreak.settings.zone
    assert resident.trace_case("C1").to_json(zone) == outbreak.tracing.trace_case("C1").to_json(zone)
    bulk_visits(outbreak, [("P8", "R1", "2026-11-18T11:50", "2026-11-18T12:20")])  # the archive changes
    assert "P8" in by_person(resident.trace_case("C1").to_json(zone))


def test_tracing_any_person_over_a_window(outbreak: Services) -> None:
    trace = outbreak.tracing.trace_person("P2", utc("2026-11-18T00:00"), utc("2026-11-18T23:59"))
    contacts = by_person(trace.to_json(outbreak.settings.zone))
    # P2 at the restaurant 11:30-13:00 (+30 min): P1 until 12:00, P3 12:10-12:40, P6 12:31-13:00.
    assert {p: c["minutes"] for p, c in contacts.items()} == {"P1": 30.0, "P3": 30.0, "P6": 29.0}
    with pytest.raises(NotFound):
        outbreak.tracing.trace_person("nobody", utc("2026-11-18T00:00"), utc("2026-11-18T01:00"))
    with pytest.raises(InvalidInput, match="longer than the 31-day retention"):
        outbreak.tracing.trace_person("P2", utc("2026-10-01T00:00"), utc("2026-11-19T00:00"))
    with pytest.raises(InvalidInput, match="ends in the future"):
        outbreak.tracing.trace_person("P2", utc("2026-11-19T00:00"), utc("2026-11-21T00:00"))
    with pytest.raises(InvalidInput, match="ends before it starts"):
        outbreak.tracing.trace_person("P2", utc("2026-11-19T00:00"), utc("2026-11-18T00:00"))


def test_retracing_under_another_policy_shows_what_changed(outbreak: Services) -> None:
    restaurant = outbreak.policy.venue_types["restaurant"]
    stricter = dataclasses.replace(
        outbreak.policy,
        version="stricter",
        venue_types={
            **outbreak.policy.venue_types,
            "restaurant": dataclasses.replace(restaurant, contact=ContactRule(30, 30, Tier.CLOSE)),
        },
    )
    changes = {c.person_ref: (c.before, c.after) for c in outbreak.tracing.compare("C1", stricter)}
    assert changes == {"P2": (Tier.EXPOSED, Tier.CLOSE), "P3": (Tier.EXPOSED, None)}
    assert outbreak.tracing.trace_case("C1", policy=stricter).policy_version == "stricter"


def test_an_unknown_case(outbreak: Services) -> None:
    with pytest.raises(NotFound, match="no case 'C404'"):
        outbreak.tracing.trace_case("C404")


def test_a_day_of_cases_at_once(outbreak: Services) -> None:
    batch = outbreak.tracing.trace_reported_on(date(2026, 11, 20))
    assert list(batch.case_refs) == ["C1"]
    single = outbreak.tracing.trace_case("C1")
    assert sorted(batch.contacts.person.tolist()) == sorted(c.person_id for c in single.contacts)
    assert np.all(batch.contacts.root == 0)


def test_a_day_s_trace_reports_its_progress(outbreak: Services) -> None:
    for ref, person in (("C2", "P2"), ("C3", "P4"), ("C4", "P6")):
        outbreak.cases.register(
            CaseDraft(ref, person, "local", onset_on=date(2026, 11, 19), isolated_at=utc("2026-11-19T12:00")),
            actor="tester",
        )
    with outbreak.store.read() as uow:
        cases, _ = uow.cases.list()
    assert len(cases) == 4
    heard: list[tuple[str, int, int]] = []
    one_by_one = outbreak.tracing.trace_cases(
        cases, roots_per_chunk=1, workers=2, on_progress=lambda *step: heard.append(step)
    )
    all_at_once = outbreak.tracing.trace_cases(cases)
    assert heard[:2] == [("reading whereabouts", 0, 1), ("reading whereabouts", 1, 1)]
    tracing = [done for stage, done, total in heard if stage == "tracing cases" and total == len(cases)]
    assert tracing == sorted(tracing) and tracing[-1] == len(cases)
    assert len(heard) == 2 + len(tracing) and len(tracing) == len(cases) + 1  # once before, once a case
    # Cases traced one by one, two at a time, find what they find traced together.
    assert one_by_one.contact_count == all_at_once.contact_count > 0
    assert one_by_one.contacts is not None and all_at_once.contacts is not None
    for column in ("root", "person", "tier", "seconds", "via", "first_start"):
        assert getattr(one_by_one.contacts, column).tolist() == getattr(all_at_once.contacts, column).tolist()


def test_trace_on_the_command_line(embedded_services: Services) -> None:
    services = build_outbreak(embedded_services)
    settings = services.settings
    env = cli_env(settings)
    runner = CliRunner()
    # The command line runs on the real clock: the outbreak is days old by then, still in retention.
    result = runner.invoke(app, ["trace", "--case", "C1", "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {c["person"]: c["tier"] for c in doc["contacts"]} == {
        "P9": "close",
        "P4": "close",
        "P5": "close",
        "P2": "exposed",
        "P3": "exposed",
    }
    assert all(set(c) >= {"person", "tier", "minutes", "evidence"} for c in doc["contacts"])
    table = runner.invoke(app, ["trace", "--case", "C1", "--format", "table"], env=env)
    assert table.exit_code == 0, table.output
    assert "5 contacts of C1" in table.output
    out = Path(str(settings.data_dir)) / "day.parquet"
    day = runner.invoke(app, ["trace", "--reported-on", "2026-11-20", "--out", str(out), "--json"], env=env)
    assert day.exit_code == 0, day.output
    assert json.loads(day.stdout)["contacts"] == 5
    written = pq.read_table(out).to_pylist()
    assert {(r["case"], r["person"], r["tier"]) for r in written} == {
        ("C1", "P9", "close"),
        ("C1", "P4", "close"),
        ("C1", "P5", "close"),
        ("C1", "P2", "exposed"),
        ("C1", "P3", "exposed"),
    }
    missing = runner.invoke(
        app, ["trace", "--person", "P404", "--from", "2026-11-18T00:00", "--to", "2026-11-18T01:00"], env=env
    )
    assert missing.exit_code == 1
    assert "no person 'P404'" in missing.output


def test_a_day_s_files_appear_whole_or_not_at_all(outbreak: Services, tmp_path: Path) -> None:
    with outbreak.store.read() as uow:
        cases, _ = uow.cases.list()
    folder = tmp_path / "out"
    folder.mkdir()
    contacts, evidence = folder / "contacts.parquet", folder / "evidence.parquet"
    contacts.write_bytes(b"yesterday's file")
    refs, rules = [c.ref for c in cases], outbreak.tracing.rules()
    files = BatchFiles(outbreak.store, refs, rules, contacts, evidence)
    with pytest.raises(OSError, match="disk full"), files:
        outbreak.tracing.trace_cases(cases, keep_contacts=False, on_chunk=files.write)
        raise OSError("disk full")  # the trace fails after a chunk was written
    assert sorted(p.name for p in folder.iterdir()) == ["contacts.parquet"]  # no partial file
    assert contacts.read_bytes() == b"yesterday's file"
    with BatchFiles(outbreak.store, refs, rules, contacts, evidence) as files:
        batch = outbreak.tracing.trace_cases(cases, keep_contacts=False, on_chunk=files.write)
    assert sorted(p.name for p in folder.iterdir()) == ["contacts.parquet", "evidence.parquet"]
    assert pq.read_table(contacts).num_rows == batch.contact_count == 5
    rows = pq.read_table(evidence).to_pylist()
    assert len(rows) == batch.evidence_count
    by_kind = {(r["person"], r["kind"]): r for r in rows}
    assert by_kind[("P4", "household")]["rule"] == "household"
    assert by_kind[("P5", "encounter")]["encounters"] == 2
    at_restaurant = by_kind[("P2", "venue")]
    assert (at_restaurant["venue"], at_restaurant["rule"]) == ("R1", "venue_types.restaurant.contact")
    assert at_restaurant["minutes"] == 60.0 and at_restaurant["case"] == "C1" and at_restaurant["via"] == "P1"


def test_the_tracer_s_api(outbreak: Services) -> None:
    from fastapi.testclient import TestClient

    from chaincut.api import create_app
    from chaincut.domain.access import Role
    from support.auth import assign, staff_headers

    # A tracer, assigned the case by a supervisor, works it; the supervisor approves the export.
    tracer = staff_headers(outbreak, Role.TRACER, username="tracer7")
    assign(outbreak, "C1", "tracer7")
    supervisor = staff_headers(outbreak, Role.SUPERVISOR, username="supervisor1")

    with TestClient(
        create_app(outbreak, schedule_maintenance=False), raise_server_exceptions=False, headers=tracer
    ) as client:
        page = client.get("/cases/C1/contacts", params={"limit": 2})
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["count"] == 5
        assert [c["person"] for c in body["data"]] == ["P9", "P5"]  # strongest, then longest
        assert body["policy"]["version"] == outbreak.policy.version
        exposed = client.get("/cases/C1/contacts", params={"tier": "exposed"}).json()
        assert {c["person"] for c in exposed["data"]} == {"P2", "P3"}
        assert client.get("/cases/C404/contacts").status_code == 404

        # P2 is not yet linked to the tracer's case (no order from it): a supervisor looks them up.
        window = {"from": "2026-11-18T08:00:00+08:00", "to": "2026-11-18T23:59:00+08:00"}
        person = client.get("/people/P2/contacts", params=window, headers=supervisor)
        assert person.status_code == 200, person.text
        assert {c["person"] for c in person.json()["data"]} == {"P1", "P3", "P6"}
        too_long = client.get(
            "/people/P2/contacts",
            params={"from": "2026-09-01T00:00:00Z", "to": window["to"]},
            headers=supervisor,
        )
        assert too_long.status_code == 422
        assert too_long.json()["field"] == "from"

        issued = client.post("/cases/C1/orders")
        assert issued.status_code == 201, issued.text
        assert issued.json()["issued"] == 5
        again = client.post("/cases/C1/orders")
        assert again.json() == {**issued.json(), "issued": 0, "already_open": 5}
        orders = client.get("/orders", params={"case": "C1", "limit": 50}).json()
        assert {o["issued_by"] for o in orders["data"]} == {"staff:tracer7"}
        kinds = {o["person"]: o["kind"] for o in orders["data"]}
        assert kinds == {
            "P9": "quarantine",
            "P4": "quarantine",
            "P5": "quarantine",
            "P2": "testing_notice",
            "P3": "testing_notice",
        }

        assert client.get("/cases/C1/contacts.csv").status_code == 403  # not without an approval
        requested = client.post("/cases/C1/exports", json={"purpose": "orders to the care home's staff"})
        assert requested.status_code == 201, requested.text
        approval = requested.json()["id"]
        decided = client.post(
            f"/approvals/{approval}/decision",
            json={"approve": True, "reason": "care home outbreak"},
            headers=supervisor,
        )
        assert decided.status_code == 200, decided.text
        csv_export = client.get("/cases/C1/contacts.csv", params={"approval": approval})
        assert csv_export.status_code == 200, csv_export.text
        lines = csv_export.content.decode("utf-8-sig").splitlines()
        assert len(lines) == 6
        assert any(line.startswith("C1,P2,") for line in lines)
        assert "R1" in csv_export.text

        risky = client.get(
            "/risky-venues", params={"from": "2026-11-18T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
        ).json()
        assert [(r["venue"], r["start"], r["end"]) for r in risky["data"]] == [
            ("R1", "2026-11-18T19:00:00+08:00", "2026-11-18T20:30:00+08:00"),
            ("E1", "2026-11-19T17:00:00+08:00", "2026-11-19T19:00:00+08:00"),
        ]


def test_a_contact_who_tests_positive_is_traced_in_turn(outbreak: Services) -> None:
    from chaincut.domain import CaseClassification, TestResult

    trace = outbreak.tracing.trace_case("C1")
    outbreak.orders.issue_for_contacts(trace.contacts, trace.case_id, "tracer7")
    recorded = outbreak.follow_ups.record(
        "P2", date(2026, 11, 20), ["fever"], TestResult.POSITIVE, None, "tracer7"
    )
    assert recorded.case_created
    case = recorded.case
    assert case is not None
    assert case.classification is CaseClassification.LINKED
    assert case.linked_case_id == trace.case_id
    # P2's window opens two days before the specimen (20th): P1, P3 and P6 were with P2 on the 18th.
    onward = outbreak.tracing.trace_case(case.ref).to_json(outbreak.settings.zone)
    assert {c["person"] for c in onward["contacts"]} == {"P1", "P3", "P6"}
    assert onward["case"] == case.ref
