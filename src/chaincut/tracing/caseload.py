"""A tracer's caseload: the cases assigned to them, with how long each has waited to be traced.

WHO asks that a confirmed case's contacts be traced within a day of the case's notification; the
policy's ``[tracing_targets] contacts_traced_within_hours`` says how long, and a case not traced
that long after it was reported is **overdue**. Pages go by keyset (an opaque cursor: the last
case's report time and id), so the hundredth page is as quick as the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.errors import InvalidInput
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.store.caseload import AssignedCase, case_cursor, parse_case_cursor

__all__ = ["CaseloadEntry", "CaseloadPage", "CaseloadService"]


@dataclass(frozen=True)
class CaseloadEntry:
    """An assigned case as the queue shows it."""

    case: AssignedCase
    reported_at: datetime
    hours_waiting: float  # since it was reported, until it was traced (or until now)
    traced_at: datetime | None
    overdue: bool  # not traced, and waiting longer than the policy's target


@dataclass(frozen=True)
class CaseloadPage:
    entries: tuple[CaseloadEntry, ...]
    next_cursor: str | None  # None: the last page
    assigned: int
    untraced: int
    overdue: int
    target_hours: int


class CaseloadService:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    def page(
        self, staff_id: int, *, after: str | None = None, limit: int = 50, untraced_only: bool = False
    ) -> CaseloadPage:
        """One page of ``staff_id``'s assigned cases, oldest report first (``after``: a cursor)."""
        if not 1 <= limit <= 500:
            raise InvalidInput("limit: expected 1 to 500", field="limit")
        position = parse_case_cursor(after)
        now = to_epoch(self._clock.now())
        target = self._policy.tracing_targets.contacts_traced_within_hours
        overdue_before = now - target * 3600
        with self._store.read() as uow:
            found = uow.caseload.page(staff_id, after=position, limit=limit + 1, untraced_only=untraced_only)
            assigned, untraced, overdue = uow.caseload.counts(staff_id, overdue_before=overdue_before)
        shown = found[:limit]
        entries = tuple(
            CaseloadEntry(
                case=c,
                reported_at=from_epoch(c.created_at),
                hours_waiting=((c.traced_at if c.traced_at is not None else now) - c.created_at) / 3600,
                traced_at=None if c.traced_at is None else from_epoch(c.traced_at),
                overdue=c.traced_at is None and c.created_at < overdue_before,
            )
            for c in shown
        )
        more = len(found) > limit
        return CaseloadPage(
            entries,
            case_cursor(shown[-1].created_at, shown[-1].id) if more and shown else None,
            assigned,
            untraced,
            overdue,
            target,
        )
