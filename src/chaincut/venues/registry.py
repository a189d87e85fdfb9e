"""The venue registry: registering venues and issuing their signed QR posters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy.exc import IntegrityError

from chaincut.clock import Clock, to_epoch
from chaincut.domain import Venue
from chaincut.domain.ids import new_public_id
from chaincut.domain.venues import TAXI
from chaincut.errors import Conflict, FieldError, InvalidInput, NotFound, PolicyError, UnknownVenueType
from chaincut.policy import Policy
from chaincut.store import Store, UnitOfWork
from chaincut.venues.posters import PosterContent, render_poster_pdf, render_poster_png
from chaincut.venues.tokens import VenueClaims, VenueTokenSigner, checkin_url

__all__ = ["VenueDraft", "VenueRegistry", "normalise_plate", "validate_venue_fields"]

REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}\Z")
PLATE_PATTERN = re.compile(r"^[A-Z0-9]{1,8}\Z")


def normalise_plate(raw: str) -> str:
    """Registration plates compare without spaces, in upper case: 'ab 1234' -> 'AB1234'."""
    return re.sub(r"\s+", "", raw).upper()


@dataclass(frozen=True)
class VenueDraft:
    """A venue as submitted, before validation."""

    venue_type: str
    name_en: str
    name_zh: str
    ref: str | None = None
    district: str | None = None
    address: str | None = None
    plate: str | None = None


def validate_venue_fields(draft: VenueDraft, policy: Policy) -> list[FieldError]:
    """Every problem with the draft's fields, checked against the policy's venue types."""
    errors: list[FieldError] = []
    if draft.ref is not None and not REF_PATTERN.match(draft.ref):
        errors.append(FieldError("ref", "expected 1-64 letters, digits or . _ : -"))
    try:
        policy.venue_rule(draft.venue_type)
    except UnknownVenueType as exc:
        errors.append(FieldError("venue_type", exc.message))
    for field, value, limit in (
        ("name_en", draft.name_en, 200),
        ("name_zh", draft.name_zh, 200),
        ("district", draft.district, 64),
        ("address", draft.address, 300),
    ):
        required = field in ("name_en", "name_zh")
        if value is None:
            if required:
                errors.append(FieldError(field, "required"))
        elif not value.strip() or len(value) > limit:
            errors.append(FieldError(field, f"expected non-empty text of at most {limit} characters"))
    if draft.venue_type == TAXI:
        if not draft.plate or not PLATE_PATTERN.match(normalise_plate(draft.plate)):
            errors.append(FieldError("plate", "a taxi needs its registration plate: 1-8 letters and digits"))
    elif draft.plate is not None:
        errors.append(FieldError("plate", "only taxis have a registration plate"))
    return errors


class VenueRegistry:
    """Registers venues, lists them and issues their posters.

    ``public_url`` says where phones reach the authority (read when a poster is made).
    """

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        signer: VenueTokenSigner,
        public_url: Callable[[], str],
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._signer = signer
        self._public_url = public_url

    def prepare(self, draft: VenueDraft) -> Venue:
        """The venue the draft describes, or InvalidInput naming the first bad field."""
        errors = validate_venue_fields(draft, self._policy)
        if errors:
            raise InvalidInput(errors[0].message, field=errors[0].field)
        public_id = new_public_id()
        plate = normalise_plate(draft.plate) if draft.plate else None
        ref = draft.ref or (f"taxi-{plate}" if plate else f"venue-{public_id[:12]}")
        return Venue(
            ref=ref,
            public_id=public_id,
            venue_type=draft.venue_type,
            name_en=draft.name_en.strip(),
            name_zh=draft.name_zh.strip(),
            district=draft.district,
            address=draft.address,
            plate=plate,
        )

    def register(
        self,
        draft: VenueDraft,
        *,
        operator_id: int | None = None,
        then: Callable[[UnitOfWork, Venue], None] | None = None,
    ) -> Venue:
        """Register a venue; ``operator_id``: the venue operator registering their own venue.

        ``then`` runs in the same transaction with the stored venue (a decentralised venue's entry
        code is stored with it, or neither is).
        """
        venue = replace(self.prepare(draft), operator_id=operator_id)
        try:
            with self._store.write() as uow:
                # The plate first: a taxi's default ref is made from its plate.
                if venue.plate and uow.venues.get_by_plate(venue.plate) is not None:
                    raise Conflict("a taxi with this plate is already registered", field="plate")
                if uow.venues.get_by_ref(venue.ref) is not None:
                    raise Conflict("a venue with this ref is already registered", field="ref")
                venue_id = uow.venues.add(venue, to_epoch(self._clock.now()))
                stored = uow.venues.get(venue_id)
                assert stored is not None
                if then is not None:
                    then(uow, stored)
        except IntegrityError as exc:
            raise Conflict("a venue with this ref or plate is already registered", field="ref") from exc
        assert stored is not None
        return stored

    def check_types_known(self) -> None:
        """Refuse (PolicyError) a store holding venues of types the policy lacks, listing every one.

        Run at start-up: a server or command must not serve a store whose venues it has
        no rule for (no stay to close their visits at, no contact rule to trace them by).
        """
        with self._store.read() as uow:
            in_use = uow.venues.types_in_use()
        missing = sorted(t for t in in_use if t not in self._policy.venue_types)
        if missing:
            problems = [
                f"venue_types.{t}: missing; the store holds {in_use[t]:,} venue(s) of this type"
                for t in missing
            ]
            raise PolicyError(
                f"the store holds venues of {len(missing)} type(s) the policy lacks: {', '.join(missing)}; "
                "add them to the policy's venue_types (CHAINCUT_POLICY_FILE) before serving this store",
                problems,
            )

    def get(self, ref: str) -> Venue:
        with self._store.read() as uow:
            venue = uow.venues.get_by_ref(ref)
        if venue is None:
            raise NotFound("no such venue", field="ref")
        return venue

    def get_by_id(self, venue_id: int | None) -> Venue | None:
        if venue_id is None:
            return None
        with self._store.read() as uow:
            return uow.venues.get(venue_id)

    def list(
        self,
        *,
        venue_type: str | None,
        district: str | None,
        offset: int,
        limit: int,
        operator_id: int | None = None,
    ) -> tuple[list[Venue], int]:
        with self._store.read() as uow:
            return uow.venues.list(
                venue_type=venue_type, district=district, operator_id=operator_id, offset=offset, limit=limit
            )

    def token(self, venue: Venue) -> str:
        """The signed payload of the venue's QR code."""
        claims = VenueClaims(
            venue.public_id, venue.venue_type, self._clock.now(), name_en=venue.name_en, name_zh=venue.name_zh
        )
        return self._signer.sign(claims)

    def checkin_address(self, venue: Venue) -> str:
        """What the venue's QR code holds: the public check-in page, the venue's token its fragment."""
        return checkin_url(self._public_url(), self.token(venue))

    def poster(
        self,
        ref: str,
        fmt: Literal["png", "pdf"],
        *,
        qr_override: str | None = None,
        tracing: bool = False,
    ) -> bytes:
        """The printable poster, with the signed QR and the names in English and Chinese.

        ``qr_override``: what a decentralised venue's QR holds instead (its CrowdNotifier address, or
        with ``tracing`` its owner's tracing code).
        """
        venue = self.get(ref)
        content = PosterContent(
            token="" if qr_override is not None else self.token(venue),
            public_url=self._public_url(),
            qr_override=qr_override,
            tracing=tracing,
            name_en=venue.name_en,
            name_zh=venue.name_zh,
            venue_type=venue.venue_type,
            district=venue.district or "",
            address=venue.address or "",
            plate=venue.plate,
        )
        return render_poster_png(content) if fmt == "png" else render_poster_pdf(content)
