"""How much tracing a day saw, counted in SQL: contacts traced and orders issued, never who.

The situation report's last section. Contacts come from the exposures each trace stores for
health codes (``code_exposures``: one row per person, evidence and venue for a traced case,
replaced when the case is traced again, stamped ``traced_at``); orders from ``orders``
(stamped ``issued_at``). Every count is a number: no person, case or venue is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, distinct, func, select

from chaincut.store.tables import orders
from chaincut.store.tables_codes import code_case_traces, code_exposures

__all__ = ["TracingActivity", "TracingActivityReads"]


@dataclass(frozen=True)
class TracingActivity:
    """Counts over ``[start, end)`` (Unix seconds) and up to ``end``.

    ``contacts_by_tier`` counts distinct people per tier (``close``, ``exposed``,
    ``risky_visit``); a person in two tiers counts in each, and once in ``contacts``.
    The cumulative counts hold what the store keeps now: a case traced again replaces its
    earlier exposures, so they count people with exposures as last traced, not every trace.
    """

    cases_traced: int
    contacts: int
    contacts_by_tier: dict[str, int]
    orders_by_kind: dict[str, int]
    cases_traced_to_date: int
    contacts_to_date: int
    contacts_to_date_by_tier: dict[str, int]
    orders_to_date_by_kind: dict[str, int]


class TracingActivityReads:
    """Counts of traced cases, their contacts and the orders issued, by a window of time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def between(self, start: int, end: int) -> TracingActivity:
        """Counts for ``start <= t < end`` (Unix seconds), and of everything before ``end``."""
        e, t, o = code_exposures.c, code_case_traces.c, orders.c
        in_day = (e.traced_at >= start) & (e.traced_at < end)
        cases_traced = self._scalar(
            select(func.count()).select_from(code_case_traces).where(t.traced_at >= start, t.traced_at < end)
        )
        contacts = self._scalar(select(func.count(distinct(e.person_id))).where(in_day))
        by_tier = self._by_tier(in_day)
        to_date_by_tier = self._by_tier(e.traced_at < end)
        by_kind = {
            str(kind): int(n)
            for kind, n in self._conn.execute(
                select(o.kind, func.count()).where(o.issued_at >= start, o.issued_at < end).group_by(o.kind)
            )
        }
        to_date_by_kind = {
            str(kind): int(n)
            for kind, n in self._conn.execute(
                select(o.kind, func.count()).where(o.issued_at < end).group_by(o.kind)
            )
        }
        return TracingActivity(
            cases_traced=cases_traced,
            contacts=contacts,
            contacts_by_tier=by_tier,
            orders_by_kind=by_kind,
            cases_traced_to_date=self._scalar(
                select(func.count()).select_from(code_case_traces).where(t.traced_at < end)
            ),
            contacts_to_date=self._scalar(select(func.count(distinct(e.person_id))).where(e.traced_at < end)),
            contacts_to_date_by_tier=to_date_by_tier,
            orders_to_date_by_kind=to_date_by_kind,
        )

    def _by_tier(self, where: ColumnElement[bool]) -> dict[str, int]:
        e = code_exposures.c
        query = select(e.tier, func.count(distinct(e.person_id))).where(where).group_by(e.tier)
        return {str(tier): int(n) for tier, n in self._conn.execute(query)}

    def _scalar(self, query: Select[Any]) -> int:
        return int(self._conn.execute(query).scalar_one())
