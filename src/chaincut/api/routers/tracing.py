"""Tracing for tracers: a case's contacts with evidence, orders for them, exports, risky venues."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.api.deps import PageDep, ServicesDep
from chaincut.domain import Tier
from chaincut.domain.access import Permission
from chaincut.domain.audit import AuditFlag
from chaincut.guards import Caller, requires
from chaincut.tracing.exports import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    case_contact_rows,
    iter_contacts_csv,
    iter_file,
    spool_contacts_xlsx,
)
from chaincut.tracing.service import Trace

__all__ = ["router"]

router = APIRouter(tags=["tracing"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


WhereaboutsReader = Annotated[Caller, requires(Permission.WHEREABOUTS_READ, purpose=True)]


class TierFilter(enum.StrEnum):
    close = "close"
    exposed = "exposed"


class ContactsPublic(BaseModel):
    """One page of a trace's contacts; ``count`` is how many match in all."""

    case: str | None
    index_person: str
    window: dict[str, str] | None
    as_of: str
    policy: dict[str, str]
    count: int
    data: list[dict[str, Any]]


class OrdersIssued(BaseModel):
    case: str
    issued: int
    already_open: int
    policy_version: str


class RiskyVenuePublic(BaseModel):
    venue: str
    venue_id: str = Field(description="the venue's public id: what its posters' tokens name (claim v)")
    plate: str | None = Field(description="a taxi's plate, as a phone that typed it keeps it")
    name_en: str
    name_zh: str
    venue_type: str
    district: str | None
    start: str
    end: str
    cases: int
    min_overlap_minutes: int = Field(description="a stay overlapping the window this long or more is a match")


class RiskyVenuesPublic(BaseModel):
    data: list[RiskyVenuePublic]
    test_within_days: int = Field(
        description="what a match asks: a test within this many days (the policy's)"
    )
    count: int


def _page(trace: Trace, services: Any, page: Any, tier: TierFilter | None) -> ContactsPublic:
    chosen = None if tier is None else Tier(tier.value)
    doc = trace.to_json(services.settings.zone, offset=page.offset, limit=page.limit, tier=chosen)
    return ContactsPublic(
        case=doc["case"],
        index_person=doc["index_person"],
        window=doc["window"],
        as_of=doc["as_of"],
        policy=doc["policy"],
        count=doc["count"],
        data=doc["contacts"],
    )


@router.get("/cases/{ref}/contacts")
def case_contacts(
    ref: RefPath,
    services: ServicesDep,
    page: PageDep,
    caller: WhereaboutsReader,
    tier: TierFilter | None = None,
) -> ContactsPublic:
    """The case's contacts over its infectious window, strongest first, each with its evidence."""
    caller.case(ref, details={"offset": page.offset, "limit": page.limit})
    return _page(services.tracing.trace_case(ref), services, page, tier)


@router.get("/people/{ref}/contacts")
def person_contacts(
    ref: RefPath,
    services: ServicesDep,
    page: PageDep,
    caller: WhereaboutsReader,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
    tier: TierFilter | None = None,
) -> ContactsPublic:
    """Anyone's contacts over a window (at most the retention period), as if they were infectious."""
    caller.person(ref, details={"from": start.isoformat(), "to": end.isoformat()})
    return _page(services.tracing.trace_person(ref, start, end), services, page, tier)


@router.post("/cases/{ref}/orders", status_code=201)
def issue_orders(
    ref: RefPath,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.ORDERS_ISSUE, purpose=True)],
) -> OrdersIssued:
    """Quarantine orders for the case's close contacts and testing notices for the exposed."""
    caller.case(ref)
    trace = services.tracing.trace_case(ref)
    summary = services.orders.issue_for_contacts(trace.contacts, trace.case_id, caller.name)
    return OrdersIssued(
        case=ref,
        issued=summary.issued,
        already_open=summary.already_open,
        policy_version=trace.policy_version,
    )


class ExportFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@router.get("/cases/{ref}/contacts.{fmt}")
def export_contacts(
    ref: RefPath,
    fmt: ExportFormat,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.EXPORTS_REQUEST, purpose=True)],
    approval: Annotated[
        str | None, Query(max_length=32, description="the id of a supervisor's approval of this export")
    ] = None,
    tier: TierFilter | None = None,
) -> StreamingResponse:
    """The contact list with names, as CSV or Excel, streamed; needs a supervisor's approval.

    Each approval serves one export: it is spent as the export starts.
    """
    details = {"approval": approval, "format": fmt.value}
    case = caller.case(ref, details=details)
    services.approvals.use(caller.principal, approval, case, purpose=caller.purpose)
    caller.audit(
        "cases", ref, subject_person_id=case.person_id, flags=(AuditFlag.PERSONAL_EXPORT,), details=details
    )
    chosen = None if tier is None else Tier(tier.value)
    rows = case_contact_rows(services.tracing.trace_case(ref), services.store, chosen)
    zone = services.settings.zone
    name = f"contacts-{ref}.{fmt.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt is ExportFormat.csv:
        return StreamingResponse(iter_contacts_csv(rows, zone), media_type=CSV_MEDIA_TYPE, headers=headers)
    return StreamingResponse(
        iter_file(spool_contacts_xlsx(rows, zone)), media_type=XLSX_MEDIA_TYPE, headers=headers
    )


@router.get("/risky-venues")
def risky_venues(
    services: ServicesDep,
    _caller: Annotated[Caller, requires(Permission.RISKY_VENUES_READ)],
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
) -> RiskyVenuesPublic:
    """Venues and times infectious cases were there, for residents' apps to match on the phone."""
    zone = services.settings.zone

    def local(at: datetime) -> str:
        return at.astimezone(zone).isoformat()

    found = services.tracing.risky_venues(start, end)
    data = [
        RiskyVenuePublic(
            venue=r.venue.ref,
            venue_id=r.venue.public_id,
            plate=r.venue.plate,
            min_overlap_minutes=services.policy.venue_rule(r.venue.venue_type).contact.min_overlap_minutes,
            name_en=r.venue.name_en,
            name_zh=r.venue.name_zh,
            venue_type=r.venue.venue_type,
            district=r.venue.district,
            start=local(r.start),
            end=local(r.end),
            cases=r.cases,
        )
        for r in found
    ]
    days = services.policy.orders.testing_notice_days
    return RiskyVenuesPublic(data=data, count=len(data), test_within_days=days)
