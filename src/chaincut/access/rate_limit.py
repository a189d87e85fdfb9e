"""Per-client rate limits on the public endpoints (check-in, upload, sign-in).

A token bucket per (limit, client) in memory: each server worker counts its
own requests, so with N workers a client gets up to N times the rate; the
limits are set with that in mind (README, settings).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from chaincut.errors import RateLimited

__all__ = ["RateLimiter"]

_MAX_CLIENTS = 200_000  # buckets kept per limit before the idle ones are dropped


class RateLimiter:
    """Allows each client ``per_minute`` requests a minute, in bursts of up to the same number."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, limit: str, client: str, per_minute: int) -> None:
        """Spend one request of ``client`` under ``limit``, or raise RateLimited."""
        rate = per_minute / 60.0
        now = self._now()
        key = (limit, client)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                retry = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimited(
                    f"too many {limit} requests from this client; retry in {retry} s", retry_after=retry
                )
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_CLIENTS:
                self._prune(now)

    def _prune(self, now: float) -> None:
        # Buckets idle for over a minute are full again: dropping them changes nothing.
        idle = [k for k, (_t, last) in self._buckets.items() if now - last > 60.0]
        for key in idle:
            del self._buckets[key]
