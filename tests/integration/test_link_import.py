"""``chaincut import links``: who infected whom, for published pairs, on every backend.

Five cases are registered (C1 to C5; C5 without an onset) with the ``services``
fixture's fixed clock (2026-11-20 in Hong Kong); each test imports a links file and
reads the cases' links and onsets back from the store.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.errors import ImportRejected
from chaincut.tracing.case_import import import_cases
from chaincut.tracing.link_import import import_links
from chaincut.whereabouts import importing
from chaincut.whereabouts.importing import ImportOptions

HEADER = "infector,infectee,infector_onset,infectee_onset"


def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in (header, *rows)), encoding="utf-8")
    return path


@pytest.fixture
def registered(services: Services, tmp_path: Path) -> Services:
    s = services
    people = write_csv(tmp_path / "people.csv", "ref", *(f"p{i}" for i in range(1, 6)))
    importing.import_people(s.store, s.hasher, s.clock, people, ImportOptions())
    cases = write_csv(
        tmp_path / "cases.csv",
        "ref,person,classification,onset_on,specimen_on",
        "C1,p1,local,2026-11-10,",
        "C2,p2,local,2026-11-13,",
        "C3,p3,local,2026-11-15,",
        "C4,p4,local,2026-11-16,",
        "C5,p5,local,,2026-11-17",  # no onset registered
    )
    assert import_cases(s.store, s.policy, s.clock, s.settings.zone, cases, ImportOptions()).stored == 5
    return s


def links_of(services: Services) -> dict[str, tuple[str | None, date | None]]:
    """Each case's infector (ref) and onset, as stored."""
    with services.store.read() as uow:
        found = uow.cases.by_refs(["C1", "C2", "C3", "C4", "C5"])
        refs = uow.cases.refs_of([c.id for c in found.values() if c.id is not None])
    return {
        ref: (refs.get(c.linked_case_id) if c.linked_case_id else None, c.onset_on)
        for ref, c in found.items()
    }


def test_links_are_stored_as_confirmed_links_and_fill_missing_onsets(
    registered: Services, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "links.csv",
        HEADER,
        "C1,C2,2026-11-10,2026-11-13",
        "C2,C3,,",
        "C2,C5,2026-11-13,2026-11-18",  # C5 had no onset: the file's is stored
    )
    report = import_links(registered.store, path, ImportOptions())

    assert (report.read, report.stored, report.rejected) == (3, 3, 0)
    assert report.notes == ["onsets stored for 1 cases registered without one"]
    assert links_of(registered) == {
        "C1": (None, date(2026, 11, 10)),
        "C2": ("C1", date(2026, 11, 13)),
        "C3": ("C2", date(2026, 11, 15)),
        "C4": (None, date(2026, 11, 16)),
        "C5": ("C2", date(2026, 11, 18)),
    }
    again = import_links(registered.store, path, ImportOptions())  # the same links: nothing new
    assert (again.stored, again.already_present) == (0, 3)


def test_bad_links_refuse_the_whole_file_naming_line_and_column(registered: Services, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "links.csv",
        HEADER,
        "C1,C2,,",
        "C9,C3,,",  # no such infector
        "C3,C3,,",  # itself
        "C2,C1,,",  # C1 infected C2 two lines up: a loop
        "C4,C2,,",  # C2 is linked to C1 already
        "C1,C4,2026-11-11,",  # C1's onset is 2026-11-10
        "C1,C4,,16/11/2026",  # not an ISO date
        ",C4,,",  # no infector
    )
    with pytest.raises(ImportRejected) as refused:
        import_links(registered.store, path, ImportOptions())

    errors = refused.value.errors
    assert [(e.line, e.field) for e in errors] == [
        (3, "infector"),
        (4, "infector"),
        (5, "infectee"),
        (6, "infectee"),
        (7, "infector_onset"),
        (8, "infectee_onset"),
        (9, "infector"),
    ]
    assert "'C9'" in errors[0].message and "itself" in errors[1].message and "loop" in errors[2].message
    assert "2026-11-10" in errors[4].message
    assert all(infector is None for infector, _ in links_of(registered).values())  # nothing stored


def test_skip_mode_stores_the_good_links_and_writes_the_rejects(registered: Services, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "links.csv", HEADER, "C1,C2,,", "C2,C2,,", "C2,C3,,")
    rejects = tmp_path / "rejects.csv"

    report = import_links(registered.store, path, ImportOptions(on_error="skip", rejects=rejects))

    assert (report.stored, report.rejected) == (2, 1)
    with rejects.open(encoding="utf-8", newline="") as file:
        assert [(r["line"], r["field"]) for r in csv.DictReader(file)] == [("3", "infector")]
    assert links_of(registered)["C3"][0] == "C2"


def test_links_from_the_command_line(tmp_path: Path) -> None:
    env = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development"}
    run = CliRunner()
    assert run.invoke(cli_app, ["db", "upgrade"], env=env).exit_code == 0
    people = write_csv(tmp_path / "people.csv", "ref", "p1", "p2")
    assert run.invoke(cli_app, ["import", "people", str(people), "--quiet"], env=env).exit_code == 0
    cases = write_csv(
        tmp_path / "cases.csv", "ref,person,classification,specimen_on", "A,p1,local,2026-01-02"
    )
    cases.write_text(cases.read_text(encoding="utf-8") + "B,p2,local,2026-01-05\n", encoding="utf-8")
    assert run.invoke(cli_app, ["import", "cases", str(cases), "--quiet"], env=env).exit_code == 0
    links = write_csv(tmp_path / "links.csv", "infector,infectee", "A,B")

    done = run.invoke(cli_app, ["import", "links", str(links), "--quiet", "--json"], env=env)
    bad = run.invoke(
        cli_app,
        ["import", "links", str(write_csv(tmp_path / "bad.csv", "infector,infectee", "B,Z"))],
        env=env,
    )

    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["stored"] == 1
    assert bad.exit_code == 1
    assert "line 2" in bad.stderr and "infectee" in bad.stderr and "'Z'" in bad.stderr
