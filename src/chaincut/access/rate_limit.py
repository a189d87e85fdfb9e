"""Per-client rate limits on the public endpoints, held across every server worker and host.

Counting: fixed one-minute windows of the Clock (a window starts at a multiple of 60
epoch seconds), one shared count per (limit, client, window) kept in the store
(``rate_counts``), which every worker adds to. Fixed rather than sliding windows: one
row and one upsert per client and minute, and nothing to read from the window before;
at a window's edge a client may spend the end of one window and the start of the next,
up to twice the limit in 60 seconds, as the token bucket this replaces allowed too (a
full bucket, then a minute of refill). Windows end on the same second on every host
whose clock is right; a host whose clock is off by d seconds counts its requests in the
neighbouring window for d seconds a minute. A window's counts are deleted once the
window after it has ended (they name residents, staff and callers' addresses).

The hot path reads no database. Each worker keeps, per client, the shared total it last
read (``seen``) and the requests it admitted since and has not yet added (``pending``).
It admits a request on its own while ``seen + pending < limit`` and ``pending < share``,
where ``share = max(1, limit // 10)``; it refuses once ``seen + pending >= limit``.
Every ``SYNC_SECONDS`` (and at once when a client's pending reaches its share) the
worker adds all its pending counts to the shared ones in one transaction and reads the
totals back. A refusal is therefore never wrong, and the limit holds across workers:

    Across W workers (on any number of hosts), a client is admitted at most
    ``limit + (W - 1) * share`` times in one window; with one worker, at most ``limit``.

Why: for each worker, take the last add it had read back before its last admission in
the window, and let i be the worker whose add committed last, reading back total S. S
counts every request another worker j had added by its own such add (that committed
earlier); j's other admissions were still pending at its last admission, so at most
``share`` of them. Worker i's added requests are in S too, and at its last admission
``S + pending < limit``: it admitted at most ``limit`` minus the others' requests in S.
Summing: at most ``limit + (W - 1) * share``. With two workers and the default 30
check-ins a minute, at most 33.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from chaincut.clock import Clock, to_epoch
from chaincut.errors import RateLimited
from chaincut.store import Store
from chaincut.store.rate_counts import WINDOW_SECONDS

__all__ = [
    "MAX_CLIENT_LENGTH",
    "SHARE_DIVISOR",
    "SYNC_SECONDS",
    "WINDOW_SECONDS",
    "MemoryCounts",
    "RateLimiter",
    "SharedCounts",
    "StoredCounts",
    "local_share",
]

SYNC_SECONDS = 1.0
MAX_CLIENT_LENGTH = 128  # rate_counts.client; a longer name is counted under its SHA-256
SHARE_DIVISOR = 10

Key = tuple[str, str]  # (limit, client)


def _digest(client: str) -> str:
    return "sha256:" + hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()


def _refusal(limit: str, seconds_left: int) -> RateLimited:
    retry = max(1, seconds_left)
    return RateLimited(f"too many {limit} requests from this client; retry in {retry} s", retry_after=retry)


def local_share(per_minute: int) -> int:
    """How many requests of one client a worker may admit beyond those it has added to the shared count."""
    return max(1, per_minute // SHARE_DIVISOR)


class SharedCounts(Protocol):
    """The counts every worker adds to: per (limit, client) in one window."""

    def add(self, window_start: int, increments: Mapping[Key, int]) -> dict[Key, int]:
        """Add ``increments`` to the window's counts and return their new totals."""
        ...


class StoredCounts:
    """SharedCounts in the store (``rate_counts``); a window's counts are deleted when the next one ends."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pruned_before = 0

    def add(self, window_start: int, increments: Mapping[Key, int]) -> dict[Key, int]:
        with self._store.write() as uow:
            totals = uow.rate_counts.add(window_start, increments)
            # The window before stays: a host whose clock is a little behind may still count in it.
            if window_start - WINDOW_SECONDS > self._pruned_before:
                uow.rate_counts.delete_before(window_start - WINDOW_SECONDS)
        if window_start - WINDOW_SECONDS > self._pruned_before:
            self._pruned_before = window_start - WINDOW_SECONDS
        return totals


class MemoryCounts:
    """SharedCounts in memory, for tests: limiters given the same instance act as workers of one server."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        self.adds = 0
        self._lock = threading.Lock()

    def add(self, window_start: int, increments: Mapping[Key, int]) -> dict[Key, int]:
        with self._lock:
            self.adds += 1
            totals = {}
            for (limit, client), n in increments.items():
                key = (limit, client, window_start)
                self.counts[key] = self.counts.get(key, 0) + n
                totals[(limit, client)] = self.counts[key]
            return totals


