"""Venue types the policy lacks: refused one way everywhere, and a store holding them does not start.

Before, such a venue's visits were dropped by tracing without a word, never closed by the
maintenance job, given 2 hours at check-in and 7,200 s at import. Now the policy's one
rule (``Policy.venue_rule``) refuses the type by name wherever its rule is needed, and
start-up refuses a store holding any such type, listing each. A type that gets in while
servers run (another process under a newer policy) refuses only what meets it: a trace
meeting one of its visits, a check-in there (naming the request's field); closing stale
visits leaves its open visits open and reports them, and every other trace, the health
codes and the maintenance job go on. Both backends.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.api.app import run_maintenance
from chaincut.bootstrap import Services, bootstrap
from chaincut.cli.app import app
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import Venue, Visit, VisitSource
from chaincut.domain.ids import new_public_id
from chaincut.errors import BatchRejected, ImportRejected, InvalidInput, PolicyError, UnknownVenueType
from chaincut.people import PersonDraft
from chaincut.policy import default_policy_text
from chaincut.settings import Settings
from chaincut.tracing.case_import import import_cases
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from chaincut.whereabouts.importing import ImportOptions, import_venues, import_visits
from chaincut.whereabouts.uploads import UploadedVisit, upload_history
from support.auth import resident_headers


def extra_type(name: str) -> str:
    """A venue type section a wider (or older) policy file might have held."""
    return f"""
