"""Venues: registration, listing, and printable QR posters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from chaincut.api.deps import PageDep, ServicesDep
from chaincut.clock import from_epoch
from chaincut.domain import Venue
from chaincut.domain.access import Permission, PrincipalKind, Role
from chaincut.errors import Conflict, InvalidInput
from chaincut.guards import Caller, requires
from chaincut.presence.protocol import b64encode
from chaincut.presence.wire import TRACING_PREFIX, decode_code
from chaincut.venues.registry import VenueDraft
from chaincut.venues.visibility import own_venues_only, venue_for

__all__ = ["router"]

router = APIRouter(prefix="/venues", tags=["venues"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]


class VenueCreate(BaseModel):
    venue_type: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str = Field(min_length=1, max_length=200)
    ref: str | None = Field(default=None, max_length=64)
    district: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=300)
    plate: str | None = Field(default=None, max_length=16)
    checkin_mode: Literal["central", "crowdnotifier"] = Field(
        default="central",
        description="central: phones send each check-in; crowdnotifier: phones keep them, encrypted",
    )
    crowdnotifier_variant: Literal["basic", "server"] = Field(
        default="basic",
        description="basic: the owner's tracing code is needed to warn; server: the authority warns alone",
    )
    entry_payload: str | None = Field(
        default=None,
        max_length=2000,
        description="an entry code the owner made on their own machine (base64), so their key never left it",
    )
    rotate_daily: bool = Field(
        default=False,
        description="server variant only: a new entry code every local day, shown on a door display",
    )


class VenuePublic(BaseModel):
    ref: str
    public_id: str
    venue_type: str
    name_en: str
    name_zh: str
    district: str | None
    address: str | None
    plate: str | None
    created_at: datetime | None
    checkin_mode: Literal["central", "crowdnotifier"] = "central"


class VenueRegistered(VenuePublic):
    entry_url: str | None = Field(
        default=None, description="a decentralised venue's poster address: its entry code in the fragment"
    )
    tracing_code: str | None = Field(
        default=None,
        description="a basic venue's tracing code (base64url), shown this once: the owner keeps it safe",
    )
    entry_valid_to: datetime | None = Field(
        default=None, description="when the entry code in entry_url stops working (daily: next midnight)"
    )
    rotates_daily: bool = False


class TracingSheet(BaseModel):
    tracing_code: str = Field(min_length=1, max_length=4000)


class VenuesPublic(BaseModel):
    data: list[VenuePublic]
    count: int


class VenueToken(BaseModel):
    token: str
    url: str = Field(description="what the poster's QR holds: the check-in page, the token its fragment")


class SigningKeys(BaseModel):
    keys: list[dict[str, str]] = Field(description="JSON Web Keys (RFC 7517) that sign venue posters")


class VenueTypePublic(BaseModel):
    name: str
    label_en: str
    label_zh: str
    default_stay_minutes: int = Field(description="a visit nobody leaves ends after this long")


class VenueTypesPublic(BaseModel):
    data: list[VenueTypePublic]


# Public and the same for everyone: phones keep them to check posters and end stays while offline.
_SHARED_FOR_AN_HOUR = {"Cache-Control": "public, max-age=3600"}


def _public(venue: Venue, *, decentralised: bool = False) -> VenuePublic:
    return VenuePublic(
        checkin_mode="crowdnotifier" if decentralised else "central",
        ref=venue.ref,
        public_id=venue.public_id,
        venue_type=venue.venue_type,
        name_en=venue.name_en,
        name_zh=venue.name_zh,
        district=venue.district,
        address=venue.address,
        plate=venue.plate,
        created_at=venue.created_at,
    )


@router.post("", status_code=201)
def register_venue(
    body: VenueCreate, services: ServicesDep, caller: Annotated[Caller, requires(Permission.VENUES_REGISTER)]
) -> VenueRegistered:
    """Register a venue; a venue operator registers their own (its posters and devices are theirs).

    A decentralised venue's answer holds its poster's address and (basic variant, unless the owner
    made its entry code) its tracing code, which nobody can ask for again."""
    operator = caller.principal.staff_id if caller.principal.has_role(Role.VENUE_OPERATOR) else None
    draft = VenueDraft(
        **body.model_dump(exclude={"checkin_mode", "crowdnotifier_variant", "entry_payload", "rotate_daily"})
    )
    if body.checkin_mode == "central":
        if body.entry_payload is not None:
            raise InvalidInput("only a crowdnotifier venue has an entry code", field="entry_payload")
        if body.rotate_daily:
            raise InvalidInput("only a crowdnotifier venue's entry code changes daily", field="rotate_daily")
        venue = services.venues.register(draft, operator_id=operator)
        caller.audit("venues", venue.ref)
        return VenueRegistered(**_public(venue).model_dump())
    payload = None if body.entry_payload is None else decode_code(body.entry_payload, "entry_payload")
    made = services.presence.register_venue(
        draft,
        body.crowdnotifier_variant,
        operator_id=operator,
        entry_payload=payload,
        rotate_daily=body.rotate_daily,
    )
    caller.audit("venues", made.venue.ref)
    code = services.presence.entry_code(made.venue)
    assert code is not None
    return VenueRegistered(
        **_public(made.venue, decentralised=True).model_dump(),
        entry_url=made.entry_url,
        tracing_code=None if made.tracing_code is None else b64encode(made.tracing_code),
        entry_valid_to=from_epoch(code.valid_to),
        rotates_daily=code.daily,
    )


def _own_venues_only(caller: Caller) -> int | None:
    return own_venues_only(caller.principal)


def _venue_for(caller: Caller, ref: str, *, operator_only: bool = False) -> Venue:
    return venue_for(caller.services.venues, caller.principal, ref, operator_only=operator_only)


VenueReader = Annotated[Caller, requires(Permission.VENUES_READ)]


class Revoked(BaseModel):
    revoked: int = Field(description="how many tokens stopped working")


@router.delete("/{ref}/device-tokens")
def revoke_device_tokens(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.VENUE_DEVICE_TOKENS)]
) -> Revoked:
    """End every device token of this venue (a lost or stolen kiosk); effective within seconds."""
    _venue_for(caller, ref, operator_only=True)
    ended = caller.services.accounts.revoke_device_tokens(caller.principal, venue_ref=ref)
    caller.services.principals.forget_all()
    return Revoked(revoked=ended)


class DeviceToken(BaseModel):
    token: str = Field(description="shown once: store it on the device")


@router.post("/{ref}/device-tokens", status_code=201)
def issue_device_token(
    ref: RefPath, caller: Annotated[Caller, requires(Permission.VENUE_DEVICE_TOKENS)]
) -> DeviceToken:
    """A token for the venue's own device (a kiosk or a taxi's tablet): it checks people in there.

    Only the operator who registered the venue issues its devices' tokens.
    """
    venue = _venue_for(caller, ref, operator_only=True)
    caller.services.presence.require_devices_allowed(venue)
    return DeviceToken(token=caller.services.accounts.issue_venue_token(ref, caller.principal).secret)


@router.get("")
def list_venues(
    services: ServicesDep,
    page: PageDep,
    caller: Annotated[Caller, requires(Permission.VENUES_READ)],
    venue_type: Annotated[str | None, Query(max_length=40)] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
) -> VenuesPublic:
    if caller.principal.kind is PrincipalKind.VENUE_DEVICE:
        own = services.venues.get_by_id(caller.principal.venue_id)
        private = own is not None and services.presence.entry_code(own) is not None
        return VenuesPublic(data=[_public(own, decentralised=private)] if own else [], count=1 if own else 0)
    venues, count = services.venues.list(
        venue_type=venue_type,
        district=district,
        offset=page.offset,
        limit=page.limit,
        operator_id=_own_venues_only(caller),
    )
    decentralised = services.presence.decentralised_ids([v.id for v in venues if v.id is not None])
    return VenuesPublic(data=[_public(v, decentralised=v.id in decentralised) for v in venues], count=count)


@router.get("/signing-key")
def venue_signing_keys(
    response: Response, caller: Annotated[Caller, requires(Permission.PUBLIC)]
) -> SigningKeys:
    """The public keys that sign posters: the check-in page verifies a poster before showing it."""
    response.headers.update(_SHARED_FOR_AN_HOUR)
    return SigningKeys(keys=caller.services.verifier.jwks())


@router.get("/types")
def venue_types(
    response: Response, caller: Annotated[Caller, requires(Permission.PUBLIC)]
) -> VenueTypesPublic:
    """The policy's venue types, their names and default stays: a phone ends a stay nobody ended."""
    response.headers.update(_SHARED_FOR_AN_HOUR)
    rules = caller.services.policy.venue_types.values()
    return VenueTypesPublic(
        data=[
            VenueTypePublic(
                name=r.name,
                label_en=r.label_en,
                label_zh=r.label_zh,
                default_stay_minutes=r.default_stay_minutes,
            )
            for r in rules
        ]
    )


