"""What the audit log records: policy changes, check-ins, command-line traces, and nothing personal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from chaincut.bootstrap import Services, bootstrap
from chaincut.cli.app import app as cli
from chaincut.clock import FixedClock
from chaincut.domain import CaseClassification
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditFlag
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest

NAME = "Canary Wong Tai-sin"


def _env(settings: Settings) -> dict[str, str]:
    def secret(value: object) -> str:
        return value.get_secret_value()  # type: ignore[attr-defined,no-any-return]

    env = {
        "CHAINCUT_ENV": "production",
        "CHAINCUT_DATA_DIR": str(settings.data_dir),
        "CHAINCUT_IDENTITY_HASH_KEY": secret(settings.identity_hash_key),
        "CHAINCUT_DATA_KEYS": secret(settings.data_keys),
        "CHAINCUT_VENUE_SIGNING_KEY_FILE": str(settings.venue_signing_key_file),
        "CHAINCUT_AUDIT_KEY": secret(settings.audit_key),
        "CHAINCUT_STAFF": "ops-on-call",
    }
    if settings.database_url:
        env["CHAINCUT_DATABASE_URL"] = settings.database_url
    return env


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
        cli, ["trace", "--case", "C1", "--json", "--purpose", "cluster review"], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
    entry = [r for r in services.audit.about_person("P1") if r.event.action == "whereabouts.read"][-1]
    assert entry.event.actor == "cli:ops-on-call"
    assert entry.event.purpose == "cluster review"
    assert entry.event.record == "C1"

    report = CliRunner().invoke(cli, ["audit", "report", "--person", "P1", "--json"], env=_env(settings))
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    assert any(r["action"] == "whereabouts.read" and r["purpose"] == "cluster review" for r in rows)

    verified = CliRunner().invoke(cli, ["audit", "verify"], env=_env(settings))
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
