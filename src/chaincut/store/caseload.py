"""A staff member's caseload: the cases assigned to them, oldest report first, page by page.

Pages are read by keyset (the last row's report time and id), never by OFFSET, so a page costs
the same however far into the list it is. Each case comes with when it was last traced, if ever
(``code_case_traces``), and how many people that trace found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Select, func, select, tuple_

from chaincut.errors import InvalidInput
from chaincut.store.tables import case_assignments, cases, code_case_traces, staff

__all__ = [
    "AssignedCase",
    "CaseloadRepository",
    "TeamRepository",
    "TracerLoad",
    "UnassignedCase",
    "case_cursor",
    "parse_case_cursor",
]


@dataclass(frozen=True, slots=True)
class AssignedCase:
    """One assigned case; instants are epoch seconds (``created_at``: when it was reported to us)."""

    id: int
    ref: str
    status: str
    classification: str
    reported_on: date | None
    created_at: int
    assigned_at: int
    traced_at: int | None
    traced_people: int | None


def case_cursor(created_at: int, case_id: int) -> str:
    """The opaque cursor of a keyset page of cases: the last case's report time and id."""
    return f"{created_at}.{case_id}"


def parse_case_cursor(value: str | None) -> tuple[int, int] | None:
    """(report time, case id) from :func:`case_cursor`'s text; None for none; InvalidInput else."""
    if not value:
        return None
    created, _, case_id = value.partition(".")
    if not (created.isdigit() and case_id.isdigit()):
        raise InvalidInput(
            "after: expected the cursor a previous page gave (digits, a dot, digits)", field="after"
        )
    return int(created), int(case_id)


class CaseloadRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _assigned(self, staff_id: int, untraced_only: bool) -> Select[Any]:
        query = (
            select(
                cases.c.id,
                cases.c.ref,
                cases.c.status,
                cases.c.classification,
                cases.c.reported_on,
                cases.c.created_at,
                case_assignments.c.assigned_at,
                code_case_traces.c.traced_at,
                code_case_traces.c.exposures,
            )
            .select_from(
                case_assignments.join(cases, cases.c.id == case_assignments.c.case_id).outerjoin(
                    code_case_traces, code_case_traces.c.case_id == cases.c.id
                )
            )
            .where(case_assignments.c.staff_id == staff_id)
        )
        return query.where(code_case_traces.c.traced_at.is_(None)) if untraced_only else query

    def page(
        self, staff_id: int, *, after: tuple[int, int] | None, limit: int, untraced_only: bool = False
    ) -> list[AssignedCase]:
        """Up to ``limit`` cases assigned to ``staff_id`` after ``after`` (report time, case id)."""
        query = self._assigned(staff_id, untraced_only)
        if after is not None:
            query = query.where(tuple_(cases.c.created_at, cases.c.id) > tuple_(*after))
        rows = self._conn.execute(query.order_by(cases.c.created_at, cases.c.id).limit(limit))
        return [AssignedCase(*r) for r in rows]

    def counts(self, staff_id: int, *, overdue_before: int) -> tuple[int, int, int]:
        """(assigned, not yet traced, not traced and reported before ``overdue_before``)."""
        base = self._assigned(staff_id, untraced_only=False).subquery()
        untraced = base.c.traced_at.is_(None)
        row = self._conn.execute(
            select(
                func.count(),
                func.count().filter(untraced),
                func.count().filter(untraced & (base.c.created_at < overdue_before)),
            ).select_from(base)
        ).one()
        return int(row[0]), int(row[1]), int(row[2])


@dataclass(frozen=True, slots=True)
class UnassignedCase:
    id: int
    ref: str
    status: str
    classification: str
    created_at: int


@dataclass(frozen=True, slots=True)
class TracerLoad:
    """One tracer's workload: cases assigned, of them not yet traced, and of those overdue."""

    username: str
    assigned: int
    untraced: int
    overdue: int


class TeamRepository:
    """What a supervisor sees of the team: cases no one works, and each tracer's load."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def unassigned(self, *, after: tuple[int, int] | None, limit: int) -> list[UnassignedCase]:
        """Cases assigned to no one, oldest report first, after ``after`` (report time, id)."""
        taken = select(case_assignments.c.case_id).where(case_assignments.c.case_id == cases.c.id).exists()
        query = select(
            cases.c.id, cases.c.ref, cases.c.status, cases.c.classification, cases.c.created_at
        ).where(~taken)
        if after is not None:
            query = query.where(tuple_(cases.c.created_at, cases.c.id) > tuple_(*after))
        rows = self._conn.execute(query.order_by(cases.c.created_at, cases.c.id).limit(limit))
        return [UnassignedCase(*r) for r in rows]

    def loads(self, *, overdue_before: int) -> list[TracerLoad]:
        """Every active tracer's load (none assigned: zeros), most overdue first, then by name."""
        untraced = code_case_traces.c.traced_at.is_(None)
        per_staff = (
            select(
                case_assignments.c.staff_id,
                func.count().label("assigned"),
                func.count().filter(untraced).label("untraced"),
                func.count().filter(untraced & (cases.c.created_at < overdue_before)).label("overdue"),
            )
            .select_from(
                case_assignments.join(cases, cases.c.id == case_assignments.c.case_id).outerjoin(
                    code_case_traces, code_case_traces.c.case_id == cases.c.id
                )
            )
            .group_by(case_assignments.c.staff_id)
            .subquery()
        )
        rows = self._conn.execute(
            select(
                staff.c.username,
                staff.c.roles,
                func.coalesce(per_staff.c.assigned, 0),
                func.coalesce(per_staff.c.untraced, 0),
                func.coalesce(per_staff.c.overdue, 0),
            )
            .select_from(staff.outerjoin(per_staff, per_staff.c.staff_id == staff.c.id))
            .where(~staff.c.disabled)
        )
        loads = [
            TracerLoad(name, int(a), int(u), int(o))
            for name, roles, a, u, o in rows
            if "tracer" in roles.split(",") or a
        ]
        return sorted(loads, key=lambda t: (-t.overdue, -t.untraced, t.username))
