"""``chaincut analytics rt`` on a small store, both backends: incidence by onset from the store's cases."""

from __future__ import annotations

import json
import statistics
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from chaincut.analytics import estimate_rt
from chaincut.bootstrap import Services
from chaincut.cli import app as cli
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.errors import InvalidInput
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.tracing.cases import CaseDraft
from support.settings import cli_env

OPERATOR = "epi-on-call"  # the staff member the command line runs as (CHAINCUT_STAFF)

# Local cases per onset day (the first 21 days ending two days before the clock's day).
LOCAL = [0, 0, 1, 2, 3, 2, 4, 6, 5, 7, 9, 8, 10, 12, 9, 11, 13, 10, 8, 9, 7]
IMPORTED = [3, 2, 1, 0, 1, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
LOCAL_KINDS = [c for c in CaseClassification if c is not CaseClassification.IMPORTED]


def _no_nan(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def first_day(services: Services, clock: FixedClock) -> date:
    """A store holding LOCAL and IMPORTED by onset day, every local classification used, plus
    two registered cases with no onset date and one suspected case."""
    first = clock.now().date() - timedelta(days=len(LOCAL) + 1)
    people = sum(LOCAL) + sum(IMPORTED) + 3
    for i in range(people):
        services.people.register(PersonDraft(ref=f"P{i}", name=f"Person {i}"))
    with services.store.read() as uow:
        ids = [uow.people.id_for_ref(f"P{i}") for i in range(people)]
    rows: list[Case] = []
    for day, (n_local, n_imported) in enumerate(zip(LOCAL, IMPORTED, strict=True)):
        kinds = [LOCAL_KINDS[(day + k) % len(LOCAL_KINDS)] for k in range(n_local)]
        kinds += [CaseClassification.IMPORTED] * n_imported
        for kind in kinds:
            person = ids[len(rows)]
            assert person is not None
            status = CaseStatus.PROBABLE if len(rows) % 5 == 0 else CaseStatus.CONFIRMED
            rows.append(Case(f"C{len(rows)}", person, status, kind, onset_on=first + timedelta(days=day)))
    with services.store.write() as uow:
        uow.cases.add_many(rows, to_epoch(clock.now()))
    n = len(rows)
    specimen = clock.now().date() - timedelta(days=1)  # asymptomatic: a specimen date, no onset
    services.cases.register(CaseDraft("NO-ONSET-1", f"P{n}", "local", specimen_on=specimen), actor="tests")
    services.cases.register(
        CaseDraft("NO-ONSET-2", f"P{n + 1}", "imported", specimen_on=specimen), actor="tests"
    )
    services.cases.register(
        CaseDraft("SUSPECT-1", f"P{n + 2}", "local", status="suspected", onset_on=first + timedelta(days=20)),
        actor="tests",
    )
    return first


def test_rt_json_counts_local_and_imported_by_onset_and_reports_what_it_left_out(
    services: Services, settings: Settings, first_day: date
) -> None:
    result = CliRunner().invoke(cli, ["analytics", "rt", "--json"], env=cli_env(settings, OPERATOR))
    assert result.exit_code == 0, result.output
    body = _no_nan(result.stdout)
    assert body["cases"] == {"local": sum(LOCAL), "imported": sum(IMPORTED)}
    assert body["left_out"]["no_onset"] == 2
    assert body["left_out"]["suspected"] == 1
    assert body["parameters"]["window_days"] == services.policy.reproduction_number.window_days
    assert body["parameters"]["serial_interval_mean_days"] == 4.7
    # The series starts on the first onset day (day 0 holds only imported cases).
    expected = estimate_rt(
        first_day, np.array(LOCAL), np.array(IMPORTED), services.policy.reproduction_number
    )
    assert len(body["windows"]) == len(expected) == len(LOCAL)
    for got, want in zip(body["windows"], expected, strict=True):
        assert got["start"] == want.start.isoformat()
        assert got["end"] == want.end.isoformat()
        assert got["local_cases"] == want.local_cases
        assert got["imported_cases"] == want.imported_cases
        if want.posterior is None:
            assert got["status"] == "insufficient data"
            assert got["reason"] == want.reason
            assert "mean" not in got
        else:
            assert got["mean"] == pytest.approx(want.posterior.mean, rel=1e-12)
            assert got["lo"] == pytest.approx(want.posterior.lo, rel=1e-12)
            assert got["hi"] == pytest.approx(want.posterior.hi, rel=1e-12)
            assert got["cv"] < 0.3
    assert body["windows"][0]["status"] == "insufficient data"
    assert any("mean" in w for w in body["windows"])


def test_rt_from_and_to_choose_the_windows_and_the_table_names_what_was_left_out(
    settings: Settings, first_day: date
) -> None:
    env = cli_env(settings, OPERATOR)
    start, end = first_day + timedelta(days=10), first_day + timedelta(days=14)
    result = CliRunner().invoke(
        cli, ["analytics", "rt", "--from", start.isoformat(), "--to", end.isoformat(), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    ends = [w["end"] for w in _no_nan(result.stdout)["windows"]]
    assert ends == [(start + timedelta(days=i)).isoformat() for i in range(5)]

    table = CliRunner().invoke(cli, ["analytics", "rt"], env=env)
    assert table.exit_code == 0, table.output
    assert "insufficient" in table.stdout  # the cell may wrap in a narrow terminal
    words = " ".join(table.stdout.split())
    assert "left out: 2 confirmed or probable case(s) with no onset date; 1 suspected case(s)" in words

    bad = CliRunner().invoke(cli, ["analytics", "rt", "--from", "2022-13-01"], env=env)
    assert bad.exit_code == 2
    assert "--from: expected a date YYYY-MM-DD" in bad.stderr
    backwards = CliRunner().invoke(
        cli, ["analytics", "rt", "--from", end.isoformat(), "--to", start.isoformat()], env=env
    )
    assert backwards.exit_code == 1
    assert "after it ends" in backwards.stderr and "(from)" in backwards.stderr


def test_rt_can_take_its_serial_interval_from_the_store_s_confirmed_links(
    services: Services, first_day: date
) -> None:
    with services.store.read() as uow:
        ids = uow.cases.ids_for([f"C{i}" for i in range(40)])
    # Link each of C12..C23 to C0..C11: their onsets are days apart by the seeding's order.
    with services.store.write() as uow:
        uow.cases.set_links([(ids[f"C{12 + k}"], ids[f"C{k}"]) for k in range(12)])
        pairs = uow.cases.linked_onsets()
    intervals = [(b - a).days for a, b in pairs if a is not None and b is not None]
    assert len(intervals) == 12

    report = services.reproduction.estimate(serial_interval="links")

    assert report.serial_interval_source == "confirmed links"
    assert report.serial_interval_pairs == 12
    assert report.rules.serial_interval_mean_days == pytest.approx(statistics.fmean(intervals))
    assert report.rules.serial_interval_sd_days == pytest.approx(statistics.stdev(intervals))
    by_policy = services.reproduction.estimate()
    assert by_policy.serial_interval_source == "policy"
    estimated = [w.posterior.mean for w in report.windows if w.posterior is not None]
    assert estimated and estimated != [w.posterior.mean for w in by_policy.windows if w.posterior is not None]

    with services.store.write() as uow:
        uow.cases.set_links([(ids[f"C{12 + k}"], None) for k in range(4)])
    with pytest.raises(InvalidInput, match="8 confirmed links with both onsets; at least 10"):
        services.reproduction.estimate(serial_interval="links")
