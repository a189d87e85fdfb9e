"""A store's two halves, its database and its Parquet archive, are bound by the store's id.

`chaincut db upgrade` gives the store an id, in the database and in the archive's
manifests; a command or server whose database and archive name different stores
refuses to start and names both. Pointing CHAINCUT_DATABASE_URL at another
database under a data directory that already holds an archive is the mistake this
catches: before, the two stores' whereabouts were silently traced together.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner, Result

from chaincut.bootstrap import Services, bootstrap, db_upgrade
from chaincut.cli import app
from chaincut.clock import FixedClock
from chaincut.errors import ConfigurationError
from chaincut.store import VISIT_SCHEMA, ParquetArchive, head_revision, read_store_id
from support.postgres import PostgresServer
from support.settings import production_settings

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def manifests(data_dir: Path) -> dict[str, dict[str, object]]:
    """Each kind's manifest in the data directory's archive (kinds with none left out)."""
    folder = data_dir / "whereabouts"
    return {
        kind: json.loads((folder / kind / "manifest.json").read_text(encoding="utf-8"))
        for kind in ("visits", "encounters")
        if (folder / kind / "manifest.json").exists()
    }


def one_visit(person_id: int = 1, venue_id: int = 1) -> pa.Table:
    at = int(RECENT.timestamp())
    return pa.table(
        {
            "person_id": [person_id],
            "venue_id": [venue_id],
            "entered_at": [at],
            "left_at": [at + 600],
            "left_inferred": [False],
            "source": [1],
            "clipped": [False],
        },
        schema=VISIT_SCHEMA,
    )


# --- on the command line -----------------------------------------------------------------------------


Run = Callable[..., Result]


def chaincut(data_dir: Path, database_url: str | None = None) -> Run:
    env = {"CHAINCUT_DATA_DIR": str(data_dir), "CHAINCUT_ENV": "development"}
    if database_url:
        env["CHAINCUT_DATABASE_URL"] = database_url
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], env=env)


def upgraded_with_a_visit(data_dir: Path, tmp_path: Path) -> str:
    """A store migrated by `chaincut db upgrade` whose archive holds one imported visit; its id."""
    run = chaincut(data_dir)
    upgrade = run("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.stderr
    store_id = re.fullmatch(
        rf"sqlite schema upgraded from empty to revision \w+; store ({UUID})\n", upgrade.stdout
    )
    assert store_id is not None, upgrade.stdout
    (tmp_path / "people.csv").write_text("ref\np-ann\n", encoding="utf-8")
    (tmp_path / "venues.csv").write_text(
        "ref,type,name_en,name_zh\nv-rest,restaurant,Dragon,金龍\n", encoding="utf-8"
    )
    left = RECENT + timedelta(hours=1)
    (tmp_path / "visits.csv").write_text(
        f"person,venue,entered_at,left_at\np-ann,v-rest,{RECENT.isoformat()},{left.isoformat()}\n",
        encoding="utf-8",
    )
    for kind in ("people", "venues", "visits"):
        done = run("import", kind, tmp_path / f"{kind}.csv", "--quiet")
        assert done.exit_code == 0, done.stderr
    return store_id.group(1)


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_db_upgrade_writes_the_store_id_into_the_database_and_the_archive(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store_id = upgraded_with_a_visit(data_dir, tmp_path)
    run = chaincut(data_dir)

    again = run("db", "upgrade")
    current = run("db", "current")

    assert again.exit_code == 0 and again.stdout.endswith(
        f"already at revision {head_revision()}; store {store_id}\n"
    )
    assert current.stdout.rstrip().endswith(f"store {store_id}")
    assert {kind: m["store_id"] for kind, m in manifests(data_dir).items()} == {
        "visits": store_id,
        "encounters": store_id,
    }
    assert len(manifests(data_dir)["visits"]["segments"]) == 1  # type: ignore[arg-type]


def test_another_database_under_a_data_dir_with_an_archive_is_refused(tmp_path: Path) -> None:
    old = upgraded_with_a_visit(tmp_path / "old", tmp_path)
    other_dir = tmp_path / "other"
    other = upgraded_with_a_visit(other_dir, tmp_path)
    new_db = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    other_db = f"sqlite:///{other_dir / 'chaincut.sqlite3'}"

    # A new database under the old data directory: `db upgrade` refuses before making its schema.
    upgrade_new = chaincut(tmp_path / "old", new_db)("db", "upgrade")
    # Another store's database under the old data directory: nothing starts.
    mixed = chaincut(tmp_path / "old", other_db)
    refused = {
        args[0]: mixed(*args) for args in (("status", "--json"), ("db", "upgrade"), ("trace", "--case", "C1"))
    }

    archive = tmp_path / "old" / "whereabouts"
    assert error_line(upgrade_new) == (
        f"error: the whereabouts archive in {archive} belongs to store {old}, but the sqlite database "
        "has no store id yet (a new database?): CHAINCUT_DATABASE_URL and CHAINCUT_DATA_DIR must name "
        "the two halves of one store; nothing was read or written"
    )
    assert "at no schema" in chaincut(tmp_path / "old", new_db)("db", "current").stdout
    for command, result in refused.items():
        line = error_line(result)
        assert f"belongs to store {old}" in line and f"database is store {other}" in line, command
    # Both stores are as they were.
    for data_dir in (tmp_path / "old", other_dir):
        status = chaincut(data_dir)("status", "--json")
        assert json.loads(status.stdout)["visits"] == 1


# --- wired in-process ---------------------------------------------------------------------------------


def test_bootstrap_refuses_an_archive_of_another_store_naming_both(
    embedded_services: Services, tmp_path: Path, clock: FixedClock
) -> None:
    settings = embedded_services.settings
    store_id = read_store_id(embedded_services.db)
    assert store_id is not None
    ParquetArchive(settings.data_dir / "whereabouts").bind("0b5e7e0e-0000-4000-8000-000000000001")

    with pytest.raises(ConfigurationError) as refused:
        bootstrap(settings, clock=clock)

    assert refused.value.message == (
        f"the whereabouts archive in {settings.data_dir / 'whereabouts'} belongs to store "
        f"0b5e7e0e-0000-4000-8000-000000000001, but the sqlite database is store {store_id}: "
        "CHAINCUT_DATABASE_URL and CHAINCUT_DATA_DIR must name the two halves of one store; "
        "nothing was read or written"
    )


def test_a_new_data_dir_takes_the_database_id_on_its_first_write(embedded_services: Services) -> None:
    store = embedded_services.store
    assert store.archive is not None
    assert not (store.archive.root / "visits" / "manifest.json").exists()

    with store.bulk("visits") as sink:
        sink.write(one_visit())

    assert {kind: m["store_id"] for kind, m in manifests(embedded_services.settings.data_dir).items()} == {
        "visits": read_store_id(embedded_services.db)
    }


def test_an_archive_holding_rows_but_no_store_id_waits_for_db_upgrade(
    embedded_services: Services, clock: FixedClock
) -> None:
    """An archive written before store ids: refused until `chaincut db upgrade` binds it.

    Such an archive may hold a file imported twice: the upgrade deletes the rows held twice.
    """
    with embedded_services.store.bulk("visits") as sink:
        sink.write(one_visit())
    with embedded_services.store.bulk("visits") as sink:
        sink.write(one_visit(person_id=2))
    settings = embedded_services.settings
    folder = settings.data_dir / "whereabouts" / "visits"
    manifest = folder / "manifest.json"
    content = json.loads(manifest.read_text(encoding="utf-8"))
    del content["store_id"]
    # The first import again, as an archive from before stored it: its segment a second time.
    twice = dict(content["segments"][0], file="seg-twice.parquet")
    shutil.copy(folder / content["segments"][0]["file"], folder / twice["file"])
    content["segments"].append(twice)
    manifest.write_text(json.dumps(content), encoding="utf-8")
    store_id = read_store_id(embedded_services.db)

    with pytest.raises(
        ConfigurationError, match=r"holds whereabouts but names no store; run `chaincut db upgrade`"
    ):
        bootstrap(settings, clock=clock)
    done = db_upgrade(settings)
    rewired = bootstrap(settings, clock=clock)

    try:
        assert (done.store_id, done.archive_duplicates) == (store_id, 1)
        assert rewired.store.counts().visits == 2
        assert sorted(rewired.store.archive.read("visits")["person_id"].to_pylist()) == [1, 2]  # type: ignore[union-attr]
        assert manifests(settings.data_dir)["visits"]["store_id"] == store_id
    finally:
        rewired.close()


def test_an_archive_swapped_while_running_is_never_written(embedded_services: Services) -> None:
    store = embedded_services.store
    assert store.archive is not None
    with store.bulk("visits") as sink:
        sink.write(one_visit())
    manifest = store.archive.root / "visits" / "manifest.json"
    content = json.loads(manifest.read_text(encoding="utf-8"))
    content["store_id"] = "0b5e7e0e-0000-4000-8000-000000000002"
    manifest.write_text(json.dumps(content), encoding="utf-8")

    swapped = "belongs to store 0b5e7e0e-0000-4000-8000-000000000002"
    with pytest.raises(ConfigurationError, match=swapped), store.bulk("visits") as sink:
        sink.write(one_visit(person_id=2))
    with pytest.raises(ConfigurationError, match="nothing was written"):
        store.archive.purge("visits", int(RECENT.timestamp()) + 86_400)

    assert store.archive.count("visits") == 1
    assert not list(store.archive.root.rglob(".staging-*"))


@pytest.mark.postgres
def test_postgres_has_no_archive_to_bind(postgres_server: PostgresServer, tmp_path: Path) -> None:
    """On PostgreSQL every row is in the database: `db upgrade` gives the id and writes no archive."""
    settings = production_settings(tmp_path / "data", postgres_server.create_database("identity_pg"))

    first, again = db_upgrade(settings), db_upgrade(settings)

    assert first.backend == "postgresql" and re.fullmatch(UUID, first.store_id)
    assert (again.before, again.store_id) == (first.reached, first.store_id)
    assert not (tmp_path / "data" / "whereabouts").exists()
