"""The authority's side of decentralised check-in: its keys, venues' entry codes, and warnings.

- A venue registered in decentralised mode gets an entry code (the CrowdNotifier QR payload, in an
  ``https://`` address's fragment on its poster). In the basic variant it also gets a tracing code
  for its owner, shown once and never kept: the authority cannot trace the venue without its owner.
  In the server-based variant the entry code carries the authority's own master public key, and the
  authority traces the venue alone.
- A tracer handling a case who visited such a venue proposes a warning: the venue, the case's window
  there (inside the case's infectious window, no longer than the policy allows), the message for the
  phones, and for a basic venue its owner's tracing code. The traces are made and checked then.
- Another supervisor publishes or rejects it (four eyes); both are audited. Published traces are
  numbered in commit order and served to phones in signed pages (``published_page``).
- A warning and its traces are deleted ``presence.records_days`` after its window ends: no phone
  keeps a record that old (``chaincut.whereabouts.retention``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from chaincut.access.audit import AuditTrail, event_for
from chaincut.access.four_eyes import require_someone_else, require_supervisor
from chaincut.access.records import RecordAccess
from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain import Venue
from chaincut.domain.access import Permission, Principal
from chaincut.domain.audit import AuditFlag
from chaincut.domain.ids import new_public_id
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.presence import ibe
from chaincut.presence.pages import PresenceCache, PublishedPages, SignedPage
from chaincut.presence.protocol import (
    AuthorityKeys,
    HourTrace,
    InvalidPresenceData,
    authority_traces,
    b64encode,
    pre_identity,
    read_entry_code,
    server_traces,
    setup_authority,
    setup_location,
    setup_server_location,
    tracing_code_payload,
)
from chaincut.presence.wire import ENTRY_CONTENT_TYPE, ENTRY_PREFIX
from chaincut.store import Store, UnitOfWork
from chaincut.store.presence import EntryCodeRecord, PresenceKeyRecord, WarningRecord
from chaincut.tracing.windows import infectious_window
from chaincut.venues.registry import VenueDraft, VenueRegistry
from chaincut.venues.tokens import VenueTokenSigner

__all__ = [
    "PresenceAuthority",
    "PresenceConfig",
    "RegisteredVenue",
    "Variant",
    "entry_url",
]

Variant = Literal["basic", "server"]
VARIANTS: tuple[Variant, ...] = ("basic", "server")
# A printed poster's entry code is valid this long (the protocol needs an end; a venue re-registers
# or rotates before it). Operational, not epidemiological: no expert sets it.
_POSTER_VALID = timedelta(days=366)
log = logging.getLogger(__name__)
_TEXT_LIMIT = 100  # the protocol's description and address
NO_ADDRESS = "-"
_MESSAGE_LIMIT = 500


def entry_url(public_url: str, payload: bytes, signer: VenueTokenSigner) -> str:
    """What a decentralised venue's entry poster holds: the check-in page, and in its fragment the
    payload as a compact JWS signed with the poster key, so that phones refuse a code the authority
    did not register (the protocol itself signs nothing)."""
    header, _, signature = signer.sign_detached(payload, ENTRY_CONTENT_TYPE).partition("..")
    return f"{public_url.rstrip('/')}/v#{ENTRY_PREFIX}{header}.{b64encode(payload)}.{signature}"


@dataclass(frozen=True)
class RegisteredVenue:
    """A venue registered in decentralised mode: its entry code, and (basic) its owner's tracing code,
    which is shown this once and kept nowhere by the authority."""

    venue: Venue
    variant: Variant
    entry_payload: bytes
    entry_url: str
    tracing_code: bytes | None


@dataclass(frozen=True)
class PresenceConfig:
    """What phones and venue owners' apps need: the authority's public keys and the policy's limits."""

    authority_public_key: bytes
    master_public_key: bytes
    records_days: int
    max_checkins_per_day: int
    max_warning_hours: int
    dummy_requests_per_hour: int


def _text(value: str, field: str, limit: int) -> str:
    cleaned = " ".join(value.split())
    if not 1 <= len(cleaned) <= limit:
        raise InvalidInput(f"expected 1 to {limit} characters", field=field)
    return cleaned


