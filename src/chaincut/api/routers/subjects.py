"""A person's rights over their data (PDPO DPP6): the data-access report, and corrections with history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from chaincut.domain.access import Permission, PrincipalKind
from chaincut.errors import PermissionDenied
from chaincut.guards import PURPOSE_HEADER, Caller, requires
from chaincut.people.corrections import Correction

__all__ = ["router"]

router = APIRouter(prefix="/people", tags=["people"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class PersonCorrection(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=24)
    address: str | None = Field(default=None, max_length=300)
    household: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500, description="why the details are corrected (5-500 characters)")


class CorrectionPublic(BaseModel):
    field: str
    old_value: str | None
    new_value: str | None
    old_value_deleted: bool = Field(description="retention removed the old value; the correction stays")
    reason: str
    corrected_by: str
    corrected_at: datetime


class CorrectionsPublic(BaseModel):
    data: list[CorrectionPublic]
    count: int


def _corrections(rows: list[dict[str, Any]]) -> CorrectionsPublic:
    return CorrectionsPublic(data=[CorrectionPublic(**r) for r in rows], count=len(rows))


@router.get("/{ref}/subject-access", response_model=None)
def subject_access_report(
    ref: RefPath,
    caller: Annotated[Caller, requires(Permission.SUBJECT_ACCESS)],
    format: Annotated[Literal["json", "html"], Query(description="html: a printable page")] = "json",
) -> JSONResponse | HTMLResponse:
    """Everything held about a person: a supervisor for anyone, stating a purpose; a resident for themselves.

    A resident's app token opens only its own person's report (any other answers
    404, as if absent). Staff must state the request in the purpose header.
    """
    if caller.principal.kind is PrincipalKind.STAFF and len(caller.purpose) < 5:
        raise PermissionDenied(
            f"state the data-access request you are answering in the {PURPOSE_HEADER} header",
            code="purpose_required",
            field=PURPOSE_HEADER,
        )
    person = caller.person(ref, details={"format": format})
    resident = caller.principal.kind is PrincipalKind.RESIDENT
    report = caller.services.subject_access.report(person, for_subject=resident)
    if format == "html":
        return HTMLResponse(report.to_html())
    return JSONResponse(report.as_dict())


@router.patch("/{ref}")
def correct_person(
    ref: RefPath,
    body: PersonCorrection,
    caller: Annotated[Caller, requires(Permission.PEOPLE_CORRECT, purpose=True)],
) -> CorrectionsPublic:
    """Correct a person's details, with a reason; each changed field's old and new values join the history."""
    person = caller.person(ref)
    rows = caller.services.subject_access.correct(
        caller.principal, person, Correction(**body.model_dump()), purpose=caller.purpose
    )
    return _corrections(rows)


@router.get("/{ref}/corrections")
def list_corrections(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.PEOPLE_READ, purpose=True)]
) -> CorrectionsPublic:
    """The history of corrections of a person's details, oldest first (old values until retention)."""
    person = caller.person(ref)
    return _corrections(caller.services.subject_access.corrections(person))
