"""Administration of access: staff accounts, case assignments, export approvals, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.access.audit import event_for
from chaincut.clock import from_epoch
from chaincut.domain.access import Permission, Role
from chaincut.domain.audit import AuditRecord
from chaincut.errors import InvalidInput
from chaincut.guards import Caller, requires
from chaincut.store.assignments import ApprovalRecord
from chaincut.store.staff import StaffRecord

__all__ = ["router"]

router = APIRouter(tags=["access"])

Username = Annotated[str, Path(min_length=1, max_length=64)]
RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class StaffCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    roles: list[Role] = Field(min_length=1, max_length=len(Role))


class StaffRoles(BaseModel):
    roles: list[Role] = Field(min_length=1, max_length=len(Role))


class StaffPublic(BaseModel):
    username: str
    roles: list[str]
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    created_by: str


class StaffList(BaseModel):
    data: list[StaffPublic]
    count: int


def _staff(record: StaffRecord) -> StaffPublic:
    return StaffPublic(
        username=record.username,
        roles=sorted(r.value for r in record.roles),
        disabled=record.disabled,
        locked_until=from_epoch(record.locked_until) if record.locked_until else None,
        created_at=from_epoch(record.created_at),
        created_by=record.created_by,
    )


Admin = Annotated[Caller, requires(Permission.USERS_MANAGE)]


@router.get("/staff")
def list_staff(caller: Admin) -> StaffList:
    records = caller.services.accounts.list()
    return StaffList(data=[_staff(r) for r in records], count=len(records))


@router.post("/staff", status_code=201)
def add_staff(body: StaffCreate, caller: Admin) -> StaffPublic:
    record = caller.services.accounts.add(
        body.username, body.password, frozenset(body.roles), caller.principal
    )
    return _staff(record)


@router.put("/staff/{username}/roles")
def set_staff_roles(username: Username, body: StaffRoles, caller: Admin) -> StaffPublic:
    record = caller.services.accounts.set_roles(username, frozenset(body.roles), caller.principal)
    caller.services.principals.forget_all()
    return _staff(record)


@router.post("/staff/{username}/disable")
def disable_staff(username: Username, caller: Admin) -> StaffPublic:
    """Disable an account at once: its tokens and sessions end."""
    record = caller.services.accounts.disable(username, caller.principal)
    caller.services.principals.forget_all()
    return _staff(record)


@router.post("/staff/{username}/enable")
def enable_staff(username: Username, caller: Admin) -> StaffPublic:
    return _staff(caller.services.accounts.disable(username, caller.principal, disabled=False))


# --- case assignments --------------------------------------------------------------------


class AssignmentCreate(BaseModel):
    staff: str = Field(min_length=1, max_length=64, description="the tracer's username")


class AssignmentsPublic(BaseModel):
    case: str
    staff: list[str]


Assigner = Annotated[Caller, requires(Permission.CASES_ASSIGN)]


@router.post("/cases/{ref}/assignments", status_code=201)
def assign_case(ref: RefPath, body: AssignmentCreate, caller: Assigner) -> AssignmentsPublic:
    """Assign a case to a tracer: it opens that case's whereabouts to them, for stated purposes."""
    staff = caller.services.assignments.assign(caller.principal, ref, body.staff, purpose=caller.purpose)
    return AssignmentsPublic(case=ref, staff=staff)


@router.delete("/cases/{ref}/assignments/{username}")
def unassign_case(ref: RefPath, username: Username, caller: Assigner) -> AssignmentsPublic:
    staff = caller.services.assignments.unassign(caller.principal, ref, username, purpose=caller.purpose)
    return AssignmentsPublic(case=ref, staff=staff)


@router.get("/cases/{ref}/assignments")
def case_assignments(ref: RefPath, caller: Assigner) -> AssignmentsPublic:
    case = caller.case(ref)
    assert case.id is not None
    with caller.services.store.read() as uow:
        return AssignmentsPublic(case=ref, staff=uow.assignments.assignees(case.id))


# --- export approvals ----------------------------------------------------------------------


class ExportRequest(BaseModel):
    purpose: str = Field(min_length=5, max_length=500, description="why the list must leave chaincut")


class Decision(BaseModel):
    approve: bool
    reason: str = Field(min_length=5, max_length=500)


