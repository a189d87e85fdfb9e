"""Daily follow-up of a person: symptoms and test results, one record a day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chaincut.api.deps import PageDep, ServicesDep
from chaincut.domain import TestResult
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires
from chaincut.store import FollowUpEntry
from chaincut.tracing.followups import SYMPTOMS

__all__ = ["router"]

router = APIRouter(prefix="/people", tags=["follow-ups"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class FollowUpCreate(BaseModel):
    on_date: date = Field(description="the local day the follow-up is for; not after today")
    symptoms: list[str] = Field(
        default_factory=list, max_length=len(SYMPTOMS), description=f"any of {', '.join(sorted(SYMPTOMS))}"
    )
    test_result: TestResult | None = None
    note: str | None = Field(default=None, max_length=500, description="anything else, in free text")
    reached: bool = Field(default=True, description="false: called and not reached (no symptoms or result)")


class FollowUpPublic(BaseModel):
    on_date: date
    symptoms: list[str]
    test_result: TestResult | None
    note: str | None
    reached: bool
    order: str | None = Field(description="public id of the open order it was recorded under")
    recorded_at: datetime
    recorded_by: str


class FollowUpRecordedPublic(FollowUpPublic):
    case_created: bool
    case: str | None = Field(description="ref of the case a positive result made")


class FollowUpsPublic(BaseModel):
    data: list[FollowUpPublic]
    count: int


def _public(entry: FollowUpEntry) -> FollowUpPublic:
    f = entry.follow_up
    return FollowUpPublic(
        on_date=f.on_date,
        symptoms=list(f.symptoms),
        test_result=f.test_result,
        note=f.note,
        reached=f.reached,
        order=entry.order_public_id,
        recorded_at=f.recorded_at,
        recorded_by=f.recorded_by,
    )


@router.post("/{ref}/follow-ups", status_code=201)
def record_follow_up(
    ref: RefPath,
    body: FollowUpCreate,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.FOLLOW_UPS, purpose=True)],
) -> FollowUpRecordedPublic:
    """Record the day's follow-up; a positive test makes the person a case linked to their order's case."""
    caller.person(ref, details={"on_date": body.on_date.isoformat()}, field="person")
    recorded = services.follow_ups.record(
        ref, body.on_date, body.symptoms, body.test_result, body.note, caller.name, reached=body.reached
    )
    base = _public(FollowUpEntry(recorded.follow_up, recorded.order_public_id))
    return FollowUpRecordedPublic(
        **base.model_dump(),
        case_created=recorded.case_created,
        case=None if recorded.case is None else recorded.case.ref,
    )


@router.get("/{ref}/follow-ups")
def list_follow_ups(
    ref: RefPath,
    services: ServicesDep,
    page: PageDep,
    caller: Annotated[Caller, requires(Permission.FOLLOW_UPS, purpose=True)],
    order: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> FollowUpsPublic:
    """The person's follow-ups, latest day first."""
    caller.person(ref, field="person")
    entries, count = services.follow_ups.list(
        ref, order_public_id=order, offset=page.offset, limit=page.limit
    )
    return FollowUpsPublic(data=[_public(e) for e in entries], count=count)