def _reason(text: str) -> str:
    cleaned = " ".join(text.split())
    if not 5 <= len(cleaned) <= 500:
        raise InvalidInput("expected a reason of 5-500 characters", field="reason")
    return cleaned


def _location_texts(venue: Venue) -> tuple[str, str]:
    both = f"{venue.name_en} {venue.name_zh}"
    description = both if len(both) <= _TEXT_LIMIT else venue.name_en[:_TEXT_LIMIT]
    # The protocol wants an address; a venue registered without one shows none on phones ("-").
    address = venue.address or venue.district or venue.plate or NO_ADDRESS
    return description, address[:_TEXT_LIMIT]


class PresenceAuthority:
    """Decentralised venues, and the warnings tracers propose and supervisors publish."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        zone: ZoneInfo,
        audit: AuditTrail,
        records: RecordAccess,
        venues: VenueRegistry,
        signer: VenueTokenSigner,
        public_url: Callable[[], str],
        shared: PresenceCache,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._audit = audit
        self._records = records
        self._venues = venues
        self._signer = signer
        self._public_url = public_url
        self._shared = shared
        self._pages = PublishedPages(store, signer, shared)

    # -- keys ---------------------------------------------------------------------------------------

    def _keys_in(self, uow: UnitOfWork) -> PresenceKeyRecord:
        keys = uow.presence.keys()
        if keys is None:
            authority = setup_authority()
            mpk, msk = ibe.generate_keys()
            keys = PresenceKeyRecord(authority.public, authority.secret, mpk.serialize(), msk.serialize())
            uow.presence.add_keys(keys, at=to_epoch(self._clock.now()))
        return keys

    def keys(self) -> PresenceKeyRecord:
        """The authority's keys, made on first use (they never change: re-sealing keeps them)."""
        if self._shared.keys is not None:
            return self._shared.keys
        with self._store.read() as uow:
            keys = uow.presence.keys()
        if keys is None:
            try:
                with self._store.write() as uow:
                    keys = self._keys_in(uow)
            except IntegrityError:  # another request made them first: theirs
                with self._store.read() as uow:
                    keys = uow.presence.keys()
                assert keys is not None
        self._shared.keys = keys
        return keys

    def config(self) -> PresenceConfig:
        keys = self.keys()
        rules = self._policy.presence
        return PresenceConfig(
            keys.authority_public,
            keys.master_public,
            rules.records_days,
            rules.max_checkins_per_day,
            rules.max_warning_hours,
            rules.dummy_requests_per_hour,
        )

    # -- venues -------------------------------------------------------------------------------------

    def register_venue(
        self,
        draft: VenueDraft,
        variant: str,
        *,
        operator_id: int | None = None,
        entry_payload: bytes | None = None,
        rotate_daily: bool = False,
    ) -> RegisteredVenue:
        """Register a venue whose visitors check in with CrowdNotifier.

        ``entry_payload``: an entry code its owner made on their own machine (basic variant, with the
        authority's public key from ``config``), so that the owner's share never left it.
        ``rotate_daily`` (server-based only): the venue gets a new entry code every local day, shown on
        a door display, so that its visitors' records cannot be linked across days.
        """
        if variant not in VARIANTS:
            raise InvalidInput("expected basic or server", field="crowdnotifier_variant")
        if rotate_daily and (variant != "server" or entry_payload is not None):
            raise InvalidInput(
                "only a server-based venue's entry code can change every day: a basic venue's owner "
                "would need a new tracing code each day",
                field="rotate_daily",
            )
        keys = self.keys()
        now = self._clock.now()
        made: dict[str, bytes] = {}

        def store_code(uow: UnitOfWork, venue: Venue) -> None:
            description, address = _location_texts(venue)
            country = json.dumps({"t": venue.venue_type}, separators=(",", ":")).encode()
            if entry_payload is not None:
                payload = self._owners_payload(entry_payload, variant, keys)
                self._check_owners_code(uow, payload, description, address, now)
            elif variant == "basic":
                codes = setup_location(
                    keys.authority_public,
                    description,
                    address,
                    now,
                    now + _POSTER_VALID,
                    country_data=country,
                )
                payload, made["tracing"] = codes.entry, codes.tracing
            else:
                start, end = self._day_of(now) if rotate_daily else (now, now + _POSTER_VALID)
                payload = setup_server_location(
                    keys.master_public, description, address, start, end, country_data=country
                )
            assert venue.id is not None
            made["entry"] = self._add_code(uow, venue.id, variant, payload, now, daily=rotate_daily)

        venue = self._venues.register(draft, operator_id=operator_id, then=store_code)
        return RegisteredVenue(
            venue,
            variant,
            made["entry"],
            entry_url(self._public_url(), made["entry"], self._signer),
            made.get("tracing"),
        )

    @staticmethod
    def _check_owners_code(
        uow: UnitOfWork, payload: bytes, description: str, address: str, now: datetime
    ) -> None:
        """An owner's own entry code must name this venue as registered, be valid now for at most a
        poster's life, and be no other venue's (its tracing code would then warn both)."""
        read = read_entry_code(payload)
        if (read.description, read.address) != (description, address):
            raise InvalidInput(
                f"the entry code must name the venue as registered: description {description!r}, "
                f"address {address!r}",
                field="entry_payload",
            )
        at = to_epoch(now)
        if (
            not read.valid_from <= at < read.valid_to
            or read.valid_to - read.valid_from > _POSTER_VALID.total_seconds()
        ):
            raise InvalidInput(
                f"the entry code must be valid now, for at most {_POSTER_VALID.days} days",
                field="entry_payload",
            )
        if uow.presence.entry_code_taken(payload):
            raise Conflict("this entry code is another venue's", field="entry_payload")

    @staticmethod
    def _owners_payload(payload: bytes, variant: str, keys: PresenceKeyRecord) -> bytes:
        try:
            venue = read_entry_code(payload)
        except (InvalidPresenceData, ibe.InvalidElement) as exc:
            raise InvalidInput(str(exc), field="entry_payload") from None
        if (venue.public_key == keys.master_public) != (variant == "server"):
            raise InvalidInput(
                "the entry code's public key is the authority's own only in the server-based variant",
                field="entry_payload",
            )
        return payload

    @staticmethod
    def _add_code(
        uow: UnitOfWork, venue_id: int, variant: str, payload: bytes, now: datetime, *, daily: bool
    ) -> bytes:
        read = read_entry_code(payload)
        uow.presence.add_entry_code(
            EntryCodeRecord(venue_id, variant, payload, read.valid_from, read.valid_to, daily),
            pre_id=pre_identity(payload, read.nonces),
            at=to_epoch(now),
        )
        return payload

    def _day_of(self, now: datetime) -> tuple[datetime, datetime]:
        """The local day ``now`` falls in: from its midnight to the next."""
        day = now.astimezone(self._zone).date()
        return (
            datetime.combine(day, clock_time(0), self._zone),
            datetime.combine(day + timedelta(days=1), clock_time(0), self._zone),
        )

    def entry_code(self, venue: Venue) -> EntryCodeRecord | None:
        """The venue's current entry code, or None: its visitors check in centrally. A venue whose
        code changes daily gets the day's code, made on the first ask of the day."""
        if venue.id is None:
            return None
        with self._store.read() as uow:
            codes = uow.presence.entry_codes(venue.id)
        if not codes:
            return None
        now = self._clock.now()
        if not codes[0].daily or to_epoch(now) < codes[0].valid_to:
            return codes[0]
        keys = self.keys()
        start, end = self._day_of(now)
        description, address = _location_texts(venue)
        country = json.dumps({"t": venue.venue_type}, separators=(",", ":")).encode()
        payload = setup_server_location(
            keys.master_public, description, address, start, end, country_data=country
        )
        try:
            with self._store.write() as uow:
                self._add_code(uow, venue.id, "server", payload, now, daily=True)
        except IntegrityError:
            pass  # another worker made the day's code first (one per venue and start): use it
        else:
            log.info("venue %s: its entry code of %s made", venue.ref, start.date())
        with self._store.read() as uow:
            return uow.presence.entry_codes(venue.id)[0]

    def check_tracing_code(self, venue: Venue, tracing_code: bytes) -> None:
        """Refuse (InvalidInput) a tracing code that is not one of this venue's."""
        if venue.id is None:
            raise NotFound("no such venue", field="ref")
        with self._store.read() as uow:
            codes = uow.presence.entry_codes(venue.id)
        self._matching_code(codes, tracing_code)

    @staticmethod
    def _matching_code(codes: list[EntryCodeRecord], tracing_code: bytes) -> bytes:
        try:
            payload = tracing_code_payload(tracing_code)
        except (InvalidPresenceData, ibe.InvalidElement) as exc:
            raise InvalidInput(str(exc), field="tracing_code") from None
        if payload not in {c.entry_payload for c in codes if c.variant == "basic"}:
            raise InvalidInput("this tracing code belongs to another venue", field="tracing_code")
        return payload

    def decentralised_venues(self) -> list[tuple[Venue, str]]:
        """The venues whose visitors check in with CrowdNotifier, and each one's variant."""
        with self._store.read() as uow:
            return uow.presence.decentralised_venues()

    def decentralised_ids(self, venue_ids: list[int]) -> set[int]:
        with self._store.read() as uow:
            return uow.presence.decentralised_venue_ids(venue_ids)

    def poster(self, ref: str, fmt: Literal["png", "pdf"]) -> bytes:
        """A venue's poster, whichever way its visitors check in: a decentralised venue's holds its
        signed entry code, never a token for central check-in."""
        venue = self._venues.get(ref)
        code = self.entry_code(venue)
        address = None if code is None else self.entry_address(code)
        return self._venues.poster(venue.ref, fmt, qr_override=address)

    def require_devices_allowed(self, venue: Venue) -> None:
        """Conflict when the venue may have no device: its visitors check in with CrowdNotifier, so
        nothing about them may be sent to the authority there (no kiosk, no token). A venue whose
        code changes daily is the exception: its door display shows the code of the day."""
        code = self.entry_code(venue)
        if code is not None and not code.daily:
            raise Conflict(
                "this venue's visitors check in privately (CrowdNotifier): it has no kiosks or tokens",
                field="ref",
            )

    def entry_address(self, code: EntryCodeRecord) -> str:
        return entry_url(self._public_url(), code.entry_payload, self._signer)

    # -- warnings -----------------------------------------------------------------------------------

    def propose(
        self,
        principal: Principal,
        case_ref: str,
        venue_ref: str,
        start: datetime,
        end: datetime,
        message: str,
        *,
        tracing_code: bytes | None = None,
        purpose: str = "",
    ) -> WarningRecord:
        """A tracer's warning for a venue the case visited, from ``start`` to ``end``; it waits for
        another supervisor to publish it."""
        message = _text(message, "message", _MESSAGE_LIMIT)
        case = self._records.case(
            principal, case_ref, action=Permission.PRESENCE_WARN, purpose=purpose, field="case"
        )
        try:
            venue = self._venues.get(venue_ref)
        except NotFound:
            raise NotFound("no such venue", field="venue") from None
        begin, finish = to_epoch(start), to_epoch(end)
        if finish <= begin:
            raise InvalidInput("expected an end after the start", field="end")
        longest = self._policy.presence.max_warning_hours
        if finish - begin > longest * 3600:
            raise InvalidInput(
                f"a warning covers at most {longest} hours (presence.max_warning_hours); "
                f"this window is {(finish - begin) / 3600:.1f} hours",
                field="end",
            )
        now = self._clock.now()
        window = infectious_window(case, self._policy, self._zone, now)
        if begin < window.start or finish > window.end:
            raise InvalidInput(
                "the window must lie in the case's infectious window, "
                f"{from_epoch(window.start):%Y-%m-%d %H:%M} to {from_epoch(window.end):%Y-%m-%d %H:%M} UTC",
                field="start" if begin < window.start else "end",
            )
        assert venue.id is not None
        assert case.id is not None
        # A visitor keeps the code they scanned for the whole stay, past the code's day too.
        longest = int(self._policy.venue_rule(venue.venue_type).max_stay.total_seconds())
        with self._store.read() as uow:
            codes = [
                c
                for c in uow.presence.entry_codes(venue.id)
                if c.valid_from <= finish and begin <= c.valid_to + longest
            ]
        if not codes:
            raise Conflict(
                "this venue's visitors check in centrally (or it had no entry code then): "
                "its visitors are traced from the case's contacts",
                field="venue",
            )
        traces = self._traces(codes, begin, finish, message, tracing_code, longest)
        if not traces:
            raise Conflict("no entry code of this venue was valid in this window", field="start")
        random.SystemRandom().shuffle(traces)  # the hours of a warning are not published in order
        expires = finish + self._policy.presence.records_days * 86_400
        public_id = new_public_id()
        with self._store.write() as uow:
            uow.presence.add_warning(
                public_id,
                venue_id=venue.id,
                case_id=case.id,
                start_time=begin,
                end_time=finish,
                message=message,
                proposed_by=principal.name,
                at=to_epoch(now),
                expires_at=expires,
                traces=[(t.start_of_interval, t.trace) for t in traces],
            )
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "presence.warnings.propose",
                    "presence_warnings",
                    record=public_id,
                    purpose=purpose,
                    details={"case": case.ref, "venue": venue.ref, "start": begin, "end": finish},
                    subject_person_id=case.person_id,
                ),
            )
            record = uow.presence.warning(public_id)
        assert record is not None
        return record

    def _traces(
        self,
        codes: list[EntryCodeRecord],
        begin: int,
        finish: int,
        message: str,
        tracing_code: bytes | None,
        longest_stay: int,
    ) -> list[HourTrace]:
        server = [c for c in codes if c.variant == "server"]
        basic = [c for c in codes if c.variant == "basic"]
        traces: list[HourTrace] = []
        if server:
            keys = self.keys()
            for code in server:
                # A code is warned for the part of the window its visitors could be there: from its
                # first valid moment to the longest stay after its last.
                start, end = max(begin, code.valid_from), min(finish, code.valid_to + longest_stay)
                if start < end:
                    traces += server_traces(code.entry_payload, keys.master_secret, start, end, message)
        if basic:
            if tracing_code is None:
                raise InvalidInput(
                    "this venue's owner holds its tracing code: ask them to scan it or send it",
                    field="tracing_code",
                )
            self._matching_code(basic, tracing_code)
            keys = self.keys()
            authority = AuthorityKeys(keys.authority_public, keys.authority_secret)
            try:
                traces += authority_traces(tracing_code, authority, begin, finish, message)
            except (InvalidPresenceData, ibe.InvalidElement) as exc:
                raise InvalidInput(str(exc), field="tracing_code") from None
        return traces

    def review(self, principal: Principal, public_id: str, *, publish: bool, reason: str) -> WarningRecord:
        """Another supervisor's decision: publish the warning's traces to phones, or reject it."""
        reason = _reason(reason)
        require_supervisor(principal, "publishes warnings")
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            record = uow.presence.warning(public_id)
            if record is None:
                raise NotFound("no such warning", field="public_id")
            require_someone_else(
                principal,
                record.proposed_by,
                message="a warning must be reviewed by another supervisor than the one who proposed it",
            )
            if publish and record.expires_at <= now:
                raise Conflict(
                    "this warning's window is past retention; nobody holds its records", field="public_id"
                )
            status = "published" if publish else "rejected"
            if not uow.presence.review(record.id, status, by=principal.name, at=now, reason=reason):
                raise Conflict(f"this warning was already {record.status}", field="public_id")
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "presence.warnings.publish" if publish else "presence.warnings.reject",
                    "presence_warnings",
                    record=public_id,
                    purpose=reason,
                    flags=(AuditFlag.PERMISSION_CHANGE,) if publish else (),
                    details={
                        "case": record.case_ref,
                        "venue": record.venue_ref,
                        "proposed_by": record.proposed_by,
                    },
                    subject_person_id=record.person_id,
                ),
            )
            decided = uow.presence.warning(public_id)
        assert decided is not None
        self._pages.published()  # this process serves what it published at once
        return decided

    def warnings(
        self, *, status: str | None = None, case_id: int | None = None, limit: int = 200
    ) -> list[WarningRecord]:
        with self._store.read() as uow:
            return uow.presence.warnings(status=status, case_id=case_id, limit=limit)

    def warning(self, public_id: str) -> WarningRecord:
        with self._store.read() as uow:
            record = uow.presence.warning(public_id)
        if record is None:
            raise NotFound("no such warning", field="public_id")
        return record

    def forget_published(self) -> None:
        """Read the published traces afresh on the next request (after a purge)."""
        self._pages.forget()

    def published_page(self, since: int, limit: int) -> SignedPage:
        """The block of published traces holding the one after ``since`` (``PublishedPages.page``)."""
        return self._pages.page(since, limit)
