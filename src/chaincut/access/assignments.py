"""Assigning cases to tracers: what opens a case's whereabouts to a tracer, for stated purposes.

The same service answers ``POST /cases/{ref}/assignments`` and the supervisor's page: each case is
found through :class:`RecordAccess` (so the access is audited, flagged ``permission_change``, with
whom it was given to), and only an active tracer may be given a case. The team's view lists the
cases no one works and each tracer's load (assigned, not yet traced, overdue under the policy's
``[tracing_targets]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaincut.access.records import RecordAccess
from chaincut.clock import Clock, to_epoch
from chaincut.domain import Case
from chaincut.domain.access import Permission, Principal, Role
from chaincut.domain.audit import AuditFlag
from chaincut.errors import ChaincutError, InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.store.caseload import TracerLoad, UnassignedCase

__all__ = ["AssignmentOutcome", "CaseAssignments"]


@dataclass(frozen=True)
class AssignmentOutcome:
    """A bulk assignment: the cases now the tracer's, and those refused with why."""

    assigned: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


class CaseAssignments:
    def __init__(self, store: Store, records: RecordAccess, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._records = records
        self._policy = policy
        self._clock = clock

    def assign(self, principal: Principal, ref: str, username: str, *, purpose: str = "") -> list[str]:
        """Give case ``ref`` to tracer ``username`` (already theirs: unchanged); its assignees."""
        case = self._case(principal, ref, {"assign": username}, purpose)
        assert case.id is not None
        with self._store.write() as uow:
            target = uow.staff.get_by_username(username)
            if target is None or target.disabled or Role.TRACER not in target.roles:
                raise InvalidInput("expected the username of an active tracer", field="staff")
            uow.assignments.assign(case.id, target.id, at=to_epoch(self._clock.now()), by=principal.name)
            return uow.assignments.assignees(case.id)

    def _case(self, principal: Principal, ref: str, change: dict[str, str], purpose: str) -> Case:
        """The case an assignment change is about, audited as a change of permissions."""
        return self._records.case(
            principal,
            ref,
            action=Permission.CASES_ASSIGN,
            purpose=purpose,
            flags=(AuditFlag.PERMISSION_CHANGE,),
            details=change,
        )

    def assign_many(
        self, principal: Principal, refs: Sequence[str], username: str, *, purpose: str = ""
    ) -> AssignmentOutcome:
        """Give each case to ``username``, one by one (each audited); a refusal names its case."""
        if not refs:
            raise InvalidInput("cases: choose at least one case", field="cases")
        assigned: list[str] = []
        refused: list[tuple[str, str]] = []
        for ref in dict.fromkeys(refs):
            try:
                self.assign(principal, ref, username, purpose=purpose)
            except InvalidInput as exc:
                if exc.field == "staff":
                    raise  # the same for every case: say it once
                refused.append((ref, exc.message))
            except NotFound as exc:
                refused.append((ref, exc.message))
            except ChaincutError as exc:
                refused.append((ref, exc.message))
            else:
                assigned.append(ref)
        return AssignmentOutcome(tuple(assigned), tuple(refused))

    def unassign(self, principal: Principal, ref: str, username: str, *, purpose: str = "") -> list[str]:
        """Take case ``ref`` from ``username``; its assignees left."""
        case = self._case(principal, ref, {"unassign": username}, purpose)
        assert case.id is not None
        with self._store.write() as uow:
            target = uow.staff.get_by_username(username)
            if target is None or not uow.assignments.unassign(case.id, target.id):
                raise NotFound("that tracer is not assigned to this case", field="username")
            return uow.assignments.assignees(case.id)

    def unassigned(self, *, after: tuple[int, int] | None, limit: int) -> list[UnassignedCase]:
        """Cases no one works, oldest report first (``after``: the last one's report time and id)."""
        with self._store.read() as uow:
            return uow.team.unassigned(after=after, limit=limit)

    def loads(self) -> list[TracerLoad]:
        """Each active tracer's load, most overdue first."""
        hours = self._policy.tracing_targets.contacts_traced_within_hours
        overdue_before = to_epoch(self._clock.now()) - hours * 3600
        with self._store.read() as uow:
            return uow.team.loads(overdue_before=overdue_before)
