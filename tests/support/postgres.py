"""A real, throwaway PostgreSQL server for the test suite (never a mock).

``running_postgres`` creates a brand-new cluster with the local PostgreSQL
binaries (``initdb`` + ``pg_ctl``), starts it on a free loopback port, yields a
:class:`PostgresServer` describing it, then stops it and deletes every file it
made, whether or not the code inside the ``with`` block failed.

PostgreSQL refuses to run as root.  When this process is root (as CI is), the
cluster is created and run by an unprivileged account instead: the ``postgres``
system user when it exists, otherwise a ``chaincut-pg`` system user that is
created on first use.  The commands run through ``runuser`` (or ``setpriv``).

Only the standard library and psycopg are used, so this module can be imported
from conftest files and from scripts alike.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "FALLBACK_OS_USER",
    "PG_BIN_ENV",
    "SUPERUSER",
    "PostgresServer",
    "PostgresStartError",
    "PostgresUnavailableError",
    "find_postgres_bin",
    "in_ci",
    "missing_postgres_reason",
    "ram_dir",
    "running_postgres",
]

PG_BIN_ENV = "CHAINCUT_PG_BIN"
"""Environment variable naming the directory that holds initdb, pg_ctl and postgres."""

SUPERUSER = "chaincut"
"""The database superuser that initdb creates (trust authentication, no password)."""

MAINTENANCE_DB = "postgres"
HOST = "127.0.0.1"
FALLBACK_OS_USER = "chaincut-pg"
"""System account created to run the server when we are root and ``postgres`` does not exist."""

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS
_PORT_ATTEMPTS = 5
_RAM_DIR = Path("/dev/shm")
_RAM_DIR_MIN_FREE = 2 * 1024**3  # ten times what the test suite's cluster holds at most


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries could be found on this machine."""


class PostgresStartError(RuntimeError):
    """The throwaway cluster could not be created, started or stopped."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server. Trust authentication: no password is needed."""

    host: str
    port: int
    user: str
    database: str
    data_dir: Path

    def url(self, database: str | None = None, driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL for ``database`` (default: :attr:`database`).

        ``driver="postgresql"`` gives a plain libpq URI that ``psycopg.connect`` accepts.
        """
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database or self.database}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a fresh UTF-8 database called ``name``, empty or a copy of ``template`` (a
        database nobody is connected to); return its SQLAlchemy URL.

        ``name`` must be a lower-case SQL identifier (``[a-z_][a-z0-9_]*``, at most 63 chars).
        Raises ``psycopg.errors.DuplicateDatabase`` if it already exists.

        From PostgreSQL 15 the copy is ``STRATEGY FILE_COPY``, the template's files copied whole,
        rather than the default's every page written again through the WAL (5 MB for the migrated
        schema): faster here, where the checkpoints it takes cost little (``fsync = off``).
        """
        _check_db_name(name)
        if template is not None:
            _check_db_name(template)
        with self._admin_connection() as conn:
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'" + strategy).format(
                    sql.Identifier(name), sql.Identifier(template or "template0")
                )
            )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, disconnecting any sessions still using it."""
        _check_db_name(name)
        with self._admin_connection() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=MAINTENANCE_DB,
            sslmode="disable",
            connect_timeout=10,
            autocommit=True,
        )


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where a missing server must fail, not skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_postgres_reason() -> str:
    """A human-readable explanation for skipping (or failing) when no server binaries exist."""
    return (
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: looked at "
        f"${PG_BIN_ENV}, `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH. "
        "Run scripts/install-system-deps (Debian: apt-get install postgresql) "
        f"or set {PG_BIN_ENV}."
    )


def ram_dir(min_free: int = _RAM_DIR_MIN_FREE) -> Path | None:
    """``/dev/shm`` when it is a tmpfs (memory, not disk) with at least ``min_free`` bytes free.

    A cluster there copies the migrated template in about 20 ms, where a virtual disk took
    0.25-0.5 s: a database is some 640 small files.  It suits a server whose databases are
    dropped once used (the test suite's stays under 200 MB).  None elsewhere: macOS, or a
    container whose /dev/shm is small.
    """
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        free = shutil.disk_usage(_RAM_DIR).free
    except OSError:
        return None
    tmpfs = any(line.split()[1:3] == [str(_RAM_DIR), "tmpfs"] for line in mounts)
    if not tmpfs or free < min_free or not os.access(_RAM_DIR, os.W_OK | os.X_OK):
        return None
    return _RAM_DIR


def find_postgres_bin() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres, or None if there is none.

    Looks at ``$CHAINCUT_PG_BIN``, then ``pg_config --bindir``, then the newest
    ``/usr/lib/postgresql/*/bin`` (Debian's layout), then ``initdb`` on ``PATH``.
    A ``$CHAINCUT_PG_BIN`` that lacks the binaries is a configuration error and
    raises :class:`PostgresUnavailableError` instead of being silently ignored.
    """
    override = os.environ.get(PG_BIN_ENV, "").strip()
    if override:
        path = Path(override)
        if not _has_server_binaries(path):
            raise PostgresUnavailableError(
                f"${PG_BIN_ENV}={override!r} does not contain {', '.join(_REQUIRED_BINARIES)}"
            )
        return path

    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        # Debian's pg_config comes with libpq-dev and can point at a bindir whose
        # server package is not installed, so verify rather than trust it.
        if out and _has_server_binaries(Path(out)):
            return Path(out)

    debian = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server_binaries(p)]
    if debian:
        return max(debian, key=lambda p: _version_key(p.parent.name))

    initdb = shutil.which("initdb")
    if initdb is not None:
        bindir = Path(initdb).resolve().parent
        if _has_server_binaries(bindir):
            return bindir
    return None


