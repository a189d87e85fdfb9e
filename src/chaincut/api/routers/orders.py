"""Quarantine orders and compulsory testing notices: issue, list, read with history, change status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.access.audit import event_for
from chaincut.api.deps import PageDep, ServicesDep
from chaincut.domain import OrderKind, OrderStatus, Tier
from chaincut.domain.access import Permission, Role
from chaincut.domain.audit import AuditFlag
from chaincut.errors import InvalidInput, NotFound, PermissionDenied
from chaincut.guards import Caller, requires
from chaincut.store import OrderEntry

__all__ = ["router"]

router = APIRouter(prefix="/orders", tags=["orders"])

PublicIdPath = Annotated[str, Path(min_length=1, max_length=32)]


class OrderCreate(BaseModel):
    person: str = Field(min_length=1, max_length=64, description="the person's ref")
    kind: OrderKind | None = Field(default=None, description="or give the tier; both must agree")
    tier: Tier | None = None
    last_exposure_at: AwareDatetime | None = Field(default=None, description="required for a quarantine")
    case: str | None = Field(default=None, min_length=1, max_length=64, description="the case's ref")


class StatusChange(BaseModel):
    status: OrderStatus
    note: str | None = Field(
        default=None, max_length=500, description="required (the reason) when releasing someone early"
    )


class OrderEventPublic(BaseModel):
    status: OrderStatus
    changed_at: datetime
    changed_by: str
    note: str | None


class OrderPublic(BaseModel):
    public_id: str
    kind: OrderKind
    person: str
    case: str | None
    tier: Tier
    starts_on: date
    ends_on: date
    status: OrderStatus
    last_exposure_at: datetime | None
    issued_at: datetime
    issued_by: str
    policy_version: str
    history: list[OrderEventPublic] | None = None


class OrdersPublic(BaseModel):
    data: list[OrderPublic]
    count: int


def _public(entry: OrderEntry, *, with_history: bool = False) -> OrderPublic:
    order = entry.order
    return OrderPublic(
        public_id=order.public_id,
        kind=order.kind,
        person=entry.person_ref,
        case=entry.case_ref,
        tier=order.tier,
        starts_on=order.starts_on,
        ends_on=order.ends_on,
        status=order.status,
        last_exposure_at=order.last_exposure_at,
        issued_at=order.issued_at,
        issued_by=order.issued_by,
        policy_version=order.policy_version,
        history=([OrderEventPublic(**e.__dict__) for e in entry.history] if with_history else None),
    )


@router.post(
    "",
    status_code=201,
    responses={200: {"model": OrderPublic, "description": "an open order of that kind already exists"}},
)
def issue_order(
    body: OrderCreate,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.ORDERS_ISSUE, purpose=True)],
    response: Response,
) -> OrderPublic:
    """Issue an order: dates come from the policy; an open order of the same kind and case is returned.

    With ``case``, the order goes to the case's own person or one of its traced contacts, and
    only to them: anyone else answers 404 like an unknown person. Without ``case``, an ad-hoc
    order is a supervisor's alone.
    """
    person_id: int | None
    if body.case is not None:
        case = caller.case(body.case, details={"person": body.person}, field="case")
        person_id = _order_person(caller, case.person_id, body.case, body.person)
    else:
        if not caller.principal.has_role(Role.SUPERVISOR):
            services.audit.record(
                event_for(
                    caller.principal,
                    caller.permission,
                    "orders",
                    record=body.person,
                    purpose=caller.purpose,
                    outcome="denied",
                    flags=(AuditFlag.DENIED,),
                    details={"case": None},
                )
            )
            raise PermissionDenied(
                "an order without a case is a supervisor's to issue", code="supervisor_required"
            )
        person_id = caller.person(body.person, field="person").id
    issued = services.orders.issue_by_ref(
        body.person,
        tier=body.tier,
        kind=body.kind,
        last_exposure_at=body.last_exposure_at,
        case_ref=body.case,
        actor=caller.name,
    )
    caller.audit(
        "orders",
        issued.entry.order.public_id,
        subject_person_id=person_id,
        details={"case": body.case, "person": body.person, "created": issued.created},
    )
    if not issued.created:
        response.status_code = 200
    return _public(issued.entry, with_history=True)


def _order_person(caller: Caller, case_person_id: int, case_ref: str, person_ref: str) -> int:
    """The id of ``person_ref`` if it is the case's own person or one of its traced contacts
    (or already holds an order from the case: asking again returns that order, even once
    retention has removed the visits that made them a contact).

    Anyone else answers 404 exactly like an unknown person, and the attempt is audited as denied.
    """
    services = caller.services
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref(person_ref)
    allowed = person_id is not None and (
        person_id == case_person_id
        or services.orders.list(person_ref=person_ref, case_ref=case_ref, limit=1)[1] > 0
        or person_id in {c.person_id for c in services.tracing.trace_case(case_ref).contacts}
    )
    if person_id is None or not allowed:
        services.audit.record(
            event_for(
                caller.principal,
                caller.permission,
                "people",
                record=person_ref,
                purpose=caller.purpose,
                outcome="denied" if person_id is not None else "not_found",
                flags=(AuditFlag.DENIED,) if person_id is not None else (),
                details={"case": case_ref},
                subject_person_id=person_id,
            )
        )
        raise NotFound("no such person", field="person")
    return person_id


@router.get("")
def list_orders(
    services: ServicesDep,
    page: PageDep,
    caller: Annotated[Caller, requires(Permission.ORDERS_READ, purpose=True)],
    person: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    case: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    kind: OrderKind | None = None,
    status: OrderStatus | None = None,
    ending_before: Annotated[date | None, Query(description="ends_on before this date")] = None,
    ending_after: Annotated[date | None, Query(description="ends_on after this date")] = None,
) -> OrdersPublic:
    """Orders matching every filter given, soonest ending first (a tracer's: by case or person)."""
    if services.records.assigned_staff_id(caller.principal, Permission.ORDERS_READ) is not None:
        if case is None and person is None:
            raise PermissionDenied(
                "a tracer lists the orders of one of their cases or people: give case= or person=",
                code="filter_required",
            )
        if case is not None:
            caller.case(case, field="case")
        if person is not None:
            caller.person(person, field="person")
    else:
        caller.audit("orders", ",".join(f"{k}={v}" for k, v in (("case", case), ("person", person)) if v))
    entries, count = services.orders.list(
        person_ref=person,
        case_ref=case,
        kind=kind,
        status=status,
        ends_before=ending_before,
        ends_after=ending_after,
        offset=page.offset,
        limit=page.limit,
    )
    return OrdersPublic(data=[_public(e) for e in entries], count=count)


@router.get("/{public_id}")
def get_order(
    public_id: PublicIdPath,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.ORDERS_READ, purpose=True)],
) -> OrderPublic:
    """One order with its status history, oldest first."""
    entry = _order_for(caller, public_id, details={"order": public_id})
    return _public(entry, with_history=True)


def _order_for(
    caller: Caller,
    public_id: str,
    *,
    flags: tuple[str, ...] = (),
    details: dict[str, str | int | bool | None] | None = None,
) -> OrderEntry:
    """The order if the caller may see its person; otherwise the same 404 as a missing order."""
    entry = caller.services.orders.get(public_id)
    try:
        caller.person(entry.person_ref, flags=flags, details=details)
    except NotFound:
        raise NotFound("no such order", field="public_id") from None
    return entry


@router.post("/{public_id}/status")
def change_order_status(
    public_id: PublicIdPath,
    body: StatusChange,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.ORDERS_UPDATE, purpose=True)],
) -> OrderPublic:
    """Move an order on: issued -> delivered -> in force -> completed; released or breached while open.

    Releasing someone early is a manual change of their status: only a supervisor may, with a
    reason in ``note``, and the audit log flags it for reports.
    """
    release = body.status is OrderStatus.RELEASED
    supervisor = caller.principal.has_role(Role.SUPERVISOR)
    if release and supervisor and (body.note is None or len(body.note.strip()) < 5):
        raise InvalidInput("releasing someone early needs the reason (5+ characters)", field="note")
    flags = (AuditFlag.MANUAL_STATUS_CHANGE,) if release and supervisor else ()
    _order_for(caller, public_id, flags=flags, details={"order": public_id, "status": body.status.value})
    if release and not supervisor:
        raise PermissionDenied("only a supervisor may release someone early", code="supervisor_required")
    entry = services.orders.change_status(public_id, body.status, caller.name, body.note)
    return _public(entry, with_history=True)
