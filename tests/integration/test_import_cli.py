"""``chaincut import`` and ``chaincut status`` as a data owner runs them, on the embedded default.

Each test points CHAINCUT_DATA_DIR at its own folder (development mode, so the
secrets are generated there) and runs the Typer app in-process.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from chaincut.cli import app

# Real time, not the fixed clock: the CLI reads the system clock, and visits must be
# inside the retention window and not in the future.
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
HOUR = timedelta(hours=1)


class Chaincut:
    """Runs ``chaincut`` commands against one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {"CHAINCUT_DATA_DIR": str(data_dir), "CHAINCUT_ENV": "development"}
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Result:
        return self.runner.invoke(app, [str(a) for a in args], env=self.env)

    def status(self) -> dict[str, int]:
        result = self("status", "--json")
        assert result.exit_code == 0, result.stderr
        counts: dict[str, int] = json.loads(result.stdout)
        return counts


@pytest.fixture
def chaincut(tmp_path: Path) -> Chaincut:
    return Chaincut(tmp_path / "chaincut-data")


@pytest.fixture
def upgraded(chaincut: Chaincut, tmp_path: Path) -> Chaincut:
    """A migrated store holding two people and two venues."""
    assert chaincut("db", "upgrade").exit_code == 0
    people = write(tmp_path / "people.csv", "ref,name,id_document", "p-ann,Ann,A123456(7)", "p-bob,Bob,")
    venues = tmp_path / "venues.jsonl"
    venues.write_text(
        json.dumps({"ref": "v-rest", "type": "restaurant", "name_en": "Golden Dragon", "name_zh": "金龍"})
        + "\n"
        + json.dumps(
            {"ref": "v-office", "type": "office", "name_en": "Harbour Office", "name_zh": "海港辦公室"}
        )
        + "\n",
        encoding="utf-8",
    )
    for kind, path in (("people", people), ("venues", venues)):
        result = chaincut("import", kind, path)
        assert result.exit_code == 0, result.stderr
    return chaincut


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def visit(person: str, venue: str, hours_later: int = 0) -> str:
    entered = RECENT + hours_later * HOUR
    return f"{person},{venue},{entered.isoformat()},{int((entered + HOUR).timestamp())}"


def test_a_command_on_an_unmigrated_store_says_to_run_db_upgrade(chaincut: Chaincut, tmp_path: Path) -> None:
    people = write(tmp_path / "people.csv", "ref", "p-ann")

    for args in (("status", "--json"), ("import", "people", people)):
        result = chaincut(*args)
        assert result.exit_code == 1
        assert len(error_lines(result)) == 1
        assert "no chaincut schema yet; run `chaincut db upgrade`" in result.stderr
        assert result.stdout == ""

    assert chaincut("db", "upgrade").exit_code == 0
    assert chaincut.status()["people"] == 0


def test_status_counts_what_each_import_stored(upgraded: Chaincut, tmp_path: Path) -> None:
    visits = tmp_path / "visits.parquet"
    stamp = pa.timestamp("s", tz="UTC")
    pq.write_table(
        pa.table(
            {
                "person": ["p-ann", "p-bob", "p-ann"],
                "venue": ["v-rest", "v-office", "v-office"],
                "entered_at": pa.array([RECENT, RECENT, RECENT + 2 * HOUR], stamp),
                "left_at": pa.array([RECENT + HOUR, None, None], stamp),
            }
        ),
        visits,
    )
    encounters = write(
        tmp_path / "encounters.csv",
        "person_a,person_b,start,end",
        f"p-ann,p-bob,{int(RECENT.timestamp())},{(RECENT + HOUR).isoformat()}",
    )
    cases = write(
        tmp_path / "cases.csv",
        "Case no.,Report date,Date of onset,Gender,Age,Case classification*,Confirmed/probable",
        "1,23/01/2020,21/01/2020,M,39,Imported case,Confirmed",
        "2,23/01/2020,Asymptomatic,M,56,Local case,Probable",
    )

    imported = upgraded("import", "visits", visits)
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout == "visits: read 3, stored 3; import 1\n"
    assert "importing visits" in imported.stderr  # the progress bar
    assert upgraded("import", "encounters", encounters, "--quiet").stderr == ""
    as_json = upgraded("import", "hk-cases", cases, "--json", "--quiet")
    assert json.loads(as_json.stdout)["stored"] == 2

    assert upgraded.status() == {"people": 4, "venues": 2, "visits": 3, "encounters": 1, "cases": 2}
    assert list(upgraded.status()) == ["people", "venues", "visits", "encounters", "cases"]


