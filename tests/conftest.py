"""Fixtures shared by every tier: settings, clocks, wired services on each backend.

The ``backend`` fixture runs a test once on the embedded default (SQLite plus
the Parquet archive) and once on a real PostgreSQL server that the session
starts from the local binaries (tests/support/postgres.py) and removes after;
there each test has a database of its own, dropped after the test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.errors import ConfigurationError
from chaincut.settings import Settings
from chaincut.store import Database, upgrade
from chaincut.store.migrate import current_revision, head_revision
from chaincut.store.tables_store import store_identity
from support.postgres import (
    PostgresServer,
    find_postgres_bin,
    in_ci,
    missing_postgres_reason,
    ram_dir,
    running_postgres,
)
from support.settings import production_settings

# Every log of the run is kept and scanned for planted personal data (tests/support/log_scan.py).
pytest_plugins = ["support.log_scan"]

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own CHAINCUT_* settings."""
    for name in list(os.environ):
        if name.startswith("CHAINCUT_") and name != "CHAINCUT_PG_BIN":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        if in_ci():
            pytest.fail(f"CI=true but {missing_postgres_reason()}", pytrace=False)
        pytest.skip(missing_postgres_reason())
    # In memory when there is room: the test databases are created (and dropped) many times faster.
    base_dir = ram_dir() or tmp_path_factory.mktemp("postgres")
    with running_postgres(base_dir, bin_dir=bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Spark session in local mode for the whole run (Spark takes seconds to start)."""
    try:
        from chaincut.tracing.spark import require_spark

        require_spark()
        from chaincut.tracing.spark.job import spark_session
    except (ImportError, ConfigurationError) as missing:
        if in_ci():
            pytest.fail(f"CI=true but Spark cannot run: {missing}", pytrace=False)
        pytest.skip(str(missing))
    session = spark_session(
        "local[2]", SPARK_TEST_SETTINGS | {"spark.local.dir": str(tmp_path_factory.mktemp("spark"))}
    )
    yield session
    session.stop()


SPARK_TEST_SETTINGS = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
}
"""Local mode as small as it goes: two partitions, no web UI."""


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on the embedded default and on PostgreSQL."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_head() -> str:
    return head_revision()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store migrated once for the session: ``services`` starts from a copy of it."""
    path = tmp_path_factory.mktemp("store-template") / "chaincut.sqlite3"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated once for the session, the template ``services`` databases
    are created from."""
    name = "chaincut_template"
    db = Database(postgres_server.create_database(name))
    upgrade(db)
    db.dispose()
    return name


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    if backend != "postgres":
        yield production_settings(tmp_path / "data")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    # A test that wires services gets a migrated database (a copy of the session's template);
    # any other, an empty one, as a new installation has.
    wired = "services" in request.fixturenames
    template = request.getfixturevalue("postgres_template") if wired else None
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield production_settings(tmp_path / "data", server.create_database(name, template=template))
    # Every fixture using these settings (services, servers) has been torn down by now; anything
    # the test left connected is disconnected.
    server.drop_database(name)


def migrated_store(settings: Settings, request: pytest.FixtureRequest) -> None:
    """The settings' store at the schema's head: a copy of the session's migrated template (with
    a store id of its own, as ``chaincut db upgrade`` gives each store), or migrated here when the
    test's settings made it otherwise."""
    url = settings.resolved_database_url()
    if settings.database_url is None:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    db = Database(url)
    try:
        if current_revision(db) == request.getfixturevalue("migrated_head"):
            with db.engine.begin() as conn:
                conn.execute(store_identity.update().values(store_id=str(uuid.uuid4())))
        else:
            upgrade(db)
    finally:
        db.dispose()


@pytest.fixture
def services(settings: Settings, clock: FixedClock, request: pytest.FixtureRequest) -> Iterator[Services]:
    """Services on a freshly migrated store of the test's backend."""
    migrated_store(settings, request)
    wired = bootstrap(settings, clock=clock)
    yield wired
    wired.close()


@pytest.fixture
def embedded_services(
    tmp_path: Path, clock: FixedClock, request: pytest.FixtureRequest
) -> Iterator[Services]:
    """Services on the embedded default only."""
    settings = production_settings(tmp_path / "data")
    migrated_store(settings, request)
    wired = bootstrap(settings, clock=clock)
    yield wired
    wired.close()
