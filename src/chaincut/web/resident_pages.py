"""The residents' pages: a progressive web app served by chaincut, nothing to install.

A poster's QR code opens ``/v#CHAINCUT:1:...`` (:data:`CHECKIN_PATH`): the page checks the
poster's signature in the browser (WebCrypto, against ``GET /venues/signing-key``), shows
the venue's names and a large "Check in" button. ``/app`` scans a poster with the camera
(zxing-wasm, vendored) or takes a taxi's plate; ``/app/visits`` is the phone's own diary of
the last 31 days; ``/app/enrol`` trades a one-time enrolment code for the phone's app token.

The pages are shells: the same for everyone, no personal data, so the service worker
(``/sw.js``) may keep them and they open offline. What is personal lives on the phone:
the app token in ``localStorage``, the diary and the queue of check-ins not yet sent in
IndexedDB, all for this origin only. ``static/resident.js`` does that work; the words it
shows come from the gettext catalogs, rendered into the page as JSON.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from chaincut.codes.issuance import code_qr
from chaincut.codes.signed import SignedCode
from chaincut.domain.access import Permission, PrincipalKind
from chaincut.errors import NotFound
from chaincut.guards import Caller, requires
from chaincut.policy import BookingMode
from chaincut.web.code_reasons import code_view
from chaincut.web.i18n import N_, Language, localizer
from chaincut.web.pages import PageRoute, localizer_for, page
from chaincut.web.qr import qr_svg
from chaincut.web.render import render

__all__ = ["CHECKIN_PATH", "ENROL_PATH", "RESIDENT_CSP", "own_signed_code", "parts", "router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])
# Parts of pages the script fetches with the phone's token: a refusal answers 401 (JSON), which the
# script shows as "enrolment ended", never a sign-in page put into the card.
parts = APIRouter(include_in_schema=False, tags=["web"])

Public = Annotated[Caller, requires(Permission.PUBLIC)]

CHECKIN_PATH = "/v"
ENROL_PATH = "/app/enrol"

# As every page's, and WebAssembly may be compiled: the camera's QR reader is ZXing-C++ in wasm.
RESIDENT_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The shells hold nothing personal: a browser (and the service worker) may keep them, asking again.
_SHELL_HEADERS = {"Content-Security-Policy": RESIDENT_CSP, "Cache-Control": "no-cache"}

# What the script says, in the page's language (keys are the script's names for them).
_WORDS: dict[str, str] = {
    "bad_poster": N_(
        "This is not a genuine chaincut poster: its signature does not match. Do not check in with it."
    ),
    "no_poster": N_("No poster was scanned. Scan a venue's QR poster, or type a taxi's plate."),
    "no_key": N_("This phone cannot check the poster yet: open this page once while online."),
    "checked_in": N_("Checked in"),
    "left": N_("You have left"),
    "left_auto": N_("Left automatically after the usual stay"),
    "sent": N_("Sent to the health authority"),
    "waiting": N_("Saved on this phone; it will be sent when the phone is online"),
    "phone_only": N_("Kept on this phone only: this phone is not enrolled"),
    "refused": N_("Refused by the health authority"),
    "private": N_("Private check-in: kept on this phone only, encrypted; nothing is sent"),
    "private_place": N_("A private check-in"),
    "private_note": N_(
        "This venue uses private check-in (CrowdNotifier): your phone keeps the check-in, encrypted, and "
        "sends nothing. If a person with COVID-19 was here at the same time, your phone finds out by itself."
    ),
    "entry_expired": N_("This poster's code is not valid now: ask the venue for its current poster."),
    "checkin_cap": N_("This phone has reached today's limit of private check-ins."),
    "no_pairing": N_(
        "This browser cannot do the encryption private check-in needs: try an up-to-date browser."
    ),
    "taxi": N_("Taxi"),
    "enrolled": N_("This phone is enrolled. Check-ins are sent to the health authority."),
    "not_enrolled": N_("This phone is not enrolled: check-ins stay on this phone only."),
    "enrol_failed": N_("The code did not work: it may have been used already or expired. Ask for a new one."),
    "offline": N_("The phone is offline. Try again when it is online."),
    "camera_failed": N_(
        "The camera could not be opened. Allow this site to use the camera, or type a taxi's plate."
    ),
    "scanning": N_("Point the camera at the poster's QR code."),
    "not_chaincut": N_("This QR code is not a chaincut poster."),
    "no_visits": N_("No visits in the last 31 days."),
    "uploaded": N_("Your visits were sent to the health authority."),
    "upload_failed": N_("Your visits could not be sent. Try again."),
    "nothing_to_upload": N_("There are no visits to send."),
    "report": N_("Tell the health authority"),
    "report_hint": N_(
        "Only if you choose: the health authority then learns that you were there, and your health code "
        "shows the risk, as for a visitor who checked in centrally."
    ),
    "report_enrol": N_("This match stays on this phone. Enrol the phone to be able to report it."),
    "reported": N_("You told the health authority about this match."),
    "report_failed": N_("The match could not be reported. Try again."),
    "nothing_to_share": N_("There are no private check-ins this phone can share."),
    "share_not_case": N_("Private check-ins are shared only by a confirmed case."),
    "shared": N_("{n} private check-ins were shared with the health authority."),
    "revoked": N_("This phone's enrolment has ended. Enrol again to send check-ins."),
    "forgotten": N_("This phone no longer holds an app token."),
    "plate_needed": N_("Type the taxi's plate, as on its sign."),
    "exposure_none": N_(
        "No match: none of your visits overlaps a time when a case was at the venue. Checked at {time}."
    ),
    "exposure_match": N_("Possible exposure: a case was at a venue while you were there."),
    "exposure_never": N_("Not checked yet."),
    "exposure_failed": N_("The list of venues could not be fetched. The phone will try again."),
    "slot_morning": N_("morning"),
    "slot_afternoon": N_("afternoon"),
    "slot_night": N_("night"),
    "seats_left": N_("{n} seats left"),
    "full": N_("full"),
    "no_slots": N_("No crossings that day."),
    "status_booked": N_("booked"),
    "status_cancelled": N_("cancelled"),
    "status_entered": N_("entered in the ballot"),
    "status_won": N_("won in the ballot: booked"),
    "status_lost": N_("not drawn in the ballot"),
    "no_bookings": N_("No bookings."),
    "choose_slot": N_("Choose a checkpoint and time."),
    "cancel": N_("Cancel"),
    "booked": N_("Booked."),
    "entered": N_("Entered in the ballot. The result shows here after the draw."),
    "book_failed": N_("Not booked: {reason}"),
    "travellers": N_("{n} travellers"),
    "kiosk_unset": N_(
        "This tablet is not set up as a kiosk: open the address the venue's page in the console gives."
    ),
    "kiosk_checked_in": N_("Checked in ✓"),
    "kiosk_refused": N_("Not checked in: {reason}"),
    "kiosk_not_code": N_("This is not a health code. Open My code on your phone."),
    "display_valid": N_("This code works until {time}; the next one appears here by itself."),
    "data_failed": N_("Your data could not be fetched. Try again when the phone is online."),
    "code_failed": N_("Your code could not be fetched. Try again when the phone is online."),
    "enrol_first": N_("Enrol this phone first: your code is only shown to the phone enrolled as you."),
}


def _shell(request: Request, caller: Caller, template: str, page_name: str, **context: Any) -> HTMLResponse:
    words = localizer_for(request, caller)
    settings = caller.services.settings
    return page(
        request,
        None,
        template,
        headers=_SHELL_HEADERS,
        page_name=page_name,
        words={key: words.gettext(text) for key, text in _WORDS.items()},
        zone=settings.local_timezone,
        **context,
    )


@router.get(CHECKIN_PATH)
def checkin_page(request: Request, caller: Public) -> HTMLResponse:
    """The page a poster's QR opens: the venue, checked against its signature, and "Check in"."""
    return _shell(request, caller, "resident_checkin.html", "checkin")


