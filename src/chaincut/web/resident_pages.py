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

from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires
from chaincut.web.i18n import N_
from chaincut.web.pages import PageRoute, localizer_for, page

__all__ = ["CHECKIN_PATH", "ENROL_PATH", "RESIDENT_CSP", "router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

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
    "checking": N_("Checking the poster…"),
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
    "revoked": N_("This phone's enrolment has ended. Enrol again to send check-ins."),
    "forgotten": N_("This phone no longer holds an app token."),
    "plate_needed": N_("Type the taxi's plate, as on its sign."),
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
    return _shell(request, caller, "resident_visits.html", "visits")


@router.get(ENROL_PATH)
def app_enrol(request: Request, caller: Public) -> HTMLResponse:
    """Enrol this phone with a one-time code, and what the phone keeps where."""
    return _shell(request, caller, "resident_enrol.html", "enrol")


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
