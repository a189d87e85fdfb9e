"""Group commit: requests that arrive together are written together, in one transaction.

A server process answers requests on one event loop. Writing each check-in in a
transaction of its own there blocks the loop for the transaction (on the
embedded store also while it waits for another process's write lock) and pays
one commit per check-in. Instead each request is queued, and one writer thread
takes everything queued so far and hands it to a function that records it all
in one transaction and returns one outcome (a result or an exception) per
request. Each request is answered only after that commit. While one batch is
written the next one gathers, so batches grow with the load and nothing waits
on a timer. The thread starts on the first request and ends when idle.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")


class GroupCommit(Generic[_T, _R]):
    """Queues requests and records them in batches with ``record_all`` from one thread.

    ``record_all`` takes the batch and returns one outcome per request, in order: the
    result, or the exception that request alone must raise.
    """

    def __init__(
        self,
        record_all: Callable[[Sequence[_T]], Sequence[_R | Exception]],
        *,
        max_batch: int = 256,
        idle_seconds: float = 5.0,
        name: str = "group-commit",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._record_all = record_all
        self._max_batch = max_batch
        self._idle_seconds = idle_seconds
        self._name = name
        self._queue: queue.SimpleQueue[tuple[_T, Future[_R]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def submit(self, request: _T) -> Future[_R]:
        """Queue ``request``; the future holds its outcome once its batch has committed."""
        future: Future[_R] = Future()
        with self._lock:  # the writer decides to stop under this lock too, so none is stranded
            self._queue.put((request, future))
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._writer.start()
        return future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._writer = None
                        return
                continue
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[tuple[_T, Future[_R]]]) -> None:
        # A request whose caller gave up before its batch began is not written.
        live = [(request, future) for request, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            outcomes: Sequence[_R | Exception] = self._record_all([request for request, _ in live])
            if len(outcomes) != len(live):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(live)} requests")
        except Exception as exc:  # never strand a caller: each gets the error
            log.exception("%s: a batch of %d failed", self._name, len(live))
            outcomes = [exc] * len(live)
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
