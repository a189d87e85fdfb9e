"""The person page: who they are, their health code with its reasons, their orders with each one's
history, and their follow-ups, for a purpose stated once per person and session.

``/console/people/{ref}`` shows only the sections the member's roles allow (the code needs
``codes.read``, orders ``orders.read``, follow-ups ``follow_ups.write``), each read with the
service the API calls; the page's read is audited once, with the purpose and the sections shown. A
person one may not see (a tracer: only people linked to their cases) answers as a missing one.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chaincut.domain import OrderStatus
from chaincut.domain.access import Permission, Role
from chaincut.domain.audit import AuditFlag
from chaincut.domain.orders import TestResult
from chaincut.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from chaincut.guards import Caller, requires
from chaincut.web.code_reasons import COLOURS, code_view
from chaincut.web.i18n import N_
from chaincut.web.labels import ORDER_KINDS, SYMPTOM_LABELS, label
from chaincut.web.pages import PageRoute, back_to, localizer_for, page
from chaincut.web.purposes import keep_purpose, purpose_form, stated, with_stated_purpose
from chaincut.web.qr import qr_svg
from chaincut.web.resident_pages import ENROL_PATH

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]
PeopleReader = Annotated[Caller, requires(Permission.PEOPLE_READ)]

ORDERS_SHOWN = 20
FOLLOW_UPS_SHOWN = 14
_ORDER_STATUSES = {
    "issued": N_("issued"),
    "delivered": N_("delivered"),
    "in_force": N_("in force"),
    "completed": N_("completed"),
    "breached": N_("breached"),
    "released": N_("released early"),
}
_RESULTS = {"negative": N_("negative"), "positive": N_("positive")}
_SUGGESTIONS = (
    N_("Following up a contact under quarantine"),
    N_("Calling a contact about their order"),
    N_("Checking a health code a resident asked about"),
)
_EXPLANATION = N_(
    "This person's details, health code, orders and follow-ups are personal data. Say why you need "
    "them: you are asked once for this person while you are signed in, and your reason is recorded "
    "in the audit log with every page of theirs you open."
)


def _record(ref: str) -> str:
    return f"people/{ref}"


def _form(request: Request, caller: Caller, ref: str, *, problem: bool = False) -> HTMLResponse:
    words = localizer_for(request, caller)
    return purpose_form(
        request,
        caller,
        heading=words.gettext(N_("Person %(ref)s: why do you need their data?")) % {"ref": ref},
        explanation=words.gettext(_EXPLANATION),
        action=f"/console/people/{ref}/purpose",
        submit=words.gettext(N_("Open the person's page")),
        next_path=f"/console/people/{ref}",
        suggestions=_SUGGESTIONS,
        problem=problem,
    )


@router.post("/console/people/{ref}/purpose")
def state_purpose(
    request: Request,
    ref: RefPath,
    caller: PeopleReader,
    purpose: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Keep why the member needs this person's data (the Guard has checked the form's CSRF token)."""
    cleaned = stated(caller, purpose)
    if cleaned is None:
        return _form(request, caller, ref, problem=True)
    dataclasses.replace(caller, purpose=cleaned).person(ref, details={"purpose_stated": True})
    keep_purpose(caller, _record(ref), cleaned)
    return RedirectResponse(f"/console/people/{ref}", status_code=303)