[venue_types.{name}]
label_en = "{name.title()}"
label_zh = "場所"
default_stay_minutes = 120   # test
max_stay_minutes = 240       # test
[venue_types.{name}.contact]
# test
min_overlap_minutes = 15
after_leave_minutes = 0
tier = "exposed"
"""


def wider_policy(tmp_path: Path) -> Path:
    path = tmp_path / "wider.toml"
    path.write_text(default_policy_text() + extra_type("karaoke") + extra_type("arcade"), encoding="utf-8")
    return path


def test_a_store_holding_types_the_policy_lacks_refuses_to_start(
    services: Services, settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    # Venues registered by a server under a policy that had two more types.
    wider = settings.model_copy(update={"policy_file": wider_policy(tmp_path)})
    other = bootstrap(wider, clock=clock)
    try:
        for ref, kind in (("K1", "karaoke"), ("K2", "karaoke"), ("A1", "arcade"), ("R1", "restaurant")):
            other.venues.register(VenueDraft(kind, f"Venue {ref}", "場所", ref=ref))
    finally:
        other.close()

    with pytest.raises(PolicyError) as caught:
        bootstrap(settings, clock=clock)  # the shipped policy has neither
    assert "2 type(s) the policy lacks: arcade, karaoke" in caught.value.message
    assert caught.value.problems == [
        "venue_types.arcade: missing; the store holds 1 venue(s) of this type",
        "venue_types.karaoke: missing; the store holds 2 venue(s) of this type",
    ]
    # Under a policy that has them the same store serves again.
    again = bootstrap(wider, clock=clock)
    again.close()


def test_a_command_refuses_such_a_store_and_lists_the_types(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development"}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    venues = tmp_path / "venues.csv"
    venues.write_text(
        "ref,type,name_en,name_zh\nK1,karaoke,Star Karaoke,星光\nA1,arcade,Game Zone,遊戲\n", encoding="utf-8"
    )
    wider = env | {"CHAINCUT_POLICY_FILE": str(wider_policy(tmp_path))}
    imported = runner.invoke(app, ["import", "venues", str(venues), "--quiet"], env=wider)
    assert imported.exit_code == 0, imported.stderr

    refused = runner.invoke(app, ["status", "--json"], env=env)
    assert refused.exit_code == 1
    assert "the policy lacks: arcade, karaoke" in refused.stderr
    assert runner.invoke(app, ["status", "--json"], env=wider).exit_code == 0


# --- a type that got in behind the start-up check (another server, another policy) -------------


@pytest.fixture
def karaoke(services: Services) -> Venue:
    """A karaoke venue in the store, as another process under another policy would have registered it."""
    services.people.register(PersonDraft("P1"))
    services.people.register(PersonDraft("P2"))
    services.venues.register(VenueDraft("restaurant", "Tai Hing", "太興", ref="R1"))
    with services.store.write() as uow:
        venue = Venue(
            ref="K1", public_id=new_public_id(), venue_type="karaoke", name_en="Star Karaoke", name_zh="星光"
        )
        uow.venues.add(venue, to_epoch(services.clock.now()))
        stored = uow.venues.get_by_ref("K1")
    assert stored is not None
    return stored


def add_visit(
    services: Services, person: str, venue: Venue, entered: datetime, left: datetime | None
) -> None:
    with services.store.write() as uow:
        person_id = uow.people.id_for_ref(person)
        assert person_id is not None and venue.id is not None
        uow.visits.add(
            Visit(person_id, venue.id, entered, left, VisitSource.QR, client_id=f"{person}-{entered:%H%M}")
        )


def test_check_in_at_a_venue_of_an_unknown_type_is_refused_naming_it(
    services: Services, karaoke: Venue
) -> None:
    with pytest.raises(UnknownVenueType) as caught:
        services.checkins.check_in(CheckInRequest("P1", "k-1", token=services.venues.token(karaoke)))
    assert caught.value.venue_type == "karaoke"
    assert caught.value.code == "unknown_venue_type"
    assert "'karaoke'" in caught.value.message
    assert services.store.counts().visits == 0  # nothing written


def test_closing_stale_visits_closes_the_rest_and_reports_what_it_left_open(
    services: Services, karaoke: Venue, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, one such type made the whole step raise, so no visit anywhere was closed."""
    now = clock.now()
    restaurant = services.venues.get("R1")
    add_visit(services, "P1", karaoke, now - timedelta(hours=30), None)  # never checked out
    add_visit(services, "P2", karaoke, now - timedelta(hours=50), now - timedelta(hours=49))  # closed
    add_visit(services, "P2", restaurant, now - timedelta(hours=30), None)
    with caplog.at_level(logging.WARNING, logger="chaincut.whereabouts.checkin"):
        done = services.checkins.close_stale_visits()
    assert (done.closed, dict(done.left_open)) == (1, {"karaoke": 1})
    assert "'karaoke'" in done.reasons["karaoke"] and "no such type" in done.reasons["karaoke"]
    assert done.describe().startswith("closed 1 stale visit(s) (check-out inferred); left open: 1 at venues")
    [warning] = [r.getMessage() for r in caplog.records if "left open" in r.getMessage()]
    assert "1 open visit(s) at venues of type 'karaoke' left open: unknown venue type 'karaoke'" in warning
    with services.store.read() as uow:
        p1, p2 = uow.people.id_for_ref("P1"), uow.people.id_for_ref("P2")
        assert p1 is not None and p2 is not None
        assert [v.venue_id for v in uow.visits.open_visits_of(p1)] == [karaoke.id]  # no stay guessed
        assert uow.visits.open_visits_of(p2) == []
        closed = uow.visits.of_person(p2, 0, to_epoch(now))
    restaurant_visit = next(v for v in closed if v.venue_id == restaurant.id)
    assert restaurant_visit.left_at == now - timedelta(hours=30) + timedelta(minutes=90)  # its default stay
    assert restaurant_visit.left_inferred


def test_maintenance_runs_every_step_with_such_a_type_in_the_store(
    services: Services, karaoke: Venue, clock: FixedClock
) -> None:
    add_visit(services, "P1", karaoke, clock.now() - timedelta(hours=30), None)
    assert run_maintenance(services) == []  # no step failed; before: it stopped at the first


def register(services: Services, ref: str, person: str) -> None:
    isolated = services.clock.now() - timedelta(hours=1)
    services.cases.register(
        CaseDraft(ref, person, "local", onset_on=date(2026, 11, 19), isolated_at=isolated), actor="tester"
    )


