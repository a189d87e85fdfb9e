"""Infectious windows: when a case may have infected others.

The window opens at local midnight a policy-set number of days before symptom
onset (or before the specimen date when the case has no symptoms) and closes at
isolation. A case not yet isolated stays infectious up to the moment of tracing.
Windows are half-open in nothing: both ends are included, in epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chaincut.clock import to_epoch
from chaincut.domain import Case
from chaincut.errors import InvalidInput
from chaincut.policy import Policy

__all__ = ["Window", "infectious_window", "window_opening"]


@dataclass(frozen=True)
class Window:
    """From ``start`` to ``end`` seconds since the epoch, both included."""

    start: int
    end: int

    @property
    def empty(self) -> bool:
        return self.end < self.start


def window_opening(policy: Policy, zone: ZoneInfo, onset_on: date | None, specimen_on: date | None) -> int:
    """The instant a case's window opens, from its onset or else its specimen date."""
    rule = policy.infectious_window
    if onset_on is not None:
        first_day = onset_on - timedelta(days=rule.days_before_onset)
    elif specimen_on is not None:
        first_day = specimen_on - timedelta(days=rule.days_before_specimen)
    else:
        raise InvalidInput("a case needs a symptom onset date or a specimen date", field="onset_on")
    return to_epoch(datetime.combine(first_day, time(0), tzinfo=zone))


def infectious_window(case: Case, policy: Policy, zone: ZoneInfo, as_of: datetime) -> Window:
    """The case's infectious window as the policy defines it, as of ``as_of``."""
    start = window_opening(policy, zone, case.onset_on, case.specimen_on)
    end = to_epoch(case.isolated_at) if case.isolated_at is not None else to_epoch(as_of)
    return Window(start, min(end, to_epoch(as_of)))
