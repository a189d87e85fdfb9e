"""Venues: registration, listing, and printable QR posters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from chaincut.api.deps import PageDep, ServicesDep
from chaincut.domain import Venue
from chaincut.venues.registry import VenueDraft

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


class VenuesPublic(BaseModel):
    data: list[VenuePublic]
    count: int


class VenueToken(BaseModel):
    token: str


def _public(venue: Venue) -> VenuePublic:
    return VenuePublic(
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
def register_venue(body: VenueCreate, services: ServicesDep) -> VenuePublic:
    return _public(services.venues.register(VenueDraft(**body.model_dump())))


@router.get("")
def list_venues(
    services: ServicesDep,
    page: PageDep,
    venue_type: Annotated[str | None, Query(max_length=40)] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
) -> VenuesPublic:
    venues, count = services.venues.list(
        venue_type=venue_type, district=district, offset=page.offset, limit=page.limit
    )
    return VenuesPublic(data=[_public(v) for v in venues], count=count)


@router.get("/{ref}")
def get_venue(ref: RefPath, services: ServicesDep) -> VenuePublic:
    return _public(services.venues.get(ref))


@router.get("/{ref}/token")
def venue_token(ref: RefPath, services: ServicesDep) -> VenueToken:
    """The signed payload the venue's QR code carries."""
    return VenueToken(token=services.venues.token(services.venues.get(ref)))


@router.get(
    "/{ref}/poster.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def venue_poster_png(ref: RefPath, services: ServicesDep) -> Response:
    return Response(services.venues.poster(ref, "png"), media_type="image/png")


@router.get(
    "/{ref}/poster.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def venue_poster_pdf(ref: RefPath, services: ServicesDep) -> Response:
    return Response(services.venues.poster(ref, "pdf"), media_type="application/pdf")
