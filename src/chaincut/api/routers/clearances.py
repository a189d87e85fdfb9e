"""Clearance at the checkpoint: border officers clear or refuse a scanned code, sync a checkpoint's
day for offline use, and upload what an offline checkpoint decided."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from chaincut.border import decision_from_dict
from chaincut.domain.access import Permission
from chaincut.domain.border import Clearance, RefusalCode
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/border", tags=["border"])


class ClearanceCreate(BaseModel):
    qr: str = Field(min_length=1, max_length=4096, description="the text of the traveller's health-code QR")
    checkpoint: str = Field(min_length=1, max_length=64, description="a checkpoint id of the policy")


class ReasonPublic(BaseModel):
    code: RefusalCode
    text: str = Field(max_length=500)


class ClearanceBookingPublic(BaseModel):
    id: str
    checkpoint: str
    day: date
    slot: str
    subject: str = Field(description="the named traveller's border subject id")
    companions: list[str] = Field(description="each companion's border subject id, in the order listed")
    travellers: int
    status: str


class ClearancePublic(BaseModel):
    id: str = Field(description="the decision id")
    cleared: bool
    reasons: list[ReasonPublic] = Field(description="why not, every reason that holds; empty when cleared")
    checkpoint: str
    day: date
    slot: str | None = Field(description="the slot open when decided; null outside every slot's hours")
    decided_at: datetime
    code_id: str | None
    colour: str | None
    booking: ClearanceBookingPublic | None
    place: int | None = Field(
        description="where the scanned traveller stands on the booking: 0 the named traveller, n the n-th "
        "companion (each traveller is cleared on their own code); null without a booking"
    )
    officer: str
    offline: bool
    conflict: str | None = Field(
        default=None, description="an offline clearance whose code or booking had already crossed"
    )


class OfflineDecision(BaseModel):
    decision_id: str = Field(min_length=8, max_length=32, description="the checkpoint's id for this decision")
    checkpoint: str = Field(min_length=1, max_length=64)
    day: date
    slot: str | None = Field(default=None, max_length=16)
    decided_at: datetime
    cleared: bool
    reasons: list[ReasonPublic] = Field(max_length=20)
    code_id: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=32)
    colour: str | None = Field(default=None, max_length=32)
    booking_id: str | None = Field(default=None, max_length=32)


class OfflineUpload(BaseModel):
    decisions: list[OfflineDecision] = Field(min_length=1, max_length=1000)


class OfflineUploadPublic(BaseModel):
    data: list[ClearancePublic]
    count: int
    stored: int = Field(description="decisions recorded now")
    replayed: int = Field(description="decisions recorded by an earlier upload")
    conflicts: int = Field(description="offline clearances of codes or bookings that had already crossed")


class BundleRules(BaseModel):
    negative_test_hours: int
    cleared_colours: list[str]
    slot_hours: dict[str, str]
    ballot_draw_local_time: str
    ballot_draw_days_before: int


class BundleBooking(BaseModel):
    subject: str = Field(
        description="the named traveller's border subject id (what their health code carries)"
    )
    booking_id: str
    slot: str
    companions: list[str] = Field(description="each companion's border subject id, in the order listed")
    status: str


class BundleTraveller(BaseModel):
    booking_id: str
    subject: str


class BundleCrossed(BaseModel):
    code_ids: list[str]
    travellers: list[BundleTraveller] = Field(description="travellers who had crossed on their booking")


class ClearanceBundlePublic(BaseModel):
    format: str
    generated_at: datetime
    checkpoint: str
    day: date
    time_zone: str
    policy_version: str
    rules: BundleRules
    bookings: list[BundleBooking]
    crossed: BundleCrossed = Field(description="code ids and travellers that had crossed when synced")
    trust_list: dict[str, Any] = Field(
        description="the signed trust list the offline verifier checks codes with"
    )
    revoked_codes: dict[str, list[str]] = Field(
        description="issuer -> the code ids revoked when synced (holders whose colour worsened): refused"
    )
    max_age_hours: int = Field(
        description="the bundle is refused this many hours after generated_at: sync again before"
    )


def _public(record: Clearance) -> ClearancePublic:
    d = record.decision
    booking = None
    if d.booking is not None:
        b = d.booking
        booking = ClearanceBookingPublic(
            id=b.booking_id,
            checkpoint=b.checkpoint,
            day=b.day,
            slot=b.slot,
            subject=b.subject,
            companions=list(b.companions),
            travellers=b.travellers,
            status=b.status,
        )
    return ClearancePublic(
        id=record.public_id,
        cleared=d.cleared,
        reasons=[ReasonPublic(code=r.code, text=r.text) for r in d.reasons],
        checkpoint=d.checkpoint,
        day=d.day,
        slot=d.slot,
        decided_at=d.decided_at,
        code_id=d.code_id,
        colour=d.colour,
        booking=booking,
        place=None if d.booking is None else d.booking.place_of(d.subject),
        officer=record.officer,
        offline=record.offline,
        conflict=record.conflict,
    )


@router.get("/sync", response_model=ClearanceBundlePublic)
def sync(
    checkpoint: Annotated[str, Query(min_length=1, max_length=64)],
    day: Annotated[date, Query(description="the local date of the crossings")],
    caller: Annotated[Caller, requires(Permission.BORDER_CLEAR)],
) -> dict[str, Any]:
    """The checkpoint's bookings on ``day`` by border subject id, the rules and the trust list, for
    deciding offline; audited as a read of those bookings."""
    bundle = caller.services.clearances.bundle(caller.principal, checkpoint, day, purpose=caller.purpose)
    return bundle.to_dict()


@router.post("/clearances", status_code=201, response_model=ClearancePublic)
def clear(
    body: ClearanceCreate, caller: Annotated[Caller, requires(Permission.BORDER_CLEAR)]
) -> ClearancePublic:
    """Clear or refuse the traveller whose code was scanned, with every reason; recorded and audited."""
    record = caller.services.clearances.clear(
        caller.principal, body.qr, body.checkpoint, purpose=caller.purpose
    )
    return _public(record)


@router.post("/clearances/offline", response_model=OfflineUploadPublic)
def upload_offline(
    body: OfflineUpload, response: Response, caller: Annotated[Caller, requires(Permission.BORDER_CLEAR)]
) -> OfflineUploadPublic:
    """Record what an offline checkpoint decided, as it decided it; a decision id sent again is
    recorded once. An offline clearance of a code or a booking's traveller that had already crossed
    is kept with its ``conflict`` and flagged in the audit log."""
    decisions = []
    for item in body.decisions:
        decision_id, decision = decision_from_dict(item.model_dump(mode="json"))
        decisions.append((decision_id, decision, item.booking_id))
    records = caller.services.clearances.record_offline(caller.principal, decisions, purpose=caller.purpose)
    replayed = sum(r.replayed for r in records)
    response.status_code = 200
    return OfflineUploadPublic(
        data=[_public(r) for r in records],
        count=len(records),
        stored=len(records) - replayed,
        replayed=replayed,
        conflicts=sum(r.conflict is not None for r in records),
    )
