"""The reads behind WHO's tracing indicators: when contacts got their orders, which orders ended,
which days each person was reached, and which new cases had been contacts. Counts and ids only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, and_, case, exists, func, select

from chaincut.domain import OrderKind, OrderStatus
from chaincut.store.tables import cases, follow_ups, orders

__all__ = ["EndedOrder", "IndicatorReads"]

_CHUNK = 5000


@dataclass(frozen=True)
class EndedOrder:
    """An order whose period ended: whose it is, and the days it covered."""

    person_id: int
    starts_on: date
    ends_on: date
    issued_at: int  # Unix seconds


class IndicatorReads:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def orders_in_time(self, *, since: int, within_seconds: int) -> tuple[int, int]:
        """Of the orders issued from ``since`` for a case's contacts: how many, and how many within
        ``within_seconds`` of that case's report."""
        in_time = case((orders.c.issued_at <= cases.c.created_at + within_seconds, 1), else_=0)
        row = self._conn.execute(
            select(func.count(), func.coalesce(func.sum(in_time), 0))
            .select_from(orders.join(cases, cases.c.id == orders.c.case_id))
            .where(orders.c.issued_at >= since)
        ).one()
        return int(row[0]), int(row[1])

    def ended_quarantines(self, first: date, last: date) -> list[EndedOrder]:
        """Quarantine orders (the close contacts followed up daily) whose last day fell from
        ``first`` to ``last``, less those released early."""
        o = orders.c
        rows = self._conn.execute(
            select(o.person_id, o.starts_on, o.ends_on, o.issued_at).where(
                o.kind == OrderKind.QUARANTINE.value,
                o.ends_on >= first,
                o.ends_on <= last,
                o.status != OrderStatus.RELEASED.value,
            )
        )
        return [EndedOrder(int(r.person_id), r.starts_on, r.ends_on, int(r.issued_at)) for r in rows]

    def reached_days(self, person_ids: Sequence[int], first: date, last: date) -> set[tuple[int, date]]:
        """(person, day) of each follow-up from ``first`` to ``last`` that reached the person."""
        found: set[tuple[int, date]] = set()
        ids = sorted(set(person_ids))
        for start in range(0, len(ids), _CHUNK):
            rows = self._conn.execute(
                select(follow_ups.c.person_id, follow_ups.c.on_date).where(
                    follow_ups.c.person_id.in_(ids[start : start + _CHUNK]),
                    follow_ups.c.on_date >= first,
                    follow_ups.c.on_date <= last,
                    follow_ups.c.reached.is_(True),
                )
            )
            found.update((int(p), d) for p, d in rows)
        return found

    def cases_known_as_contacts(self, *, since: int) -> tuple[int, int]:
        """Of the cases reported from ``since``: how many, and how many whose person had an order
        (was a known contact) before the case was reported."""
        known = exists().where(
            and_(orders.c.person_id == cases.c.person_id, orders.c.issued_at < cases.c.created_at)
        )
        row = self._conn.execute(
            select(func.count(), func.coalesce(func.sum(case((known, 1), else_=0)), 0)).where(
                cases.c.created_at >= since
            )
        ).one()
        return int(row[0]), int(row[1])
