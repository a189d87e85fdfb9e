"""The venue operators' pages in the console: register a venue (a taxi too), print its poster, and set
up an entrance kiosk with a device token.

``/console/venues`` lists the venues the member may see (an operator their own) with the form to
register one; ``/console/venues/{ref}`` shows a venue's poster, to download as PNG or PDF, and,
for its operator, issues a kiosk's token: shown once, as the kiosk page's address with the token
in its fragment and as a QR code the tablet's camera opens. Every form carries the session's CSRF
token; registering and issuing are audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from chaincut.domain import Venue
from chaincut.domain.access import Permission, Role
from chaincut.errors import ChaincutError, InvalidInput
from chaincut.guards import Caller, requires
from chaincut.policy import VenueTypeRule
from chaincut.presence.protocol import b64encode
from chaincut.presence.wire import TRACING_PREFIX, decode_code
from chaincut.venues.registry import VenueDraft
from chaincut.venues.visibility import own_venues_only, venue_for
from chaincut.web.i18n import N_, Language, Localizer
from chaincut.web.pages import PageRoute, back_to, localizer_for, page
from chaincut.web.qr import qr_svg

__all__ = ["KIOSK_PATH", "router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Reader = Annotated[Caller, requires(Permission.VENUES_READ)]
Registrar = Annotated[Caller, requires(Permission.VENUES_REGISTER)]
DeviceIssuer = Annotated[Caller, requires(Permission.VENUE_DEVICE_TOKENS)]
RefPath = Annotated[str, Path(min_length=1, max_length=64)]

KIOSK_PATH = "/kiosk"
PAGE_SIZE = 50

FORM_FIELDS = ("venue_type", "name_en", "name_zh", "district", "address", "plate")
_MODES = {
    "central": N_("Centrally: each check-in is sent to the health authority"),
    "basic": N_(
        "Decentralised (CrowdNotifier): phones keep their check-ins, encrypted; warning this venue's "
        "visitors needs its tracing code, which you keep"
    ),
    "server": N_(
        "Decentralised (CrowdNotifier), and the health authority can warn this venue's visitors on its own"
    ),
    "server_daily": N_(
        "As the last, with a new code every day on a screen at the door, so that visits on different "
        "days cannot be linked"
    ),
}
_MODE_FACTS = {
    "central": N_("Centrally: the health authority keeps each check-in"),
    "basic": N_("Decentralised (CrowdNotifier): phones keep their check-ins; you hold the tracing code"),
    "server": N_("Decentralised (CrowdNotifier): phones keep their check-ins; the authority warns"),
    "server_daily": N_(
        "Decentralised (CrowdNotifier): phones keep their check-ins; the authority warns; a new code "
        "every day, on the door display"
    ),
}
_DONE = {
    "registered": N_("The venue is registered. Print its poster and put it up at the entrance."),
    "revoked": N_("Every kiosk of this venue is signed out."),
}


def _row(venue: Venue, words: Localizer, types: Mapping[str, VenueTypeRule]) -> dict[str, Any]:
    chinese = words.language is Language.ZH_HANT
    rule = types.get(venue.venue_type)
    return {
        "ref": venue.ref,
        "name": venue.name_zh if chinese else venue.name_en,
        "other_name": venue.name_en if chinese else venue.name_zh,
        "type": venue.venue_type if rule is None else rule.label_zh if chinese else rule.label_en,
        "district": venue.district or "",
        "plate": venue.plate or "",
    }


def _types(caller: Caller, chinese: bool) -> list[dict[str, str]]:
    rules = caller.services.policy.venue_types.values()
    return [{"value": r.name, "label": r.label_zh if chinese else r.label_en} for r in rules]


def _list_page(
    request: Request,
    caller: Caller,
    *,
    offset: int = 0,
    problem: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    words = localizer_for(request, caller)
    venues, count = caller.services.venues.list(
        venue_type=None,
        district=None,
        offset=offset,
        limit=PAGE_SIZE,
        operator_id=own_venues_only(caller.principal),
    )
    return page(
        request,
        caller,
        "venues.html",
        status=422 if problem else 200,
        venues=[_row(v, words, caller.services.policy.venue_types) for v in venues],
        count=count,
        offset=offset,
        page_size=PAGE_SIZE,
        may_register=Permission.VENUES_REGISTER in caller.principal.permissions(),
        types=_types(caller, words.language is Language.ZH_HANT),
        problem=problem,
        form=form or {**dict.fromkeys(FORM_FIELDS, ""), "checkin_mode": "central"},
        modes=[{"value": value, "label": words.gettext(label)} for value, label in _MODES.items()],
    )


@router.get("/console/venues")
def venues_page(
    request: Request, caller: Reader, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0
) -> HTMLResponse:
    """The venues the member may see, and the form to register one."""
    return _list_page(request, caller, offset=offset)


@router.post("/console/venues")
def register_venue(
    request: Request,
    caller: Registrar,
    venue_type: Annotated[str, Form(max_length=40)] = "",
    name_en: Annotated[str, Form(max_length=200)] = "",
    name_zh: Annotated[str, Form(max_length=200)] = "",
    district: Annotated[str, Form(max_length=64)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    plate: Annotated[str, Form(max_length=16)] = "",
    checkin_mode: Annotated[str, Form(max_length=16)] = "central",
) -> Response:
    """Register a venue; a venue operator's venue is theirs (its poster and kiosks).

    A basic decentralised venue's page shows its tracing code this once: the authority keeps none.
    """
    form = {
        "venue_type": venue_type,
        "name_en": name_en,
        "name_zh": name_zh,
        "district": district,
        "address": address,
        "plate": plate,
        "checkin_mode": checkin_mode,
    }
    draft = VenueDraft(
        venue_type=venue_type,
        name_en=name_en,
        name_zh=name_zh,
        district=district.strip() or None,
        address=address.strip() or None,
        plate=plate.strip() or None,
    )
    operator = caller.principal.staff_id if caller.principal.has_role(Role.VENUE_OPERATOR) else None
    try:
        if checkin_mode not in _MODES:
            raise InvalidInput("expected one of the ways offered", field="checkin_mode")
        if checkin_mode == "central":
            venue = caller.services.venues.register(draft, operator_id=operator)
            tracing_code = None
        else:
            made = caller.services.presence.register_venue(
                draft,
                checkin_mode.removesuffix("_daily"),
                operator_id=operator,
                rotate_daily=checkin_mode.endswith("_daily"),
            )
            venue, tracing_code = made.venue, made.tracing_code
    except ChaincutError as exc:
        field = f"{exc.field}: " if exc.field else ""
        return _list_page(request, caller, problem=f"{field}{exc.message}", form=form)
    caller.audit("venues", venue.ref)
    if tracing_code is None:
        return back_to(f"/console/venues/{venue.ref}", done="registered")
    # Shown once, on this answer (not stored: no-store, as every page), never kept by the authority.
    text = TRACING_PREFIX + b64encode(tracing_code)
    words = localizer_for(request, caller)
    qr = qr_svg(text, css_class="tracing-qr", title=words.gettext(N_("The venue's tracing code")))
    return _venue_page(request, caller, venue, tracing_code=text, tracing_qr=qr, done_key="registered")


def _venue_page(
    request: Request,
    caller: Caller,
    venue: Venue,
    *,
    kiosk_address: str = "",
    kiosk_qr: Markup | None = None,
    tracing_code: str = "",
    tracing_qr: Markup | None = None,
    done_key: str | None = None,
) -> HTMLResponse:
    words = localizer_for(request, caller)
    done = done_key or request.query_params.get("done")
    principal = caller.principal
    code = caller.services.presence.entry_code(venue)
    mode = "central" if code is None else code.variant + ("_daily" if code.daily else "")
    return page(
        request,
        caller,
        "venue.html",
        venue=_row(venue, words, caller.services.policy.venue_types),
        names={"en": venue.name_en, "zh": venue.name_zh},
        address=venue.address or "",
        checkin_page=caller.services.settings.public_base() + "/v",
        operates=venue.operator_id is not None
        and venue.operator_id == principal.staff_id
        and Permission.VENUE_DEVICE_TOKENS in principal.permissions(),
        done=words.message(_DONE, done),
        kiosk_address=kiosk_address,
        kiosk_qr=kiosk_qr,
        mode=mode,
        mode_label=words.gettext(_MODE_FACTS[mode]),
        tracing_code=tracing_code,
        tracing_qr=tracing_qr,
    )


@router.get("/console/venues/{ref}")
def venue_page(request: Request, caller: Reader, ref: RefPath) -> HTMLResponse:
    """A venue: its poster to print, and for its operator, kiosks."""
    return _venue_page(request, caller, venue_for(caller.services.venues, caller.principal, ref))


@router.post("/console/venues/{ref}/kiosks")
def set_up_kiosk(request: Request, caller: DeviceIssuer, ref: RefPath) -> HTMLResponse:
    """A device token for an entrance kiosk, shown once: the kiosk page's address holds it."""
    services = caller.services
    venue = venue_for(services.venues, caller.principal, ref, operator_only=True)
    services.presence.require_devices_allowed(venue)
    secret = services.accounts.issue_venue_token(venue.ref, caller.principal).secret
    address = f"{services.settings.public_base()}{KIOSK_PATH}#{secret}"
    words = localizer_for(request, caller)
    qr = qr_svg(address, css_class="kiosk-qr", title=words.gettext(N_("The kiosk's address")))
    # The token is shown once and never kept: the page is not stored (no-store, as every page).
    return _venue_page(
        request,
        caller,
        venue,
        kiosk_address=address,
        kiosk_qr=qr,
    )


