"""Decentralised check-in (CrowdNotifier): the authority's public keys, warnings proposed by tracers and
published by supervisors, and the signed pages of published traces phones download."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.clock import from_epoch
from chaincut.domain.access import Permission
from chaincut.errors import NotFound
from chaincut.guards import Caller, requires
from chaincut.presence.bridge import SharedVisit
from chaincut.presence.pages import PAGE_LIMIT
from chaincut.presence.protocol import b64encode
from chaincut.presence.wire import FAKE_HEADER, SIGNATURE_HEADER, TRACING_PREFIX, decode_code
from chaincut.store.presence import WarningRecord

__all__ = ["router"]

router = APIRouter(prefix="/presence", tags=["presence"])

IdPath = Annotated[str, Path(min_length=1, max_length=32)]


class PresenceConfigPublic(BaseModel):
    authority_public_key: str = Field(
        description="X25519, base64url: venues seal the authority's share to it"
    )
    master_public_key: str = Field(description="G2, base64url: server-based venues' entry codes carry it")
    records_days: int = Field(description="phones delete their check-ins after this many days")
    max_checkins_per_day: int
    max_warning_hours: int
    dummy_requests_per_hour: int = Field(
        description="dummy shares and reports a phone sends per hour while a page is open"
    )
    interval_seconds: int = 3600


class WarningCreate(BaseModel):
    case: str = Field(min_length=1, max_length=64, description="the case's ref")
    venue: str = Field(min_length=1, max_length=64, description="the venue's ref")
    start: AwareDatetime
    end: AwareDatetime
    message: str = Field(min_length=1, max_length=500, description="what the warned phones show")
    tracing_code: str | None = Field(
        default=None, max_length=4000, description="a basic venue's tracing code, base64 (its owner's QR)"
    )


class WarningPublic(BaseModel):
    id: str
    case: str
    venue: str
    start: datetime
    end: datetime
    message: str
    status: str
    proposed_by: str
    proposed_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None
    expires_at: datetime
    traces: int = Field(description="one per hour of the window")


class WarningsPublic(BaseModel):
    data: list[WarningPublic]
    count: int


class WarningReview(BaseModel):
    decision: Literal["publish", "reject"]
    reason: str = Field(min_length=1, max_length=500)


def _at(seconds: int | None) -> datetime | None:
    return None if seconds is None else from_epoch(seconds)


def _public(record: WarningRecord) -> WarningPublic:
    return WarningPublic(
        id=record.public_id,
        case=record.case_ref,
        venue=record.venue_ref,
        start=from_epoch(record.start_time),
        end=from_epoch(record.end_time),
        message=record.message,
        status=record.status,
        proposed_by=record.proposed_by,
        proposed_at=from_epoch(record.proposed_at),
        reviewed_by=record.reviewed_by,
        reviewed_at=_at(record.reviewed_at),
        review_reason=record.review_reason,
        expires_at=from_epoch(record.expires_at),
        traces=record.traces,
    )


@router.get("/config")
def presence_config(
    response: Response, caller: Annotated[Caller, requires(Permission.PUBLIC)]
) -> PresenceConfigPublic:
    """The authority's public keys and the policy's limits: the same for everyone, kept by phones."""
    response.headers["Cache-Control"] = "public, max-age=3600"
    config = caller.services.presence.config()
    return PresenceConfigPublic(
        authority_public_key=b64encode(config.authority_public_key),
        master_public_key=b64encode(config.master_public_key),
        records_days=config.records_days,
        max_checkins_per_day=config.max_checkins_per_day,
        max_warning_hours=config.max_warning_hours,
        dummy_requests_per_hour=config.dummy_requests_per_hour,
    )


@router.get(
    "/warnings",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "a signed page of traces"}},
)
def published_warnings(
    caller: Annotated[Caller, requires(Permission.PUBLIC)],
    since: Annotated[int, Query(ge=0, le=2**62, description="the last trace number the phone has")] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = PAGE_LIMIT,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The published traces numbered after ``since``, oldest first, with a detached JWS of the body in
    the ``Chaincut-Signature`` header (ES256, the poster key of ``/venues/signing-key``). Everyone gets
    the same page: it says nothing about who asks. A full page is cached for an hour, the last one
    for a minute."""
    page = caller.services.presence.published_page(since, limit)
    headers = {
        SIGNATURE_HEADER: page.signature,
        "ETag": page.etag,
        # A full page changes only when retention purges from it: an hour.
        "Cache-Control": "public, max-age=3600" if page.full else "public, max-age=60",
    }
    if if_none_match is not None and page.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)