class ApprovalPublic(BaseModel):
    id: str
    kind: str
    case: str | None
    requested_by: str
    requested_at: datetime
    purpose: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    expires_at: datetime


class ApprovalList(BaseModel):
    data: list[ApprovalPublic]
    count: int


def _approval(r: ApprovalRecord) -> ApprovalPublic:
    return ApprovalPublic(
        id=r.public_id,
        kind=r.kind,
        case=r.case_ref,
        requested_by=r.requested_by,
        requested_at=from_epoch(r.requested_at),
        purpose=r.purpose,
        status=r.status,
        decided_by=r.decided_by,
        decided_at=from_epoch(r.decided_at) if r.decided_at else None,
        decision_reason=r.decision_reason,
        expires_at=from_epoch(r.expires_at),
    )


@router.post("/cases/{ref}/exports", status_code=201)
def request_export(
    ref: RefPath, body: ExportRequest, caller: Annotated[Caller, requires(Permission.EXPORTS_REQUEST)]
) -> ApprovalPublic:
    """Ask a supervisor to approve exporting this case's contact list (with names)."""
    return _approval(caller.services.approvals.request(caller.principal, ref, body.purpose))


Approver = Annotated[Caller, requires(Permission.EXPORTS_APPROVE)]


@router.get("/approvals")
def pending_approvals(caller: Approver) -> ApprovalList:
    records = caller.services.approvals.pending()
    return ApprovalList(data=[_approval(r) for r in records], count=len(records))


@router.post("/approvals/{public_id}/decision")
def decide_approval(
    public_id: Annotated[str, Path(min_length=1, max_length=32)], body: Decision, caller: Approver
) -> ApprovalPublic:
    """Approve or reject a request, with a reason; a supervisor never decides their own."""
    decided = caller.services.approvals.decide(
        caller.principal, public_id, approve=body.approve, reason=body.reason
    )
    return _approval(decided)


# --- the audit log -------------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    seq: int
    at: datetime
    actor: str
    roles: str
    action: str
    resource: str
    record: str
    purpose: str
    outcome: str
    flags: list[str]
    details: dict[str, str | int | bool | None]


class AuditPage(BaseModel):
    data: list[AuditEntryPublic]
    count: int


class ChainPublic(BaseModel):
    intact: bool
    checked: int
    last_seq: int
    breaks: list[dict[str, str | int]]


def _entry(r: AuditRecord) -> AuditEntryPublic:
    e = r.event
    return AuditEntryPublic(
        seq=r.seq,
        at=r.at,
        actor=e.actor,
        roles=e.roles,
        action=e.action,
        resource=e.resource,
        record=e.record,
        purpose=e.purpose,
        outcome=e.outcome,
        flags=list(e.flags),
        details=dict(e.details),
    )


Auditor = Annotated[Caller, requires(Permission.AUDIT_READ)]


@router.get("/audit")
def audit_entries(
    caller: Auditor,
    staff: Annotated[str | None, Query(max_length=64, description="a staff member's username")] = None,
    person: Annotated[str | None, Query(max_length=64, description="a person's ref")] = None,
    flag: Annotated[str | None, Query(max_length=40, description="e.g. manual_status_change")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> AuditPage:
    """Audit entries about one staff member, one person, or with one flag (one of them)."""
    trail = caller.services.audit
    if sum(x is not None for x in (staff, person, flag)) != 1:
        raise InvalidInput("give exactly one of staff=, person= or flag=", field="staff")
    if staff is not None:
        found = trail.by_actor(f"staff:{staff}", since=since, until=until, limit=limit)
    elif person is not None:
        found = trail.about_person(person, since=since, until=until, limit=limit)
    else:
        assert flag is not None
        found = trail.flagged(flag, since=since, until=until, limit=limit)
    trail.record(event_for(caller.principal, "audit.read", "audit", record=staff or person or flag or ""))
    return AuditPage(data=[_entry(r) for r in found], count=len(found))


@router.get("/audit/verify")
def verify_audit(caller: Auditor) -> ChainPublic:
    """Check the audit log's hash chain end to end; says where it breaks, if it does."""
    report = caller.services.audit.verify()
    return ChainPublic(
        intact=report.intact,
        checked=report.checked,
        last_seq=report.last_seq,
        breaks=[{"seq": b.seq, "problem": b.problem} for b in report.breaks],
    )
