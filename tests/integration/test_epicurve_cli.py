"""``chaincut analytics epicurve`` on a small store, on the embedded default and on PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner, Result

from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails
from chaincut.domain.ids import new_public_id
from chaincut.people.corrections import Correction, PersonCorrections
from chaincut.settings import Settings
from chaincut.store import NewPersonRow
from support.settings import cli_env

DAY0 = date(2022, 2, 20)
L, U, LI, IM, PL, UK = (
    CaseClassification.LOCAL,
    CaseClassification.UNLINKED,
    CaseClassification.LINKED,
    CaseClassification.IMPORTED,
    CaseClassification.POSSIBLY_LOCAL,
    CaseClassification.UNKNOWN,
)
# (onset day, report day, classification, status, household): days after DAY0, None when missing
CASES: list[tuple[int | None, int | None, CaseClassification, CaseStatus, str | None]] = [
    (0, 2, U, CaseStatus.CONFIRMED, "h-shatin"),
    (0, 2, LI, CaseStatus.CONFIRMED, "h-shatin"),
    (1, 2, IM, CaseStatus.CONFIRMED, "h-kwuntong"),
    (1, 3, U, CaseStatus.PROBABLE, "h-nowhere"),  # a household with no district
    (None, 3, L, CaseStatus.CONFIRMED, None),  # asymptomatic, no household
    (None, 3, U, CaseStatus.CONFIRMED, "h-kwuntong"),
    (2, 3, PL, CaseStatus.CONFIRMED, "h-shatin"),
    (2, 4, UK, CaseStatus.CONFIRMED, None),
    (3, 4, U, CaseStatus.SUSPECTED, "h-shatin"),  # suspected: not on the curve
    (-5, 1, LI, CaseStatus.CONFIRMED, "h-shatin"),  # before the days asked for
    (None, None, L, CaseStatus.CONFIRMED, None),  # no date at all
]
DISTRICTS = {"h-shatin": "Sha Tin", "h-kwuntong": "Kwun Tong", "h-nowhere": None}


def _day(offset: int | None) -> date | None:
    return None if offset is None else DAY0 + timedelta(days=offset)


@pytest.fixture
def stocked(services: Services) -> Services:
    with services.store.write() as uow:
        households = uow.households.ensure(
            DISTRICTS, {ref: name for ref, name in DISTRICTS.items() if name is not None}
        )
        refs = [f"p-{i}" for i in range(len(CASES))]
        uow.people.add_many(
            [
                NewPersonRow(
                    ref, new_public_id(), PersonalDetails(), None, households.get(h) if h else None, 0
                )
                for ref, (*_, h) in zip(refs, CASES, strict=True)
            ]
        )
        ids = uow.people.ids_for_refs(refs)
        uow.cases.add_many(
            [
                Case(
                    ref=f"C-{i}",
                    person_id=ids[ref],
                    status=status,
                    classification=cls,
                    reported_on=_day(reported),
                    onset_on=_day(onset),
                    specimen_on=DAY0 if onset is None else None,
                )
                for i, (ref, (onset, reported, cls, status, _)) in enumerate(zip(refs, CASES, strict=True))
            ],
            0,
        )
    return services


def test_the_store_counts_cases_by_day_classification_status_and_district_in_sql(stocked: Services) -> None:
    with stocked.store.read() as uow:
        rows = uow.case_tallies.by_day()
    got = Counter(
        {(r.onset_on, r.reported_on, r.classification, r.status, r.district): r.cases for r in rows}
    )
    expected = Counter((_day(o), _day(r), c, s, DISTRICTS.get(h) if h else None) for o, r, c, s, h in CASES)
    assert got == expected


def epicurve_env(settings: Settings) -> dict[str, str]:
    # Rich wraps a table to the terminal: a wide one keeps the headers whole.
    return cli_env(settings, "epi-1") | {"COLUMNS": "200"}


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli_app, ["analytics", "epicurve", *args], env=epicurve_env(settings))


def test_the_curve_by_onset_counts_every_case_once(stocked: Services, settings: Settings) -> None:
    result = run(settings, "--from", "2022-02-20", "--to", "2022-02-24", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["days"] == [(DAY0 + timedelta(days=i)).isoformat() for i in range(5)]
    assert out["total"] == [2, 2, 2, 0, 0]
    assert out["by_classification"]["unlinked"] == [1, 1, 0, 0, 0]
    assert out["by_classification"]["imported"] == [0, 1, 0, 0, 0]
    districts = {d["district"]: d["counts"] for d in out["by_district"]}
    assert districts == {
        "Kwun Tong": [0, 1, 0, 0, 0],
        "Sha Tin": [2, 0, 1, 0, 0],
        None: [0, 1, 1, 0, 0],  # the household with no district, and the case with no household
    }
    assert (out["before"], out["after"], out["undated"]) == (1, 0, 3)
    assert out["no_onset"] == {"total": 3, "by_report_date": [0, 0, 0, 2, 0]}
    assert out["suspected_not_counted"] == 1
    assert out["counted"] == len(CASES) - 1
    assert out["average_days"] == stocked.policy.epidemic_curve.average_window_days == 7
    assert out["average"][0] == pytest.approx(3 / 7)  # the case five days before is in the first window
    assert out["growth"]["to"] == "2022-02-24"
    assert out["growth"]["trend"] in {"no clear growth or decline", "insufficient data"}
    assert out["growth"]["time_ci95"] is None


def test_the_unlinked_share_is_by_report_date_among_local_cases(
    stocked: Services, settings: Settings
) -> None:
    result = run(settings, "--by", "report", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # from the first to the last report date among the counted cases
    assert (out["from"], out["to"]) == ("2022-02-21", "2022-02-24")
    share = out["unlinked_share"]
    # day 2: unlinked and linked (the imported case is not local); day 3: unlinked (probable),
    # local, unlinked, possibly local; day 4: unknown only (not local); day 1: linked
    assert share["local"] == [1, 2, 4, 0]
    assert share["unlinked"] == [0, 1, 2, 0]
    assert share["share"] == [0.0, 0.5, 0.5, None]
    assert out["total"] == [1, 3, 4, 1]
    assert out["undated"] == 1  # no report date
    # the audit log records the read, with who ran it
    with stocked.store.read() as uow:
        (entry,) = [
            r.event for r in uow.audit.find(actor="cli:epi-1") if r.event.resource == "analytics.epicurve"
        ]
    assert (entry.action, entry.record) == ("analytics.read", "report:2022-02-21..2022-02-24")
    assert entry.details == {"axis": "report", "from": "2022-02-21", "to": "2022-02-24", "days": 4}
    assert entry.purpose == "outbreak analytics from the command line"


def test_the_table_shows_the_days_and_the_trend(stocked: Services, settings: Settings) -> None:
    result = run(settings, "--from", "2022-02-20", "--to", "2022-02-24")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "2022-02-24" in text and "unlinked share" in text
    assert "no onset date: 3" in text and "suspected (not counted): 1" in text
    assert "insufficient data" in text or "no clear growth or decline" in text


def test_a_bad_range_is_one_clear_line(stocked: Services, settings: Settings) -> None:
    backwards = run(settings, "--from", "2022-02-24", "--to", "2022-02-20")
    assert backwards.exit_code == 1
    assert "before it begins" in backwards.output and "(to)" in backwards.output
    garbled = run(settings, "--from", "24/02/2022")
    assert garbled.exit_code == 2
    assert "YYYY-MM-DD" in garbled.output


def test_a_correction_that_moves_a_person_moves_their_cases_to_the_new_district(stocked: Services) -> None:
    """The curve reads each case's district from the case (no join): a correction keeps it true."""
    with stocked.store.read() as uow:
        person_id = uow.people.id_for_ref("p-0")  # a Sha Tin household's case
    assert person_id is not None
    corrections = PersonCorrections(stocked.store, stocked.clock)

    corrections.correct(person_id, Correction("moved house", household="h-kwuntong"), "tests")
    with stocked.store.read() as uow:
        moved: Counter[tuple[date | None, str | None]] = Counter()
        for r in uow.case_tallies.by_day():
            moved[(r.onset_on, r.district)] += r.cases
    assert moved[(_day(0), "Kwun Tong")] == 1
    assert moved[(_day(0), "Sha Tin")] == 1  # C-1 stays (C-0 left)

    corrections.correct(person_id, Correction("moved again", household="h-new"), "tests")  # no district known
    with stocked.store.read() as uow:
        again: Counter[tuple[date | None, str | None]] = Counter()
        for r in uow.case_tallies.by_day():
            again[(r.onset_on, r.district)] += r.cases
    assert again[(_day(0), "Kwun Tong")] == 0
    assert again[(_day(0), None)] == 1
