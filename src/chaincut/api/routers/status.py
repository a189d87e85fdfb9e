"""Health, stored counts, and retention purges."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from chaincut.api.deps import ServicesDep
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(tags=["status"])


class Health(BaseModel):
    status: str
    policy_version: str


class StatusPublic(BaseModel):
    people: int
    venues: int
    visits: int
    encounters: int
    cases: int


class PurgePublic(BaseModel):
    kind: str
    deleted: int
    cutoff: datetime
    run_at: datetime
    policy_version: str


class PurgesPublic(BaseModel):
    data: list[PurgePublic]
    count: int


@router.get("/health")
def health(services: ServicesDep, _caller: Annotated[Caller, requires(Permission.PUBLIC)]) -> Health:
    return Health(status="ok", policy_version=services.policy.version)


@router.get("/status")
def status(
    services: ServicesDep, _caller: Annotated[Caller, requires(Permission.STATUS_READ)]
) -> StatusPublic:
    counts = services.store.counts()
    return StatusPublic(**counts.__dict__)


@router.get("/purges")
def list_purges(
    services: ServicesDep, _caller: Annotated[Caller, requires(Permission.RETENTION_RUN)]
) -> PurgesPublic:
    with services.store.read() as uow:
        records = uow.purges.recent()
    data = [PurgePublic(**r.__dict__) for r in records]
    return PurgesPublic(data=data, count=len(data))


@router.post("/purges")
def run_purge(
    services: ServicesDep, caller: Annotated[Caller, requires(Permission.RETENTION_RUN)]
) -> PurgesPublic:
    records = services.purge_expired()
    caller.audit("purges", details={r.kind: r.deleted for r in records})
    data = [PurgePublic(**r.__dict__) for r in records]
    return PurgesPublic(data=data, count=len(data))
