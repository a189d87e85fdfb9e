"""What the audit log records: policy changes, check-ins, command-line traces, and nothing personal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from chaincut.bootstrap import Services, bootstrap
from chaincut.cli.app import app as cli
from chaincut.clock import FixedClock
from chaincut.domain import CaseClassification, OrderStatus, Tier
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditFlag
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from support.settings import cli_env

OPERATOR = "ops-on-call"  # the staff member the command line runs as (CHAINCUT_STAFF)

NAME = "Canary Wong Tai-sin"


def test_the_policy_in_force_is_recorded_once_per_change(
    services: Services, settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    first = services.audit.flagged(AuditFlag.POLICY_CHANGE)
    assert [r.event.details["digest"] for r in first] == [services.policy.digest]
    again = bootstrap(settings, clock=clock)  # a restart under the same policy records nothing new
    again.close()
    assert len(services.audit.flagged(AuditFlag.POLICY_CHANGE)) == 1

    source = Path(__file__).resolve().parents[2] / "src" / "chaincut" / "policy" / "default.toml"
    edited = source.read_text(encoding="utf-8").replace('version = "', 'version = "edited-', 1)
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(edited, encoding="utf-8")
    changed = bootstrap(settings.model_copy(update={"policy_file": policy_file}), clock=clock)
    changed.close()
    entries = services.audit.flagged(AuditFlag.POLICY_CHANGE)
    assert len(entries) == 2
    assert entries[1].event.details["previous"] == services.policy.version
    assert str(entries[1].event.details["version"]).startswith("edited-")
    assert services.audit.verify().intact


def test_each_check_in_is_audited_in_its_own_transaction(services: Services) -> None:
    person = services.people.register(PersonDraft(ref="P1", name=NAME))
    venue = services.venues.register(VenueDraft(venue_type="restaurant", name_en="Tea", name_zh="茶"))
    token = services.venues.token(venue)
    services.checkins.check_in(
        CheckInRequest(person_ref="P1", client_id="c1", token=token, actor="resident:abc")
    )
    # A retry stores nothing new, and records nothing new.
    services.checkins.check_in(
        CheckInRequest(person_ref="P1", client_id="c1", token=token, actor="resident:abc")
    )
    entries = [r for r in services.audit.about_person("P1") if r.event.action == "checkins.create"]
    assert len(entries) == 1
    assert entries[0].event.actor == "resident:abc"
    assert entries[0].event.record == "c1"
    assert entries[0].event.subject_person_id == person.id
    assert entries[0].event.details == {"venue": venue.public_id}


def test_a_trace_on_the_command_line_names_the_operator_and_purpose(
    services: Services, settings: Settings, clock: FixedClock
) -> None:
    services.people.register(PersonDraft(ref="P1", name=NAME))
    onset = (clock.now() - timedelta(days=1)).date()
    services.cases.register(
        CaseDraft("C1", "P1", CaseClassification.LOCAL.value, onset_on=onset), actor="tests"
    )
    result = CliRunner().invoke(
        cli,
        ["trace", "--case", "C1", "--json", "--purpose", "cluster review"],
        env=cli_env(settings, OPERATOR),
    )
    assert result.exit_code == 0, result.output
    entry = [r for r in services.audit.about_person("P1") if r.event.action == "whereabouts.read"][-1]
    assert entry.event.actor == "cli:ops-on-call"
    assert entry.event.purpose == "cluster review"
    assert entry.event.record == "C1"

    report = CliRunner().invoke(
        cli, ["audit", "report", "--person", "P1", "--json"], env=cli_env(settings, OPERATOR)
    )
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    assert any(r["action"] == "whereabouts.read" and r["purpose"] == "cluster review" for r in rows)

    verified = CliRunner().invoke(cli, ["audit", "verify"], env=cli_env(settings, OPERATOR))
    assert verified.exit_code == 0 and "intact" in verified.output


def test_the_audit_log_holds_ids_never_personal_details(services: Services) -> None:
    services.people.register(PersonDraft(ref="P1", name=NAME, phone="+852 6123 4567", address="1 Canary Rd"))
    services.accounts.issue_resident_token("P1", Principal.system("tests"))
    with services.store.read() as uow:
        rows = uow.connection.execute(sa.text("SELECT * FROM audit_log")).all()
    text = " ".join(str(v) for row in rows for v in row)
    assert rows
    for value in (NAME, "6123 4567", "Canary Rd"):
        assert value not in text


def test_the_log_refuses_updates_and_deletes(services: Services) -> None:
    services.people.register(PersonDraft(ref="P1"))
    services.accounts.issue_resident_token("P1", Principal.system("tests"))
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError), services.store.write() as uow:
            uow.connection.execute(sa.text(statement))
    assert services.audit.verify().intact


def test_a_check_in_keeps_its_subject_when_the_cache_is_cleared(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = services.people.register(PersonDraft(ref="P1", name=NAME))
    venue = services.venues.register(VenueDraft(venue_type="restaurant", name_en="Tea", name_zh="茶"))
    token = services.venues.token(venue)
    checkins = services.checkins
    record_all = checkins._record_all

    def then_forget(*args: Any) -> Any:
        recorded = record_all(*args)
        checkins._person_ids.clear()  # another batch filled the bounded cache meanwhile
        return recorded

    monkeypatch.setattr(checkins, "_record_all", then_forget)
    receipt = checkins.check_in(
        CheckInRequest(person_ref="P1", client_id="c1", token=token, actor="resident:abc")
    )
    entries = [r for r in services.audit.about_person("P1") if r.event.action == "checkins.create"]
    assert [r.event.record for r in entries] == ["c1"]
    assert receipt.person_id == person.id


def _cli(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env=cli_env(settings, OPERATOR))
    assert result.exit_code == 0, result.output
    return result


def test_cli_commands_on_people_s_data_are_audited_as_the_operator(
    services: Services, settings: Settings, clock: FixedClock
) -> None:
    p1 = services.people.register(PersonDraft(ref="P1", name=NAME))
    onset = (clock.now() - timedelta(days=1)).date().isoformat()
    added = json.loads(
        _cli(
            settings, "cases", "add", "--ref", "C1", "--person", "P1", "--classification", "local",
            "--onset", onset, "--json",
        ).stdout
    )  # fmt: skip
    assert added["created_by"] == "cli:ops-on-call"
    _cli(settings, "cases", "list", "--json")
    _cli(settings, "cases", "show", "C1", "--json")
    isolated = _cli(settings, "cases", "isolate", "C1", "--at", clock.now().isoformat(), "--json")
    assert json.loads(isolated.stdout)["window"]["ongoing"] is False
    assert p1.id is not None
    order = services.orders.issue(p1.id, Tier.EXPOSED, None, None, "tests")
    _cli(settings, "orders", "list", "--person", "P1", "--json")
    delivered = json.loads(
        _cli(settings, "orders", "set-status", order.public_id, "delivered", "--json").stdout
    )
    assert delivered["history"][-1]["changed_by"] == "cli:ops-on-call"

    # Releasing someone early from the command line needs a reason, and is flagged.
    no_reason = CliRunner().invoke(
        cli, ["orders", "set-status", order.public_id, "released"], env=cli_env(settings, OPERATOR)
    )
    assert no_reason.exit_code != 0
    assert "--reason" in no_reason.output
    assert services.orders.get(order.public_id).order.status is OrderStatus.DELIVERED
    _cli(settings, "orders", "set-status", order.public_id, "released", "--reason", "negative PCR twice")

    entries = [
        (r.event.action, r.event.resource, r.event.record) for r in services.audit.by_actor("cli:ops-on-call")
    ]
    assert entries == [
        ("cases.create", "cases", "C1"),
        ("cases.read", "cases", ""),
        ("cases.read", "cases", "C1"),
        ("cases.create", "cases", "C1"),
        ("orders.read", "orders", "person=P1"),
        ("orders.update", "orders", order.public_id),
        ("orders.update", "orders", order.public_id),
    ]
    about = {(r.event.action, r.event.record) for r in services.audit.about_person("P1")}
    assert {("cases.create", "C1"), ("cases.read", "C1"), ("orders.read", "person=P1")} <= about
    flagged = services.audit.flagged(AuditFlag.MANUAL_STATUS_CHANGE)
    assert [(r.event.actor, r.event.details.get("status"), r.event.purpose) for r in flagged] == [
        ("cli:ops-on-call", "released", "negative PCR twice")
    ]
    assert flagged[0].event.subject_person_id == p1.id
