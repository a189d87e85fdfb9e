"""Border crossings under quota: residents book and cancel, anyone signed in sees what is free, anyone
at all reads the ballot's seed commitments and each day's draw record, border officers list a
checkpoint's bookings."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field, StringConstraints

from chaincut.api.deps import PageDep
from chaincut.api.errors import error_response
from chaincut.bootstrap import Services
from chaincut.border import BookingRequest
from chaincut.domain.access import Permission
from chaincut.domain.border import BallotEntry, Booking
from chaincut.errors import BookingRefused, InvalidInput, NotFound
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/border", tags=["border"])

_MAX_COMMITMENT_DAYS = 62

Document = Annotated[str, StringConstraints(min_length=1, max_length=40)]


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
    companions: list[Document] = Field(
        default_factory=list,
        max_length=20,
        description="each companion's identity-document number (only its keyed hash is kept); each is a "
        "traveller of their own, with one live booking a day, cleared on their own code",
    )


class CompanionPublic(BaseModel):
    subject: str = Field(description="the companion's border subject id (what their health code carries)")


class BorderBookingPublic(BaseModel):
    id: str
    kind: Literal["booking", "ballot_entry"]
    day: date
    checkpoint: str
    slot: str
    subject: str | None = Field(description="the named traveller's border subject id")
    companions: list[CompanionPublic] = Field(description="the companions, in the order listed")
    travellers: int = Field(description="seats held: the named traveller and the companions")
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
    quota: int = Field(description="the policy's quota in force")
    booked: int
    remaining: int
    excess: int = Field(description="seats booked beyond a quota the policy lowered (nobody is bumped)")


class BorderSlotsPublic(BaseModel):
    data: list[BorderSlotPublic]
    count: int


class SeedCommitmentPublic(BaseModel):
    day: date
    commitment: str = Field(description="SHA-256 of the seed's UTF-8 bytes, lower-case hex")
    hash: Literal["sha256"] = "sha256"
    committed_at: datetime
    entries_at_commitment: int = Field(
        description="entries already in when committed (0: before they opened)"
    )
    seed: str | None = Field(description="the seed, revealed by the draw; null until then")
    drawn_at: datetime | None


class SeedCommitmentsPublic(BaseModel):
    data: list[SeedCommitmentPublic]
    count: int


class DrawnTicketPublic(BaseModel):
    ticket: str = Field(
        description="SHA-256 of 'chaincut-ballot-ticket/1', a zero byte, the day (YYYY-MM-DD), a zero byte "
        "and the named traveller's border subject id; lower-case hex"
    )
    travellers: int = Field(description="the seats the entry needs")
    outcome: Literal["won", "lost", "excluded"] = Field(
        description="excluded: not ranked, one of its travellers already held a booking that day"
    )


class DrawnSlotPublic(BaseModel):
    checkpoint: str
    slot: str
    seats: int = Field(description="the seats free when drawn: the quota in force less those booked")
    entries: list[DrawnTicketPublic] = Field(description="every entry of the slot, by ticket")


class BallotDrawPublic(BaseModel):
    day: date
    order: int = Field(
        description="the ballot order: 2 ranks each ticket by SHA-256(seed, a zero byte, the ticket's hex) "
        "read big-endian, ascending; 1 (days drawn before tickets) ranked entry ids and lists no entries"
    )
    commitment: str | None = Field(description="SHA-256 of the seed, published before the day's entries")
    hash: Literal["sha256"] = "sha256"
    committed_at: datetime | None
    entries_at_commitment: int | None
    seed: str = Field(description="the seed, revealed by the draw")
    drawn_at: datetime
    entries: int
    won: int
    slots: list[DrawnSlotPublic]


def _fields(item: Booking | BallotEntry) -> dict[str, Any]:
    """A booking or ballot entry as the API shows it (``BorderBookingPublic``)."""
    return {
        "id": item.public_id,
        "kind": "booking" if isinstance(item, Booking) else "ballot_entry",
        "day": item.day,
        "checkpoint": item.checkpoint,
        "slot": item.slot,
        "subject": item.subject,
        "companions": [{"subject": subject} for subject in item.companions],
        "travellers": item.travellers,
        "status": item.status.value,
        "created_at": item.created_at,
        "cancelled_at": item.cancelled_at if isinstance(item, Booking) else None,
    }


def _public(item: Booking | BallotEntry) -> BorderBookingPublic:
    return BorderBookingPublic.model_validate(_fields(item))


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
    """Book a crossing in one slot for the traveller named by their document, and each companion listed
    by theirs; a companion already booked that day, or a traveller listed twice, refuses the whole
    booking naming the field (``companions[i]``)."""
    person_id = caller.principal.person_id
    assert person_id is not None
    services: Services = caller.services
    request = BookingRequest(
        person_id=person_id,
        id_document=body.id_document,
        day=body.day,
        checkpoint=body.checkpoint,
        slot=body.slot,
        companions=tuple(body.companions),
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
    content = orjson.dumps(_fields(result), option=orjson.OPT_UTC_Z)
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


@router.get("/my-bookings", response_model=BorderBookingsPublic)
def own_bookings(caller: Annotated[Caller, requires(Permission.BORDER_BOOK)]) -> BorderBookingsPublic:
    """The bookings and ballot entries the resident's own app made, newest crossing day first."""
    person_id = caller.principal.person_id
    if person_id is None:
        raise NotFound("no such person", field="person")
    found = caller.services.border.own(person_id)
    return BorderBookingsPublic(data=[_public(item) for item in found], count=len(found))


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
                excess=s.excess,
            )
        )
    return BorderSlotsPublic(data=found, count=len(found))


