"""What a server process last saw free in each slot, so it can say "full" without asking the store.

When bookings open, most requests ask for slots that are already full. Each batch
of bookings reads its slots' counts under lock and notes what was left;
a request needing more travellers' seats than that is refused at once, for
``recheck_seconds`` after the note (the policy's ``full_slot_recheck_seconds``).
Seats only come back by a cancellation: the process that cancels forgets its
note at once; another process sees the seat again when its note runs out. So a
request is never accepted on a stale note (acceptance always takes seats in the
store under the quota); at worst it is refused for a seat freed up to
``recheck_seconds`` ago in another process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date

__all__ = ["SeatsSeen", "SlotKey"]

SlotKey = tuple[str, date, str]  # checkpoint, local day, slot

_MAX_SLOTS = 10_000  # notes kept before the old ones are dropped (a day has a few dozen slots)


class SeatsSeen:
    """Notes of the seats left in each slot, and when they were taken."""

    def __init__(self, recheck_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if recheck_seconds < 0:
            raise ValueError("recheck_seconds must not be negative")
        self._recheck = recheck_seconds
        self._now = monotonic
        self._left: dict[SlotKey, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def note(self, key: SlotKey, left: int) -> None:
        """``left`` seats were free in the slot just now (read under the slot's lock)."""
        with self._lock:
            if len(self._left) >= _MAX_SLOTS and key not in self._left:
                self._left.clear()
            self._left[key] = (left, self._now())

    def too_full(self, key: SlotKey, travellers: int) -> bool:
        """Whether the slot was seen, within the recheck time, with fewer than ``travellers`` seats."""
        with self._lock:
            seen = self._left.get(key)
            if seen is None:
                return False
            left, at = seen
            if self._now() - at > self._recheck:
                del self._left[key]
                return False
            return travellers > left

    def forget(self, key: SlotKey) -> None:
        """Seats came back (a cancellation in this process): ask the store next time."""
        with self._lock:
            self._left.pop(key, None)