@router.get("/app")
def app_home(request: Request, caller: Public) -> HTMLResponse:
    """Scan a poster with the camera, or type a taxi's plate; the visit in progress."""
    return _shell(request, caller, "resident_home.html", "home")


@router.get("/app/visits")
def app_visits(request: Request, caller: Public) -> HTMLResponse:
    """The phone's own diary of the last 31 days, and sending it when a tracer asks."""
    booking = caller.services.settings.test_booking_url
    return _shell(request, caller, "resident_visits.html", "visits", booking_url=booking)


@router.get(ENROL_PATH)
def app_enrol(request: Request, caller: Public) -> HTMLResponse:
    """Enrol this phone with a one-time code, and what the phone keeps where."""
    return _shell(request, caller, "resident_enrol.html", "enrol")


def own_signed_code(caller: Caller) -> SignedCode:
    """A freshly signed code for the resident whose app asks, its issue audited (the API's
    ``/me/code/signed`` and the code page both)."""
    person_id = caller.principal.person_id
    if person_id is None:
        raise NotFound("no such person", field="person")
    signed = caller.services.signed_codes.issue_for(person_id)
    caller.audit(
        "signed_codes",
        signed.issued.code_id,
        subject_person_id=person_id,
        details={"colour": signed.code.colour, "kid": signed.issued.kid},
    )
    return signed