@router.post("/warnings", status_code=201)
def propose_warning(
    body: WarningCreate, caller: Annotated[Caller, requires(Permission.PRESENCE_WARN, purpose=True)]
) -> WarningPublic:
    """A tracer proposes a warning for a decentralised venue the case visited; another supervisor
    publishes it. For a basic venue, its owner's tracing code is needed."""
    code = (
        None
        if body.tracing_code is None
        else decode_code(body.tracing_code.strip().removeprefix(TRACING_PREFIX), "tracing_code")
    )
    record = caller.services.presence.propose(
        caller.principal,
        body.case,
        body.venue,
        body.start,
        body.end,
        body.message,
        tracing_code=code,
        purpose=caller.purpose,
    )
    return _public(record)


@router.get("/warnings/{public_id}")
def get_warning(
    public_id: IdPath, caller: Annotated[Caller, requires(Permission.PRESENCE_WARN, purpose=True)]
) -> WarningPublic:
    """A warning, for those who may see its case (the access audited with the stated purpose)."""
    record = caller.services.presence.warning(public_id)
    try:
        caller.case(record.case_ref, details={"warning": public_id})
    except NotFound:
        raise NotFound("no such warning", field="public_id") from None
    return _public(record)


@router.get("/proposals")
def list_proposals(
    caller: Annotated[Caller, requires(Permission.PRESENCE_PUBLISH, purpose=True)],
    status: Annotated[Literal["proposed", "published", "rejected"] | None, Query()] = "proposed",
) -> WarningsPublic:
    """Warnings waiting for review (or those with ``status``), the newest first."""
    records = caller.services.presence.warnings(status=status)
    caller.audit("presence_warnings", "proposals", details={"status": status, "count": len(records)})
    return WarningsPublic(data=[_public(r) for r in records], count=len(records))


@router.post("/warnings/{public_id}/review")
def review_warning(
    public_id: IdPath, body: WarningReview, caller: Annotated[Caller, requires(Permission.PRESENCE_PUBLISH)]
) -> WarningPublic:
    """Publish a warning to phones, or reject it, with a reason; never one's own proposal."""
    record = caller.services.presence.review(
        caller.principal, public_id, publish=body.decision == "publish", reason=body.reason
    )
    return _public(record)


# -- bridging, by the resident's choice; with dummy requests that look the same on the wire ---------

# Every answer to a share or a report, real or dummy, is this long: more than the longest real one
# (a report names the venue: 2 x 200 characters, of up to 3 bytes each in UTF-8).
_PADDED_BYTES = 2048
_PADDING = Field(default="", max_length=65_536, description="ignored: phones pad requests to hide their size")
_LATENCIES: dict[str, deque[float]] = {"share": deque(maxlen=32), "report": deque(maxlen=32)}
_LATENCY_LOCK = threading.Lock()


class SharedHour(BaseModel):
    start: int = Field(ge=0, le=2**40, description="the hour's start, in seconds since the epoch")
    time_key: str = Field(min_length=1, max_length=64, description="the hour's time key, base64")


class SharedVisitIn(BaseModel):
    pre_id: str = Field(min_length=1, max_length=64, description="the venue's pre-identity, base64")
    arrival: AwareDatetime
    departure: AwareDatetime
    hours: list[SharedHour] = Field(max_length=200)


class SharedVisits(BaseModel):
    person: str = Field(min_length=1, max_length=64, description="the case's person ref")
    visits: list[SharedVisitIn] = Field(max_length=100_000)
    padding: str = _PADDING


class SharedPublic(BaseModel):
    stored: int
    already_stored: int
    outside_window: int = Field(description="visits outside the case's infectious window: not kept")
    padding: str = ""


_Answer = TypeVar("_Answer", SharedPublic, "ReportPublic")


class ExposureReport(BaseModel):
    person: str = Field(min_length=1, max_length=64, description="the reporting resident's person ref")
    seq: int = Field(ge=1, le=2**62, description="the number of the published trace that opened the record")
    notification_key: str = Field(
        min_length=1, max_length=64, description="base64, from the phone's own opened record"
    )
    arrival: AwareDatetime
    departure: AwareDatetime
    padding: str = _PADDING