@pytest.fixture
def outbreaks(services: Services, karaoke: Venue) -> Services:
    """P1 sang at K1 beside P2 (case C1's venue); P3 dined at R1 beside P4 and lives with P6 (C2's);
    P3 had sung at K1 days before C2's window; P5 entered K1 before C3's window and never left."""
    for ref, household in (("P3", "H9"), ("P4", None), ("P5", None), ("P6", "H9")):
        services.people.register(PersonDraft(ref, household=household))
    restaurant = services.venues.get("R1")
    now = services.clock.now()
    add_visit(services, "P1", karaoke, now - timedelta(hours=20), now - timedelta(hours=18))
    add_visit(services, "P2", karaoke, now - timedelta(hours=19), now - timedelta(hours=17))
    add_visit(services, "P3", karaoke, now - timedelta(days=9), now - timedelta(days=9) + timedelta(hours=2))
    add_visit(services, "P3", restaurant, now - timedelta(hours=20), now - timedelta(hours=19))
    add_visit(services, "P4", restaurant, now - timedelta(hours=20), now - timedelta(hours=19))
    add_visit(services, "P5", karaoke, now - timedelta(days=6), None)
    return services


def test_only_a_trace_that_meets_a_venue_of_an_unknown_type_is_refused(outbreaks: Services) -> None:
    """Before, one such venue in the store made every trace raise; before that, its visits were dropped."""
    for ref, person in (("C1", "P1"), ("C2", "P3"), ("C3", "P5")):
        register(outbreaks, ref, person)
    with pytest.raises(UnknownVenueType) as caught:
        outbreaks.tracing.trace_case("C1")  # P2 is not silently left out
    assert caught.value.venue_type == "karaoke" and caught.value.code == "unknown_venue_type"
    assert "this trace meets visits at a venue of that type" in caught.value.message
    with pytest.raises(UnknownVenueType, match="'karaoke'"):
        outbreaks.tracing.trace_case("C3")  # an open stay from before the window: no stay is guessed
    traced = outbreaks.tracing.trace_case("C2")  # an unrelated case (its K1 stay long before its window)
    refs = traced.refs(c.person_id for c in traced.contacts)
    assert {refs[c.person_id]: c.tier.value for c in traced.contacts} == {"P4": "exposed", "P6": "close"}


def test_an_unrelated_case_s_contacts_get_their_codes_when_it_is_registered(outbreaks: Services) -> None:
    """Before, the trace behind the codes raised, so C2's contacts stayed green."""
    register(outbreaks, "C1", "P1")
    register(outbreaks, "C2", "P3")
    colours = {ref: outbreaks.codes.current(ref).colour for ref in ("P2", "P4", "P6")}
    assert colours == {"P2": "green", "P4": "amber", "P6": "red"}  # P2: C1's trace was refused, not guessed
    assert outbreaks.codes.untraced_cases() == ["C1"]  # the next sweep retries it


