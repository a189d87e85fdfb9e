"""WHO's indicators of contact tracing, over the policy's ``[tracing_targets] indicator_days``.

From WHO's "Contact tracing in the context of COVID-19" (1 February 2021) and its indicator
framework, each as a share with its numerator and denominator:

- **contacts traced in time**: of the orders issued in the period for a case's contacts, those
  issued within ``contacts_traced_within_hours`` (24) of the case's report;
- **followed up for the whole period**: of the quarantine orders (close contacts, followed up
  daily) whose period ended in the period (up to yesterday; those released early left out), those
  whose person was reached on every day of it from the day it was issued (a quarantine starts on
  the day of the last exposure, often before the order: those days were no one's to follow up);
- **new cases already known as contacts**: of the cases reported in the period, those whose person
  had been given an order before;
- **lost to follow-up**: of the same ended quarantines, those whose person was reached on none of
  its last ``lost_to_follow_up_days`` (3) days.

A share with nothing to count is None (not 0): no order ended, no case was reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chaincut.clock import Clock, to_epoch
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.tracing.followups import followed_from

__all__ = ["Share", "TracingIndicatorService", "TracingIndicators"]


@dataclass(frozen=True)
class Share:
    """``part`` of ``whole``; ``value`` is None when there is nothing to count."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return None if self.whole == 0 else self.part / self.whole


@dataclass(frozen=True)
class TracingIndicators:
    first_day: date
    today: date
    traced_in_time: Share
    followed_whole_period: Share
    known_contacts: Share
    lost_to_follow_up: Share
    traced_within_hours: int
    lost_after_days: int


class TracingIndicatorService:
    def __init__(self, store: Store, policy: Policy, clock: Clock, zone: ZoneInfo) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone

    def compute(self) -> TracingIndicators:
        """The four indicators over the policy's period, today included."""
        targets = self._policy.tracing_targets
        today = self._clock.now().astimezone(self._zone).date()
        first = today - timedelta(days=targets.indicator_days - 1)
        since = to_epoch(datetime.combine(first, time(), tzinfo=self._zone))
        yesterday = today - timedelta(days=1)
        with self._store.read() as uow:
            reads = uow.indicators
            ordered, in_time = reads.orders_in_time(
                since=since, within_seconds=targets.contacts_traced_within_hours * 3600
            )
            reported, known = reads.cases_known_as_contacts(since=since)
            ended = reads.ended_quarantines(first, yesterday) if yesterday >= first else []
            earliest = min((o.starts_on for o in ended), default=first)
            reached = reads.reached_days([o.person_id for o in ended], earliest, yesterday)
        whole = lost = counted = 0
        for order in ended:
            start = followed_from(order.starts_on, order.issued_at, self._zone)
            days = [start + timedelta(days=n) for n in range((order.ends_on - start).days + 1)]
            if not days:  # issued after its last day: nothing was left to follow up
                continue
            counted += 1
            if all((order.person_id, d) in reached for d in days):
                whole += 1
            if not any((order.person_id, d) in reached for d in days[-targets.lost_to_follow_up_days :]):
                lost += 1
        return TracingIndicators(
            first_day=first,
            today=today,
            traced_in_time=Share(in_time, ordered),
            followed_whole_period=Share(whole, counted),
            known_contacts=Share(known, reported),
            lost_to_follow_up=Share(lost, counted),
            traced_within_hours=targets.contacts_traced_within_hours,
            lost_after_days=targets.lost_to_follow_up_days,
        )