@router.get("/console/people/{ref}")
def person_page(
    request: Request,
    ref: RefPath,
    caller: PeopleReader,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """Who the person is, their code and why, their orders and their follow-ups."""
    purposed = with_stated_purpose(caller, _record(ref))
    if purposed is None:
        return _form(request, caller, ref)
    services, may = purposed.services, caller.principal.may
    words = localizer_for(request, caller)
    zone = services.settings.zone
    sections = [
        name
        for name, permission in (
            ("code", Permission.CODES_READ),
            ("orders", Permission.ORDERS_READ),
            ("follow_ups", Permission.FOLLOW_UPS),
        )
        if may(permission)
    ]
    person = purposed.person(ref, details={"sections": ",".join(sections)})
    assert person.id is not None
    code: dict[str, Any] | None = None
    if "code" in sections:
        current = services.codes.current_for(person.id)
        code = code_view(words, services, current)
    orders: list[dict[str, Any]] = []
    order_count = 0
    if "orders" in sections:
        entries, order_count = services.orders.list(person_ref=ref, limit=ORDERS_SHOWN)
        for entry in entries:
            history = services.orders.get(entry.order.public_id).history
            orders.append(
                {
                    "open": not entry.order.status.final,
                    "id": entry.order.public_id,
                    "kind": label(words, ORDER_KINDS, entry.order.kind.value),
                    "status": label(words, _ORDER_STATUSES, entry.order.status.value),
                    "starts_on": entry.order.starts_on,
                    "ends_on": entry.order.ends_on,
                    "case": entry.case_ref,
                    "history": [
                        {
                            "status": label(words, _ORDER_STATUSES, h.status.value),
                            "at": h.changed_at.astimezone(zone),
                            "by": h.changed_by,
                            "note": h.note,
                        }
                        for h in history
                    ],
                }
            )
    follow_ups: list[dict[str, Any]] = []
    if "follow_ups" in sections:
        found, _ = services.follow_ups.list(ref, order_public_id=None, offset=0, limit=FOLLOW_UPS_SHOWN)
        follow_ups = [
            {
                "on_date": f.follow_up.on_date,
                "reached": f.follow_up.reached,
                "symptoms": ", ".join(label(words, SYMPTOM_LABELS, s) for s in f.follow_up.symptoms),
                "result": label(words, _RESULTS, f.follow_up.test_result.value)
                if f.follow_up.test_result
                else None,
                "positive": f.follow_up.test_result is TestResult.POSITIVE,
                "note": f.follow_up.note,
                "by": f.follow_up.recorded_by,
            }
            for f in found
        ]
    return page(
        request,
        caller,
        "person.html",
        ref=ref,
        person={
            "name": person.details.name,
            "phone": person.details.phone,
            "address": person.details.address,
            "household": person.household_ref,
        },
        purpose=purposed.purpose,
        sections=sections,
        code=code,
        orders=orders,
        order_count=order_count,
        follow_ups=follow_ups,
        may_release=may(Permission.ORDERS_UPDATE) and caller.principal.has_role(Role.SUPERVISOR),
        may_override=may(Permission.STATUS_CHANGE),
        may_enrol=may(Permission.RESIDENT_TOKENS),
        colours=[
            {"value": c, "label": label(words, COLOURS, c)} for c in services.policy.health_codes.colours
        ],
        notice=words.message(_DONE, done),
        problem=words.message(_PROBLEMS, problem),
    )


StatusChanger = Annotated[Caller, requires(Permission.STATUS_CHANGE)]
Enroller = Annotated[Caller, requires(Permission.RESIDENT_TOKENS)]
OrderUpdater = Annotated[Caller, requires(Permission.ORDERS_UPDATE)]
_DONE = {
    "released": N_("Released early: the order no longer holds, and the reason is in its history."),
    "override": N_("The colour is now set by hand."),
    "cleared": N_("The colour set by hand has ended: the policy's rules decide it again."),
}
_PROBLEMS = {
    "reason": N_("Nothing was changed: give a reason of 5 to 500 characters."),
    "until": N_("Nothing was changed: the end must be a time in the future."),
    "colour": N_("Nothing was changed: choose one of the policy's colours."),
    "status": N_("Nothing was changed: that order is no longer open."),
}


def _back(ref: str, **query: str) -> RedirectResponse:
    return back_to(f"/console/people/{ref}", **query)


def _purposed(caller: Caller, ref: str) -> Caller:
    purposed = with_stated_purpose(caller, _record(ref))
    if purposed is None:  # the form came from a page shown after a purpose: the session ended since
        raise PermissionDenied("state the purpose on the person's page first", code="purpose_required")
    return purposed


@router.post("/console/people/{ref}/enrolment")
def issue_enrolment_code(request: Request, ref: RefPath, caller: Enroller) -> HTMLResponse:
    """A one-time code for the person's phone, shown once with its QR code (the issue is audited)."""
    purposed = _purposed(caller, ref)
    purposed.person(ref, details={"enrolment": True})
    services = purposed.services
    issued = services.accounts.issue_enrolment_code(ref, caller.principal, purpose=purposed.purpose)
    assert issued.expires_at is not None
    words = localizer_for(request, caller)
    address = f"{services.settings.public_base()}{ENROL_PATH}#{issued.secret}"
    qr = qr_svg(address, css_class="kiosk-qr", title=words.gettext(N_("The enrolment code's QR code")))
    return page(
        request,
        caller,
        "person_enrolment.html",
        ref=ref,
        code=issued.secret,
        address=address,
        qr=qr,
        expires_at=issued.expires_at.astimezone(services.settings.zone),
    )


@router.post("/console/people/{ref}/orders/{public_id}/release")
def release_early(
    ref: RefPath,
    public_id: Annotated[str, Path(min_length=1, max_length=32)],
    caller: OrderUpdater,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A supervisor releases the person from an open order early, with a reason (audited, flagged)."""
    purposed = _purposed(caller, ref)
    if not caller.principal.has_role(Role.SUPERVISOR):
        raise PermissionDenied("only a supervisor may release someone early", code="supervisor_required")
    cleaned = " ".join(reason.split())
    if not 5 <= len(cleaned) <= 500:
        return _back(ref, problem="reason")
    services = purposed.services
    entry = services.orders.get(public_id)
    if entry.person_ref != ref:
        raise NotFound("no such order", field="public_id")
    details = {"order": public_id, "status": OrderStatus.RELEASED.value}
    purposed.person(ref, flags=(AuditFlag.MANUAL_STATUS_CHANGE,), details=details)
    try:
        services.orders.change_status(public_id, OrderStatus.RELEASED, caller.name, cleaned)
    except (Conflict, InvalidInput):
        return _back(ref, problem="status")
    return _back(ref, done="released")


@router.post("/console/people/{ref}/code/override")
def set_colour(
    ref: RefPath,
    caller: StatusChanger,
    colour: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A supervisor sets the person's colour by hand, with a reason and an optional end (flagged)."""
    purposed = _purposed(caller, ref)
    services = purposed.services
    ends = None
    if until:
        try:
            ends = datetime.fromisoformat(until).replace(tzinfo=services.settings.zone)
        except ValueError:
            return _back(ref, problem="until")
    person = purposed.person(ref, details={"colour": colour})
    try:
        services.codes.set_override(ref, colour, reason, ends, caller.name)
    except InvalidInput as exc:
        return _back(ref, problem=exc.field if exc.field in _PROBLEMS else "reason")
    purposed.audit(
        "health_codes",
        ref,
        subject_person_id=person.id,
        flags=(AuditFlag.MANUAL_STATUS_CHANGE,),
        details={
            "colour": colour,
            "reason": " ".join(reason.split()),
            "until": None if ends is None else ends.isoformat(),
        },
    )
    return _back(ref, done="override")


@router.post("/console/people/{ref}/code/override/end")
def end_colour(
    ref: RefPath, caller: StatusChanger, reason: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    """End the colour set by hand, with a reason: the policy's rules decide it again (flagged)."""
    purposed = _purposed(caller, ref)
    cleaned = " ".join(reason.split())
    if not 5 <= len(cleaned) <= 500:
        return _back(ref, problem="reason")
    person = purposed.person(ref)
    purposed.services.codes.clear_override(ref, caller.name)
    purposed.audit(
        "health_codes",
        ref,
        subject_person_id=person.id,
        flags=(AuditFlag.MANUAL_STATUS_CHANGE,),
        details={"override": "cleared", "reason": cleaned},
    )
    return _back(ref, done="cleared")