@dataclass
class _Count:
    seen: int = 0  # the shared total this worker last read back
    pending: int = 0  # admitted here and not yet read back as added (an add in flight included)


class RateLimiter:
    """Allows each client ``per_minute`` requests a minute under each limit, counted across workers."""

    def __init__(
        self,
        counts: SharedCounts,
        clock: Clock,
        *,
        sync_seconds: float = SYNC_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counts = counts
        self._clock = clock
        self._sync_seconds = sync_seconds
        self._monotonic = monotonic
        self._window = -1
        self._entries: dict[Key, _Count] = {}
        self._lock = threading.Lock()  # guards the fields above; never held across a store call
        self._sync_lock = threading.Lock()  # one add to the shared counts at a time
        self._next_sync = monotonic() + sync_seconds

    def try_check(self, limit: str, client: str, per_minute: int) -> bool:
        """Spend one request of ``client`` from this worker's share, without blocking.

        True: admitted. False: the shared counts must be brought up to date first: call
        ``check`` (which may block on the store). Raises RateLimited when over the limit.
        """
        now = to_epoch(self._clock.now())
        with self._lock:
            self._roll(now)
            if self._monotonic() >= self._next_sync:
                # This caller adds the pending counts (in check); the others carry on meanwhile.
                self._next_sync = self._monotonic() + self._sync_seconds
                return False
            return self._spend(limit, client, per_minute, now)

    def check(self, limit: str, client: str, per_minute: int) -> None:
        """Bring the shared counts up to date, then spend one request of ``client``, or raise RateLimited."""
        # Each time the share is found spent again after an add, this worker admitted another
        # ``share`` of the client's requests since that add began: after limit / share such
        # rounds the client has reached the limit, so the refusal below is right too.
        share = local_share(per_minute)
        for _ in range(-(-per_minute // share) + 1):
            self.sync()
            now = to_epoch(self._clock.now())
            with self._lock:
                self._roll(now)
                if self._spend(limit, client, per_minute, now):
                    return
        raise _refusal(limit, self._window + WINDOW_SECONDS - now)

    def sync(self) -> None:
        """Add this worker's pending counts to the shared ones and read the totals back."""
        with self._sync_lock:
            now = to_epoch(self._clock.now())
            with self._lock:
                self._roll(now)
                window = self._window
                sent = {key: count.pending for key, count in self._entries.items() if count.pending}
                self._next_sync = self._monotonic() + self._sync_seconds
            if not sent:
                return
            # On failure nothing is subtracted: the requests stay pending, and the share holds.
            totals = self._counts.add(window, sent)
            with self._lock:
                if self._window != window:
                    return  # a new window began meanwhile: these counts no longer matter here
                for key, n in sent.items():
                    count = self._entries[key]
                    count.pending -= n
                    count.seen = max(count.seen, totals.get(key, count.seen))

    def _roll(self, now: int) -> None:
        window = now - now % WINDOW_SECONDS
        if window != self._window:
            self._window = window
            self._entries.clear()

    def _spend(self, limit: str, client: str, per_minute: int, now: int) -> bool:
        key = (limit, client if len(client) <= MAX_CLIENT_LENGTH else _digest(client))
        count = self._entries.get(key)
        if count is None:
            count = self._entries[key] = _Count()
        if count.seen + count.pending >= per_minute:
            retry = max(1, self._window + WINDOW_SECONDS - now)
            raise RateLimited(
                f"too many {limit} requests from this client; retry in {retry} s", retry_after=retry
            )
        if count.pending >= local_share(per_minute):
            return False
        count.pending += 1
        return True