@contextmanager
def running_postgres(
    base_dir: Path,
    *,
    bin_dir: Path | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[PostgresServer]:
    """Run a brand-new PostgreSQL cluster for the duration of the ``with`` block.

    The cluster lives in a fresh ``chaincut-pg-*`` directory made inside
    ``base_dir`` -- or, when running as root and ``base_dir`` is not traversable
    by the unprivileged server account (pytest's tmp dirs under /root are 0700),
    inside the system temp dir.  That directory is deleted on exit.

    Raises :class:`PostgresUnavailableError` when no binaries are found and
    :class:`PostgresStartError` (with the tail of the server log) when the
    server cannot be created or does not accept connections in time.
    """
    if bin_dir is None:
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise PostgresUnavailableError(missing_postgres_reason())
    runner = _Runner.for_this_process()
    root = _make_cluster_root(base_dir, runner)
    data_dir = root / "data"
    cluster = _Cluster(bin_dir=bin_dir, root=root, data_dir=data_dir, runner=runner)
    try:
        cluster.initdb()
        port = cluster.start(startup_timeout)
        server = PostgresServer(
            host=HOST,
            port=port,
            user=SUPERUSER,
            database=MAINTENANCE_DB,
            data_dir=data_dir,
        )
        _wait_until_accepting(server, cluster, startup_timeout)
        yield server
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root)


# --------------------------------------------------------------------------- internals


def _has_server_binaries(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in _REQUIRED_BINARIES)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (-1,)


def _check_db_name(name: str) -> None:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"invalid database name {name!r}: use [a-z_][a-z0-9_]*, max 63 chars")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def _clean_env(home: Path) -> dict[str, str]:
    """The environment for the server commands: no PG* overrides, a stable locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", TZ="UTC", HOME=str(home))
    return env


def _initdb_locale() -> str:
    """C.UTF-8 where the C library has it (Unicode-aware lower()/upper()), else plain C."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "C"
    names = {line.strip().lower().replace("-", "") for line in out.splitlines()}
    return "C.UTF-8" if "c.utf8" in names else "C"


class _Runner:
    """Runs server commands as this user, or as an unprivileged account when root."""

    def __init__(self, account: pwd.struct_passwd | None, prefix: Sequence[str]) -> None:
        self.account = account
        self._prefix = list(prefix)

    @classmethod
    def for_this_process(cls) -> _Runner:
        if os.geteuid() != 0:
            return cls(None, [])
        account = _service_account()
        runuser = shutil.which("runuser")
        if runuser is not None:
            return cls(account, [runuser, "-u", account.pw_name, "--"])
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            return cls(
                account,
                [
                    setpriv,
                    f"--reuid={account.pw_uid}",
                    f"--regid={account.pw_gid}",
                    "--init-groups",
                    "--",
                ],
            )
        raise PostgresStartError(
            "running as root, but neither runuser nor setpriv (util-linux) is available "
            "to run PostgreSQL as an unprivileged user"
        )

    def chown(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def can_traverse(self, path: Path) -> bool:
        """Whether every directory from / down to ``path`` is searchable by the account."""
        if self.account is None:
            return True
        uid, gid, name = self.account.pw_uid, self.account.pw_gid, self.account.pw_name
        groups = set(os.getgrouplist(name, gid))
        for directory in (path, *path.parents):
            try:
                st = directory.stat()
            except OSError:
                return False
            if st.st_uid == uid:
                bit = stat.S_IXUSR
            elif st.st_gid in groups:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not st.st_mode & bit:
                return False
        return True

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._prefix, *argv],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


