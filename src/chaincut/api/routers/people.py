"""People: registration, and their visit-history uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AwareDatetime, BaseModel, Field

from chaincut.api.deps import ServicesDep
from chaincut.domain import Person
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires
from chaincut.people import PersonDraft
from chaincut.web.resident_pages import ENROL_PATH
from chaincut.whereabouts.uploads import UploadedVisit, upload_history

__all__ = ["enrolment_router", "router"]

router = APIRouter(prefix="/people", tags=["people"])
enrolment_router = APIRouter(tags=["people"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class PersonCreate(BaseModel):
    ref: str = Field(min_length=1, max_length=64)
    id_document: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=24)
    address: str | None = Field(default=None, max_length=300)
    household: str | None = Field(default=None, max_length=64)


class PersonPublic(BaseModel):
    ref: str
    public_id: str
    household: str | None
    has_id_document: bool
    name: str | None
    phone: str | None
    address: str | None
    created_at: datetime | None


def _public(person: Person) -> PersonPublic:
    return PersonPublic(
        ref=person.ref,
        public_id=person.public_id,
        household=person.household_ref,
        has_id_document=person.id_document_hash is not None,
        name=person.details.name,
        phone=person.details.phone,
        address=person.details.address,
        created_at=person.created_at,
    )


class VisitRecord(BaseModel):
    token: str | None = Field(default=None, max_length=2048)
    plate: str | None = Field(default=None, max_length=16)
    entered_at: AwareDatetime
    left_at: AwareDatetime | None = None
    client_id: str | None = Field(default=None, max_length=64)


class VisitHistoryUpload(BaseModel):
    # The policy sets the real limit (uploads.max_records_per_batch, 10,000 by default);
    # this ceiling only stops absurd request bodies before they are parsed further.
    visits: list[VisitRecord] = Field(max_length=100_000)


class UploadPublic(BaseModel):
    stored: int
    already_stored: int
    clipped: int = Field(
        description="records stored with their stay clipped to the venue type's max_stay_minutes"
    )


class ResidentToken(BaseModel):
    token: str = Field(description="shown once: the resident's app keeps it")


@router.post("", status_code=201)
def register_person(
    body: PersonCreate,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.PEOPLE_REGISTER)],
) -> PersonPublic:
    person = services.people.register(PersonDraft(**body.model_dump()))
    caller.audit("people", person.ref, subject_person_id=person.id)
    return _public(person)


@router.get("/{ref}")
def get_person(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.PEOPLE_READ, purpose=True)]
) -> PersonPublic:
    """A person's details, for a stated purpose: a tracer only for people linked to their cases."""
    return _public(caller.person(ref))


@router.post("/{ref}/tokens", status_code=201)
def issue_resident_token(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.RESIDENT_TOKENS, purpose=True)]
) -> ResidentToken:
    """A token for the person's app: it checks in and uploads as this person, and nobody else.

    The token acts as the person (and opens their access report), so only a supervisor issues
    one, stating why; the issue is audited.
    """
    caller.person(ref)
    return ResidentToken(token=caller.services.accounts.issue_resident_token(ref, caller.principal).secret)


class EnrolmentCode(BaseModel):
    code: str = Field(description="typed on the phone, or scanned as url; works once")
    url: str = Field(description="the enrolment page with the code as its fragment: show it as a QR code")
    expires_at: datetime


@router.post("/{ref}/enrolments", status_code=201)
def issue_enrolment_code(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.RESIDENT_TOKENS, purpose=True)]
) -> EnrolmentCode:
    """A one-time code that enrols the person's phone: valid for 15 minutes (CHAINCUT_ENROLMENT_MINUTES).

    Issued by a supervisor or at a counter, stating why; the phone trades it for its app token
    (``POST /enrolments``). The issue is audited.
    """
    caller.person(ref)
    issued = caller.services.accounts.issue_enrolment_code(ref, caller.principal, purpose=caller.purpose)
    assert issued.expires_at is not None
    url = f"{caller.services.settings.public_base()}{ENROL_PATH}#{issued.secret}"
    return EnrolmentCode(code=issued.secret, url=url, expires_at=issued.expires_at)


class Enrolment(BaseModel):
    code: str = Field(min_length=1, max_length=32)


class EnrolledPhone(BaseModel):
    token: str = Field(description="the app token: the phone keeps it, for this site only")
    person: str = Field(description="the enrolled person's ref, which the phone names its uploads with")
    expires_at: datetime


@enrolment_router.post("/enrolments", status_code=201)
def enrol_a_phone(
    body: Enrolment, caller: Annotated[Caller, requires(Permission.PUBLIC, rate="sign-in")]
) -> EnrolledPhone:
    """Trade an enrolment code for the phone's app token: once, within its minutes; audited."""
    enrolled, person_ref = caller.services.accounts.enrol(body.code)
    assert enrolled.expires_at is not None
    return EnrolledPhone(token=enrolled.secret, person=person_ref, expires_at=enrolled.expires_at)


class Revoked(BaseModel):
    revoked: int = Field(description="how many tokens stopped working")


@router.delete("/{ref}/tokens")
def revoke_resident_tokens(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.RESIDENT_TOKENS, purpose=True)]
) -> Revoked:
    """End every app token of this person (a lost or replaced phone); effective within seconds."""
    caller.person(ref)
    ended = caller.services.accounts.revoke_device_tokens(caller.principal, person_ref=ref)
    caller.services.principals.forget_all()
    return Revoked(revoked=ended)


@router.post("/{ref}/visit-history")
def upload_visit_history(
    ref: RefPath,
    body: VisitHistoryUpload,
    services: ServicesDep,
    caller: Annotated[Caller, requires(Permission.VISITS_UPLOAD, rate="uploads")],
) -> UploadPublic:
    """Upload one's own visit history (up to the policy's limit, 10,000 by default); whole or not at all."""
    person = caller.person(ref, details={"visits": len(body.visits)})
    records = [UploadedVisit(**r.model_dump()) for r in body.visits]
    receipt = upload_history(
        services.store, services.policy, services.clock, services.verifier, person.ref, records
    )
    return UploadPublic(stored=receipt.stored, already_stored=receipt.already_stored, clipped=receipt.clipped)
