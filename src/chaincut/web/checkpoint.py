"""The border officer's page at the checkpoint: scan a traveller's code, see cleared or refused, and why.

The officer pastes the QR text (a scanner types it into the box) or uploads a
photo of the code, and picks the checkpoint. The decision is the same service
call as ``POST /border/clearances``: recorded and audited, a code and a booking
clear once. The page needs a web session with Permission.BORDER_CLEAR, and the
form carries the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from chaincut.codes.qr_image import read_qr_text
from chaincut.domain.access import Permission
from chaincut.domain.border import Clearance, RefusalCode, SyncedBooking
from chaincut.errors import ChaincutError
from chaincut.guards import Caller, requires
from chaincut.web.i18n import N_, Language, Localizer, localizer
from chaincut.web.pages import PageRoute, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Officer = Annotated[Caller, requires(Permission.BORDER_CLEAR)]
_MAX_IMAGE_BYTES = 8 << 20

# The policy's slot names (policy/loading.py) as an officer reads them; another name shows as it is.
_SLOTS: dict[str, str] = {
    "morning": N_("morning"),
    "afternoon": N_("afternoon"),
    "night": N_("night"),
}
_REFUSALS: dict[RefusalCode, str] = {
    RefusalCode.INVALID_CODE: N_("The code is not valid"),
    RefusalCode.COLOUR_NOT_CLEARED: N_("The code's colour may not cross"),
    RefusalCode.NO_BOOKING: N_("No booking for this traveller"),
    RefusalCode.BOOKING_CANCELLED: N_("The booking was cancelled"),
    RefusalCode.BOOKING_OTHER_CHECKPOINT: N_("The booking is for another checkpoint"),
    RefusalCode.BOOKING_OTHER_DAY: N_("The booking is for another day"),
    RefusalCode.BOOKING_OTHER_SLOT: N_("The booking is for another time slot"),
    RefusalCode.NO_NEGATIVE_TEST: N_("No negative test within the required hours"),
    RefusalCode.CODE_REPLAYED: N_("This code has already been used to cross"),
    RefusalCode.BOOKING_USED: N_("This traveller has already crossed on this booking"),
    RefusalCode.CODE_REVOKED: N_("The code was revoked: fetch a fresh one"),
}


def _decision(words: Localizer, clearance: Clearance) -> dict[str, Any]:
    """The verdict in the page's language and, for the traveller across the desk, in the other."""
    decision = clearance.decision
    verdict = N_("CLEARED") if decision.cleared else N_("REFUSED")
    other = localizer(Language.EN if words.language is Language.ZH_HANT else Language.ZH_HANT)
    return {
        "cleared": decision.cleared,
        "verdict": words.gettext(verdict),
        "verdict_other": other.gettext(verdict),
        "other_lang": other.tag,
        "reasons": [
            {"code": r.code.value, "title": words.gettext(_REFUSALS[r.code]), "text": r.text}
            for r in decision.reasons
        ],
        "booking": _party(words, decision.booking, decision.subject),
        "id": clearance.public_id,
    }


def _party(words: Localizer, booking: SyncedBooking | None, subject: str | None) -> dict[str, Any] | None:
    """The booking, who this traveller is on it, and its party: each traveller shows their own code."""
    if booking is None:
        return None
    place = booking.place_of(subject)
    slot = words.gettext(_SLOTS[booking.slot]) if booking.slot in _SLOTS else booking.slot
    who = (
        words.gettext(N_("the named traveller"))
        if place == 0
        else words.gettext(N_("companion %(place)s")) % {"place": place}
    )
    return {
        "id": booking.booking_id,
        "place": place,
        "travellers": booking.travellers,
        "slot": slot,
        "who": who,
    }


def _page(
    request: Request,
    caller: Caller,
    *,
    chosen: str | None = None,
    decision: dict[str, Any] | None = None,
    problem: str | None = None,
    detail: str = "",
    status: int = 200,
) -> HTMLResponse:
    words = localizer_for(request, caller)
    rules = caller.services.policy.border
    checkpoints = [
        {"id": point_id, "name": point.name_zh if words.language is Language.ZH_HANT else point.name_en}
        for point_id, point in rules.checkpoints.items()
    ]
    return page(
        request,
        caller,
        "checkpoint.html",
        status=status,
        checkpoints=checkpoints,
        chosen=chosen,
        decision=decision,
        problem=words.gettext(problem) if problem else None,
        detail=detail,
    )


@router.get("/checkpoint")
def checkpoint_form(request: Request, caller: Officer) -> HTMLResponse:
    """The scan form."""
    return _page(request, caller)


@router.post("/checkpoint")
async def check_traveller(
    request: Request,
    caller: Officer,
    checkpoint: Annotated[str, Form(max_length=64)] = "",
    qr: Annotated[str, Form(max_length=4096)] = "",
    image: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Decide for one scanned code and show the decision, with the form ready for the next traveller."""
    text = qr.strip()
    if not text and image is not None and image.filename:
        data = await image.read(_MAX_IMAGE_BYTES + 1)
        if len(data) > _MAX_IMAGE_BYTES:
            return _page(
                request, caller, chosen=checkpoint, status=422, problem=N_("The photo is too large.")
            )
        try:
            text = read_qr_text(data)
        except ChaincutError as exc:
            problem = N_("No code could be read from the photo:")
            return _page(request, caller, chosen=checkpoint, status=422, problem=problem, detail=exc.message)
    if not text:
        problem = N_("Scan a code or upload a photo of it.")
        return _page(request, caller, chosen=checkpoint, status=422, problem=problem)
    try:
        clearance = caller.services.clearances.clear(caller.principal, text, checkpoint)
    except ChaincutError as exc:
        problem = N_("The check could not be made:")
        return _page(request, caller, chosen=checkpoint, status=422, problem=problem, detail=exc.message)
    words = localizer_for(request, caller)
    return _page(request, caller, chosen=checkpoint, decision=_decision(words, clearance))
