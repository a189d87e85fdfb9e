"""The audit trail: record who did what to which record and why, verify the chain, report on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chaincut.clock import Clock, to_epoch
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent, AuditFlag, AuditRecord
from chaincut.errors import NotFound
from chaincut.security.audit_chain import ChainReport, verify_chain
from chaincut.store import Store, UnitOfWork

__all__ = ["AuditTrail", "event_for"]


def event_for(
    principal: Principal,
    action: str,
    resource: str,
    *,
    record: str = "",
    purpose: str = "",
    outcome: str = "ok",
    flags: tuple[str, ...] = (),
    details: Mapping[str, str | int | bool | None] | None = None,
    subject_person_id: int | None = None,
) -> AuditEvent:
    """An audit event naming ``principal`` as the one who acted."""
    return AuditEvent(
        actor=principal.name,
        roles=principal.role_names,
        action=action,
        resource=resource,
        record=record,
        purpose=purpose,
        outcome=outcome,
        flags=flags,
        details=dict(details or {}),
        subject_person_id=subject_person_id,
    )


class AuditTrail:
    """Appends to the audit log, checks its chain, and answers who-did-what questions."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def record(self, *events: AuditEvent) -> None:
        """Append ``events`` in a transaction of their own (committed before this returns)."""
        with self._store.write() as uow:
            self.record_in(uow, *events)

    def record_in(self, uow: UnitOfWork, *events: AuditEvent) -> None:
        """Append ``events`` inside ``uow``'s transaction: they commit or vanish with its writes."""
        uow.audit.append(list(events), at=to_epoch(self._clock.now()))

    def note_policy(self, version: str, digest: str) -> bool:
        """Record the policy in force when it differs from the last one recorded; True if it did.

        Experts change the policy by deploying a new file; the first start under it is the
        change the audit log records (flagged ``policy_change``), with the version and digest.
        """
        if self._store.audit_key is None:
            return False
        with self._store.write() as uow:
            last = uow.audit.last_of("policy.activate")
            if last is not None and last.event.details.get("digest") == digest:
                return False
            event = AuditEvent(
                actor="system:policy",
                roles="system",
                action="policy.activate",
                resource="policy",
                record=version,
                flags=(AuditFlag.POLICY_CHANGE,),
                details={
                    "version": version,
                    "digest": digest,
                    "previous": None if last is None else str(last.event.details.get("version")),
                },
            )
            self.record_in(uow, event)
        return True

    def verify(self) -> ChainReport:
        """Check every entry's MAC and link, and the head; the report says where the chain breaks."""
        key = self._store.audit_key
        assert key is not None
        with self._store.read() as uow:
            return verify_chain(key, uow.audit.chain(), head=uow.audit.head())

    def by_actor(
        self, actor: str, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """What one staff member (``staff:<username>``) or other caller did."""
        with self._store.read() as uow:
            return uow.audit.find(
                actor=actor,
                since=to_epoch(since) if since else None,
                until=to_epoch(until) if until else None,
                limit=limit,
            )

    def about_person(self, person_ref: str, *, limit: int = 1000) -> list[AuditRecord]:
        """Every recorded access to and change of one person's data."""
        with self._store.read() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound(f"no person {person_ref!r}", field="person")
            return uow.audit.find(subject_person_id=person_id, limit=limit)

    def flagged(self, flag: str, *, limit: int = 1000) -> list[AuditRecord]:
        """Entries with ``flag``, such as manual status changes."""
        with self._store.read() as uow:
            return uow.audit.find(flag=flag, limit=limit)