@router.get("/ballot/commitments", response_model=SeedCommitmentsPublic)
def commitments(
    caller: Annotated[Caller, requires(Permission.PUBLIC)],
    first: Annotated[date | None, Query(alias="from", description="the first day (default: today)")] = None,
    last: Annotated[date | None, Query(alias="to", description="the last day (default: a week on)")] = None,
) -> SeedCommitmentsPublic:
    """Each day's ballot seed commitment (SHA-256 of the seed), published before the day's entries
    open, with the seed once the day is drawn: check the draw was not chosen after the entries.
    Only hashes and revealed seeds, so anyone may read it."""
    start = first or caller.services.draws.today()
    end = last or (start + timedelta(days=7) if start < date.max - timedelta(days=7) else date.max)
    if not 0 <= (end - start).days <= _MAX_COMMITMENT_DAYS:
        raise InvalidInput(
            f"expected 'to' on or after 'from', at most {_MAX_COMMITMENT_DAYS} days on",
            field="to",
            code="invalid_range",
        )
    found = [
        SeedCommitmentPublic(
            day=c.day,
            commitment=c.commitment,
            committed_at=c.committed_at,
            entries_at_commitment=c.entries_at_commitment,
            seed=c.seed,
            drawn_at=c.drawn_at,
        )
        for c in caller.services.draws.commitments(start, end)
    ]
    return SeedCommitmentsPublic(data=found, count=len(found))


@router.get("/ballot/draws/{day}", response_model=BallotDrawPublic)
def draw_record(
    day: Annotated[date, Path(description="the local date of the crossings drawn")],
    caller: Annotated[Caller, requires(Permission.PUBLIC)],
) -> BallotDrawPublic:
    """A day's ballot draw, published for anyone to repeat it: the commitment, the revealed seed, and
    each slot's free seats and every entry's ticket, seats and outcome (no entry, person or subject
    id). A resident finds their entry by the ticket made from their booking answer's ``subject``."""
    d = caller.services.draws.published(day)
    return BallotDrawPublic(
        day=d.day,
        order=d.order,
        commitment=d.commitment,
        committed_at=d.committed_at,
        entries_at_commitment=d.entries_at_commitment,
        seed=d.seed,
        drawn_at=d.drawn_at,
        entries=d.entries,
        won=d.won,
        slots=[
            DrawnSlotPublic(
                checkpoint=s.checkpoint,
                slot=s.slot,
                seats=s.seats,
                entries=[
                    DrawnTicketPublic(ticket=t.ticket, travellers=t.travellers, outcome=t.outcome.value)
                    for t in s.tickets
                ],
            )
            for s in d.slots
        ],
    )


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
