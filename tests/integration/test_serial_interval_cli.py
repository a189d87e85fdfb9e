"""``chaincut analytics serial-interval`` on a pairs file (Ali et al.'s real pairs) and on the store.

The store tests use the ``services`` fixture, so they run on the embedded default and on
PostgreSQL; the command reads the same store through the environment.
"""

from __future__ import annotations

import json
import statistics
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.cases import CaseDraft
from support.settings import cli_env
from support.shared import shared_data

OPERATOR = "epi-1"  # the staff member the command line runs as (CHAINCUT_STAFF)

# Ali et al., Science 369:1106 (2020), Fig. 2: mean serial interval by infector onset period.
ALI_WINDOWS = (
    ("2020-01-09", "2020-01-22", 7.8),
    ("2020-01-23", "2020-01-29", 5.1),
    ("2020-01-30", "2020-02-13", 2.6),
)


def strict_json(text: str) -> dict[str, Any]:
    """The command's one JSON object; NaN or infinity anywhere fails the test."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the output")

    body: dict[str, Any] = json.loads(text, parse_constant=refuse)
    return body


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli_app, ["analytics", "serial-interval", *map(str, args)], env=env)


def test_ali_et_al_mean_serial_interval_by_infector_onset() -> None:
    pairs = shared_data("transmission-pairs", "china_ali2020_TableS1_1407TransPairs.csv")
    windows = ",".join(f"{a}:{b}" for a, b, _ in ALI_WINDOWS)
    result = run(pairs, "--windows", windows, "--json", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    body = strict_json(result.stdout)
    assert [(w["from"], w["to"]) for w in body["windows"]] == [(a, b) for a, b, _ in ALI_WINDOWS]
    for window, (_, _, paper_mean) in zip(body["windows"], ALI_WINDOWS, strict=True):
        assert window["n"] > 0
        assert abs(window["mean"] - paper_mean) <= 0.3, window
        lo, hi = window["ci95"]
        assert lo < window["mean"] < hi
        assert window["fit"]["family"] == "normal"  # every window holds negative intervals
    # Pairs with an 'unknown' onset are left out and counted, never dropped silently.
    assert body["left_out"]["count"] > 0
    assert body["pairs"] == sum(w["n"] for w in body["windows"]) + body["outside_windows"]


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_a_file_with_a_bad_onset_names_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pairs.csv", "infector_onset,infectee_onset", "2020-01-10,2020-01-12", "2020-01-11,"
    )
    result = run(path, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "line 3, infectee_onset: expected an ISO date (YYYY-MM-DD), got a blank" in result.stderr


def test_an_empty_window_says_so_and_no_window_is_nan(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pairs.csv",
        "infector_onset,infectee_onset",
        "2020-01-10,2020-01-08",
        "2020-01-11,2020-01-15",
        "2020-01-12,2020-01-17",
        "2020-03-01,2020-03-04",
    )
    result = run(
        path, "--windows", "2020-01-10:2020-01-12,2020-02-01:2020-02-07,2020-03-01:2020-03-01", "--json"
    )
    assert result.exit_code == 0, result.stderr
    first, empty, single = strict_json(result.stdout)["windows"]
    assert first["n"] == 3
    assert first["mean"] == pytest.approx(statistics.mean([-2, 4, 5]))
    assert first["sd"] == pytest.approx(statistics.stdev([-2, 4, 5]))
    assert (empty["n"], empty["mean"], empty["sd"], empty["ci95"]) == (0, None, None, None)
    assert "no pairs" in empty["note"]
    assert (single["n"], single["mean"], single["sd"], single["ci95"]) == (1, 3.0, None, None)
    assert "one pair" in single["note"]


def test_without_windows_one_window_covers_every_pair(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pairs.csv",
        "infector_onset,infectee_onset",
        "2020-01-10,2020-01-12",
        "2020-01-20,2020-01-27",
    )
    body = strict_json(run(path, "--json").stdout)
    assert [(w["from"], w["to"], w["n"], w["mean"]) for w in body["windows"]] == [
        ("2020-01-10", "2020-01-20", 2, 4.5)
    ]
    assert body["outside_windows"] == 0


def test_the_seed_repeats_the_interval(tmp_path: Path) -> None:
    rows = [f"2020-01-{d:02d},2020-01-{d + (d * 7) % 9:02d}" for d in range(1, 20)]
    path = write(tmp_path / "pairs.csv", "infector_onset,infectee_onset", *rows)
    a, b, c = (strict_json(run(path, "--json", "--resamples", "100", "--seed", s).stdout) for s in "334")
    assert a["windows"][0]["ci95"] == b["windows"][0]["ci95"] != c["windows"][0]["ci95"]


@pytest.mark.parametrize(
    "text", ["2020-01-09", "2020-01-09:2020-01-22,", "2020-01-22:2020-01-09", "2020-02-30:2020-03-01"]
)
def test_bad_windows_name_the_option_and_what_was_expected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "pairs.csv", "infector_onset,infectee_onset", "2020-01-10,2020-01-12")
    result = run(path, "--windows", text, "--json")
    assert result.exit_code == 1
    assert "--windows" in result.stderr
    assert "expected" in result.stderr


# --- the store's confirmed links, on both backends -------------------------------------------------


ONSET0 = date(2026, 11, 1)


def register_chain(services: Services) -> None:
    """Cases linked to their infectors: four with both onsets, two lacking one, one unlinked.

    Serial intervals (infectee minus infector onset): C2-C1 = 4, C3-C1 = -1, C4-C2 = 6,
    C5-C3 = 3; C6 has no onset (specimen only), and C7's infector C6 has none.
    """
    for n in range(1, 8):
        services.people.register(PersonDraft(f"P{n}"))
    drafts = [
        CaseDraft("C1", "P1", "local", onset_on=ONSET0),
        CaseDraft("C2", "P2", "linked", onset_on=ONSET0 + timedelta(4), linked_case="C1"),
        CaseDraft("C3", "P3", "linked", onset_on=ONSET0 - timedelta(1), linked_case="C1"),
        CaseDraft("C4", "P4", "linked", onset_on=ONSET0 + timedelta(10), linked_case="C2"),
        CaseDraft("C5", "P5", "linked", onset_on=ONSET0 + timedelta(2), linked_case="C3"),
        CaseDraft("C6", "P6", "linked", specimen_on=ONSET0 + timedelta(5), linked_case="C2"),
        CaseDraft("C7", "P7", "linked", onset_on=ONSET0 + timedelta(9), linked_case="C6"),
    ]
    for draft in drafts:
        services.cases.register(draft, actor="tracer-1")


def test_the_repository_reads_each_link_with_both_onsets(services: Services) -> None:
    register_chain(services)
    with services.store.read() as uow:
        links = uow.cases.linked_onsets()
    d = ONSET0
    assert sorted(links, key=repr) == sorted(
        [
            (d, d + timedelta(4)),
            (d, d - timedelta(1)),
            (d + timedelta(4), d + timedelta(10)),
            (d - timedelta(1), d + timedelta(2)),
            (d + timedelta(4), None),
            (None, d + timedelta(9)),
        ],
        key=repr,
    )


def test_the_store_path_counts_links_without_an_onset(services: Services, settings: Settings) -> None:
    register_chain(services)
    result = run("--json", "--seed", "2", env=cli_env(settings, OPERATOR))
    assert result.exit_code == 0, result.stderr
    body = strict_json(result.stdout)
    assert body["left_out"]["count"] == 2
    assert body["pairs"] == 4
    (window,) = body["windows"]
    assert (window["from"], window["to"]) == (
        (ONSET0 - timedelta(1)).isoformat(),
        (ONSET0 + timedelta(4)).isoformat(),
    )
    assert window["n"] == 4
    assert window["mean"] == pytest.approx(statistics.mean([4, -1, 6, 3]))
    assert window["sd"] == pytest.approx(statistics.stdev([4, -1, 6, 3]))
    # The read is audited against the operator, with what it counted.
    (entry,) = [
        r for r in services.audit.by_actor("cli:epi-1") if r.event.resource == "analytics.serial_interval"
    ]
    assert entry.event.action == "analytics.read"
    assert entry.event.details == {
        "windows": f"{(ONSET0 - timedelta(1)).isoformat()}:{(ONSET0 + timedelta(4)).isoformat()}",
        "seed": 2,
        "resamples": 10_000,
        "pairs": 4,
        "left_out_no_onset": 2,
    }


def test_the_store_path_with_windows(services: Services, settings: Settings) -> None:
    register_chain(services)
    first = ONSET0.isoformat()
    result = run("--windows", f"{first}:{first}", "--json", env=cli_env(settings, OPERATOR))
    assert result.exit_code == 0, result.stderr
    (window,) = strict_json(result.stdout)["windows"]
    assert (window["n"], window["mean"]) == (2, pytest.approx(1.5))