class ReportPublic(BaseModel):
    recorded: bool = Field(description="False: this person had reported this warning already")
    venue_name_en: str
    venue_name_zh: str
    padding: str = ""


def _padded(answer: _Answer) -> _Answer:
    length = len(answer.model_dump_json().encode("utf-8"))
    return answer.model_copy(update={"padding": "=" * max(0, _PADDED_BYTES - length)})


def _is_fake(value: str | None) -> bool:
    return value is not None and value.strip() == "1"


async def _as_long_as_real(kind: str) -> None:
    """A dummy takes about as long as a real request did lately, so timing does not tell them apart;
    it waits without holding a worker thread."""
    with _LATENCY_LOCK:
        seen = list(_LATENCIES[kind])
    await asyncio.sleep(random.choice(seen) if seen else random.uniform(0.05, 0.3))


def _timed(kind: str, started: float) -> None:
    with _LATENCY_LOCK:
        _LATENCIES[kind].append(time.perf_counter() - started)


@router.post("/shared-visits")
async def share_private_visits(
    body: SharedVisits,
    caller: Annotated[Caller, requires(Permission.VISITS_UPLOAD, rate="uploads")],
    fake: Annotated[str | None, Header(alias=FAKE_HEADER, max_length=8)] = None,
) -> SharedPublic:
    """A case shares private check-ins (CrowdNotifier), by choice: each visit's venue pre-identity,
    times and hours' time keys, as the techspec's server-based clients send them. Those in the case's
    infectious window join its whereabouts (source ``crowdnotifier``); all or nothing.

    With ``Chaincut-Fake: 1`` nothing is read or stored: phones send such dummies now and then (and
    ``Chaincut-Fake: 0`` with real ones, so that the header's size tells nothing either), and the
    answer has the same length and about the same delay, so that a real share cannot be told from
    noise on the wire."""
    if _is_fake(fake):
        await _as_long_as_real("share")
        return _padded(SharedPublic(stored=0, already_stored=0, outside_window=0))
    return await run_in_threadpool(_share, body, caller)


def _share(body: SharedVisits, caller: Caller) -> SharedPublic:
    started = time.perf_counter()
    person = caller.person(body.person, details={"shared_visits": len(body.visits)}, field="person")
    visits = [
        SharedVisit(
            pre_id=decode_code(v.pre_id, f"visits[{i}].pre_id"),
            arrival=v.arrival,
            departure=v.departure,
            time_keys={h.start: decode_code(h.time_key, f"visits[{i}].hours") for h in v.hours},
        )
        for i, v in enumerate(body.visits)
    ]
    receipt = caller.services.presence_bridge.share_visits(person.ref, visits)
    _timed("share", started)
    return _padded(
        SharedPublic(
            stored=receipt.stored,
            already_stored=receipt.already_stored,
            outside_window=receipt.outside_window,
        )
    )


@router.post("/reports")
async def report_exposure(
    body: ExposureReport,
    caller: Annotated[Caller, requires(Permission.VISITS_UPLOAD, rate="uploads")],
    fake: Annotated[str | None, Header(alias=FAKE_HEADER, max_length=8)] = None,
) -> ReportPublic:
    """A resident's phone matched a published warning and its owner chose to say so: the health
    code's ``risky_visit`` rule then applies to them. ``notification_key`` comes from the phone's own
    opened record, which only a phone that scanned the venue's poster holds. Dummies as for
    ``/presence/shared-visits``."""
    if _is_fake(fake):
        await _as_long_as_real("report")
        return _padded(ReportPublic(recorded=False, venue_name_en="", venue_name_zh=""))
    return await run_in_threadpool(_report, body, caller)


def _report(body: ExposureReport, caller: Caller) -> ReportPublic:
    started = time.perf_counter()
    person = caller.person(body.person, details={"exposure_report": body.seq}, field="person")
    receipt = caller.services.presence_bridge.report_exposure(
        caller.principal,
        person.ref,
        seq=body.seq,
        notification_key=decode_code(body.notification_key, "notification_key"),
        arrival=body.arrival,
        departure=body.departure,
    )
    _timed("report", started)
    return _padded(
        ReportPublic(
            recorded=receipt.recorded,
            venue_name_en=receipt.venue_name_en,
            venue_name_zh=receipt.venue_name_zh,
        )
    )
