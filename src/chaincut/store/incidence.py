"""Daily case counts by onset date, aggregated in SQL, for the epidemic curve and R_t."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, case, func, select

from chaincut.domain import CaseClassification, CaseStatus
from chaincut.store.tables import cases

__all__ = ["DailyCaseCount", "IncidenceReads"]


@dataclass(frozen=True)
class DailyCaseCount:
    """How many cases of one status had their onset on one day, imported or not.

    ``onset_on`` is None for the cases with no onset date (asymptomatic, or not yet known).
    """

    onset_on: date | None
    imported: bool
    status: CaseStatus
    cases: int


class IncidenceReads:
    """Counts of cases by onset day, classification (imported or not) and status, never one row per case."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def daily_onset_counts(self) -> list[DailyCaseCount]:
        """Every (onset day, imported, status) with its count, grouped in the database, by day.

        A case is imported when its classification is ``imported``; every other classification
        (local, linked, unlinked, possibly local, unknown) counts as not imported.
        """
        imported = case((cases.c.classification == CaseClassification.IMPORTED.value, 1), else_=0).label(
            "imported"
        )
        query = (
            select(cases.c.onset_on, imported, cases.c.status, func.count().label("n"))
            .group_by(cases.c.onset_on, imported, cases.c.status)
            .order_by(cases.c.onset_on)
        )
        return [
            DailyCaseCount(onset_on=day, imported=bool(flag), status=CaseStatus(status), cases=int(n))
            for day, flag, status, n in self._conn.execute(query)
        ]
