"""Supervisor approval of bulk exports of personal data (four eyes: never one's own request)."""

from __future__ import annotations

from datetime import timedelta

from chaincut.access.audit import AuditTrail, event_for
from chaincut.access.four_eyes import require_someone_else, require_supervisor
from chaincut.access.records import RecordAccess
from chaincut.clock import Clock, to_epoch
from chaincut.domain import Case
from chaincut.domain.access import Permission, Principal
from chaincut.domain.audit import AuditFlag
from chaincut.domain.ids import new_public_id
from chaincut.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from chaincut.store import Store
from chaincut.store.assignments import ApprovalRecord

__all__ = ["EXPORT_CONTACTS", "ExportApprovals"]

EXPORT_CONTACTS = "export_contacts"


def _reason(text: str, field: str) -> str:
    cleaned = " ".join(text.split())
    if not 5 <= len(cleaned) <= 500:
        raise InvalidInput("expected a reason of 5-500 characters", field=field)
    return cleaned


class ExportApprovals:
    """Requests for bulk exports, a supervisor's decision on each, and the check before exporting."""

    def __init__(
        self, store: Store, clock: Clock, audit: AuditTrail, records: RecordAccess, valid_hours: int
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._records = records
        self._valid = timedelta(hours=valid_hours)

    def request(self, principal: Principal, case_ref: str, purpose: str) -> ApprovalRecord:
        """Ask to export the contacts of a case one may see, saying why."""
        purpose = _reason(purpose, "purpose")
        case = self._records.case(principal, case_ref, action=Permission.EXPORTS_REQUEST, purpose=purpose)
        now = self._clock.now()
        with self._store.write() as uow:
            record = uow.approvals.add(
                new_public_id(),
                EXPORT_CONTACTS,
                case_id=case.id,
                requested_by=principal.name,
                purpose=purpose,
                at=to_epoch(now),
                expires_at=to_epoch(now + self._valid),
            )
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "exports.request",
                    "approvals",
                    record=record.public_id,
                    purpose=purpose,
                    details={"case": case_ref},
                    subject_person_id=case.person_id,
                ),
            )
        return record

    def pending(self) -> list[ApprovalRecord]:
        with self._store.read() as uow:
            return uow.approvals.list(status="pending")

    def requested_for(self, principal: Principal, case: Case) -> list[ApprovalRecord]:
        """The requests ``principal`` made to export ``case``'s contacts, newest first."""
        if case.id is None:
            return []
        with self._store.read() as uow:
            return uow.approvals.for_case(case.id, principal.name)

    def get(self, public_id: str) -> ApprovalRecord:
        with self._store.read() as uow:
            record = uow.approvals.get(public_id)
        if record is None:
            raise NotFound("no such approval request", field="public_id")
        return record

    def decide(self, principal: Principal, public_id: str, *, approve: bool, reason: str) -> ApprovalRecord:
        """A supervisor's decision, with a reason; nobody decides on their own request."""
        reason = _reason(reason, "reason")
        require_supervisor(principal, "decides on exports")
        now = self._clock.now()
        with self._store.write() as uow:
            record = uow.approvals.get(public_id)
            if record is None:
                raise NotFound("no such approval request", field="public_id")
            require_someone_else(
                principal,
                record.requested_by,
                message="a request must be decided by another supervisor than the one who made it",
            )
            if record.expires_at <= to_epoch(now):
                raise Conflict("this request has expired; ask again", field="public_id")
            status = "approved" if approve else "rejected"
            # An approval holds for approval_hours from the decision, not from the request.
            if not uow.approvals.decide(
                record.id,
                status,
                by=principal.name,
                at=to_epoch(now),
                reason=reason,
                expires_at=to_epoch(now + self._valid),
            ):
                raise Conflict(f"this request was already {record.status}", field="public_id")
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "exports.approve" if approve else "exports.reject",
                    "approvals",
                    record=public_id,
                    purpose=reason,
                    flags=(AuditFlag.PERMISSION_CHANGE,),
                    details={"case": record.case_ref, "requested_by": record.requested_by},
                ),
            )
            decided = uow.approvals.get(public_id)
        assert decided is not None
        return decided

    def use(
        self, principal: Principal, public_id: str | None, case: Case, *, purpose: str = ""
    ) -> ApprovalRecord:
        """Spend the approval that lets ``principal`` export ``case``'s contacts now, or refuse.

        An approval serves one export: it is marked used, in a transaction that refuses a
        second use, as the export starts. A refusal is audited as denied.
        """
        now = to_epoch(self._clock.now())
        record: ApprovalRecord | None = None
        with self._store.write() as uow:
            record = None if public_id is None else uow.approvals.get(public_id)
            used = (
                record is not None
                and case.id is not None
                and uow.approvals.use(record.id, by=principal.name, case_id=case.id, at=now)
            )
            if not used:
                self._audit.record_in(
                    uow,
                    event_for(
                        principal,
                        Permission.EXPORTS_REQUEST,
                        "approvals",
                        record=public_id or "",
                        purpose=purpose,
                        outcome="denied",
                        flags=(AuditFlag.DENIED,),
                        details={"case": case.ref, "status": None if record is None else record.status},
                        subject_person_id=case.person_id,
                    ),
                )
        if public_id is None:
            raise PermissionDenied(
                "a bulk export of personal data needs a supervisor's approval: request one with "
                "POST /cases/{ref}/exports and pass its id as ?approval=",
                code="approval_required",
                field="approval",
            )
        if record is None or not used:
            raise PermissionDenied(
                "this approval is not an approved, unexpired and unused request of yours for this case",
                code="approval_required",
                field="approval",
            )
        return record
