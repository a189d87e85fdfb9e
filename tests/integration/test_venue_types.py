"""Venue types the policy lacks: refused one way everywhere, and a store holding them does not start.

Before, such a venue's visits were dropped by tracing without a word, never closed by the
maintenance job, given 2 hours at check-in and 7,200 s at import. Now the policy's one
rule (``Policy.venue_rule``) refuses the type by name wherever its rule is needed, and
start-up refuses a store holding any such type, listing each. Both backends.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaincut.bootstrap import Services, bootstrap
from chaincut.cli.app import app
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import Venue, Visit, VisitSource
from chaincut.domain.ids import new_public_id
from chaincut.errors import BatchRejected, ImportRejected, InvalidInput, PolicyError, UnknownVenueType
from chaincut.people import PersonDraft
from chaincut.policy import default_policy_text
from chaincut.settings import Settings
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from chaincut.whereabouts.importing import ImportOptions, import_venues, import_visits
from chaincut.whereabouts.uploads import UploadedVisit, upload_history


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


def test_closing_stale_visits_names_the_unknown_type(
    services: Services, karaoke: Venue, clock: FixedClock
) -> None:
    add_visit(services, "P1", karaoke, clock.now() - timedelta(hours=30), None)  # never checked out
    with pytest.raises(UnknownVenueType, match="'karaoke'"):
        services.checkins.close_stale_visits()  # before: 0, and the visit open for ever


def test_tracing_names_the_unknown_type_instead_of_dropping_its_visits(
    services: Services, karaoke: Venue, clock: FixedClock
) -> None:
    now = clock.now()
    add_visit(services, "P1", karaoke, now - timedelta(hours=20), now - timedelta(hours=18))
    add_visit(services, "P2", karaoke, now - timedelta(hours=19), now - timedelta(hours=17))
    services.cases.register(
        CaseDraft("C1", "P1", "local", onset_on=date(2026, 11, 19), isolated_at=now - timedelta(hours=1)),
        actor="tester",
    )
    with pytest.raises(UnknownVenueType, match="'karaoke'"):
        services.tracing.trace_case("C1")  # before: no contacts, P2 silently left out


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
