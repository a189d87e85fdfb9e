"""What the HTTP benchmarks share: a fresh store on either backend, a served chaincut, small requests.

``database`` gives the embedded default (no URL) or a throwaway PostgreSQL server
started from the local binaries (tests/support/postgres.py); ``server`` runs
``chaincut serve`` on a loopback port until the block ends; ``wait_until_quiet``
holds a measurement back while other processes keep the machine busy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "BIN",
    "CHAINCUT",
    "HOST",
    "ROOT",
    "busy_cores",
    "chaincut",
    "credentials",
    "database",
    "environ",
    "environment",
    "free_port",
    "get_json",
    "request_json",
    "server",
    "wait_until_quiet",
]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHAINCUT = str(BIN / "chaincut")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def chaincut(env: dict[str, str], *args: str, timeout: float = 600) -> None:
    result = subprocess.run(
        [CHAINCUT, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"chaincut {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINCUT_") or k == "CHAINCUT_PG_BIN"}
    env.update(CHAINCUT_ENV="development", CHAINCUT_DATA_DIR=str(data_dir))
    if database_url:
        env["CHAINCUT_DATABASE_URL"] = database_url
    return env


def add_tests_to_path() -> None:
    """Make the test suite's helpers (``support``: PostgreSQL, nginx) importable."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[tuple[str | None, list[int]]]:
    """(database URL or None for the embedded default, the PostgreSQL server's pids)."""
    if backend == "embedded":
        yield None, []
        return
    add_tests_to_path()
    from support.postgres import running_postgres

    with running_postgres(tmp) as server:
        url = server.create_database(f"bench_{uuid.uuid4().hex[:12]}")
        pid_file = server.data_dir / "postmaster.pid"
        pids = [int(pid_file.read_text().splitlines()[0])] if pid_file.exists() else []
        yield url, pids


def request_json(
    port: int, method: str, path: str, *, body: Any = None, bearer: str | None = None, timeout: float = 10.0
) -> Any:
    headers = {"Accept": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {answer[:200]!r}")
        return json.loads(answer)
    finally:
        conn.close()


def get_json(port: int, path: str, bearer: str | None = None, timeout: float = 10.0) -> Any:
    return request_json(port, "GET", path, bearer=bearer, timeout=timeout)


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """This process's environment replaced by ``env`` for the block (settings read CHAINCUT_*)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def server(env: dict[str, str], port: int, workers: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``chaincut serve`` on loopback, stopped (SIGINT, then SIGKILL) however the block ends."""
    with log_path.open("wb") as log:
        command = [CHAINCUT, "serve", "--host", HOST, "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited ({proc.returncode}):\n{log_path.read_text()}")
                with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException):
                    if get_json(port, "/health", timeout=2).get("status") == "ok":
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer /health in 60 s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


def busy_cores(seconds: float) -> float:
    """Cores busy (not idle, not waiting for I/O) over the next ``seconds``, machine-wide."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        return sum(values), values[3] + values[4]

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    ticks = os.sysconf("SC_CLK_TCK")
    return ((total1 - total0) - (idle1 - idle0)) / ticks / seconds


def wait_until_quiet(limit: float, threshold: float = 0.25) -> float:
    """Wait (at most ``limit`` seconds) until the machine is nearly idle; return the last busy cores."""
    deadline = time.monotonic() + limit
    busy = busy_cores(1.0)
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_cores(2.0)
    return round(busy, 2)


def credentials(
    env: dict[str, str], people: list[str], *, staff: tuple[str, str, str] | None = None
) -> list[str]:
    """One resident app token per person (and a staff account: username, password, role), up front.

    As ``chaincut tokens resident --person REF`` and ``chaincut users add`` would, on the
    same store, in one process (a command per person would take far longer than the run).
    """
    from chaincut.bootstrap import bootstrap
    from chaincut.domain.access import Principal, Role

    with environ(env):
        services = bootstrap()
        try:
            by = Principal.system("bench")
            if staff is not None:
                username, password, role = staff
                services.accounts.add(username, password, frozenset({Role(role)}), by)
            return [services.accounts.issue_resident_token(ref, by).secret for ref in people]
        finally:
            services.close()
