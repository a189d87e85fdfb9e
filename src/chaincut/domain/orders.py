"""Quarantine orders, compulsory testing notices and the daily follow-up of contacts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from chaincut.domain.contacts import Tier

__all__ = ["ALLOWED_STATUS_CHANGES", "FollowUp", "Order", "OrderKind", "OrderStatus", "TestResult"]


class OrderKind(enum.Enum):
    """What a contact is told to do."""

    QUARANTINE = "quarantine"  # stay at home or in a centre until the end date
    TESTING_NOTICE = "testing_notice"  # get tested by the end date

    @classmethod
    def for_tier(cls, tier: Tier) -> OrderKind:
        return cls.QUARANTINE if tier is Tier.CLOSE else cls.TESTING_NOTICE


class OrderStatus(enum.Enum):
    """Where an order stands; the last three are final."""

    ISSUED = "issued"
    DELIVERED = "delivered"
    IN_FORCE = "in_force"
    COMPLETED = "completed"
    BREACHED = "breached"
    RELEASED = "released"

    @property
    def final(self) -> bool:
        return self in (OrderStatus.COMPLETED, OrderStatus.BREACHED, OrderStatus.RELEASED)


# Which status may follow which: an order moves forward, and any open order may be
# released early (a negative test, an error in tracing) or found breached.
ALLOWED_STATUS_CHANGES: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.ISSUED: frozenset(
        {OrderStatus.DELIVERED, OrderStatus.IN_FORCE, OrderStatus.RELEASED, OrderStatus.BREACHED}
    ),
    OrderStatus.DELIVERED: frozenset({OrderStatus.IN_FORCE, OrderStatus.RELEASED, OrderStatus.BREACHED}),
    OrderStatus.IN_FORCE: frozenset({OrderStatus.COMPLETED, OrderStatus.RELEASED, OrderStatus.BREACHED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.BREACHED: frozenset(),
    OrderStatus.RELEASED: frozenset(),
}


@dataclass(frozen=True)
class Order:
    """A quarantine order or testing notice for one person, from one case's tracing.

    ``starts_on`` and ``ends_on`` are local calendar dates from the policy: for a
    quarantine, ``quarantine_days`` after the last exposure; for a testing notice,
    ``testing_notice_days`` after it is issued.
    """

    public_id: str
    kind: OrderKind
    person_id: int
    tier: Tier
    starts_on: date
    ends_on: date
    status: OrderStatus
    issued_at: datetime
    issued_by: str
    policy_version: str
    case_id: int | None = None
    last_exposure_at: datetime | None = None
    id: int | None = None


class TestResult(enum.Enum):
    """The result of a test reported at follow-up."""

    __test__ = False  # not a pytest test class

    NEGATIVE = "negative"
    POSITIVE = "positive"
    PENDING = "pending"


@dataclass(frozen=True)
class FollowUp:
    """One day's follow-up of a person: symptoms and, when tested, the result."""

    person_id: int
    on_date: date
    symptoms: tuple[str, ...]
    test_result: TestResult | None
    recorded_at: datetime
    recorded_by: str
    order_id: int | None = None
    note: str | None = None
    id: int | None = None
    reached: bool = True  # False: the person could not be reached that day
