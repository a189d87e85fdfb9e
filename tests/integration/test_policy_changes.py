"""Changing the policy in the console (both backends): checked whole, activated only by a second
person, audited, kept in force across restarts until a new file is deployed, and followed by every
worker."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.domain import Venue
from chaincut.domain.access import Principal, PrincipalKind, Role
from chaincut.domain.audit import AuditFlag
from chaincut.domain.ids import new_public_id
from chaincut.errors import Conflict, PermissionDenied, PolicyError
from chaincut.policy import default_policy_text, parse_policy
from chaincut.settings import Settings
from support.auth import PASSWORD
from support.outbreak import tracers_outbreak
from support.policy_edits import edited_policy

ADMIN = Principal.system("tests")


SHORTER = edited_policy(
    ('version = "2026.11-default"', 'version = "2026.12-short"'),
    ("quarantine_days = 14", "quarantine_days = 7"),
)


@pytest.fixture
def staff(services: Services) -> dict[str, Principal]:
    made = {
        "pat": services.accounts.add("pat", PASSWORD, frozenset({Role.POLICY_EDITOR}), ADMIN),
        "sam": services.accounts.add("sam", PASSWORD, frozenset({Role.SUPERVISOR}), ADMIN),
        "sue": services.accounts.add(
            "sue", PASSWORD, frozenset({Role.SUPERVISOR, Role.POLICY_EDITOR}), ADMIN
        ),
        "tess": services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), ADMIN),
    }
    return {
        name: Principal(PrincipalKind.STAFF, f"staff:{name}", staff_id=account.id, roles=account.roles)
        for name, account in made.items()
    }


@pytest.fixture(autouse=True)
def started(services: Services) -> None:
    """A server started on the store: its policy file (the shipped default) is in force."""
    services.policy_changes.settle(default_policy_text(), services.policy, source="the shipped default")


def _activations(services: Services) -> list[dict[str, object]]:
    with services.store.read() as uow:
        return [
            {"actor": r.event.actor, "flags": r.event.flags, **r.event.details}
            for r in uow.audit.find()
            if r.event.action == "policy.activate"
        ]


def test_the_first_start_records_the_file_in_force(services: Services) -> None:
    record = services.policy_changes.in_force()
    assert record is not None and record.source == "file" and record.status == "active"
    assert record.digest == services.policy.digest and record.text == default_policy_text()
    assert [a["digest"] for a in _activations(services)] == [services.policy.digest]


def test_a_bad_upload_names_every_problem_at_its_key_path_and_keeps_nothing(
    services: Services, staff: dict[str, Principal]
) -> None:
    bad = edited_policy(
        ("quarantine_days = 14", "quarantine_days = 0"),
        ("cumulative_minutes = 15", 'cumulative_minutes = "x"'),
    )
    with pytest.raises(PolicyError) as caught:
        services.policy_changes.upload(staff["pat"], bad)
    paths = {p.split(": ", 1)[0] for p in caught.value.problems}
    assert {"orders.quarantine_days", "encounters.cumulative_minutes"} <= paths
    with pytest.raises(PolicyError) as not_toml:
        services.policy_changes.upload(staff["pat"], "[orders\nquarantine_days = 7")
    assert not_toml.value.problems[0].startswith("(file): ")
    assert [v.source for v in services.policy_changes.versions()] == ["file"]


def test_a_version_lacking_a_venue_type_in_use_is_refused_at_its_key(
    services: Services, staff: dict[str, Principal]
) -> None:
    with services.store.write() as uow:
        uow.venues.add_many([Venue("v-1", new_public_id(), "taxi", "Taxi HK1234", "的士")], 0)
    start = default_policy_text().index("[venue_types.taxi]")
    end = default_policy_text().index("[venue_types.residential_building]")
    text = default_policy_text()[:start] + default_policy_text()[end:]
    with pytest.raises(PolicyError) as caught:
        services.policy_changes.upload(staff["pat"], text)
    assert caught.value.problems == ["venue_types.taxi: missing; the store holds 1 venue(s) of this type"]


def test_activation_needs_a_second_person_and_is_audited(
    services: Services, staff: dict[str, Principal]
) -> None:
    changes = services.policy_changes
    with pytest.raises(PermissionDenied):
        changes.upload(staff["tess"], SHORTER)
    draft = changes.upload(staff["sue"], SHORTER)
    assert (draft.status, draft.source, draft.uploaded_by) == ("draft", "console", "staff:sue")
    with pytest.raises(Conflict):
        changes.upload(staff["pat"], default_policy_text())  # the policy in force already
    with pytest.raises(Conflict):
        changes.decide(staff["sam"], draft.id, approve=True, reason="not asked yet")
    with pytest.raises(PermissionDenied):
        changes.request(staff["sam"], draft.id, "a supervisor is no policy editor")
    changes.request(staff["pat"], draft.id, "cut quarantine to 7 days")
    for own in ("sue", "pat"):  # who uploaded it, who asked: neither decides
        with pytest.raises(PermissionDenied):
            changes.decide(staff[own], draft.id, approve=True, reason="looks right to me")
    assert changes.in_force().digest == services.policy.digest  # type: ignore[union-attr]

    policy = changes.decide(staff["sam"], draft.id, approve=True, reason="agreed with the panel")
    assert policy is not None and policy.orders.quarantine_days == 7
    in_force = changes.in_force()
    assert in_force is not None and in_force.id == draft.id and in_force.decided_by == "staff:sam"
    assert [v.status for v in changes.versions()] == ["active", "superseded"]
    with pytest.raises(Conflict):
        changes.decide(staff["sam"], draft.id, approve=False, reason="changed my mind")
    last = _activations(services)[-1]
    assert last == {
        "actor": "staff:sam",
        "flags": (AuditFlag.POLICY_CHANGE,),
        "version": "2026.12-short",
        "digest": policy.digest,
        "previous": "2026.11-default",
        "uploaded_by": "staff:sue",
        "requested_by": "staff:pat",
        "policy_version_id": draft.id,
    }


def test_a_refused_or_withdrawn_version_changes_nothing(
    services: Services, staff: dict[str, Principal]
) -> None:
    changes = services.policy_changes
    refused = changes.upload(staff["pat"], SHORTER)
    changes.request(staff["pat"], refused.id, "cut quarantine to 7 days")
    assert changes.decide(staff["sam"], refused.id, approve=False, reason="not before the peak") is None
    withdrawn = changes.upload(staff["pat"], SHORTER)
    changes.withdraw(staff["pat"], withdrawn.id)
    with pytest.raises(Conflict):
        changes.request(staff["pat"], withdrawn.id, "too late for this one")
    assert [v.status for v in changes.versions()] == ["withdrawn", "rejected", "active"]
    assert changes.in_force().source == "file"  # type: ignore[union-attr]
    assert len(_activations(services)) == 1


def _activate(services: Services, staff: dict[str, Principal], text: str) -> None:
    draft = services.policy_changes.upload(staff["pat"], text)
    services.policy_changes.request(staff["pat"], draft.id, "as the panel advised")
    services.policy_changes.decide(staff["sam"], draft.id, approve=True, reason="agreed with the panel")


def test_a_restart_keeps_the_console_version_until_a_new_file_is_deployed(
    services: Services, staff: dict[str, Principal], settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    _activate(services, staff, SHORTER)
    again = bootstrap(settings, clock=clock, settle=True)
    try:
        assert again.policy.version == "2026.12-short" and again.policy.orders.quarantine_days == 7
        assert len(_activations(again)) == 2  # the restart recorded no new activation
    finally:
        again.close()

    deployed = tmp_path / "deployed.toml"
    deployed.write_text(
        edited_policy(('version = "2026.11-default"', 'version = "2027.01-file"')), encoding="utf-8"
    )
    elsewhere = settings.model_copy(update={"policy_file": deployed})
    command = bootstrap(elsewhere, clock=clock)  # a command never changes the policy in force
    try:
        assert command.policy.version == "2026.12-short"
        assert command.policy_changes.in_force().version == "2026.12-short"  # type: ignore[union-attr]
    finally:
        command.close()
    moved = bootstrap(elsewhere, clock=clock, settle=True)
    try:
        assert moved.policy.version == "2027.01-file"
        record = moved.policy_changes.in_force()
        assert record is not None and record.source == "file"
        assert _activations(moved)[-1]["version"] == "2027.01-file"
    finally:
        moved.close()


def test_a_stored_version_that_no_longer_passes_says_to_deploy_a_file(
    services: Services, settings: Settings, clock: FixedClock
) -> None:
    with services.store.write() as uow:
        broken = uow.policy_versions.add(
            version="old", digest="0" * 16, text="[policy]\n", source="console", uploaded_by="pat", at=0
        )
        uow.policy_versions.activate(broken.id, at=1)
    with pytest.raises(PolicyError) as caught:
        bootstrap(settings, clock=clock)
    assert "Deploy a corrected policy file" in caught.value.message
    assert caught.value.problems


def test_every_worker_follows_an_activation(
    services: Services, staff: dict[str, Principal], settings: Settings, clock: FixedClock
) -> None:
    other = bootstrap(settings, clock=clock)  # a second server worker on the same store
    try:
        worker = SimpleNamespace(services=other)
        assert other.policy_follower.follow(worker) is other  # nothing changed
        _activate(services, staff, SHORTER)
        assert other.policy_follower.follow(worker) is other  # not due: polled a moment ago
        other.policy_follower._next_poll = float("-inf")  # POLICY_POLL_SECONDS later
        followed = other.policy_follower.follow(worker)
        assert worker.services is followed and followed is not other
        assert followed.policy.orders.quarantine_days == 7
        assert followed.tracing.policy is followed.policy and followed.principals is other.principals
    finally:
        other.close()


def test_the_sample_of_cases_is_the_latest_registered(services: Services) -> None:
    assert services.policy_changes.latest_case_refs(5) == []
    tracers_outbreak(services)  # cases A, B, C, D registered in that order
    assert services.policy_changes.latest_case_refs(3) == ["D", "C", "B"]


def test_a_refused_start_writes_nothing(
    services: Services, settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    with services.store.write() as uow:
        uow.venues.add_many([Venue("v-1", new_public_id(), "taxi", "Taxi HK1234", "的士")], 0)
    text = default_policy_text()
    without_taxis = (
        text[: text.index("[venue_types.taxi]")] + text[text.index("[venue_types.residential_building]") :]
    )
    deployed = tmp_path / "no-taxis.toml"
    deployed.write_text(without_taxis, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        bootstrap(settings.model_copy(update={"policy_file": deployed}), clock=clock, settle=True)
    assert caught.value.problems == ["venue_types.taxi: missing; the store holds 1 venue(s) of this type"]
    assert [v.source for v in services.policy_changes.versions()] == ["file"]
    assert services.policy_changes.in_force_digest() == services.policy.digest
    assert len(_activations(services)) == 1


def test_servers_starting_together_record_a_new_file_once(services: Services) -> None:
    text = edited_policy(('version = "2026.11-default"', 'version = "2027.02-together"'))
    policy = parse_policy(text)
    with ThreadPoolExecutor(4) as starting:
        settled = list(
            starting.map(
                lambda _: services.policy_changes.settle(text, policy, source="f.toml").version, range(4)
            )
        )
    assert settled == ["2027.02-together"] * 4
    versions = services.policy_changes.versions()
    assert [(v.version, v.status) for v in versions] == [
        ("2027.02-together", "active"),
        ("2026.11-default", "superseded"),
    ]
    assert [a["version"] for a in _activations(services)] == ["2026.11-default", "2027.02-together"]


def test_a_version_too_long_for_the_records_naming_it_is_refused(
    services: Services, staff: dict[str, Principal]
) -> None:
    with pytest.raises(PolicyError) as caught:
        services.policy_changes.upload(
            staff["pat"], edited_policy(('"2026.11-default"', '"' + "v" * 65 + '"'))
        )
    assert caught.value.problems == ["policy.version: expected 1 to 64 printable characters, got 65"]
