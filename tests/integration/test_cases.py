"""Cases through the API, the registry, the command line and bulk import, on every backend.

API and registry tests use the ``services`` fixture, so they run on the embedded
default (SQLite plus the Parquet archive) and on PostgreSQL, with the fixed clock
2026-11-20T04:00Z (12:00 in Hong Kong, so "today" is 2026-11-20). The default
policy opens the infectious window 2 days before onset, or before the specimen date.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.clock import FixedClock
from chaincut.domain import CaseClassification, CaseStatus, Encounter, Visit, VisitSource
from chaincut.domain.access import Role
from chaincut.errors import ImportRejected, InvalidInput, NotFound
from chaincut.policy import InfectiousWindowRule
from chaincut.tracing.case_import import import_cases
from chaincut.tracing.cases import CaseDraft, CaseRegistry
from chaincut.whereabouts import importing
from chaincut.whereabouts.importing import ImportOptions
from support.auth import staff_headers

HKT = timezone(timedelta(hours=8))
TODAY = date(2026, 11, 20)  # the clock fixture's local date
NOW_LOCAL = datetime(2026, 11, 20, 12, 0, tzinfo=HKT)
POLICY_VERSION = "2026.11-default"
# The signed-in staff member every request of the ``client`` fixture comes from: a supervisor sees
# every case and person; the venue operator role registers the timeline test's venues.
STAFF = "tracer-7"


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    headers = staff_headers(services, Role.SUPERVISOR, Role.VENUE_OPERATOR, username=STAFF)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        yield c


@pytest.fixture
def people(client: TestClient) -> list[str]:
    refs = ["p-case", "p-other", "p-third"]
    for ref in refs:
        response = client.post("/people", json={"ref": ref})
        assert response.status_code == 201, response.text
    return refs


def case_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ref": "C1",
        "person": "p-case",
        "classification": "local",
        "onset_on": "2026-11-18",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def register(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/cases", json=case_body(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_refused(response: Any, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["field"]) == (code, field), body


# --- registering through the API --------------------------------------------------------------


def test_a_case_registered_over_the_api_has_its_window_and_actor(
    client: TestClient, services: Services, people: list[str]
) -> None:
    case = register(client, status="probable")

    assert case["ref"] == "C1"
    assert case["person"] == "p-case"
    assert (case["status"], case["classification"]) == ("probable", "local")
    assert case["reported_on"] == "2026-11-20"  # today when absent
    assert case["created_by"] == f"staff:{STAFF}"
    assert case["policy_version"] == POLICY_VERSION
    assert case["isolated_at"] is None
    # 2 days before onset, from local midnight; not isolated: open until now.
    assert case["window"] == {
        "start": "2026-11-16T00:00:00+08:00",
        "end": "2026-11-20T12:00:00+08:00",
        "ongoing": True,
        "policy_version": POLICY_VERSION,
    }
    assert client.get("/cases/C1").json() == case
    assert services.store.counts().cases == 1


def test_the_actor_is_the_signed_in_staff_member(
    client: TestClient, services: Services, people: list[str]
) -> None:
    tracer = staff_headers(services, Role.TRACER, username="tracer-9")
    response = client.post("/cases", json=case_body(), headers=tracer)
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == "staff:tracer-9"
    assert services.cases.get("C1").created_by == "staff:tracer-9"


def test_windows_follow_the_policy_for_onset_specimen_and_isolation(
    client: TestClient, people: list[str]
) -> None:
    by_specimen = register(client, ref="C-spec", onset_on=None, specimen_on="2026-11-19")
    assert by_specimen["window"]["start"] == "2026-11-17T00:00:00+08:00"

    # Onset wins over the specimen date when both are known.
    both = register(client, ref="C-both", specimen_on="2026-11-19")
    assert both["window"]["start"] == "2026-11-16T00:00:00+08:00"

    isolated = register(client, ref="C-iso", isolated_at="2026-11-19T10:00:00Z")
    assert isolated["isolated_at"] == "2026-11-19T18:00:00+08:00"
    assert isolated["window"]["end"] == "2026-11-19T18:00:00+08:00"
    assert isolated["window"]["ongoing"] is False


def test_linked_cases_name_the_case_they_are_linked_to(client: TestClient, people: list[str]) -> None:
    register(client)
    linked = register(client, ref="C2", person="p-other", classification="linked", linked_case="C1")
    assert linked["linked_case"] == "C1"
    refused = client.post("/cases", json=case_body(ref="C3", person="p-third", linked_case="C-none"))
    assert_refused(refused, 404, "not_found", "linked_case")


BAD_CASES = [
    pytest.param({"onset_on": None}, 422, "case_needs_a_date", "onset_on", id="no-dates"),
    pytest.param({"onset_on": "2026-11-21"}, 422, "date_in_future", "onset_on", id="onset-tomorrow"),
    pytest.param(
        {"onset_on": None, "specimen_on": "2026-12-01"}, 422, "date_in_future", "specimen_on", id="specimen"
    ),
    pytest.param({"reported_on": "2026-11-21"}, 422, "date_in_future", "reported_on", id="reported"),
    pytest.param({"person": "p-nobody"}, 404, "not_found", "person", id="unknown-person"),
    pytest.param(
        {"isolated_at": "2026-11-15T23:59:59+08:00"},
        422,
        "isolation_before_window",
        "isolated_at",
        id="isolated-before-window",
    ),
    pytest.param(
        {"isolated_at": "2026-11-20T12:00:01+08:00"},
        422,
        "isolation_in_future",
        "isolated_at",
        id="isolated-in-future",
    ),
    pytest.param({"isolated_at": "2026-11-19T10:00:00"}, 422, "invalid_request", "isolated_at", id="naive"),
    pytest.param({"classification": "local-ish"}, 422, "invalid_request", "classification", id="class"),
    pytest.param({"status": "maybe"}, 422, "invalid_request", "status", id="status"),
    pytest.param({"ref": "bad ref!"}, 422, "invalid_input", "ref", id="ref"),
]


@pytest.mark.parametrize(("changes", "status", "code", "field"), BAD_CASES)
def test_bad_cases_are_refused_naming_the_field_and_store_nothing(
    client: TestClient,
    services: Services,
    people: list[str],
    changes: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    body = case_body(**{k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        body.pop(key, None)
    assert_refused(client.post("/cases", json=body), status, code, field)
    assert services.store.counts().cases == 0


def test_a_duplicate_ref_is_a_conflict_and_stores_nothing(
    client: TestClient, services: Services, people: list[str]
) -> None:
    register(client)
    again = client.post("/cases", json=case_body(person="p-other"))
    assert_refused(again, 409, "conflict", "ref")
    assert services.store.counts().cases == 1
    assert client.get("/cases/C1").json()["person"] == "p-case"


def test_an_unknown_case_is_404(client: TestClient) -> None:
    assert_refused(client.get("/cases/C404"), 404, "not_found", "ref")
    assert_refused(client.get("/cases/C404/timeline"), 404, "not_found", "ref")
    patch = client.patch("/cases/C404/isolation", json={"isolated_at": "2026-11-19T10:00:00Z"})
    assert_refused(patch, 404, "not_found", "ref")


# --- listing and isolation --------------------------------------------------------------------


def test_cases_list_with_filters_and_pages(client: TestClient, people: list[str]) -> None:
    register(client, ref="C1", reported_on="2026-11-18")
    register(client, ref="C2", person="p-other", classification="imported", reported_on="2026-11-19")
    register(client, ref="C3", person="p-third", status="probable", reported_on="2026-11-20")

    everything = client.get("/cases").json()
    assert everything["count"] == 3
    assert [c["ref"] for c in everything["data"]] == ["C3", "C2", "C1"]  # latest reports first

    page = client.get("/cases", params={"limit": 1, "offset": 1}).json()
    assert (page["count"], [c["ref"] for c in page["data"]]) == (3, ["C2"])

    def refs(**params: str) -> list[str]:
        response = client.get("/cases", params=params)
        assert response.status_code == 200, response.text
        return sorted(c["ref"] for c in response.json()["data"])

    assert refs(status="probable") == ["C3"]
    assert refs(classification="imported") == ["C2"]
    assert refs(reported_from="2026-11-19") == ["C2", "C3"]
    assert refs(reported_to="2026-11-18") == ["C1"]
    assert refs(reported_from="2026-11-19", reported_to="2026-11-19") == ["C2"]
    refused = client.get("/cases", params={"reported_from": "2026-11-20", "reported_to": "2026-11-19"})
    assert_refused(refused, 422, "invalid_input", "reported_to")
    assert_refused(client.get("/cases", params={"status": "maybe"}), 422, "invalid_request", "query.status")


def test_isolation_closes_the_window(client: TestClient, services: Services, people: list[str]) -> None:
    register(client)

    before = client.patch("/cases/C1/isolation", json={"isolated_at": "2026-11-15T12:00:00+08:00"})
    assert_refused(before, 422, "isolation_before_window", "isolated_at")
    future = client.patch("/cases/C1/isolation", json={"isolated_at": "2026-11-21T00:00:00+08:00"})
    assert_refused(future, 422, "isolation_in_future", "isolated_at")
    assert services.cases.get("C1").isolated_at is None

    done = client.patch("/cases/C1/isolation", json={"isolated_at": "2026-11-19T09:30:00+08:00"})
    assert done.status_code == 200, done.text
    assert done.json()["isolated_at"] == "2026-11-19T09:30:00+08:00"
    assert done.json()["window"]["end"] == "2026-11-19T09:30:00+08:00"
    assert client.get("/cases/C1").json()["window"]["ongoing"] is False
    window = services.cases.window("C1")
    assert window.start == datetime(2026, 11, 16, tzinfo=HKT)
    assert window.end == datetime(2026, 11, 19, 9, 30, tzinfo=HKT)
    assert window.start.tzinfo is not None


def test_an_anonymous_request_is_refused_and_stores_nothing(
    client: TestClient, services: Services, people: list[str]
) -> None:
    with TestClient(client.app, raise_server_exceptions=False) as anonymous:
        response = anonymous.post("/cases", json=case_body())
    assert_refused(response, 401, "not_authenticated", None)
    assert services.store.counts().cases == 0


# --- the registry, for the other services that call it ------------------------------------------


def test_a_contact_who_tests_positive_becomes_a_linked_case(
    client: TestClient, services: Services, people: list[str]
) -> None:
    register(client)
    index = services.cases.get("C1")
    with services.store.read() as uow:
        contact_id = uow.people.id_for_ref("p-other")
    assert contact_id is not None and index.id is not None

    case = services.cases.register_from_positive_test(contact_id, date(2026, 11, 19), index.id, "tracer-3")

    assert case.ref.startswith("C-") and len(case.ref) > 10
    assert (case.status, case.classification) == (CaseStatus.CONFIRMED, CaseClassification.LINKED)
    assert (case.linked_case_id, case.created_by, case.policy_version) == (
        index.id,
        "tracer-3",
        POLICY_VERSION,
    )
    assert case.reported_on == TODAY
    again = services.cases.register_from_positive_test(contact_id, date(2026, 11, 19), index.id, "tracer-3")
    assert again.ref == case.ref
    assert services.store.counts().cases == 2
    assert client.get(f"/cases/{case.ref}").json()["linked_case"] == "C1"
    with services.store.read() as uow:
        assert [c.ref for c in uow.cases.get_by_person(contact_id)] == [case.ref]

    with pytest.raises(NotFound):
        services.cases.register_from_positive_test(10**9, date(2026, 11, 19), index.id, "tracer-3")
    with pytest.raises(InvalidInput) as future:
        services.cases.register_from_positive_test(contact_id, date(2026, 11, 21), index.id, "tracer-3")
    assert future.value.field == "specimen_on"
    assert services.store.counts().cases == 2


def test_the_window_follows_a_changed_policy(
    services: Services, clock: FixedClock, people: list[str]
) -> None:
    policy = dataclasses.replace(services.policy, infectious_window=InfectiousWindowRule(4, 1))
    registry = CaseRegistry(services.store, policy, clock, services.settings.zone)
    onset = registry.register(CaseDraft("C-on", "p-case", "local", onset_on=date(2026, 11, 18)), "t")
    specimen = registry.register(CaseDraft("C-sp", "p-other", "local", specimen_on=date(2026, 11, 18)), "t")

    assert registry.window_of(onset).start == datetime(2026, 11, 14, tzinfo=HKT)
    assert registry.window_of(specimen).start == datetime(2026, 11, 17, tzinfo=HKT)
    assert registry.window_of(onset).end == clock.now()
    clock.advance(timedelta(hours=1))
    assert registry.window("C-on").end == clock.now()  # open while not isolated
    assert services.cases.get("C-on").policy_version == POLICY_VERSION  # the version's name is unchanged


# --- the timeline -------------------------------------------------------------------------------


def test_the_timeline_reads_sql_and_the_archive_in_time_order(
    client: TestClient, services: Services, people: list[str], tmp_path: Path
) -> None:
    for ref, kind, en, zh in (
        ("v-rest", "restaurant", "Golden Dragon", "金龍"),
        ("v-office", "office", "Harbour Office", "海港辦公室"),
    ):
        response = client.post("/venues", json={"ref": ref, "venue_type": kind, "name_en": en, "name_zh": zh})
        assert response.status_code == 201, response.text
    register(client, isolated_at="2026-11-19T20:00:00+08:00")  # window: 16 Nov 00:00 to 19 Nov 20:00

    def at(day: int, hour: int, minute: int = 0) -> str:
        return datetime(2026, 11, day, hour, minute, tzinfo=HKT).isoformat()

    visits = tmp_path / "visits.csv"
    visits.write_text(
        "person,venue,entered_at,left_at\n"
        f"p-case,v-rest,{at(17, 12)},{at(17, 13)}\n"
        f"p-case,v-rest,{at(15, 23, 30)},{at(16, 0, 30)}\n"  # straddles the opening: in
        f"p-case,v-rest,{at(10, 12)},{at(10, 13)}\n"  # before the window: out
        f"p-case,v-rest,{at(19, 21)},{at(19, 22)}\n"  # after isolation: out
        f"p-other,v-rest,{at(17, 12)},{at(17, 13)}\n",  # someone else
        encoding="utf-8",
    )
    encounters = tmp_path / "encounters.csv"
    encounters.write_text(
        f"person_a,person_b,start,end\np-third,p-case,{at(18, 8)},{at(18, 8, 20)}\n", encoding="utf-8"
    )
    options = ImportOptions()
    s = services
    assert importing.import_visits(s.store, s.policy, s.clock, visits, options).stored == 5
    assert importing.import_encounters(s.store, s.policy, s.clock, encounters, options).stored == 1
    with services.store.write() as uow:
        case_id = uow.people.id_for_ref("p-case")
        other_id = uow.people.id_for_ref("p-other")
        office = uow.venues.get_by_ref("v-office")
        assert case_id is not None and other_id is not None and office is not None and office.id is not None
        uow.visits.add(
            Visit(
                case_id,
                office.id,
                datetime(2026, 11, 18, 1, 0, tzinfo=UTC),
                datetime(2026, 11, 18, 10, 0, tzinfo=UTC),
                VisitSource.QR,
                client_id="phone-1",
            )
        )
        uow.encounters.add_many(
            [
                Encounter(
                    other_id,
                    case_id,
                    datetime(2026, 11, 19, 3, tzinfo=UTC),
                    datetime(2026, 11, 19, 4, tzinfo=UTC),
                )
            ]
        )
    if services.store.archive is not None:  # embedded: the bulk rows went to Parquet, not SQL
        assert services.store.archive.count("visits") == 5

    response = client.get("/cases/C1/timeline")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["window_start"], body["window_end"]) == (
        "2026-11-16T00:00:00+08:00",
        "2026-11-19T20:00:00+08:00",
    )
    summary = [
        (e["kind"], e.get("venue_ref") or e.get("other_person"), e.get("entered_at") or e.get("start"))
        for e in body["entries"]
    ]
    assert summary == [
        ("visit", "v-rest", "2026-11-15T23:30:00+08:00"),
        ("visit", "v-rest", "2026-11-17T12:00:00+08:00"),
        ("encounter", "p-third", "2026-11-18T08:00:00+08:00"),
        ("visit", "v-office", "2026-11-18T09:00:00+08:00"),
        ("encounter", "p-other", "2026-11-19T11:00:00+08:00"),
    ]
    office_visit = body["entries"][3]
    assert office_visit == {
        "kind": "visit",
        "venue_ref": "v-office",
        "venue_name_en": "Harbour Office",
        "venue_name_zh": "海港辦公室",
        "venue_type": "office",
        "entered_at": "2026-11-18T09:00:00+08:00",
        "left_at": "2026-11-18T18:00:00+08:00",
        "left_inferred": False,
        "source": "qr",
        "clipped": False,
    }
    assert body["entries"][1]["source"] == "import"
    assert body["entries"][2] == {
        "kind": "encounter",
        "other_person": "p-third",
        "start": "2026-11-18T08:00:00+08:00",
        "end": "2026-11-18T08:20:00+08:00",
    }


# --- bulk import --------------------------------------------------------------------------------


def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in (header, *rows)), encoding="utf-8")
    return path


def load_cases(services: Services, path: Path, options: ImportOptions | None = None) -> Any:
    s = services
    return import_cases(s.store, s.policy, s.clock, s.settings.zone, path, options or ImportOptions())


HEADER = "ref,person,status,classification,onset_on,specimen_on,reported_on,isolated_at"


def test_cases_import_from_csv_jsonl_and_parquet(
    services: Services, people: list[str], tmp_path: Path
) -> None:
    csv_file = write_csv(
        tmp_path / "cases.csv",
        HEADER,
        "C1,p-case,confirmed,local,2026-11-18,,2026-11-19,2026-11-19T20:00:00+08:00",
        "C2,p-other,,imported,,2026-11-19,,",
    )
    assert load_cases(services, csv_file).stored == 2
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_text(
        json.dumps(
            {"ref": "C3", "person": "p-third", "classification": "unlinked", "specimen_on": "2026-11-20"}
        )
        + "\n",
        encoding="utf-8",
    )
    assert load_cases(services, jsonl).stored == 1
    parquet = tmp_path / "cases.parquet"
    pq.write_table(
        pa.table(
            {
                "ref": ["C4"],
                "person": ["p-case"],
                "classification": ["linked"],
                "status": ["probable"],
                "onset_on": pa.array([date(2026, 11, 19)], pa.date32()),
                "isolated_at": pa.array([datetime(2026, 11, 20, 1, tzinfo=UTC)], pa.timestamp("s", tz="UTC")),
            }
        ),
        parquet,
    )
    assert load_cases(services, parquet).stored == 1

    c1, c2, c3, c4 = (services.cases.get(ref) for ref in ("C1", "C2", "C3", "C4"))
    assert (c1.onset_on, c1.reported_on, c1.isolated_at) == (
        date(2026, 11, 18),
        date(2026, 11, 19),
        datetime(2026, 11, 19, 12, tzinfo=UTC),
    )
    assert (c2.status, c2.classification, c2.specimen_on, c2.reported_on) == (
        CaseStatus.CONFIRMED,
        CaseClassification.IMPORTED,
        date(2026, 11, 19),
        TODAY,
    )
    assert (c3.created_by, c3.policy_version) == ("import", POLICY_VERSION)
    assert (c4.status, c4.onset_on, c4.isolated_at) == (
        CaseStatus.PROBABLE,
        date(2026, 11, 19),
        datetime(2026, 11, 20, 1, tzinfo=UTC),
    )


def test_a_bad_case_refuses_the_whole_file_with_each_line(
    services: Services, people: list[str], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "cases.csv",
        HEADER,
        "C1,p-case,confirmed,local,2026-11-18,,,",
        "C2,p-other,confirmed,local,,,,",  # no dates
        "C3,p-third,confirmed,local,2026-11-21,,,",  # onset tomorrow
        "C4,p-nobody,confirmed,local,2026-11-18,,,",  # unknown person
        "C1,p-third,confirmed,local,2026-11-18,,,",  # twice in the file
        "C5,p-third,confirmed,local,2026-11-18,,,2026-11-15T10:00:00+08:00",  # isolated before the window
        "C6,p-third,confirmed,local,18/11/2026,,,",  # not an ISO date
        "C7,p-third,confirmed,local,2026-11-18,,,2026-11-19 10:00",  # no offset
        "C8,p-third,confirmed,locally,2026-11-18,,,",  # no such classification
    )
    with pytest.raises(ImportRejected) as refused:
        load_cases(services, path)
    assert [(e.line, e.field) for e in refused.value.errors] == [
        (3, "onset_on"),
        (4, "onset_on"),
        (5, "person"),
        (6, "ref"),
        (7, "isolated_at"),
        (8, "onset_on"),
        (9, "isolated_at"),
        (10, "classification"),
    ]
    assert "no UTC offset" in refused.value.errors[6].message
    assert services.store.counts().cases == 0


def test_skip_mode_stores_the_good_cases_and_writes_the_rejects(
    services: Services, people: list[str], tmp_path: Path
) -> None:
    register_first = write_csv(tmp_path / "first.csv", HEADER, "C1,p-case,confirmed,local,2026-11-18,,,")
    assert load_cases(services, register_first).stored == 1
    path = write_csv(
        tmp_path / "cases.csv",
        HEADER,
        "C1,p-case,confirmed,local,2026-11-18,,,",  # already stored
        "C2,p-other,confirmed,local,,2026-11-19,,",
    )
    rejects = tmp_path / "rejects.csv"
    report = load_cases(services, path, ImportOptions(on_error="skip", rejects=rejects))
    assert (report.read, report.stored, report.rejected) == (2, 1, 1)
    with rejects.open(encoding="utf-8", newline="") as file:
        assert [(r["line"], r["field"]) for r in csv.DictReader(file)] == [("2", "ref")]
    assert services.store.counts().cases == 2


def test_imported_cases_name_the_case_they_were_infected_by(
    services: Services, people: list[str], tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "first.csv", HEADER, "C1,p-case,confirmed,local,2026-11-14,,,")
    assert load_cases(services, first).stored == 1
    path = write_csv(
        tmp_path / "cases.csv",
        HEADER + ",linked_case",
        "C2,p-other,confirmed,linked,2026-11-17,,,,C1",  # infected by a case already registered
        "C3,p-third,confirmed,linked,2026-11-19,,,,C2",  # by one earlier in the file
    )
    assert load_cases(services, path).stored == 2
    c1, c2, c3 = (services.cases.get(ref) for ref in ("C1", "C2", "C3"))
    assert (c1.linked_case_id, c2.linked_case_id, c3.linked_case_id) == (None, c1.id, c2.id)


def test_a_link_to_no_case_or_to_itself_refuses_the_file_naming_the_line(
    services: Services, people: list[str], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "cases.csv",
        HEADER + ",linked_case",
        "C1,p-case,confirmed,linked,2026-11-18,,,,C9",  # no such case
        "C2,p-other,confirmed,linked,2026-11-18,,,,C2",  # itself
        "C3,p-third,confirmed,linked,2026-11-18,,,,C4",  # comes later in the file
        "C4,p-nobody,confirmed,local,2026-11-18,,,,",
    )
    with pytest.raises(ImportRejected) as refused:
        load_cases(services, path)
    assert [(e.line, e.field) for e in refused.value.errors] == [
        (2, "linked_case"),
        (3, "linked_case"),
        (4, "linked_case"),
        (5, "person"),
    ]
    assert "'C9'" in refused.value.errors[0].message and "itself" in refused.value.errors[1].message
    assert services.store.counts().cases == 0


def test_skip_mode_skips_a_case_whose_linked_case_was_refused(
    services: Services, people: list[str], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "cases.csv",
        HEADER + ",linked_case",
        "C1,p-nobody,confirmed,local,2026-11-18,,,,",  # refused: unknown person
        "C2,p-other,confirmed,linked,2026-11-18,,,,C1",  # so its infector is not stored
        "C3,p-third,confirmed,local,2026-11-18,,,,",
    )
    report = load_cases(services, path, ImportOptions(on_error="skip", rejects=tmp_path / "rejects.csv"))
    assert (report.stored, report.rejected) == (1, 2)
    with services.store.read() as uow:
        assert uow.cases.get_by_ref("C2") is None and uow.cases.get_by_ref("C3") is not None


# --- the command line -----------------------------------------------------------------------------


class Chaincut:
    """Runs ``chaincut`` against one data directory, on the embedded default and the system clock."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {"CHAINCUT_DATA_DIR": str(data_dir), "CHAINCUT_ENV": "development"}
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Result:
        return self.runner.invoke(cli_app, [str(a) for a in args], env=self.env)