@router.get("/app/code")
def app_code(request: Request, caller: Public) -> HTMLResponse:
    """My health code: the page asks for a freshly signed one each time it opens."""
    return _shell(request, caller, "resident_code.html", "code")


@parts.get("/app/code/card")
def app_code_card(
    request: Request, caller: Annotated[Caller, requires(Permission.CODES_OWN)]
) -> HTMLResponse:
    """The resident's code, freshly signed, as a part of the code page: the colour, each reason and
    when it ends, in the page's language, and the QR code to show at a checkpoint (audited as
    ``GET /me/code/signed`` is)."""
    signed = own_signed_code(caller)
    services = caller.services
    words = localizer_for(request, caller)
    qr = qr_svg(code_qr(signed.issued.text), css_class="code-qr", title=words.gettext(N_("Your health code")))
    body = render(
        "resident_code_card.html",
        words,
        code=code_view(words, services, signed.code),
        qr=qr,
        expires_at=signed.issued.expires_at.astimezone(services.settings.zone),
    )
    return HTMLResponse(body)


@router.get("/app/border")
def app_border(request: Request, caller: Public) -> HTMLResponse:
    """Book a border crossing (or enter the day's ballot), and see and cancel one's own bookings."""
    ballot = caller.services.policy.border.mode is BookingMode.BALLOT
    return _shell(request, caller, "resident_border.html", "border", ballot=ballot)


@router.get("/app/data")
def app_data(request: Request, caller: Public) -> HTMLResponse:
    """My data: everything the authority holds about the phone's owner, and a printable copy."""
    return _shell(request, caller, "resident_data.html", "data")


@parts.get("/app/data/report")
def app_data_report(caller: Annotated[Caller, requires(Permission.SUBJECT_ACCESS)]) -> HTMLResponse:
    """The data-access report (PDPO DPP6) of the resident whose phone asks, as a part of the page;
    audited as ``GET /people/{ref}/subject-access`` is. Staff use that route, stating a purpose."""
    ref = caller.principal.subject_ref
    if caller.principal.kind is not PrincipalKind.RESIDENT or ref is None:
        raise NotFound("no such person", field="person")
    person = caller.person(ref, details={"format": "page"})
    return HTMLResponse(caller.services.subject_access.report(person, for_subject=True).body_html())


@router.get("/kiosk")
def kiosk(request: Request, caller: Public) -> HTMLResponse:
    """A venue's entrance kiosk: a tablet that checks visitors in by the health code on their phones.

    It is set up by opening ``/kiosk#<device token>`` (the venue's page in the console shows the
    address once); the token is kept in the tablet's storage for this origin.
    """
    words = localizer_for(request, caller)
    other = localizer(Language.EN if words.language is Language.ZH_HANT else Language.ZH_HANT)
    prompt = other.gettext(N_("Show the health code on your phone (My code) to the camera to check in."))
    return _shell(request, caller, "kiosk.html", "kiosk", other_prompt=prompt)


@router.get("/manifest.webmanifest")
def manifest(request: Request, caller: Public) -> Response:
    """The web app manifest: the residents' pages install as an app, in the request's language."""
    words = localizer_for(request, caller)
    body = {
        "name": words.gettext(N_("chaincut: check in")),
        "short_name": "chaincut",
        "lang": words.tag,
        "start_url": "/app",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f4f6f8",
        "theme_color": "#1d2733",
        "icons": [
            {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@cache
def _service_worker() -> bytes:
    return files("chaincut.web").joinpath("static", "sw.js").read_bytes()


@router.get("/sw.js")
def service_worker(_caller: Public) -> Response:
    """The service worker: keeps the residents' pages and scripts so they open offline.

    Served from the root so that it may look after ``/v`` and ``/app`` both.
    """
    return Response(
        _service_worker(), media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )
