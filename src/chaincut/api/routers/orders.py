"""Quarantine orders and compulsory testing notices: issue, list, read with history, change status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.api.deps import ActorDep, PageDep, ServicesDep
from chaincut.domain import OrderKind, OrderStatus, Tier
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
    note: str | None = Field(default=None, max_length=500)


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
def issue_order(body: OrderCreate, services: ServicesDep, actor: ActorDep, response: Response) -> OrderPublic:
    """Issue an order: dates come from the policy; an open order of the same kind and case is returned."""
    issued = services.orders.issue_by_ref(
        body.person,
        tier=body.tier,
        kind=body.kind,
        last_exposure_at=body.last_exposure_at,
        case_ref=body.case,
        actor=actor,
    )
    if not issued.created:
        response.status_code = 200
    return _public(issued.entry, with_history=True)


@router.get("")
def list_orders(
    services: ServicesDep,
    page: PageDep,
    person: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    case: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    kind: OrderKind | None = None,
    status: OrderStatus | None = None,
    ending_before: Annotated[date | None, Query(description="ends_on before this date")] = None,
    ending_after: Annotated[date | None, Query(description="ends_on after this date")] = None,
) -> OrdersPublic:
    """Orders matching every filter given, soonest ending first."""
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
def get_order(public_id: PublicIdPath, services: ServicesDep) -> OrderPublic:
    """One order with its status history, oldest first."""
    return _public(services.orders.get(public_id), with_history=True)


@router.post("/{public_id}/status")
def change_order_status(
    public_id: PublicIdPath, body: StatusChange, services: ServicesDep, actor: ActorDep
) -> OrderPublic:
    """Move an order on: issued -> delivered -> in force -> completed; released or breached while open."""
    entry = services.orders.change_status(public_id, body.status, actor, body.note)
    return _public(entry, with_history=True)