def test_a_bad_visits_file_exits_1_with_one_line_naming_the_line(upgraded: Chaincut, tmp_path: Path) -> None:
    # A long path: the error must stay on one line however narrow the terminal is.
    folder = tmp_path / ("a-folder-with-a-long-name-" * 3)
    folder.mkdir()
    bad = write(
        folder / "bad.csv",
        "person,venue,entered_at,left_at",
        visit("p-ann", "v-rest"),
        visit("p-bob", "v-gone"),
    )

    result = upgraded("import", "visits", bad)

    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = error_lines(result)
    assert len(line) > 120
    assert line == f"error: {bad}: line 3, venue: unknown venue reference; nothing was stored"
    assert upgraded.status()["visits"] == 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{good}", 'p-bob,"v-rest,{recent}'], "line 3: unbalanced quotes"),
        (["{good}", "p-bob,v-rest,soon"], "line 3, entered_at: expected ISO 8601"),
        (["{good}", "p-bob,v-rest,{recent},,extra"], "line 3: expected 3 fields, found 5"),
        ([], "bad.csv: empty file: a header but no rows"),
    ],
)
def test_broken_files_exit_1_with_the_line(
    upgraded: Chaincut, tmp_path: Path, lines: list[str], message: str
) -> None:
    recent = RECENT.isoformat()
    text = [line.format(good=f"p-ann,v-rest,{recent}", recent=recent) for line in lines]
    result = upgraded(
        "import", "visits", write(tmp_path / "bad.csv", "person,venue,entered_at", *text), "--quiet"
    )

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line
    assert upgraded.status()["visits"] == 0


def test_skip_stores_the_good_rows_and_writes_the_rejects(upgraded: Chaincut, tmp_path: Path) -> None:
    bad_line = visit("p-bob", "v-gone", 1)
    path = write(
        tmp_path / "visits.csv",
        "person,venue,entered_at,left_at",
        visit("p-ann", "v-rest"),
        bad_line,
        visit("p-bob", "v-office", 2),
    )
    rejects = tmp_path / "rejects.csv"

    result = upgraded("import", "visits", path, "--on-error", "skip", "--rejects", rejects)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"visits: read 3, stored 2, rejected 1 (see {rejects}); import 1\n"
    with rejects.open(encoding="utf-8", newline="") as file:
        assert list(csv.DictReader(file)) == [
            {"line": "3", "field": "venue", "reason": "unknown venue reference", "row": bad_line}
        ]
    assert upgraded.status()["visits"] == 2


def test_rejects_without_skip_is_a_usage_error(upgraded: Chaincut, tmp_path: Path) -> None:
    path = write(tmp_path / "visits.csv", "person,venue,entered_at,left_at", visit("p-ann", "v-rest"))

    result = upgraded("import", "visits", path, "--rejects", tmp_path / "rejects.csv")

    assert result.exit_code == 2
    assert "--rejects needs --on-error skip" in result.stderr
    assert upgraded.status()["visits"] == 0


def test_clusters_before_cases_are_refused(upgraded: Chaincut, tmp_path: Path) -> None:
    clusters = write(
        tmp_path / "clusters.csv", "Cluster,Involved case number,Number of cases", 'Dinner,"1, 2",2'
    )

    result = upgraded("import", "hk-clusters", clusters, "--quiet")

    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "line 2, Involved case number: case 1 is not imported; import hk-cases first" in line


def test_a_file_error_names_the_file_and_line(upgraded: Chaincut, tmp_path: Path) -> None:
    path = write(tmp_path / "twice.csv", "person,venue,venue,entered_at", "p-ann,v-rest,v-rest,1")

    result = upgraded("import", "visits", path, "--quiet")

    assert result.exit_code == 1
    assert result.stderr == "error: twice.csv, line 1: columns repeated in the header: venue\n"


def test_a_file_imported_again_exits_1_naming_the_first_import(upgraded: Chaincut, tmp_path: Path) -> None:
    eight = timedelta(minutes=8)
    start, end = RECENT.isoformat(), (RECENT + eight).isoformat()
    encounters = write(
        tmp_path / "encounters.csv", "person_a,person_b,start,end", f"p-ann,p-bob,{start},{end}"
    )
    assert (
        upgraded("import", "encounters", encounters, "--quiet").stdout
        == "encounters: read 1, stored 1; import 1\n"
    )

    again = upgraded("import", "encounters", encounters, "--quiet")
    # The same encounter in another file (the pair the other way round): read, and skipped.
    other = write(tmp_path / "other.csv", "person_a,person_b,start,end", f"p-bob,p-ann,{start},{end}")
    overlapping = upgraded("import", "encounters", other, "--quiet")

    assert again.exit_code == 1
    [line] = error_lines(again)
    assert re.fullmatch(
        r"error: this encounters file was already imported on \d{4}-\d\d-\d\dT\d\d:\d\dZ as import 1 "
        r"\(1 rows stored\); nothing was stored \(file\)",
        line,
    ), line
    assert overlapping.exit_code == 0, overlapping.stderr
    assert overlapping.stdout == "encounters: read 1, stored 0, duplicates skipped 1; import 2\n"
    assert upgraded.status()["encounters"] == 1
