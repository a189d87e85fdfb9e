"""Purpose-bound access to one record: which cases and people a caller may see, audited.

- A supervisor may see any case and person, for a stated purpose.
- A tracer may see only the cases assigned to them, and the people linked to
  those cases (the case itself, and anyone holding an order or notice from
  it), for a stated purpose.
- An epidemiologist may read cases, but never anyone's whereabouts (their
  role lacks that permission, so routes refuse them before this).
- A resident may see only themselves; a venue device, only its own venue.
- Outbreak analytics over every case (``Permission.ANALYTICS_READ``) are for
  epidemiologists and supervisors; a tracer reads analytics (a cluster, a chain)
  only through the cases assigned to them (``may_read_analytics_of``).

A record the caller may not see is answered exactly like one that does not
exist ("no such case"), so that refusals reveal nothing; the attempt is audited
as denied all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chaincut.access.audit import AuditTrail, event_for
from chaincut.domain import Case, Person
from chaincut.domain.access import Permission, Principal, PrincipalKind, Role
from chaincut.domain.audit import AuditFlag
from chaincut.errors import NotFound, PermissionDenied
from chaincut.store import Store, UnitOfWork

__all__ = ["RecordAccess"]

Details = Mapping[str, str | int | bool | None]


class RecordAccess:
    """Finds a case or person for a caller, or refuses as if it were not there, and audits both."""

    def __init__(self, store: Store, audit: AuditTrail) -> None:
        self._store = store
        self._audit = audit

    def case(
        self,
        principal: Principal,
        ref: str,
        *,
        action: str,
        purpose: str = "",
        flags: tuple[str, ...] = (),
        details: Details | None = None,
        field: str = "ref",
    ) -> Case:
        """The case ``ref`` if ``principal`` may see it; the access is audited either way."""
        with self._store.write() as uow:
            case = uow.cases.get_by_ref(ref)
            allowed = case is not None and self._may_see_case(uow, principal, case, action)
            subject = case.person_id if case is not None else None
            self._audit_access(
                uow, principal, action, "cases", ref, purpose, flags, details, case, allowed, subject
            )
        if case is None or not allowed:
            raise NotFound("no such case", field=field)
        return case

    def person(
        self,
        principal: Principal,
        ref: str,
        *,
        action: str,
        purpose: str = "",
        flags: tuple[str, ...] = (),
        details: Details | None = None,
        field: str = "ref",
    ) -> Person:
        """The person ``ref`` if ``principal`` may see them; audited either way."""
        with self._store.write() as uow:
            person = uow.people.get_by_ref(ref)
            allowed = person is not None and self._may_see_person(uow, principal, person)
            subject = person.id if person is not None else None
            self._audit_access(
                uow, principal, action, "people", ref, purpose, flags, details, person, allowed, subject
            )
        if person is None or not allowed:
            raise NotFound("no such person", field=field)
        return person

    def _audit_access(
        self,
        uow: UnitOfWork,
        principal: Principal,
        action: str,
        resource: str,
        ref: str,
        purpose: str,
        flags: tuple[str, ...],
        details: Details | None,
        found: object,
        allowed: bool,
        subject_person_id: int | None,
    ) -> None:
        """One entry for an attempt to read a record: ok, denied (it exists) or not found."""
        outcome = "ok" if allowed else ("denied" if found is not None else "not_found")
        recorded_flags = flags if allowed else (AuditFlag.DENIED,) if found is not None else ()
        event = event_for(
            principal,
            action,
            resource,
            record=ref,
            purpose=purpose,
            outcome=outcome,
            flags=recorded_flags,
            details=details,
            subject_person_id=subject_person_id,
        )
        self._audit.record_in(uow, event)

    def may_see_case(self, principal: Principal, case: Case, action: str) -> bool:
        with self._store.read() as uow:
            return self._may_see_case(uow, principal, case, action)

    def assigned_staff_id(self, principal: Principal, permission: Permission) -> int | None:
        """For listing under ``permission``: the staff id whose assigned cases bound what
        ``principal`` may list, or None when they may list everything.

        Only a role that opens every record *for this permission* lifts the bound (as in
        ``_may_see_case``): a supervisor always; an epidemiologist for case records only. A
        second role never widens what the first may list under another permission.
        """
        if principal.kind is not PrincipalKind.STAFF:
            return None
        unrestricted = principal.has_role(Role.SUPERVISOR) or (
            permission is Permission.CASES_READ and principal.has_role(Role.EPIDEMIOLOGIST)
        )
        return None if unrestricted else principal.staff_id

    def assigned_among(self, principal: Principal, refs: Iterable[str]) -> frozenset[str]:
        """Of the case ``refs``, those assigned to ``principal``: what they see through assignment.

        Staff only (whatever their roles); a resident, a device or the command line are
        assigned nothing. Refs of no case are in no one's caseload, so they are never returned.
        """
        wanted = frozenset(refs)
        if principal.kind is not PrincipalKind.STAFF or principal.staff_id is None or not wanted:
            return frozenset()
        with self._store.read() as uow:
            return wanted & uow.assignments.assigned_case_refs(principal.staff_id)

    def may_see_through_assignment(self, principal: Principal, refs: Iterable[str]) -> bool:
        """True when ``refs`` is not empty and every one of them is assigned to ``principal``."""
        wanted = frozenset(refs)
        return bool(wanted) and self.assigned_among(principal, wanted) == wanted

    def may_read_analytics_of(self, principal: Principal, refs: Iterable[str]) -> bool:
        """Whether ``principal`` may read analytics drawn from the cases ``refs`` (a cluster's members,
        the cases of a chain).

        Anyone holding ``Permission.ANALYTICS_READ`` (epidemiologists, supervisors, the
        command line) reads every cluster and chain; a tracer reads one when at least one of
        its cases is assigned to them ("the clusters of their assigned cases", issue 11).
        Refuse the others as if the record did not exist (``NotFound``), as ``case`` does.
        """
        if principal.may(Permission.ANALYTICS_READ):
            return True
        return bool(self.assigned_among(principal, refs))

    def may_read_cluster(self, principal: Principal, cluster_id: int) -> bool:
        """Whether ``principal`` may read this cluster (the rule of :meth:`may_read_analytics_of`,
        asked of the store without reading the cluster's members: a large one holds a million)."""
        if principal.may(Permission.ANALYTICS_READ):
            return True
        if principal.kind is not PrincipalKind.STAFF or principal.staff_id is None:
            return False
        with self._store.read() as uow:
            return uow.inferred_clusters.holds_case_of(cluster_id, principal.staff_id)

    def analytics_staff_bound(self, principal: Principal) -> int | None:
        """For listing analytics (clusters): the staff id whose assigned cases bound what
        ``principal`` may list, or None when they may list everything (they hold
        ``Permission.ANALYTICS_READ``). A list bounded by a staff id holds the items with at
        least one case in ``case_assignments`` for that staff member. Anyone else (a resident,
        a device) has no caseload to list through: refused.
        """
        if principal.may(Permission.ANALYTICS_READ):
            return None
        if principal.kind is not PrincipalKind.STAFF or principal.staff_id is None:
            raise PermissionDenied(f"your role does not allow {Permission.ANALYTICS_READ.value}")
        return principal.staff_id

    @staticmethod
    def _may_see_case(uow: UnitOfWork, principal: Principal, case: Case, action: str) -> bool:
        if principal.kind is PrincipalKind.SYSTEM:
            return True
        if principal.kind is not PrincipalKind.STAFF or principal.staff_id is None:
            return False
        if principal.has_role(Role.SUPERVISOR):
            return True
        # Epidemiologists read any case record, but their role opens no whereabouts.
        if principal.has_role(Role.EPIDEMIOLOGIST) and action == Permission.CASES_READ:
            return True
        return case.id is not None and uow.assignments.is_assigned(principal.staff_id, case.id)

    @staticmethod
    def _may_see_person(uow: UnitOfWork, principal: Principal, person: Person) -> bool:
        if person.id is None:
            return False
        if principal.kind is PrincipalKind.SYSTEM:
            return True
        if principal.kind is PrincipalKind.RESIDENT:
            return principal.person_id == person.id
        if principal.kind is not PrincipalKind.STAFF or principal.staff_id is None:
            return False
        if principal.has_role(Role.SUPERVISOR):
            return True
        return principal.has_role(Role.TRACER) and uow.assignments.linked_to_assigned_case(
            principal.staff_id, person.id
        )
