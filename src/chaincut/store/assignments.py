"""Which tracer works which case, and the supervisor approvals that bulk exports wait for."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from chaincut.store.tables import approvals, case_assignments, cases, orders, staff
from chaincut.store.tables_codes import code_exposures

__all__ = ["ApprovalRecord", "ApprovalRepository", "AssignmentRepository"]


class AssignmentRepository:
    """Case assignments: the basis of a tracer's purpose-bound access."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def assign(self, case_id: int, staff_id: int, *, at: int, by: str) -> bool:
        """Assign; False when the case was already theirs."""
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(case_assignments).values(
                        case_id=case_id, staff_id=staff_id, assigned_at=at, assigned_by=by
                    )
                )
        except IntegrityError:
            return False
        return True

    def unassign(self, case_id: int, staff_id: int) -> bool:
        result = self._conn.execute(
            delete(case_assignments).where(
                case_assignments.c.case_id == case_id, case_assignments.c.staff_id == staff_id
            )
        )
        return result.rowcount > 0

    def is_assigned(self, staff_id: int, case_id: int) -> bool:
        query = select(
            exists().where(case_assignments.c.case_id == case_id, case_assignments.c.staff_id == staff_id)
        )
        return bool(self._conn.execute(query).scalar())

    def linked_to_assigned_case(self, staff_id: int, person_id: int) -> bool:
        """True when the person is an assigned case, holds an order or notice from one, or was
        found exposed to one when it was traced for health codes."""
        mine = select(case_assignments.c.case_id).where(case_assignments.c.staff_id == staff_id)
        as_case = exists().where(cases.c.person_id == person_id, cases.c.id.in_(mine))
        as_contact = exists().where(orders.c.person_id == person_id, orders.c.case_id.in_(mine))
        as_exposed = exists().where(
            code_exposures.c.person_id == person_id, code_exposures.c.case_id.in_(mine)
        )
        return bool(self._conn.execute(select(as_case | as_contact | as_exposed)).scalar())

    def assigned_case_refs(self, staff_id: int) -> frozenset[str]:
        """The refs of every case assigned to ``staff_id`` (a tracer's caseload: tens, not thousands)."""
        rows = self._conn.execute(
            select(cases.c.ref)
            .join(case_assignments, case_assignments.c.case_id == cases.c.id)
            .where(case_assignments.c.staff_id == staff_id)
        )
        return frozenset(r.ref for r in rows)

    def assignees(self, case_id: int) -> list[str]:
        rows = self._conn.execute(
            select(staff.c.username)
            .join(case_assignments, case_assignments.c.staff_id == staff.c.id)
            .where(case_assignments.c.case_id == case_id)
            .order_by(staff.c.username)
        )
        return [r.username for r in rows]


@dataclass(frozen=True)
class ApprovalRecord:
    """A request for a supervisor's approval, and its decision."""

    id: int
    public_id: str
    kind: str
    case_id: int | None
    case_ref: str | None
    requested_by: str
    requested_at: int
    purpose: str
    status: str  # pending, approved, rejected, used (an approved export that has started)
    decided_by: str | None
    decided_at: int | None
    decision_reason: str | None
    expires_at: int


def _approval(r: Row[Any]) -> ApprovalRecord:
    return ApprovalRecord(
        id=r.id,
        public_id=r.public_id,
        kind=r.kind,
        case_id=r.case_id,
        case_ref=r.case_ref,
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        purpose=r.purpose,
        status=r.status,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_reason=r.decision_reason,
        expires_at=r.expires_at,
    )


class ApprovalRepository:
    """Approval requests and decisions."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _select(self) -> Any:
        return select(approvals, cases.c.ref.label("case_ref")).select_from(
            approvals.outerjoin(cases, cases.c.id == approvals.c.case_id)
        )

    def add(
        self,
        public_id: str,
        kind: str,
        *,
        case_id: int | None,
        requested_by: str,
        purpose: str,
        at: int,
        expires_at: int,
    ) -> ApprovalRecord:
        self._conn.execute(
            insert(approvals).values(
                public_id=public_id,
                kind=kind,
                case_id=case_id,
                requested_by=requested_by,
                requested_at=at,
                purpose=purpose,
                status="pending",
                expires_at=expires_at,
            )
        )
        found = self.get(public_id)
        assert found is not None
        return found

    def get(self, public_id: str) -> ApprovalRecord | None:
        row = self._conn.execute(self._select().where(approvals.c.public_id == public_id)).first()
        return _approval(row) if row else None

    def list(self, *, status: str | None = None, limit: int = 200) -> list[ApprovalRecord]:
        query = self._select().order_by(approvals.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(approvals.c.status == status)
        return [_approval(r) for r in self._conn.execute(query)]

    def for_case(self, case_id: int, requested_by: str, *, limit: int = 20) -> builtins.list[ApprovalRecord]:
        """The latest requests one member made for one case's export, newest first."""
        query = (
            self._select()
            .where(approvals.c.case_id == case_id, approvals.c.requested_by == requested_by)
            .order_by(approvals.c.id.desc())
            .limit(limit)
        )
        return [_approval(r) for r in self._conn.execute(query)]

    def decide(
        self, approval_id: int, status: str, *, by: str, at: int, reason: str, expires_at: int
    ) -> bool:
        """Record the decision on a pending request, and until when it holds; False when it
        was already decided."""
        result = self._conn.execute(
            update(approvals)
            .where(approvals.c.id == approval_id, approvals.c.status == "pending")
            .values(
                status=status, decided_by=by, decided_at=at, decision_reason=reason, expires_at=expires_at
            )
        )
        return result.rowcount > 0

    def use(self, approval_id: int, *, by: str, case_id: int, at: int) -> bool:
        """Spend an approval: True once, for its requester and case while approved and unexpired.

        A single conditional UPDATE, so of two exports racing for one approval only one wins.
        """
        result = self._conn.execute(
            update(approvals)
            .where(
                approvals.c.id == approval_id,
                approvals.c.status == "approved",
                approvals.c.requested_by == by,
                approvals.c.case_id == case_id,
                approvals.c.expires_at > at,
            )
            .values(status="used")
        )
        return result.rowcount > 0
