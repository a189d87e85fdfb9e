"""Border crossings under quota: residents book and cancel, anyone signed in sees what is free,
border officers list a checkpoint's bookings."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from chaincut.api.deps import PageDep
from chaincut.api.errors import error_response
from chaincut.bootstrap import Services
from chaincut.border import BookingRequest
from chaincut.domain.access import Permission
from chaincut.domain.border import BallotEntry, Booking
from chaincut.errors import BookingRefused
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/border", tags=["border"])


class BorderBookingCreate(BaseModel):
    request_id: str = Field(min_length=1, max_length=64, description="the app's id for retries")
    id_document: str = Field(
        min_length=1,
        max_length=40,
        description="the traveller's identity-document number (only its keyed hash is kept)",
    )
    day: date = Field(description="the local date of the crossing")
    checkpoint: str = Field(min_length=1, max_length=64, description="a checkpoint id of the policy")
    slot: str = Field(min_length=1, max_length=16, description="morning, afternoon or night")
    companions: int = Field(default=0, ge=0, le=100, description="travellers besides this one")


class BorderBookingPublic(BaseModel):
    id: str
    kind: Literal["booking", "ballot_entry"]
    day: date
    checkpoint: str
    slot: str
    companions: int
    status: str  # booked, cancelled; a ballot entry's entered, won, lost
    created_at: datetime
    cancelled_at: datetime | None = None


class BorderBookingsPublic(BaseModel):
    data: list[BorderBookingPublic]
    count: int


class BorderSlotPublic(BaseModel):
    checkpoint: str
    name_en: str
    name_zh: str
    day: date
    slot: str
    quota: int
    booked: int
    remaining: int


class BorderSlotsPublic(BaseModel):
    data: list[BorderSlotPublic]
    count: int


def _public(item: Booking | BallotEntry) -> BorderBookingPublic:
    return BorderBookingPublic(
        id=item.public_id,
        kind="booking" if isinstance(item, Booking) else "ballot_entry",
        day=item.day,
        checkpoint=item.checkpoint,
        slot=item.slot,
        companions=item.companions,
        status=item.status.value,
        created_at=item.created_at,
        cancelled_at=item.cancelled_at if isinstance(item, Booking) else None,
    )


# Async on purpose (the hot path when bookings open): it parses on the event loop and hands the
# request to the booking service's group commit, which decides those arriving together in one
# transaction and audits each new booking in it; the answer comes after that commit
# (bench/border_burst.py).
@router.post(
    "/bookings",
    status_code=201,
    response_model=BorderBookingPublic,
    response_class=Response,
    responses={
        201: {"model": BorderBookingPublic, "description": "the booking"},
        200: {"model": BorderBookingPublic, "description": "a retried request: the first answer"},
        202: {"model": BorderBookingPublic, "description": "ballot mode: entered for the day's draw"},
    },
)
async def book(
    body: BorderBookingCreate,
    caller: Annotated[Caller, requires(Permission.BORDER_BOOK, rate="border-bookings")],
) -> Response:
    """Book a crossing for the traveller named by their document (with companions) in one slot."""
    person_id = caller.principal.person_id
    assert person_id is not None
    services: Services = caller.services
    request = BookingRequest(
        person_id=person_id,
        id_document=body.id_document,
        day=body.day,
        checkpoint=body.checkpoint,
        slot=body.slot,
        companions=body.companions,
        request_id=body.request_id,
        actor=caller.name,
        roles=caller.principal.role_names,
    )
    try:
        result = await asyncio.wrap_future(services.border.submit(request))
    except BookingRefused as exc:
        # Most requests once slots fill: answered here rather than raised through the middleware
        # stack to the same error handler (bench/border_burst.py).
        return error_response(exc)
    status = 200 if result.replayed else 202 if isinstance(result, BallotEntry) else 201
    # Serialised directly (the hot path): the model above documents the same shape.
    content = orjson.dumps(
        {
            "id": result.public_id,
            "kind": "booking" if isinstance(result, Booking) else "ballot_entry",
            "day": result.day,
            "checkpoint": result.checkpoint,
            "slot": result.slot,
            "companions": result.companions,
            "status": result.status.value,
            "created_at": result.created_at,
            "cancelled_at": result.cancelled_at if isinstance(result, Booking) else None,
        },
        option=orjson.OPT_UTC_Z,
    )
    return Response(content, status_code=status, media_type="application/json")


@router.delete("/bookings/{public_id}", response_model=BorderBookingPublic)
def cancel(
    public_id: Annotated[str, Path(max_length=32)],
    caller: Annotated[Caller, requires(Permission.BORDER_BOOK)],
) -> BorderBookingPublic:
    """Cancel one's own booking; its seats go back to the slot once (cancelling again changes nothing)."""
    person_id = caller.principal.person_id
    assert person_id is not None
    booking = caller.services.border.cancel(public_id, person_id=person_id)
    caller.audit("border/bookings", booking.public_id, subject_person_id=person_id, details={"cancel": True})
    return _public(booking)


@router.get("/slots", response_model=BorderSlotsPublic)
def slots(
    day: Annotated[date, Query(description="the local date")],
    caller: Annotated[Caller, requires(Permission.SIGNED_IN)],
) -> BorderSlotsPublic:
    """What each checkpoint's slots still take on ``day`` (no personal data)."""
    rules = caller.services.policy.border
    found = []
    for s in caller.services.border.availability(day):
        point = rules.checkpoints[s.checkpoint]
        found.append(
            BorderSlotPublic(
                checkpoint=s.checkpoint,
                name_en=point.name_en,
                name_zh=point.name_zh,
                day=s.day,
                slot=s.slot,
                quota=s.quota,
                booked=s.booked,
                remaining=s.remaining,
            )
        )
    return BorderSlotsPublic(data=found, count=len(found))


@router.get("/bookings", response_model=BorderBookingsPublic)
def list_bookings(
    day: Annotated[date, Query(description="the local date")],
    page: PageDep,
    caller: Annotated[Caller, requires(Permission.BORDER_READ)],
    checkpoint: Annotated[str | None, Query(max_length=64)] = None,
) -> BorderBookingsPublic:
    """The bookings on ``day`` (at ``checkpoint``), for border officers checking travellers."""
    found = caller.services.border.bookings(day, checkpoint, limit=page.limit, offset=page.offset)
    caller.audit(
        "border/bookings",
        f"day={day.isoformat()},checkpoint={checkpoint or ''}",
        details={"count": len(found)},
    )
    return BorderBookingsPublic(data=[_public(b) for b in found], count=len(found))
