"""Cases counted in SQL by date, classification, status and district, for the epidemic curve."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import Connection, func, select

from chaincut.domain import CaseClassification, CaseStatus
from chaincut.store.tables import cases

__all__ = ["CaseTallies", "CaseTallyRow"]


class CaseTallyRow(NamedTuple):
    """How many cases share an onset date, report date, classification, status and district."""

    onset_on: date | None
    reported_on: date | None
    classification: CaseClassification
    status: CaseStatus
    district: str | None  # the district of the case's household; None when unknown
    cases: int


class CaseTallies:
    """The epidemic curve's read: one GROUP BY over every case, however many there are.

    A case's district is its person's household's (``cases.person_id`` -> ``people.household_id``
    -> ``households.district``), kept with the case (``cases.district``, set when the case is
    stored and when a correction moves the person), so the count reads one covering index
    (``ix_cases_tally``) and no join; a person with no household, or a household with no
    district (the Hong Kong case list gives none), makes the district unknown.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def by_day(self) -> list[CaseTallyRow]:
        """Every case, counted by onset date, report date, classification, status and district."""
        keys = (
            cases.c.onset_on,
            cases.c.reported_on,
            cases.c.classification,
            cases.c.status,
            cases.c.district,
        )
        query = select(*keys, func.count()).select_from(cases).group_by(*keys)
        return [
            CaseTallyRow(onset, reported, CaseClassification(cls), CaseStatus(status), district, int(n))
            for onset, reported, cls, status, district, n in self._conn.execute(query)
        ]
