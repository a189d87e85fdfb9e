"""Fixtures shared by every tier: settings, clocks, wired services on each backend.

The ``backend`` fixture runs a test once on the embedded default (SQLite plus
the Parquet archive) and once on a real PostgreSQL server that the session
starts from the local binaries (tests/support/postgres.py) and removes after.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.settings import Settings
from chaincut.store import Database, upgrade
from support.postgres import (
    PostgresServer,
    find_postgres_bin,
    in_ci,
    missing_postgres_reason,
    running_postgres,
)

# Every log of the run is kept and scanned for planted personal data (tests/support/log_scan.py).
pytest_plugins = ["support.log_scan"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong


def shared_data(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test saying it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared real-data folder is not beside the project")
    return path


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
    with running_postgres(tmp_path_factory.mktemp("postgres"), bin_dir=bin_dir) as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def _signing_key_file(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / "venue-signing-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def production_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """Settings with explicit secrets, as production would have them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        env="production",
        data_dir=data_dir,
        database_url=database_url,
        identity_hash_key=base64.b64encode(os.urandom(32)).decode(),
        data_keys="1:" + base64.b64encode(os.urandom(32)).decode(),
        venue_signing_key_file=_signing_key_file(data_dir),
        audit_key=base64.b64encode(os.urandom(32)).decode(),
        # The cheapest Argon2id the settings allow: tests sign in often (the default is tested apart).
        password_memory_kib=1024,
        password_time_cost=1,
    )


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on the embedded default and on PostgreSQL."""
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    url = None
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database(f"t_{uuid.uuid4().hex[:16]}")
    return production_settings(tmp_path / "data", url)


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """Services on a freshly migrated store of the test's backend."""
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    wired = bootstrap(settings, clock=clock)
    yield wired
    wired.close()


@pytest.fixture
def embedded_services(tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    """Services on the embedded default only."""
    settings = production_settings(tmp_path / "data")
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    wired = bootstrap(settings, clock=clock)
    yield wired
    wired.close()