@router.get("/{ref}")
def get_venue(ref: RefPath, caller: VenueReader) -> VenueRegistered:
    """A venue; a decentralised one's with its poster's address (its entry code, signed)."""
    venue = _venue_for(caller, ref)
    code = caller.services.presence.entry_code(venue)
    if code is None:
        return VenueRegistered(**_public(venue).model_dump())
    return VenueRegistered(
        **_public(venue, decentralised=True).model_dump(),
        entry_url=caller.services.presence.entry_address(code),
        entry_valid_to=from_epoch(code.valid_to),
        rotates_daily=code.daily,
    )


@router.get("/{ref}/token")
def venue_token(ref: RefPath, caller: VenueReader) -> VenueToken:
    """The signed payload the venue's QR code carries."""
    venues = caller.services.venues
    venue = _venue_for(caller, ref)
    if caller.services.presence.entry_code(venue) is not None:
        raise Conflict(
            "this venue's visitors check in with CrowdNotifier: see the entry_url of /venues/{ref}",
            field="ref",
        )
    url = venues.checkin_address(venue)
    return VenueToken(token=url.partition("#")[2], url=url)


def _poster(caller: Caller, ref: str, fmt: Literal["png", "pdf"]) -> bytes:
    venue = _venue_for(caller, ref)
    return caller.services.presence.poster(venue.ref, fmt)


