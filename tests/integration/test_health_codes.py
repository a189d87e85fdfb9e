"""Health codes kept up to date from the facts, on every storage backend.

The fixed clock starts at 2026-11-20T04:00Z (noon in Hong Kong); rules and durations
come from the shipped policy (close contact red for 14 days from the last exposure,
arrival and risky visits amber for 21 days, negative tests lift amber for 72 hours,
discharged red for 14 days).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.cli import app as cli_app
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import CaseStatus, Visit, VisitSource
from chaincut.domain.access import Role
from chaincut.errors import InvalidInput, NotFound
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.store import VISIT_SCHEMA
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from support.auth import assign, resident_headers, staff_headers


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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


def outbreak(services: Services) -> Services:
    """A restaurant R1: the case P1 11:00-12:00 UTC on 11-18; P2 overlaps (exposed), P3 in the
    archive overlaps, P4 lives with P1 (close), P6 came the same day hours later (risky visit)."""
    for ref in ("P1", "P2", "P3", "P4", "P5", "P6"):
        household = "H1" if ref in ("P1", "P4") else None
        services.people.register(PersonDraft(ref, household=household))
    services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="R1"))
    add_visit(services, "P1", "R1", "2026-11-18T11:00", "2026-11-18T12:00")
    add_visit(services, "P2", "R1", "2026-11-18T11:30", "2026-11-18T13:00")
    bulk_visits(
        services,
        [
            ("P3", "R1", "2026-11-18T11:10", "2026-11-18T11:50"),
            ("P6", "R1", "2026-11-18T14:00", "2026-11-18T15:00"),  # same local day, no overlap
        ],
    )
    return services


def register_case(services: Services, status: str = "confirmed") -> None:
    services.cases.register(
        CaseDraft(
            "C1",
            "P1",
            "local",
            status=status,
            onset_on=date(2026, 11, 18),
            isolated_at=utc("2026-11-19T10:00"),
        ),
        actor="tester",
    )


def colours(services: Services, *refs: str) -> dict[str, str]:
    return {ref: services.codes.current(ref).colour for ref in refs}


def stored_colours(services: Services, *refs: str) -> dict[str, str | None]:
    """What the store holds now, without recomputing."""
    with services.store.read() as uow:
        ids = {ref: uow.people.id_for_ref(ref) for ref in refs}
        stored = uow.health_codes.current([i for i in ids.values() if i is not None])
    return {ref: (stored[i].colour if i in stored else None) for ref, i in ids.items()}


def test_a_confirmed_case_turns_its_contacts_red_by_itself(services: Services) -> None:
    outbreak(services)
    register_case(services)
    # Stored at registration, before anyone reads them.
    assert stored_colours(services, "P1", "P2", "P3", "P4", "P6") == {
        "P1": "red",  # the case
        "P2": "amber",  # exposed at the restaurant
        "P3": "amber",  # exposed, from the archive
        "P4": "red",  # household: close contact
        "P6": "amber",  # same day at the restaurant, no overlap: a risky visit
    }
    assert stored_colours(services, "P5") == {"P5": None}
    case = services.codes.current("P1")
    assert [r.rule for r in case.reasons] == ["confirmed_case"]
    assert case.reasons[0].text == "confirmed case C1" and case.until is None
    household = services.codes.current("P4")
    assert household.reasons[0].text == "close contact (household of case C1)"
    # 14 days from the last exposure: the case's isolation closed its window.
    assert household.until == utc("2026-11-19T10:00") + timedelta(days=14)
    exposed = services.codes.current("P2").reasons
    assert [r.text for r in exposed] == ["exposed contact (visit to venue R1 with case C1)"]
    assert exposed[0].venue_ref == "R1" and exposed[0].case_ref == "C1"
    risky = services.codes.current("P6").reasons
    assert risky[0].rule == "risky_visit" and risky[0].venue_ref == "R1"
    assert services.codes.current("P5").colour == "green"


def test_a_suspected_case_changes_nothing_until_confirmed(services: Services, clock: FixedClock) -> None:
    outbreak(services)
    register_case(services, status="suspected")
    assert colours(services, "P1", "P2", "P4") == {"P1": "green", "P2": "green", "P4": "green"}
    services.cases.set_status("C1", CaseStatus.CONFIRMED, "supervisor")
    assert stored_colours(services, "P1", "P2", "P4") == {"P1": "red", "P2": "amber", "P4": "red"}
    # Back to suspected (a false positive): exposures go, codes follow.
    services.cases.set_status("C1", CaseStatus.SUSPECTED, "supervisor")
    assert stored_colours(services, "P1", "P2", "P4") == {"P1": "green", "P2": "green", "P4": "green"}
    history, count = services.codes.history("P4")
    assert [h.code.colour for h in history] == ["green", "red", "green"]
    assert count == 3


def test_a_negative_test_lifts_amber_for_72_hours(services: Services, clock: FixedClock) -> None:
    outbreak(services)
    register_case(services)
    code = services.codes.record_test("P2", clock.now() - timedelta(hours=1), "pcr", "negative", "tracer")
    assert code.colour == "green"
    # The lift ends 72 hours after the test; the exposure holds for 21 days: amber again then.
    assert code.until == clock.now() - timedelta(hours=1) + timedelta(hours=72)
    clock.advance(timedelta(hours=72))
    assert services.codes.current("P2").colour == "amber"
    # A negative test does not lift red (close contacts are not lifted by the policy).
    services.codes.record_test("P4", clock.now(), "pcr", "negative", "tracer")
    assert services.codes.current("P4").colour == "red"
    # A test taken before the exposure lifts nothing.
    services.codes.record_test("P3", utc("2026-11-17T00:00"), "rat", "negative", "tracer")
    assert services.codes.current("P3").colour == "amber"
    assert services.codes.last_negative_test_at("P4") == clock.now()
    assert services.codes.last_negative_test_at("P5") is None


def test_discharge_then_green_after_14_days(services: Services, clock: FixedClock) -> None:
    outbreak(services)
    register_case(services)
    services.cases.set_discharge("C1", clock.now(), "tracer")
    code = services.codes.current("P1")
    assert code.colour == "red"
    assert [r.rule for r in code.reasons] == ["recently_discharged"]
    assert code.until == clock.now() + timedelta(days=14)
    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    assert services.codes.current("P1").colour == "red"
    clock.advance(timedelta(seconds=1))
    # Expired on read: the stored code said until now; reading recomputes it.
    assert stored_colours(services, "P1") == {"P1": "red"}
    assert services.codes.current("P1").colour == "green"
    assert stored_colours(services, "P1") == {"P1": "green"}
    with pytest.raises(InvalidInput) as info:
        services.cases.set_discharge("C1", clock.now() + timedelta(hours=1), "tracer")
    assert info.value.field == "discharged_at"


def test_arrivals_are_amber_for_21_days_and_vaccination_is_off(services: Services, clock: FixedClock) -> None:
    services.people.register(PersonDraft("A1"))
    code = services.codes.record_arrival("A1", clock.now() - timedelta(days=1), "GB", "border-desk")
    assert code.colour == "amber"
    assert code.reasons[0].text == "arrived from GB"
    assert code.until == clock.now() + timedelta(days=20)
    services.codes.record_vaccination("A1", date(2026, 1, 5), "Comirnaty", "tracer")
    clock.advance(timedelta(days=20))
    assert services.codes.current("A1").colour == "green"
    with pytest.raises(InvalidInput) as info:
        services.codes.record_arrival("A1", clock.now() + timedelta(minutes=5), "GB", "desk")
    assert info.value.field == "arrived_at"
    with pytest.raises(InvalidInput) as info:
        services.codes.record_vaccination("A1", date(2027, 1, 1), "Comirnaty", "desk")
    assert info.value.field == "dose_on"
    with pytest.raises(NotFound):
        services.codes.record_arrival("nobody", clock.now(), "GB", "desk")


def test_a_positive_test_is_red_and_follow_ups_count(services: Services, clock: FixedClock) -> None:
    services.people.register(PersonDraft("T1"))
    code = services.codes.record_test("T1", clock.now(), "rat", "positive", "tracer")
    assert code.colour == "red" and code.reasons[0].rule == "positive_test"
    with pytest.raises(InvalidInput) as info:
        services.codes.record_test("T1", clock.now() + timedelta(hours=1), "pcr", "negative", "tracer")
    assert info.value.field == "taken_at"
    with pytest.raises(InvalidInput) as info:
        services.codes.record_test("T1", clock.now(), "pcr", "maybe", "tracer")
    assert info.value.field == "result"


def test_orders_recompute_codes(services: Services, clock: FixedClock) -> None:
    from chaincut.domain import OrderKind, OrderStatus

    services.people.register(PersonDraft("Q1"))
    issued = services.orders.issue_by_ref(
        "Q1",
        tier=None,
        kind=OrderKind.QUARANTINE,
        last_exposure_at=clock.now(),
        case_ref=None,
        actor="tracer",
    )
    assert stored_colours(services, "Q1") == {"Q1": "red"}
    code = services.codes.current("Q1")
    assert code.reasons[0].rule == "quarantine"
    services.orders.change_status(
        issued.entry.order.public_id, OrderStatus.RELEASED, "supervisor", "tested negative"
    )
    assert stored_colours(services, "Q1") == {"Q1": "green"}


def test_overrides_are_shown_and_cleared(services: Services, clock: FixedClock) -> None:
    outbreak(services)
    register_case(services)
    code = services.codes.set_override("P4", "green", "cleared by the outbreak team", None, "supervisor")
    assert code.colour == "green" and code.overridden
    assert code.reasons[0].rule == "manual_override"
    assert code.reasons[0].text == "manual override by a supervisor: cleared by the outbreak team"
    assert [r.rule for r in code.reasons[1:]] == ["close_contact"]  # still shown
    with pytest.raises(InvalidInput) as info:
        services.codes.set_override("P4", "purple", "a reason here", None, "supervisor")
    assert info.value.field == "colour"
    with pytest.raises(InvalidInput) as info:
        services.codes.set_override("P4", "green", "x", None, "supervisor")
    assert info.value.field == "reason"
    with pytest.raises(InvalidInput) as info:
        services.codes.set_override("P4", "green", "a reason here", clock.now(), "supervisor")
    assert info.value.field == "until"
    after = services.codes.clear_override("P4", "supervisor")
    assert after.colour == "red" and not after.overridden
    history, _ = services.codes.history("P4")
    assert [(h.code.colour, h.code.overridden, h.changed_by) for h in history[:3]] == [
        ("red", False, "supervisor"),
        ("green", True, "supervisor"),
        ("red", False, "system"),
    ]
    # An override with an end expires by itself.
    services.codes.set_override("P2", "red", "refused to test", clock.now() + timedelta(hours=2), "sup")
    assert services.codes.current("P2").until == clock.now() + timedelta(hours=2)
    clock.advance(timedelta(hours=2))
    assert services.codes.current("P2").colour == "amber"


def test_the_sweep_traces_cases_a_bulk_import_left(services: Services, clock: FixedClock) -> None:
    outbreak(services)
    with services.store.write() as uow:  # as `chaincut import cases` stores them: no tracing
        from chaincut.domain import Case, CaseClassification

        person_id = uow.people.id_for_ref("P1")
        assert person_id is not None
        uow.cases.add_many(
            [
                Case(
                    ref="C1",
                    person_id=person_id,
                    status=CaseStatus.CONFIRMED,
                    classification=CaseClassification.LOCAL,
                    onset_on=date(2026, 11, 18),
                    isolated_at=utc("2026-11-19T10:00"),
                )
            ],
            to_epoch(clock.now()),
        )
    assert stored_colours(services, "P4") == {"P4": None}
    seen: list[tuple[int, int]] = []
    services.codes.refresh(everyone=True, on_progress=lambda done, total: seen.append((done, total)))
    assert stored_colours(services, "P1", "P4", "P5") == {"P1": "red", "P4": "red", "P5": "green"}
    assert seen and seen[-1][0] == seen[-1][1] == 6


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_codes_over_http(services: Services, http: TestClient, clock: FixedClock) -> None:
    outbreak(services)
    register_case(services)
    supervisor = staff_headers(services, Role.SUPERVISOR, username="sup-1")
    tracer = staff_headers(services, Role.TRACER, username="tracer-1")
    epidemiologist = staff_headers(services, Role.EPIDEMIOLOGIST, username="epi-1")

    body = http.get("/people/P4/code", headers=supervisor).json()
    assert body["colour"] == "red" and body["overridden"] is False
    assert body["reasons"] == [
        {
            "rule": "close_contact",
            "colour": "red",
            "text": "close contact (household of case C1)",
            "until": "2026-12-03T18:00:00+08:00",
        }
    ]
    assert body["until"] == "2026-12-03T18:00:00+08:00" and body["policy_version"] == services.policy.version
    # A tracer sees a person only through a case assigned to them; contacts found by tracing count.
    assert http.get("/people/P4/code", headers=tracer).status_code == 404
    assign(services, "C1", "tracer-1")
    assert http.get("/people/P4/code", headers=tracer).json()["colour"] == "red"
    assert http.get("/people/P5/code", headers=tracer).status_code == 404  # not linked to C1
    assert http.get("/people/P4/code", headers=epidemiologist).status_code == 403
    no_purpose = {k: v for k, v in supervisor.items() if k != "X-Chaincut-Purpose"}
    assert http.get("/people/P4/code", headers=no_purpose).json()["code"] == "purpose_required"

    # Overrides: a supervisor with a reason; a tracer is refused; a bad colour or no reason is named.
    override = {"colour": "amber", "reason": "hospital confirmed a false positive household link"}
    assert http.post("/people/P4/code/override", json=override, headers=tracer).status_code == 403
    bad = http.post("/people/P4/code/override", json=override | {"colour": "purple"}, headers=supervisor)
    assert bad.status_code == 422 and bad.json()["field"] == "colour"
    missing = http.post("/people/P4/code/override", json={"colour": "amber"}, headers=supervisor)
    assert missing.status_code == 422 and "reason" in missing.text
    done = http.post("/people/P4/code/override", json=override, headers=supervisor).json()
    assert done["colour"] == "amber" and done["overridden"] is True
    assert done["reasons"][0]["rule"] == "manual_override"
    flagged = services.audit.flagged("manual_status_change")
    assert any(r.event.resource == "health_codes" and r.event.record == "P4" for r in flagged)
    cleared = http.delete("/people/P4/code/override", params={"reason": "review done"}, headers=supervisor)
    assert cleared.json()["colour"] == "red"
    history = http.get("/people/P4/code/history", headers=supervisor).json()
    assert [h["colour"] for h in history["data"]] == ["red", "amber", "red"]
    assert history["data"][1]["changed_by"] == "staff:sup-1" and history["count"] == 3

    # Facts recorded by the desk, with bad input named.
    later = (clock.now() + timedelta(hours=1)).isoformat()
    future = http.post(
        "/people/P2/tests", json={"taken_at": later, "kind": "pcr", "result": "negative"}, headers=tracer
    )
    assert future.status_code == 422 and future.json()["field"] == "taken_at"
    now = clock.now().isoformat()
    lifted = http.post(
        "/people/P2/tests", json={"taken_at": now, "kind": "pcr", "result": "negative"}, headers=tracer
    )
    assert lifted.status_code == 201 and lifted.json()["colour"] == "green"
    arrival = http.post("/people/P5/arrivals", json={"arrived_at": now, "origin": "SG"}, headers=supervisor)
    assert arrival.json()["colour"] == "amber"
    dose = http.post(
        "/people/P5/vaccinations", json={"dose_on": "2027-01-01", "product": "x"}, headers=supervisor
    )
    assert dose.status_code == 422 and dose.json()["field"] == "dose_on"

    # A resident reads only their own code, and other people's cases are withheld.
    resident = resident_headers(services, "P2")
    own = http.get("/me/code", headers=resident)
    assert own.status_code == 200 and own.json()["colour"] == "green"
    assert http.get("/people/P4/code", headers=resident).status_code == 403
    clock.advance(timedelta(hours=73))  # the negative test no longer lifts it
    reasons = http.get("/me/code", headers=resident).json()["reasons"]
    assert [r["text"] for r in reasons] == ["exposed contact (visit to venue R1 with a case)"]

    # Discharging the case over HTTP (new sign-ins: staff tokens last 12 hours).
    tracer = staff_headers(services, Role.TRACER, username="tracer-1")
    supervisor = staff_headers(services, Role.SUPERVISOR, username="sup-1")
    discharged = http.post(
        "/cases/C1/discharge", json={"discharged_at": clock.now().isoformat()}, headers=tracer
    )
    assert discharged.status_code == 200 and discharged.json()["discharged_at"] is not None
    p1 = http.get("/people/P1/code", headers=supervisor).json()
    assert [r["rule"] for r in p1["reasons"]] == ["recently_discharged"]


def test_the_data_access_report_holds_the_code_history(services: Services) -> None:
    outbreak(services)
    register_case(services)
    services.codes.record_test("P2", services.clock.now(), "rat", "negative", "tracer")
    person = services.people.get("P2")
    staff_view = services.subject_access.report(person).as_dict()
    assert [c["colour"] for c in staff_view["health_codes"]] == ["green", "amber"]
    assert staff_view["health_codes"][1]["reasons"][0]["case"] == "C1"
    assert staff_view["health_records"]["tests"][0]["result"] == "negative"
    own_view = services.subject_access.report(person, for_subject=True).as_dict()
    assert (
        own_view["health_codes"][1]["reasons"][0]["text"] == "exposed contact (visit to venue R1 with a case)"
    )
    assert "C1" not in json.dumps(own_view["health_codes"])


def test_codes_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development"}
    assert runner.invoke(cli_app, ["db", "upgrade"], env=env).exit_code == 0
    wired = bootstrap(Settings(data_dir=tmp_path / "data", env="development"))
    try:
        wired.people.register(PersonDraft("A1"))
        wired.codes.record_arrival("A1", wired.clock.now(), "GB", "desk")
    finally:
        wired.close()
    shown = runner.invoke(
        cli_app, ["codes", "show", "--person", "A1", "--json", "--purpose", "checking"], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["colour"] == "amber"
    refreshed = runner.invoke(cli_app, ["codes", "refresh", "--all", "--quiet"], env=env)
    assert refreshed.exit_code == 0, refreshed.output
    assert "1 codes recomputed" in refreshed.stdout
    missing = runner.invoke(cli_app, ["codes", "show", "--person", "nobody"], env=env)
    assert missing.exit_code == 1


def test_the_server_s_maintenance_sweeps_codes_that_are_due(services: Services, clock: FixedClock) -> None:
    from chaincut.api.app import run_maintenance

    services.people.register(PersonDraft("A1"))
    services.codes.record_arrival("A1", clock.now(), "GB", "desk")
    clock.advance(timedelta(days=21))
    assert stored_colours(services, "A1") == {"A1": "amber"}  # nobody read it since
    run_maintenance(services)
    assert stored_colours(services, "A1") == {"A1": "green"}
    history, _ = services.codes.history("A1")
    assert [h.code.colour for h in history] == ["green", "amber"]


def test_a_follow_up_s_test_result_counts(services: Services, clock: FixedClock) -> None:
    from chaincut.domain import TestResult

    outbreak(services)
    register_case(services)
    assert stored_colours(services, "P2") == {"P2": "amber"}
    services.follow_ups.record("P2", date(2026, 11, 20), [], TestResult.NEGATIVE, None, "tracer")
    # Taken at the start of the follow-up's local day, after the exposure: it lifts amber.
    assert stored_colours(services, "P2") == {"P2": "green"}
    assert services.codes.last_negative_test_at("P2") == utc("2026-11-19T16:00")
    assert services.codes.last_negative_test_at("P2", kinds=("pcr",)) is None