def test_the_health_code_sweep_traces_the_cases_it_can(
    outbreaks: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Cases a bulk import left untraced: before, the first refused trace stopped the whole sweep."""
    path = tmp_path / "cases.csv"
    path.write_text(
        "ref,person,classification,onset_on\nC1,P1,local,2026-11-19\nC2,P3,local,2026-11-19\n",
        encoding="utf-8",
    )
    import_cases(
        outbreaks.store,
        outbreaks.policy,
        outbreaks.clock,
        outbreaks.settings.zone,
        path,
        ImportOptions(),
        actor="tester",
    )
    assert outbreaks.codes.untraced_cases() == ["C1", "C2"]
    with caplog.at_level(logging.WARNING, logger="chaincut.codes"):
        outbreaks.codes.refresh()
    assert outbreaks.codes.untraced_cases() == ["C1"]
    assert {ref: outbreaks.codes.current(ref).colour for ref in ("P4", "P6")} == {"P4": "amber", "P6": "red"}
    [warning] = [r.getMessage() for r in caplog.records if "not traced" in r.getMessage()]
    assert warning.startswith("case C1: not traced for health codes") and "'karaoke'" in warning


def test_a_check_in_or_out_at_a_venue_of_an_unknown_type_names_the_request_s_field(
    services: Services, karaoke: Venue, clock: FixedClock
) -> None:
    """Before, the refusal named ``venue_type``, which no check-in request has."""
    with services.store.write() as uow:
        minibus = Venue(
            ref="M1",
            public_id=new_public_id(),
            venue_type="minibus",
            name_en="Minibus",
            name_zh="小巴",
            plate="LM1234",
        )
        uow.venues.add(minibus, to_epoch(clock.now()))
    add_visit(services, "P1", karaoke, clock.now() - timedelta(hours=1), None)
    resident = resident_headers(services, "P1")
    with TestClient(
        create_app(services, schedule_maintenance=False), raise_server_exceptions=False
    ) as client:
        by_token = client.post(
            "/checkins", json={"client_id": "k-1", "token": services.venues.token(karaoke)}, headers=resident
        )
        by_plate = client.post("/checkins", json={"client_id": "m-1", "plate": "LM1234"}, headers=resident)
        out = client.post(
            f"/checkins/P1-{clock.now() - timedelta(hours=1):%H%M}/checkout", json={}, headers=resident
        )
    for response, field, venue_type in (
        (by_token, "token", "karaoke"),
        (by_plate, "plate", "minibus"),
        (out, "client_id", "karaoke"),
    ):
        assert response.status_code == 422, response.text
        body = response.json()
        assert (body["code"], body["field"]) == ("unknown_venue_type", field)
        assert f"'{venue_type}'" in body["message"]
    assert services.store.counts().visits == 1  # only the karaoke visit added above, still open


def test_importing_visits_at_a_venue_of_an_unknown_type_names_the_type(
    services: Services, karaoke: Venue, clock: FixedClock, tmp_path: Path
) -> None:
    entered = (clock.now() - timedelta(hours=5)).isoformat()
    path = tmp_path / "visits.csv"
    path.write_text(f"person,venue,entered_at\nP1,R1,{entered}\nP2,K1,{entered}\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        import_visits(services.store, services.policy, services.clock, path, ImportOptions())
    [error] = caught.value.errors
    assert (error.line, error.field) == (3, "venue")
    assert error.message == "the venue's type 'karaoke' is not in the policy's venue_types"
    assert services.store.counts().visits == 0


def test_uploading_a_visit_at_a_venue_of_an_unknown_type_names_the_type(
    services: Services, karaoke: Venue, clock: FixedClock
) -> None:
    entered = clock.now() - timedelta(hours=5)
    with pytest.raises(BatchRejected) as caught:
        upload_history(
            services.store,
            services.policy,
            services.clock,
            services.verifier,
            "P1",
            [UploadedVisit(entered, None, token=services.venues.token(karaoke), client_id="k-1")],
        )
    [error] = caught.value.errors
    assert (error.index, error.field) == (0, "token")
    assert "'karaoke'" in error.message
    assert services.store.counts().visits == 0


def test_registering_or_importing_a_venue_of_an_unknown_type_names_the_type(
    services: Services, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.venues.register(VenueDraft("karaoke", "Star Karaoke", "星光", ref="K9"))
    assert caught.value.field == "venue_type"
    assert "'karaoke'" in caught.value.message
    path = tmp_path / "venues.csv"
    path.write_text("ref,type,name_en,name_zh\nK9,karaoke,Star Karaoke,星光\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as rejected:
        import_venues(services.store, services.policy, services.clock, path, ImportOptions())
    [error] = rejected.value.errors
    assert (error.line, error.field) == (2, "type")
    assert "'karaoke'" in error.message
