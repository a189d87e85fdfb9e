"""An app served by uvicorn in a thread on a free loopback port: for clients that need a real socket
(the command line's HTTP calls, a browser) while the test keeps the services and their fixed clock."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from chaincut.api import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import Clock
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import upgrade
from support.processes import stop_process
from support.settings import production_settings

__all__ = [
    "ThreadedServer",
    "browser_services",
    "chaincut_command",
    "chaincut_serve",
    "free_port",
    "healthy",
    "served",
]


class ThreadedServer:
    """The API served by uvicorn on a free loopback port, in a thread, until stopped."""

    def __init__(self, app: FastAPI, port: int, *, access_log: bool = False) -> None:
        self.port = port
        # With ``access_log`` uvicorn logs each request line to "uvicorn.access" (propagating to the
        # root logger, where pytest's caplog sees it), as a server's access log would.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="info" if access_log else "warning",
            ws="none",
            lifespan="on",
            access_log=access_log,
            log_config=None if access_log else uvicorn.config.LOGGING_CONFIG,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


def browser_services(
    data_dir: Path, clock: Clock | None = None, *, settings: Settings | None = None
) -> Services:
    """Services on a freshly migrated store (the embedded default unless ``settings`` name another),
    for a browser on plain HTTP (cookies not Secure)."""
    settings = (settings or production_settings(data_dir)).model_copy(update={"secure_cookies": False})
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    return bootstrap(settings, clock=clock, settle=True)  # a server starting: its policy file in force


@contextmanager
def served(services: Services, *, access_log: bool = False) -> Iterator[str]:
    """The app on ``services`` served on a free loopback port until the block ends (then closed)."""
    app = create_app(services, schedule_maintenance=False)
    port = free_port()
    try:
        with ThreadedServer(app, port, access_log=access_log):
            yield f"http://127.0.0.1:{port}"
    finally:
        services.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chaincut_command() -> str:
    """The installed ``chaincut`` command (beside this Python first)."""
    beside = Path(sys.executable).parent / "chaincut"
    found = str(beside) if beside.exists() else shutil.which("chaincut")
    if found is None:
        pytest.fail("the chaincut command is not installed (pip install -e .)")
    return found


def healthy(url: str) -> bool:
    """True when ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test server
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def chaincut_serve(command: str, env: dict[str, str], log_dir: Path, name: str) -> Iterator[str]:
    """``chaincut serve`` on a free loopback port until the block ends; yields its base URL.

    Its output goes to ``log_dir`` (``{name}-serve-{port}.stdout|stderr``); waits up to 30 s
    for ``/health``, failing with the server's errors if it exits first.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out_path, err_path = log_dir / f"{name}-serve-{port}.stdout", log_dir / f"{name}-serve-{port}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        server = subprocess.Popen(
            [command, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=err
        )
    try:
        deadline = time.monotonic() + 30
        while not healthy(f"{base}/health"):
            assert server.poll() is None, f"the server exited: {err_path.read_text(errors='replace')}"
            assert time.monotonic() < deadline, "the server did not answer /health within 30 s"
            time.sleep(0.1)
        yield base
    finally:
        stop_process(server)