@pytest.fixture
def chaincut(tmp_path: Path) -> Chaincut:
    run = Chaincut(tmp_path / "chaincut-data")
    assert run("db", "upgrade").exit_code == 0
    people = write_csv(tmp_path / "people.csv", "ref", "p-ann", "p-bob", "p-cy")
    assert run("import", "people", people, "--quiet").exit_code == 0
    return run


def test_cases_from_the_command_line(chaincut: Chaincut, tmp_path: Path) -> None:
    zone_today = datetime.now(UTC).astimezone(HKT).date()
    onset = (zone_today - timedelta(days=2)).isoformat()

    chaincut.env["CHAINCUT_STAFF"] = "tracer-1"  # the operator, recorded as cli:<name>
    added = chaincut(
        "cases", "add", "--ref", "C1", "--person", "p-ann", "--classification", "local", "--onset", onset,
        "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    case = json.loads(added.stdout)
    assert (case["ref"], case["person"], case["created_by"]) == ("C1", "p-ann", "cli:tracer-1")
    assert case["window"]["start"] == f"{(zone_today - timedelta(days=4)).isoformat()}T00:00:00+08:00"
    assert case["window"]["ongoing"] is True

    text = chaincut("cases", "add", "--ref", "C2", "--person", "p-bob", "--classification", "imported",
                    "--specimen", onset, "--isolated-at", f"{onset}T18:00")  # fmt: skip
    assert text.exit_code == 0, text.stderr
    assert "case C2: confirmed, imported; person p-bob" in text.stdout

    shown = json.loads(chaincut("cases", "show", "C2", "--json").stdout)
    assert shown["isolated_at"] == f"{onset}T18:00:00+08:00"  # a time without offset is local
    assert shown["window"]["end"] == shown["isolated_at"]
    assert "infectious window" in chaincut("cases", "show", "C2").stdout

    no_dates = chaincut("cases", "add", "--ref", "C3", "--person", "p-cy", "--classification", "local")
    assert no_dates.exit_code == 1
    assert no_dates.stderr.strip() == (
        "error: a case needs a symptom onset date or a specimen date (onset_on)"
    )
    unknown = chaincut("cases", "show", "C404")
    assert (unknown.exit_code, unknown.stderr.strip()) == (1, "error: no such case (ref)")

    cases_file = write_csv(
        tmp_path / "cases.csv", "ref,person,classification,specimen_on", f"C3,p-cy,unlinked,{onset}"
    )
    imported = chaincut("import", "cases", cases_file, "--quiet")
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout == "cases: read 1, stored 1\n"
    bad = write_csv(tmp_path / "bad.csv", "ref,person,classification", "C4,p-cy,local")
    refused = chaincut("import", "cases", bad, "--quiet")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"error: {bad}: line 2, onset_on: a case needs a symptom onset date or a specimen date; "
        "nothing was stored"
    )

    listed = json.loads(chaincut("cases", "list", "--json").stdout)
    assert listed["count"] == 3
    assert sorted(c["ref"] for c in listed["data"]) == ["C1", "C2", "C3"]
    assert "3 cases" in chaincut("cases", "list").stdout

    isolated = chaincut("cases", "isolate", "C1", "--at", f"{zone_today.isoformat()}T00:00+08:00", "--json")
    assert isolated.exit_code == 0, isolated.stderr
    assert json.loads(isolated.stdout)["window"]["ongoing"] is False
