"""A pytest plugin that keeps every log of the test run and fails the run if one holds personal data.

At session start a handler on the root logger records every log record of the whole
run, at DEBUG, from every logger (chaincut's, uvicorn's, SQLAlchemy's...) to
``run.log`` in the session's temp directory. Tests that start chaincut as a
subprocess write its stdout and stderr into the ``log_dir`` fixture's folder (also
named by the environment variable ``PII_SCAN_LOG_DIR``). At session end everything
there is scanned for the canary personal data of ``support.canaries``, in any of
the forms it could be written in; each hit is printed with its file and line, and
the run's exit status becomes a failure.

Registered from ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.canaries import needles

__all__ = ["LOG_DIR_ENV", "Leak", "find_leaks", "log_dir"]

LOG_DIR_ENV = "PII_SCAN_LOG_DIR"
"""Where subprocesses' logs go; not ``CHAINCUT_*``, which every test's environment drops."""

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
_SHOWN_CHARS = 200
_STATE = pytest.StashKey["_ScanState"]()


@dataclass(frozen=True)
class Leak:
    """One planted value found in a log: where, and which value."""

    path: Path
    line: int
    label: str
    text: str

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.label}: {self.text[:_SHOWN_CHARS]}"


def find_leaks(paths: Iterable[Path], searched: Iterable[tuple[str, str]] | None = None) -> list[Leak]:
    """Every line of the files at ``paths`` holding a (label, case-folded text) needle."""
    pairs = list(needles() if searched is None else searched)
    found: list[Leak] = []
    for path in paths:
        for number, line in enumerate(_lines(path), start=1):
            folded = line.casefold()
            for label, needle in pairs:
                if needle in folded:
                    found.append(Leak(path, number, label, line.rstrip("\n")))
                    break
    return found


def _lines(path: Path) -> Iterator[str]:
    # Binary logs (a subprocess's raw output) are read leniently: a leak is still text.
    with path.open("r", encoding="utf-8", errors="replace") as file:
        yield from file


@dataclass
class _ScanState:
    folder: Path
    run_log: Path
    handler: logging.Handler
    old_level: int
    old_env: str | None

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())


def _session_folder(config: pytest.Config) -> Path:
    factory = getattr(config, "_tmp_path_factory", None)
    if isinstance(factory, pytest.TempPathFactory):
        return factory.mktemp("log-scan", numbered=True)
    return Path(tempfile.mkdtemp(prefix="chaincut-log-scan-"))


def pytest_sessionstart(session: pytest.Session) -> None:
    folder = _session_folder(session.config)
    run_log = folder / "run.log"
    handler = logging.FileHandler(run_log, encoding="utf-8", delay=False)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    state = _ScanState(folder, run_log, handler, root.level, os.environ.get(LOG_DIR_ENV))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    os.environ[LOG_DIR_ENV] = str(folder)
    session.config.stash[_STATE] = state


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    root = logging.getLogger()
    root.removeHandler(state.handler)
    state.handler.close()
    root.setLevel(state.old_level)
    if state.old_env is None:
        os.environ.pop(LOG_DIR_ENV, None)
    else:
        os.environ[LOG_DIR_ENV] = state.old_env
    files = state.files()
    leaks = find_leaks(files)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(text: str) -> None:
        if reporter is not None:
            reporter.write_line(text)
        else:
            print(text)

    if leaks:
        if reporter is not None:
            reporter.write_sep("=", "personal data found in the logs of this run", red=True, bold=True)
        for leak in leaks:
            say(leak.render())
        say(f"{len(leaks)} log line(s) hold planted personal data; logs and errors must carry ids only")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None and reporter.verbosity >= 0:
        size = sum(p.stat().st_size for p in files)
        say(f"log scan: {len(files)} log file(s), {size:,} bytes, no planted personal data ({state.folder})")


@pytest.fixture(scope="session")
def log_dir(request: pytest.FixtureRequest) -> Path:
    """A folder whose files are scanned for personal data at the end of the run (subprocess logs)."""
    state = request.config.stash.get(_STATE, None)
    if state is None:
        raise RuntimeError("the log-scan plugin did not start")
    return state.folder
