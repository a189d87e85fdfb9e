"""Connecting to the store: engines for SQLite and PostgreSQL, and the schema check.

SQLite is the embedded default. It allows one writer at a time, so writes take
a lock before ``BEGIN IMMEDIATE`` instead of spinning on SQLite's busy handler,
which keeps check-in latency flat under load: a thread lock within a process,
and a file lock beside the database file between processes (``chaincut serve
--workers``, or an import while serving).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["Database"]


class Database:
    """One database: its engine, and how to open read and write transactions on it."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._file_lock: _FileLock | None = None
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                path = Path(parsed.database)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file_lock = _FileLock(path.with_name(path.name + ".write-lock"))
            self.engine = create_engine(
                url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            # Connections are kept, never opened and closed per request: an overflow connection
            # closed on return costs PostgreSQL a new backend process for the next burst.
            self.engine = create_engine(url, echo=echo, pool_size=32, max_overflow=0, pool_pre_ping=True)

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, _locked(self._file_lock), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction, seeing one consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()


class _FileLock:
    """An exclusive lock between processes writing one SQLite file: flock on a file beside it.

    Waiting polls every few milliseconds at most; after ``timeout`` the write goes
    ahead without it, and SQLite's own busy timeout decides, as it would without
    this lock. The file is opened once per process (reopened after a fork).
    """

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self._path = path
        self._timeout = timeout
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> bool:
        fd = self._descriptor()
        deadline = time.monotonic() + self._timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._pid == os.getpid():
            os.close(fd)


@contextmanager
def _locked(lock: _FileLock | None) -> Iterator[None]:
    if lock is None or not lock.acquire():
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # chaincut emits BEGIN itself (see _sqlite_on_begin)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