def _service_account() -> pwd.struct_passwd:
    for name in ("postgres", FALLBACK_OS_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PostgresStartError(
            f"running as root and there is no 'postgres' user; cannot create {FALLBACK_OS_USER!r} "
            "because useradd is missing"
        )
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            "--comment",
            "chaincut throwaway PostgreSQL for tests",
            FALLBACK_OS_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    try:  # a concurrent test process may have created it first: that is fine
        return pwd.getpwnam(FALLBACK_OS_USER)
    except KeyError:
        raise PostgresStartError(
            f"useradd {FALLBACK_OS_USER} failed ({result.returncode}): {result.stderr.strip()}"
        ) from None


def _make_cluster_root(base_dir: Path, runner: _Runner) -> Path:
    candidates = [Path(base_dir), Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]
    for parent in candidates:
        if parent.is_dir() and runner.can_traverse(parent):
            break
    else:
        raise PostgresStartError(
            f"no directory among {[str(c) for c in candidates]} is traversable by the PostgreSQL account"
        )
    root = Path(tempfile.mkdtemp(prefix="chaincut-pg-", dir=parent))
    root.chmod(0o755)
    runner.chown(root)
    return root


@dataclass
class _Cluster:
    bin_dir: Path
    root: Path
    data_dir: Path
    runner: _Runner

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def _run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return self.runner.run(argv, cwd=self.root, env=_clean_env(self.root), timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"

    def initdb(self) -> None:
        result = self._run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--encoding",
                "UTF8",
                "--locale",
                _initdb_locale(),
                "--auth",
                "trust",
                "--no-sync",
            ],
            timeout=300,
        )
        if result.returncode != 0:
            raise PostgresStartError(
                f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        # Loopback TCP only (plus the private unix socket); nothing else may connect.
        (self.data_dir / "pg_hba.conf").write_text(
            f"# chaincut throwaway test cluster\nlocal all all trust\nhost all all {HOST}/32 trust\n"
        )
        socket_dir = self.socket_dir
        socket_dir.mkdir(mode=0o700)
        self.runner.chown(socket_dir)
        # A path too long for a unix socket means TCP only.
        too_long = len(str(socket_dir / ".s.PGSQL.65535")) > _SUN_PATH_MAX
        socket_setting = "" if too_long else str(socket_dir)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# --- chaincut throwaway test cluster: speed over durability ---\n"
                f"listen_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{socket_setting}'\n"
                "max_connections = 200\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "timezone = 'UTC'\n"
                "log_timezone = 'UTC'\n"
            )

    def start(self, timeout: float) -> int:
        """Start on a free port (retrying if another process grabs it first); return the port."""
        for _attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            result = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "start",
                    "--pgdata",
                    str(self.data_dir),
                    "--log",
                    str(self.log_file),
                    "--wait",
                    "--timeout",
                    str(max(1, round(timeout))),
                    "--options",
                    f"-p {port}",
                ],
                timeout=timeout + 30,
            )
            if result.returncode == 0:
                return port
            new_log = ""
            with contextlib.suppress(OSError), self.log_file.open(errors="replace") as log:
                log.seek(log_offset)
                new_log = log.read()
            if "could not bind" in new_log or "already in use" in new_log:
                self.stop()  # nothing should be running, but be sure before retrying
                continue
            raise PostgresStartError(
                f"pg_ctl start failed ({result.returncode}): {result.stderr.strip()}\n"
                f"--- tail of {self.log_file} ---\n{self.log_tail()}"
            )
        raise PostgresStartError(
            f"could not find a free port in {_PORT_ATTEMPTS} attempts\n"
            f"--- tail of {self.log_file} ---\n{self.log_tail()}"
        )

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the server if it runs. Immediate mode: the data is thrown away anyway."""
        started_pid = self._postmaster_pid()
        if started_pid is None:
            return
        result = self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(self.data_dir),
                "--mode",
                "immediate",
                "--wait",
                "--timeout",
                "30",
            ],
            timeout=60,
        )
        # pg_ctl returns once postmaster.pid is gone, a moment before the process has
        # exited: wait for that too, and SIGKILL it if pg_ctl could not stop it.
        pid = started_pid if result.returncode == 0 else self._postmaster_pid()
        if pid is None or _wait_for_exit(pid, 5 if result.returncode == 0 else 0):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        if _wait_for_exit(pid, 10):
            return
        raise PostgresStartError(f"could not stop the PostgreSQL server (pid {pid}): {result.stderr.strip()}")


def _process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    if Path("/proc/self/stat").exists():
        try:
            stat_line = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        state = stat_line.rpartition(")")[2].split()[:1]
        return state in (["Z"], ["X"])
    try:  # no procfs (macOS): signal 0 probes for existence
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _process_gone(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _wait_until_accepting(server: PostgresServer, cluster: _Cluster, timeout: float) -> None:
    """Block until a real SQL connection over TCP succeeds, or raise with the log tail."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with server._admin_connection() as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(0.1)
    raise PostgresStartError(
        f"PostgreSQL on {server.host}:{server.port} did not accept connections within "
        f"{timeout:.0f}s: {last_error}\n--- tail of {cluster.log_file} ---\n{cluster.log_tail()}"
    )
