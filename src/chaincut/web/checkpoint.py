"""The border officer's page at the checkpoint: scan a traveller's code, see cleared or refused, and why.

The officer pastes the QR text (a scanner types it into the box) or uploads a
photo of the code, and picks the checkpoint. The decision is the same service
call as ``POST /border/clearances``: recorded and audited, a code and a booking
clear once. The page needs a web session with Permission.BORDER_CLEAR, and the
form carries the session's CSRF token.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from chaincut.codes.qr_image import read_qr_text
from chaincut.domain.access import Permission
from chaincut.domain.border import Clearance, RefusalCode, SyncedBooking
from chaincut.errors import ChaincutError
from chaincut.guards import Caller, requires
from chaincut.policy import BorderRules
from chaincut.web.pages import PageRoute
from chaincut.web.templates import Lang, bilingual, render_page, with_lang

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Officer = Annotated[Caller, requires(Permission.BORDER_CLEAR)]
_MAX_IMAGE_BYTES = 8 << 20

# (English, Traditional Chinese as written in Hong Kong)
# The policy's slot names (policy/loading.py) as an officer reads them; another name shows as it is.
_SLOTS: dict[str, tuple[str, str]] = {
    "morning": ("morning", "上午時段"),
    "afternoon": ("afternoon", "下午時段"),
    "night": ("night", "晚間時段"),
}
_REFUSALS: dict[RefusalCode, tuple[str, str]] = {
    RefusalCode.INVALID_CODE: ("The code is not valid", "健康碼無效"),
    RefusalCode.COLOUR_NOT_CLEARED: ("The code's colour may not cross", "健康碼顏色不准通關"),
    RefusalCode.NO_BOOKING: ("No booking for this traveller", "旅客沒有預約"),
    RefusalCode.BOOKING_CANCELLED: ("The booking was cancelled", "預約已取消"),
    RefusalCode.BOOKING_OTHER_CHECKPOINT: ("The booking is for another checkpoint", "預約的口岸不同"),
    RefusalCode.BOOKING_OTHER_DAY: ("The booking is for another day", "預約的日期不同"),
    RefusalCode.BOOKING_OTHER_SLOT: ("The booking is for another time slot", "預約的時段不同"),
    RefusalCode.NO_NEGATIVE_TEST: (
        "No negative test within the required hours",
        "沒有規定時限內的陰性檢測結果",
    ),
    RefusalCode.CODE_REPLAYED: ("This code has already been used to cross", "此健康碼已用於通關"),
    RefusalCode.BOOKING_USED: (
        "This traveller has already crossed on this booking",
        "此旅客已憑此預約通關",
    ),
    RefusalCode.CODE_REVOKED: ("The code was revoked: fetch a fresh one", "此健康碼已被撤銷，請重新領取"),
}


def _lang(request: Request) -> Lang:
    return Lang.parse(request.query_params.get("lang"))


def _form(lang: Lang, rules: BorderRules, csrf_token: str, chosen: str | None) -> str:
    options = "\n".join(
        f'<option value="{escape(point_id)}"{" selected" if point_id == chosen else ""}>'
        f"{bilingual(point.name_en, point.name_zh, lang)}</option>"
        for point_id, point in rules.checkpoints.items()
    )
    return f"""<form class="card" method="post" action="{escape(with_lang("/checkpoint", lang))}"
 enctype="multipart/form-data">
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<label for="checkpoint">{bilingual("Checkpoint", "口岸", lang)}</label>
<select id="checkpoint" name="checkpoint">
{options}
</select>
<label for="qr">{bilingual("Scanned code (QR text)", "掃描的健康碼（二維碼文字）", lang)}</label>
<textarea id="qr" name="qr" rows="4" maxlength="4096" autofocus></textarea>
<label for="image">{bilingual("or a photo of the code", "或健康碼的相片", lang)}</label>
<input id="image" name="image" type="file" accept="image/*">
<button type="submit">{bilingual("Check", "查驗", lang)}</button>
</form>"""


def _decision(lang: Lang, clearance: Clearance) -> str:
    decision = clearance.decision
    if decision.cleared:
        banner = f'<p class="verdict cleared" id="verdict">{bilingual("CLEARED", "准許通關", lang)}</p>'
    else:
        banner = f'<p class="verdict refused" id="verdict">{bilingual("REFUSED", "拒絕通關", lang)}</p>'
    reasons = "\n".join(
        f'<li data-code="{escape(reason.code.value)}">{bilingual(*_REFUSALS[reason.code], lang)}'
        f"<br><small>{escape(reason.text)}</small></li>"
        for reason in decision.reasons
    )
    travellers = _party(lang, decision.booking, decision.subject)
    return (
        f'<section class="card decision">\n{banner}\n<ul class="reasons">\n{reasons}\n</ul>\n{travellers}\n'
        f"<p><small>{bilingual('Decision', '決定編號', lang)} {escape(clearance.public_id)}</small></p>\n"
        "</section>"
    )


def _party(lang: Lang, booking: SyncedBooking | None, subject: str | None) -> str:
    """The booking, who this traveller is on it, and its party: each traveller shows their own code."""
    if booking is None:
        return ""
    place = booking.place_of(subject)
    slot = bilingual(*_SLOTS.get(booking.slot, (booking.slot, booking.slot)), lang)  # escaped
    if place == 0:
        who = bilingual("the named traveller", "預約旅客", lang)
    else:
        who = bilingual(f"companion {place}", f"同行者 {place}", lang)
    return (
        f'<p id="party" data-place="{place}" data-travellers="{booking.travellers}">'
        f"{bilingual('Booking', '預約', lang)} {escape(booking.booking_id)}: {slot}, "
        f"{bilingual('travellers', '旅客人數', lang)} {booking.travellers}; "
        f"{bilingual('this traveller', '此旅客', lang)}: {who}<br>"
        f"<small>{bilingual('Each companion shows their own code.', '每位同行者須出示自己的健康碼。', lang)}"
        "</small></p>"
    )


def _page(
    lang: Lang, caller: Caller, *, chosen: str | None = None, result: str = "", status: int = 200
) -> HTMLResponse:
    services = caller.services
    heading = f"<h1>{bilingual('Check a traveller', '查驗旅客', lang)}</h1>"
    form = _form(lang, services.policy.border, caller.csrf_token or "", chosen)
    body = f"{heading}\n{result}\n{form}"
    return HTMLResponse(render_page("chaincut checkpoint", body, lang, "/checkpoint"), status_code=status)


def _problem(lang: Lang, en: str, zh: str, detail: str = "") -> str:
    extra = f" {escape(detail)}" if detail else ""
    return f'<p class="alert" role="alert">{bilingual(en, zh, lang)}{extra}</p>'


@router.get("/checkpoint")
def checkpoint_form(request: Request, caller: Officer) -> HTMLResponse:
    """The scan form."""
    return _page(_lang(request), caller)


@router.post("/checkpoint")
async def check_traveller(
    request: Request,
    caller: Officer,
    checkpoint: Annotated[str, Form(max_length=64)] = "",
    qr: Annotated[str, Form(max_length=4096)] = "",
    image: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Decide for one scanned code and show the decision, with the form ready for the next traveller."""
    lang = _lang(request)
    text = qr.strip()
    if not text and image is not None and image.filename:
        data = await image.read(_MAX_IMAGE_BYTES + 1)
        if len(data) > _MAX_IMAGE_BYTES:
            return _page(
                lang,
                caller,
                chosen=checkpoint,
                status=422,
                result=_problem(lang, "The photo is too large.", "相片太大。"),
            )
        try:
            text = read_qr_text(data)
        except ChaincutError as exc:
            result = _problem(
                lang, "No code could be read from the photo:", "未能從相片讀取健康碼：", exc.message
            )
            return _page(lang, caller, chosen=checkpoint, status=422, result=result)
    if not text:
        result = _problem(lang, "Scan a code or upload a photo of it.", "請掃描健康碼或上載其相片。")
        return _page(lang, caller, chosen=checkpoint, status=422, result=result)
    try:
        clearance = caller.services.clearances.clear(caller.principal, text, checkpoint)
    except ChaincutError as exc:
        result = _problem(lang, "The check could not be made:", "未能查驗：", exc.message)
        return _page(lang, caller, chosen=checkpoint, status=422, result=result)
    return _page(lang, caller, chosen=checkpoint, result=_decision(lang, clearance))
