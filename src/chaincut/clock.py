"""Time as chaincut sees it: passed in, never read from a global.

Inside chaincut every instant is a timezone-aware UTC ``datetime``; the store
keeps instants as whole seconds since the Unix epoch (UTC). Local time
(Asia/Hong_Kong by default) appears only at the edges, for people to read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "from_epoch", "to_epoch"]


class Clock(Protocol):
    """Something that tells the current instant, in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests and simulations that moves only when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


def to_epoch(at: datetime) -> int:
    """Whole seconds since the Unix epoch; refuses naive datetimes."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: chaincut needs a timezone-aware instant")
    return int(at.timestamp() // 1)


def from_epoch(seconds: int) -> datetime:
    """The aware UTC datetime for whole epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC)