@router.get(
    "/{ref}/poster.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def venue_poster_png(ref: RefPath, caller: VenueReader) -> Response:
    return Response(_poster(caller, ref, "png"), media_type="image/png")


@router.get(
    "/{ref}/poster.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def venue_poster_pdf(ref: RefPath, caller: VenueReader) -> Response:
    return Response(_poster(caller, ref, "pdf"), media_type="application/pdf")


@router.post(
    "/{ref}/tracing-sheet.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def venue_tracing_sheet(
    ref: RefPath, body: TracingSheet, caller: Annotated[Caller, requires(Permission.VENUE_DEVICE_TOKENS)]
) -> Response:
    """A basic venue's tracing code as a sheet to print and keep safe, for its operator: the code is
    sent back by the owner's browser (the authority kept none), and checked to be this venue's."""
    venue = _venue_for(caller, ref, operator_only=True)
    code = decode_code(body.tracing_code.strip().removeprefix(TRACING_PREFIX), "tracing_code")
    caller.services.presence.check_tracing_code(venue, code)
    sheet = caller.services.venues.poster(
        venue.ref, "pdf", qr_override=TRACING_PREFIX + b64encode(code), tracing=True
    )
    return Response(sheet, media_type="application/pdf", headers={"Cache-Control": "no-store"})
