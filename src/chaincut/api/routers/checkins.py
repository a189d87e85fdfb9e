"""Check-in and check-out by scanning a venue's QR poster."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Response
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.bootstrap import Services
from chaincut.domain.access import Permission, PrincipalKind
from chaincut.errors import InvalidInput, NotFound
from chaincut.guards import Caller, requires
from chaincut.whereabouts.checkin import CheckInRequest, VisitReceipt

__all__ = ["router"]

router = APIRouter(prefix="/checkins", tags=["checkins"])


class CheckInCreate(BaseModel):
    client_id: str = Field(min_length=1, max_length=64, description="the phone's id for retries")
    person: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the visitor's ref: only from a venue's device; a resident's app checks in its owner",
    )
    token: str | None = Field(default=None, max_length=2048, description="the QR code's text")
    plate: str | None = Field(default=None, max_length=16, description="a taxi's plate")
    code: str | None = Field(
        default=None,
        max_length=4096,
        description="a venue's kiosk: the visitor's health code as scanned (instead of naming them)",
    )
    at: AwareDatetime | None = None


class CheckOut(BaseModel):
    person: str | None = Field(default=None, min_length=1, max_length=64, description="as for check-in")
    at: AwareDatetime | None = None


class VisitPublic(BaseModel):
    client_id: str
    venue_ref: str
    venue_name_en: str
    venue_name_zh: str
    entered_at: datetime
    left_at: datetime | None
    left_inferred: bool
    clipped: bool = Field(
        description="left_at was brought back to the venue type's longest believable stay: "
        "the check-out given was later than anyone stays there"
    )


def _public(receipt: VisitReceipt) -> VisitPublic:
    return VisitPublic(
        client_id=receipt.client_id,
        venue_ref=receipt.venue.ref,
        venue_name_en=receipt.venue.name_en,
        venue_name_zh=receipt.venue.name_zh,
        entered_at=receipt.entered_at,
        left_at=receipt.left_at,
        left_inferred=receipt.left_inferred,
        clipped=receipt.clipped,
    )


def _person_ref(caller: Caller, given: str | None) -> str:
    """Whose visit: a resident's own, or the visitor a venue's device names."""
    principal = caller.principal
    if principal.kind is PrincipalKind.RESIDENT:
        assert principal.subject_ref is not None
        if given is not None and given != principal.subject_ref:
            raise NotFound("no such person", field="person")
        return principal.subject_ref
    if given is None:
        raise InvalidInput("name the visitor checking in", field="person")
    return given


Checker = Annotated[Caller, requires(Permission.CHECKIN, rate="checkins")]


# The check-in route is async on purpose: it parses on the event loop and hands the check-in
# to the service's group commit, whose writer thread records those arriving together in one
# transaction; the answer comes after that commit (bench/checkin.py).
@router.post(
    "",
    status_code=201,
    response_model=VisitPublic,
    response_class=Response,
    responses={
        201: {"model": VisitPublic, "description": "the visit"},
        200: {"model": VisitPublic, "description": "a retried check-in: the first visit"},
    },
)
async def check_in(body: CheckInCreate, caller: Checker) -> Response:
    """Check in; retrying with the same client_id returns the first visit (200), never a second."""
    services: Services = caller.services
    person = body.person
    if body.code is not None:
        if caller.principal.kind is not PrincipalKind.VENUE_DEVICE or body.person is not None:
            raise InvalidInput(
                "only a venue's kiosk checks a visitor in by their code, naming nobody", field="code"
            )
        # The code's signature and the store: off the event loop, which answers other check-ins.
        person = await asyncio.to_thread(services.clearances.holder_of, body.code)
    request = CheckInRequest(
        person_ref=_person_ref(caller, person),
        client_id=body.client_id,
        token=body.token,
        plate=body.plate,
        at=body.at,
        actor=caller.name,
        venue_only=caller.principal.venue_id,
    )
    receipt = await asyncio.wrap_future(services.checkins.submit(request))
    # Serialised directly (the hot path): the model above documents the same shape.
    content = orjson.dumps(
        {
            "client_id": receipt.client_id,
            "venue_ref": receipt.venue.ref,
            "venue_name_en": receipt.venue.name_en,
            "venue_name_zh": receipt.venue.name_zh,
            "entered_at": receipt.entered_at,
            "left_at": receipt.left_at,
            "left_inferred": receipt.left_inferred,
            "clipped": receipt.clipped,
        },
        option=orjson.OPT_UTC_Z,
    )
    return Response(content, status_code=200 if receipt.replayed else 201, media_type="application/json")


@router.post("/{client_id}/checkout")
def check_out(
    client_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: CheckOut,
    caller: Checker,
) -> VisitPublic:
    person_ref = _person_ref(caller, body.person)
    visit = caller.services.checkins.check_out(
        person_ref, client_id, body.at, venue_only=caller.principal.venue_id
    )
    caller.audit("visits", client_id, details={"checkout": True})
    return _public(visit)
