"""Tests of the throwaway PostgreSQL helper itself, against a real server.

One server for the whole module: the last test shuts it down and checks the cleanup,
so keep ``test_exit_stops_server_and_removes_data_dir`` at the bottom of the file.
"""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from .postgres import (
    FALLBACK_OS_USER,
    PostgresServer,
    find_postgres_bin,
    in_ci,
    missing_postgres_reason,
    ram_dir,
    running_postgres,
)

pytestmark = pytest.mark.postgres


@dataclass
class _Lifecycle:
    server: PostgresServer
    stack: ExitStack
    closed: bool = field(default=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stack.close()


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Lifecycle]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        if in_ci():
            pytest.fail(f"CI=true but {missing_postgres_reason()}", pytrace=False)
        pytest.skip(missing_postgres_reason())
    stack = ExitStack()
    server = stack.enter_context(running_postgres(tmp_path_factory.mktemp("postgres"), bin_dir=bin_dir))
    life = _Lifecycle(server, stack)
    try:
        yield life
    finally:
        life.close()


@pytest.fixture
def server(lifecycle: _Lifecycle) -> PostgresServer:
    if lifecycle.closed:
        pytest.fail("the module's server was already stopped: the shutdown test must run last")
    return lifecycle.server


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def _process_gone(pid: int) -> bool:
    try:  # a zombie not yet reaped by init has exited too
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_runs_as_expected_os_user(server: PostgresServer) -> None:
    pid = _postmaster_pid(server.data_dir)
    server_uid = Path(f"/proc/{pid}").stat().st_uid
    if os.geteuid() == 0:
        try:
            expected = pwd.getpwnam("postgres")
        except KeyError:
            expected = pwd.getpwnam(FALLBACK_OS_USER)
        assert server_uid == expected.pw_uid != 0
        assert server.data_dir.stat().st_uid == expected.pw_uid
    else:
        assert server_uid == os.geteuid()
    with psycopg.connect(server.url(driver="postgresql")) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    assert Path(row[0]) == server.data_dir


def test_settings_are_those_of_a_throwaway_loopback_server(server: PostgresServer) -> None:
    names = (
        "listen_addresses",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "max_connections",
        "server_encoding",
        "port",
    )
    with psycopg.connect(server.url(driver="postgresql")) as conn:
        settings = {name: conn.execute(f"SHOW {name}").fetchone() for name in names}
        is_superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser_row = is_superuser.fetchone()
    assert {name: row[0] if row else None for name, row in settings.items()} == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "server_encoding": "UTF8",
        "port": str(server.port),
    }
    assert server.user == "chaincut"
    assert superuser_row == (True,)
    assert str(server.data_dir).startswith(str(server.data_dir.parent))
    assert server.data_dir.parent.name.startswith("chaincut-pg-")


def test_sqlalchemy_engine_connects(server: PostgresServer) -> None:
    url = server.url()
    assert url == f"postgresql+psycopg://chaincut@127.0.0.1:{server.port}/postgres"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("select version()")).scalar_one()
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL ")


def test_create_database_gives_independent_databases(server: PostgresServer) -> None:
    url_a = server.create_database("helper_db_a")
    url_b = server.create_database("helper_db_b")
    assert url_a == server.url("helper_db_a")
    assert url_b.endswith("/helper_db_b")
    engine_a, engine_b = create_engine(url_a), create_engine(url_b)
    try:
        with engine_a.begin() as conn:
            conn.execute(text("CREATE TABLE contact (id int PRIMARY KEY, name text)"))
            conn.execute(text("INSERT INTO contact VALUES (1, 'Zoë 张伟')"))
        with engine_a.connect() as conn:
            assert conn.execute(text("SELECT name FROM contact")).scalar_one() == "Zoë 张伟"
            assert conn.execute(text("SELECT current_database()")).scalar_one() == "helper_db_a"
        with engine_b.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == "helper_db_b"
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
            assert tables == 0
    finally:
        engine_a.dispose()
        engine_b.dispose()
    with pytest.raises(psycopg.errors.DuplicateDatabase):
        server.create_database("helper_db_a")
    server.drop_database("helper_db_a")
    assert server.create_database("helper_db_a") == url_a  # fresh again after the drop


@pytest.mark.parametrize("name", ["", "Upper", "semi;colon", "x" * 64, "1abc"])
def test_create_database_rejects_unsafe_names(server: PostgresServer, name: str) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        server.create_database(name)


def test_ram_dir_is_a_roomy_writable_tmpfs_or_none() -> None:
    assert ram_dir(min_free=2**62) is None  # 4 EiB free: no machine
    found = ram_dir(min_free=0)
    assert found is None or (found.is_dir() and os.access(found, os.W_OK))


def test_exit_stops_server_and_removes_data_dir(lifecycle: _Lifecycle) -> None:
    server = lifecycle.server
    pid = _postmaster_pid(server.data_dir)
    assert _accepts(server.port)
    lifecycle.close()
    assert not _accepts(server.port)
    assert not server.data_dir.exists()
    assert not server.data_dir.parent.exists()  # the whole chaincut-pg-* directory
    assert _process_gone(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(driver="postgresql"), connect_timeout=2).close()