@router.post("/console/venues/{ref}/kiosks/revoke")
def revoke_kiosks(caller: DeviceIssuer, ref: RefPath) -> Response:
    """Sign out every kiosk of the venue (a stolen tablet); effective within seconds."""
    services = caller.services
    venue = venue_for(services.venues, caller.principal, ref, operator_only=True)
    services.accounts.revoke_device_tokens(caller.principal, venue_ref=venue.ref)
    services.principals.forget_all()
    return back_to(f"/console/venues/{venue.ref}", done="revoked")


@router.post("/console/venues/{ref}/tracing-sheet")
def tracing_sheet(
    caller: DeviceIssuer, ref: RefPath, tracing_code: Annotated[str, Form(max_length=4000)] = ""
) -> Response:
    """The tracing code the registration page showed, as a sheet to print: sent back by the operator's
    browser (the authority kept none), and checked to be this venue's."""
    services = caller.services
    venue = venue_for(services.venues, caller.principal, ref, operator_only=True)
    code = decode_code(tracing_code.strip().removeprefix(TRACING_PREFIX), "tracing_code")
    services.presence.check_tracing_code(venue, code)
    sheet = services.venues.poster(
        venue.ref, "pdf", qr_override=TRACING_PREFIX + b64encode(code), tracing=True
    )
    return Response(
        sheet,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="tracing-code-{venue.ref}.pdf"'},
    )
