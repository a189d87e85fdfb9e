"""Cases: registration, isolation, infectious windows and timelines.

Times come back in the authority's local zone (CHAINCUT_LOCAL_TIMEZONE) with their
UTC offset, so an infectious window reads as it opens: at local midnight.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.api.deps import PageDep, ServicesDep
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.domain.access import Permission
from chaincut.domain.audit import AuditFlag
from chaincut.guards import Caller, requires
from chaincut.tracing.cases import CaseDraft, CaseRecord
from chaincut.tracing.timeline import CaseTimeline, VisitEntry

__all__ = ["router"]

router = APIRouter(prefix="/cases", tags=["cases"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class CaseCreate(BaseModel):
    ref: str = Field(min_length=1, max_length=64, description="the authority's case number")
    person: str = Field(min_length=1, max_length=64, description="the registered person's ref")
    status: CaseStatus = CaseStatus.CONFIRMED
    classification: CaseClassification
    onset_on: date | None = Field(default=None, description="symptom onset, local date")
    specimen_on: date | None = Field(default=None, description="positive specimen, local date")
    reported_on: date | None = Field(default=None, description="local date; today when absent")
    isolated_at: AwareDatetime | None = None
    linked_case: str | None = Field(default=None, max_length=64, description="ref of the linked case")


class IsolationUpdate(BaseModel):
    isolated_at: AwareDatetime


class WindowPublic(BaseModel):
    start: datetime
    end: datetime
    ongoing: bool = Field(description="not isolated yet: the window ends now")
    policy_version: str


class CasePublic(BaseModel):
    ref: str
    person: str
    status: CaseStatus
    classification: CaseClassification
    onset_on: date | None
    specimen_on: date | None
    reported_on: date | None
    isolated_at: datetime | None
    linked_case: str | None
    discharged_at: datetime | None
    window: WindowPublic
    policy_version: str | None = Field(description="the policy in force when the case was registered")
    created_at: datetime | None
    created_by: str | None


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


class TimelineVisit(BaseModel):
    kind: Literal["visit"] = "visit"
    venue_ref: str
    venue_name_en: str
    venue_name_zh: str
    venue_type: str
    entered_at: datetime
    left_at: datetime | None
    left_inferred: bool
    source: str
    clipped: bool = Field(
        default=False,
        description="the stay as given ran past the venue type's max_stay_minutes and was clipped",
    )


class TimelineEncounter(BaseModel):
    kind: Literal["encounter"] = "encounter"
    other_person: str
    start: datetime
    end: datetime


class CaseTimelinePublic(BaseModel):
    ref: str
    window_start: datetime
    window_end: datetime
    entries: list[Annotated[TimelineVisit | TimelineEncounter, Field(discriminator="kind")]]


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if at is None else at.astimezone(zone)


def _public(record: CaseRecord, zone: ZoneInfo) -> CasePublic:
    case, window = record.case, record.window
    return CasePublic(
        ref=case.ref,
        person=record.person_ref,
        status=case.status,
        classification=case.classification,
        onset_on=case.onset_on,
        specimen_on=case.specimen_on,
        reported_on=case.reported_on,
        isolated_at=_local(case.isolated_at, zone),
        linked_case=record.linked_case_ref,
        discharged_at=_local(case.discharged_at, zone),
        window=WindowPublic(
            start=window.start.astimezone(zone),
            end=window.end.astimezone(zone),
            ongoing=window.ongoing,
            policy_version=window.policy_version,
        ),
        policy_version=case.policy_version,
        created_at=_local(case.created_at, zone),
        created_by=case.created_by,
    )


def _timeline(timeline: CaseTimeline, zone: ZoneInfo) -> CaseTimelinePublic:
    entries: list[TimelineVisit | TimelineEncounter] = []
    for e in timeline.entries:
        if isinstance(e, VisitEntry):
            entries.append(
                TimelineVisit(
                    venue_ref=e.venue_ref,
                    venue_name_en=e.name_en,
                    venue_name_zh=e.name_zh,
                    venue_type=e.venue_type,
                    entered_at=e.entered_at.astimezone(zone),
                    left_at=_local(e.left_at, zone),
                    left_inferred=e.left_inferred,
                    source=e.source.value,
                    clipped=e.clipped,
                )
            )
        else:
            entries.append(
                TimelineEncounter(
                    other_person=e.other_person_ref,
                    start=e.start.astimezone(zone),
                    end=e.end.astimezone(zone),
                )
            )
    return CaseTimelinePublic(
        ref=timeline.ref,
        window_start=timeline.start.astimezone(zone),
        window_end=timeline.end.astimezone(zone),
        entries=entries,
    )


@router.post("", status_code=201)
def register_case(
    body: CaseCreate, services: ServicesDep, caller: Annotated[Caller, requires(Permission.CASES_CREATE)]
) -> CasePublic:
    """Register a confirmed, probable or suspected case; refused whole on any bad field.

    A supervisor then assigns it to tracers (``POST /cases/{ref}/assignments``): registering a
    case does not by itself open its whereabouts to the one who registered it.
    """
    draft = CaseDraft(
        ref=body.ref,
        person=body.person,
        classification=body.classification.value,
        status=body.status.value,
        onset_on=body.onset_on,
        specimen_on=body.specimen_on,
        reported_on=body.reported_on,
        isolated_at=body.isolated_at,
        linked_case=body.linked_case,
    )
    registry = services.cases
    case = registry.register(draft, caller.name)
    caller.audit("cases", case.ref, subject_person_id=case.person_id)
    return _public(registry.describe([case])[0], registry.zone)


@router.get("")
def list_cases(
    services: ServicesDep,
    page: PageDep,
    caller: Annotated[Caller, requires(Permission.CASES_READ)],
    status: CaseStatus | None = None,
    classification: CaseClassification | None = None,
    reported_from: Annotated[date | None, Query(description="local date, included")] = None,
    reported_to: Annotated[date | None, Query(description="local date, included")] = None,
) -> CasesPublic:
    """Cases, latest reported first; a tracer sees only the cases assigned to them."""
    registry = services.cases
    filters = (
        ("status", status),
        ("classification", classification),
        ("reported_from", reported_from),
        ("reported_to", reported_to),
    )
    caller.audit("cases", ",".join(f"{k}={v}" for k, v in filters if v is not None))
    cases, count = registry.list(
        assigned_to=services.records.assigned_staff_id(caller.principal, Permission.CASES_READ),
        status=None if status is None else status.value,
        classification=None if classification is None else classification.value,
        reported_from=reported_from,
        reported_to=reported_to,
        offset=page.offset,
        limit=page.limit,
    )
    return CasesPublic(data=[_public(r, registry.zone) for r in registry.describe(cases)], count=count)


@router.get("/{ref}")
def get_case(
    ref: RefPath, services: ServicesDep, caller: Annotated[Caller, requires(Permission.CASES_READ)]
) -> CasePublic:
    registry = services.cases
    return _public(registry.describe([caller.case(ref)])[0], registry.zone)


@router.patch("/{ref}/isolation")
def set_isolation(
    ref: RefPath,
    body: IsolationUpdate,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.CASES_CREATE)],
) -> CasePublic:
    """Record when the case was isolated: its infectious window closes then."""
    registry = services.cases
    caller.case(ref, details={"isolated_at": body.isolated_at.isoformat()})
    return _public(
        registry.describe([registry.set_isolation(ref, body.isolated_at, caller.name)])[0], registry.zone
    )


class DischargeCreate(BaseModel):
    discharged_at: AwareDatetime


@router.post("/{ref}/discharge")
def discharge_case(
    ref: RefPath,
    body: DischargeCreate,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.CASES_CREATE)],
) -> CasePublic:
    """Record when the case was discharged: it is no longer an open case (health codes follow).

    A fact the tracing desk records, like the isolation time (``PATCH /cases/{ref}/isolation``),
    so it needs the same permission; changing a case's status by hand is the supervisor's.
    """
    registry = services.cases
    caller.case(ref, details={"discharged_at": body.discharged_at.isoformat()})
    return _public(
        registry.describe([registry.set_discharge(ref, body.discharged_at, caller.name)])[0], registry.zone
    )


class CaseStatusChange(BaseModel):
    status: CaseStatus
    reason: str = Field(min_length=5, max_length=500, description="why the status changes by hand")


@router.patch("/{ref}/status")
def change_case_status(
    ref: RefPath,
    body: CaseStatusChange,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.STATUS_CHANGE, purpose=True)],
) -> CasePublic:
    """Change a case's status by hand (say, probable to confirmed): supervisors only, with a reason.

    The audit log flags every such change, so reports list them (``chaincut audit report --flag``).
    """
    registry = services.cases
    caller.case(ref, details={"status": body.status.value})
    case = registry.set_status(ref, body.status, caller.name)
    # Flagged once the change is made: a change that failed is no manual change to report.
    caller.audit(
        "cases",
        ref,
        subject_person_id=case.person_id,
        flags=(AuditFlag.MANUAL_STATUS_CHANGE,),
        details={"status": body.status.value, "reason": body.reason},
    )
    return _public(registry.describe([case])[0], registry.zone)


@router.get("/{ref}/timeline")
def case_timeline(
    ref: RefPath,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.WHEREABOUTS_READ, purpose=True)],
) -> CaseTimelinePublic:
    """The case's visits and encounters during its infectious window, in time order."""
    caller.case(ref)
    registry = services.cases
    return _timeline(registry.timeline(ref), registry.zone)
