"""``chaincut policy check|diff|show`` and the diff behind them; none needs a database."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from chaincut.cli import app
from chaincut.errors import PolicyError
from chaincut.policy import InfectiousWindowRule, default_policy_text, load_policy
from chaincut.policy.diff import PolicyChange, diff_policies, policy_document


def edited(*edits: tuple[str, str]) -> str:
    text = default_policy_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def run() -> CliRunner:
    return CliRunner()


def chaincut(runner: CliRunner, tmp_path: Path, *args: str | Path, **env: str) -> Result:
    environment = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development", **env}
    return runner.invoke(app, [str(a) for a in args], env=environment)


# --- check ---------------------------------------------------------------------------------------


def test_check_accepts_the_shipped_policy_in_one_line(run: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path / "policy.toml", default_policy_text())
    result = chaincut(run, tmp_path, "policy", "check", path)
    assert result.exit_code == 0, result.stderr
    policy = load_policy(None)
    assert result.stdout == f"OK {path}: policy {policy.version}, digest {policy.digest}\n"
    assert not (tmp_path / "data").exists()  # no store needed


def test_check_lists_every_problem_with_its_key_path(run: CliRunner, tmp_path: Path) -> None:
    path = write(
        tmp_path / "policy.toml",
        edited(
            ("visits_days = 31\n", ""),
            ("days_before_onset = 2", 'days_before_onset = "two"'),
            ('tier = "close"\n\n[encounters]', 'tier = "closest"\n\n[encounters]'),
            ("min_overlap_minutes = 15", "min_overlap_minutes = -1"),
        ),
    )

    result = chaincut(run, tmp_path, "policy", "check", path)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [
        "retention.visits_days: missing; expected a whole number of days",
        "infectious_window.days_before_onset: expected a whole number of days, got 'two'",
        "household.tier: expected one of 'close', 'exposed', got 'closest'",
        "venue_types.restaurant.contact.min_overlap_minutes: expected at least 0, got -1",
    ]
    assert result.stderr.strip() == f"error: {path}: 4 problem(s); the policy cannot be used"


def test_check_reports_a_toml_syntax_error_and_an_unreadable_file(run: CliRunner, tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.toml", "[policy\nversion = 1\n")
    result = chaincut(run, tmp_path, "policy", "check", broken)
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("(file): ")

    missing = chaincut(run, tmp_path, "policy", "check", tmp_path / "nope.toml")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: cannot read policy file")


# --- diff ----------------------------------------------------------------------------------------


def test_diff_ignores_comments_and_layout() -> None:
    text = default_policy_text()
    reworded = text.replace("# WHO (2020)", "# World Health Organization (2020)").replace(
        "visits_days = 31", "visits_days    =    31   # a new comment"
    )
    assert reworded != text
    assert diff_policies(text, reworded) == []


def test_diff_names_each_changed_added_and_removed_key() -> None:
    old = default_policy_text()
    new = edited(
        ('version = "2026.11-default"', 'version = "2026.12"'),
        ("quarantine_days = 14", "quarantine_days = 10"),
        ('from_tiers = ["close"]', 'from_tiers = ["close", "exposed"]'),
        ("[venue_types.taxi]", '[venue_types.karaoke]\nlabel_en = "Karaoke"\n\n[venue_types.taxi]'),
        ('label_zh = "戲院"\n', ""),
    )
    new = new.replace(new[new.index("[venue_types.bar]") : new.index("[venue_types.gym]")], "")

    changes = diff_policies(old, new)

    assert [(c.path, c.change) for c in changes] == [
        ("policy.version", "changed"),
        ("contacts_of_contacts.from_tiers", "changed"),
        ("orders.quarantine_days", "changed"),
        ("venue_types.bar", "removed"),
        ("venue_types.cinema.label_zh", "removed"),
        ("venue_types.karaoke", "added"),
    ]
    assert changes[0] == PolicyChange("policy.version", "changed", "2026.11-default", "2026.12")
    assert changes[2].old == 14 and changes[2].new == 10
    assert changes[3].old["default_stay_minutes"] == 120 and changes[3].new is None
    assert changes[5].new == {"label_en": "Karaoke"}


def test_diff_tells_numbers_of_different_types_apart() -> None:
    old = default_policy_text()
    assert [
        c.path for c in diff_policies(old, edited(("quarantine_days = 14", "quarantine_days = 14.0")))
    ] == ["orders.quarantine_days"]


def test_diff_compares_loaded_policies_by_their_rules() -> None:
    policy = load_policy(None)
    longer = dataclasses.replace(policy, infectious_window=InfectiousWindowRule(3, 2))
    assert diff_policies(policy, default_policy_text()) == []
    assert diff_policies(policy, longer) == [
        PolicyChange("infectious_window.days_before_onset", "changed", 2, 3)
    ]
    assert policy_document(policy)["venue_types"]["taxi"]["contact"]["tier"] == "exposed"


def test_diff_refuses_text_that_is_not_toml() -> None:
    with pytest.raises(PolicyError) as refused:
        diff_policies(default_policy_text(), "[policy\n")
    assert refused.value.message.startswith("second policy: not valid TOML")


def test_the_diff_command_prints_a_table_or_json(run: CliRunner, tmp_path: Path) -> None:
    before = write(tmp_path / "a.toml", default_policy_text())
    after = write(tmp_path / "b.toml", edited(("quarantine_days = 14", "quarantine_days = 10")))

    as_json = chaincut(run, tmp_path, "policy", "diff", before, after, "--json")
    assert as_json.exit_code == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"path": "orders.quarantine_days", "change": "changed", "old": 14, "new": 10}
    ]

    table = chaincut(run, tmp_path, "policy", "diff", before, after)
    assert table.exit_code == 0, table.stderr
    assert "orders.quarantine_days" in table.stdout and "1 change(s)" in table.stdout

    same = chaincut(run, tmp_path, "policy", "diff", before, before)
    assert same.stdout == f"no changes from {before} to {before}\n"

    bad = chaincut(run, tmp_path, "policy", "diff", before, write(tmp_path / "c.toml", "[x\n"))
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: second policy: not valid TOML")


# --- show ----------------------------------------------------------------------------------------


def test_show_prints_the_active_policy(run: CliRunner, tmp_path: Path) -> None:
    policy = load_policy(None)
    shown = chaincut(run, tmp_path, "policy", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["version"], body["digest"], body["source"]) == (
        policy.version,
        policy.digest,
        "the shipped default",
    )
    assert body["rules"] == policy_document(policy)

    custom = write(tmp_path / "p.toml", edited(('version = "2026.11-default"', 'version = "local-1"')))
    text = chaincut(run, tmp_path, "policy", "show", CHAINCUT_POLICY_FILE=str(custom))
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith(f"policy local-1, digest {load_policy(custom).digest}, from {custom}\n")
    assert "infectious_window: days_before_onset = 2, days_before_specimen = 2" in text.stdout
    assert "食肆" in text.stdout


def test_show_with_a_broken_policy_file_exits_1(run: CliRunner, tmp_path: Path) -> None:
    broken = write(tmp_path / "p.toml", edited(("quarantine_days = 14", "quarantine_days = 0")))
    result = chaincut(run, tmp_path, "policy", "show", CHAINCUT_POLICY_FILE=str(broken))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "orders.quarantine_days" in result.stderr
