"""Health codes: a person's code and its history, overrides, one's own code, and the facts behind them.

Reading a code is purpose-bound (a tracer only for people linked to their assigned
cases); a resident reads their own at ``/me/code``. Overriding needs a supervisor
and a reason, and is flagged ``manual_status_change`` in the audit log. Tests,
vaccinations and arrivals are recorded by the tracing desk with a purpose; each
recomputes the person's code at once. Times come back in the authority's zone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.api.deps import PageDep
from chaincut.domain.access import Permission
from chaincut.domain.audit import AuditFlag
from chaincut.domain.health_codes import HealthCode
from chaincut.errors import NotFound
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(tags=["health codes"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class ReasonPublic(BaseModel):
    rule: str = Field(description="the policy rule, or manual_override")
    colour: str
    text: str = Field(description='e.g. "close contact (visit to venue V-1 with case C-7)"')
    until: datetime | None = Field(description="when this reason stops holding by itself (null: on a change)")


class CodePublic(BaseModel):
    colour: str
    reasons: list[ReasonPublic]
    until: datetime | None = Field(
        description="when the colour may change by itself (null: only on a change)"
    )
    computed_at: datetime
    policy_version: str
    overridden: bool


class CodeChangePublic(CodePublic):
    changed_by: str


class CodeHistoryPublic(BaseModel):
    data: list[CodeChangePublic]
    count: int


class OverrideCreate(BaseModel):
    colour: str = Field(min_length=1, max_length=32, description="one of the policy's colours")
    reason: str = Field(min_length=5, max_length=500, description="why the code is set by hand")
    until: AwareDatetime | None = Field(
        default=None, description="when the override ends (null: until cleared)"
    )


class TestCreate(BaseModel):
    taken_at: AwareDatetime
    kind: str = Field(min_length=1, max_length=16, description="pcr, rat, ...")
    result: Literal["positive", "negative"]


class VaccinationCreate(BaseModel):
    dose_on: date = Field(description="local date the dose was given")
    product: str = Field(min_length=1, max_length=64)


class ArrivalCreate(BaseModel):
    arrived_at: AwareDatetime
    origin: str = Field(min_length=1, max_length=64, description="where from: a place or jurisdiction code")


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if at is None else at.astimezone(zone)


def _public(code: HealthCode, zone: ZoneInfo) -> CodePublic:
    return CodePublic(
        colour=code.colour,
        reasons=[
            ReasonPublic(rule=r.rule, colour=r.colour, text=r.text, until=_local(r.until, zone))
            for r in code.reasons
        ],
        until=_local(code.until, zone),
        computed_at=code.computed_at.astimezone(zone),
        policy_version=code.policy_version,
        overridden=code.overridden,
    )


@router.get("/people/{ref}/code")
def person_code(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.CODES_READ, purpose=True)]
) -> CodePublic:
    """A person's current health code with every reason, for a stated purpose."""
    person = caller.person(ref)
    assert person.id is not None
    services = caller.services
    return _public(services.codes.current_for(person.id), services.settings.zone)


@router.get("/people/{ref}/code/history")
def person_code_history(
    ref: RefPath, page: PageDep, caller: Annotated[Caller, requires(Permission.CODES_READ, purpose=True)]
) -> CodeHistoryPublic:
    """Every change of a person's code, newest first."""
    person = caller.person(ref)
    services = caller.services
    zone = services.settings.zone
    changes, count = services.codes.history(person.ref, offset=page.offset, limit=page.limit)
    return CodeHistoryPublic(
        data=[
            CodeChangePublic(**_public(c.code, zone).model_dump(), changed_by=c.changed_by) for c in changes
        ],
        count=count,
    )


@router.post("/people/{ref}/code/override")
def override_code(
    ref: RefPath,
    body: OverrideCreate,
    caller: Annotated[Caller, requires(Permission.STATUS_CHANGE, purpose=True)],
) -> CodePublic:
    """Set a person's colour by hand: supervisors only, with a reason; flagged in the audit log."""
    person = caller.person(ref, details={"colour": body.colour})
    services = caller.services
    code = services.codes.set_override(person.ref, body.colour, body.reason, body.until, caller.name)
    # Flagged once made: a refused override is no manual change to report.
    caller.audit(
        "health_codes",
        person.ref,
        subject_person_id=person.id,
        flags=(AuditFlag.MANUAL_STATUS_CHANGE,),
        details={
            "colour": body.colour,
            "reason": body.reason,
            "until": None if body.until is None else body.until.isoformat(),
        },
    )
    return _public(code, services.settings.zone)


@router.delete("/people/{ref}/code/override")
def clear_code_override(
    ref: RefPath,
    caller: Annotated[Caller, requires(Permission.STATUS_CHANGE, purpose=True)],
    reason: Annotated[str, Query(min_length=5, max_length=500, description="why the override ends")],
) -> CodePublic:
    """End an override: the policy's rules decide the colour again. Flagged in the audit log."""
    person = caller.person(ref)
    services = caller.services
    code = services.codes.clear_override(person.ref, caller.name)
    caller.audit(
        "health_codes",
        person.ref,
        subject_person_id=person.id,
        flags=(AuditFlag.MANUAL_STATUS_CHANGE,),
        details={"override": "cleared", "reason": reason},
    )
    return _public(code, services.settings.zone)


@router.get("/me/code")
def own_code(caller: Annotated[Caller, requires(Permission.CODES_OWN)]) -> CodePublic:
    """A resident's own health code (their app's token says who they are); other cases are "a case"."""
    person_id = caller.principal.person_id
    if person_id is None:
        raise NotFound("no such person", field="person")
    services = caller.services
    code = services.codes.own_code(person_id)
    caller.audit("health_codes", "me", subject_person_id=person_id)
    return _public(code, services.settings.zone)


@router.post("/people/{ref}/tests", status_code=201)
def record_test(
    ref: RefPath,
    body: TestCreate,
    caller: Annotated[Caller, requires(Permission.HEALTH_RECORDS, purpose=True)],
) -> CodePublic:
    """Record a test the person took; returns their code after it."""
    person = caller.person(ref, details={"kind": body.kind, "result": body.result})
    services = caller.services
    code = services.codes.record_test(person.ref, body.taken_at, body.kind, body.result, caller.name)
    return _public(code, services.settings.zone)


@router.post("/people/{ref}/vaccinations", status_code=201)
def record_vaccination(
    ref: RefPath,
    body: VaccinationCreate,
    caller: Annotated[Caller, requires(Permission.HEALTH_RECORDS, purpose=True)],
) -> CodePublic:
    """Record a vaccine dose; returns the person's code after it."""
    person = caller.person(ref, details={"product": body.product})
    services = caller.services
    code = services.codes.record_vaccination(person.ref, body.dose_on, body.product, caller.name)
    return _public(code, services.settings.zone)


@router.post("/people/{ref}/arrivals", status_code=201)
def record_arrival(
    ref: RefPath,
    body: ArrivalCreate,
    caller: Annotated[Caller, requires(Permission.HEALTH_RECORDS, purpose=True)],
) -> CodePublic:
    """Record that the person arrived from elsewhere; returns their code after it."""
    person = caller.person(ref, details={"origin": body.origin})
    services = caller.services
    code = services.codes.record_arrival(person.ref, body.arrived_at, body.origin, caller.name)
    return _public(code, services.settings.zone)
