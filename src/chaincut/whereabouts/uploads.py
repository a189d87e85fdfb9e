"""A resident's upload of their visit history, checked as a whole.

When the authority asks (a confirmed case, as Hong Kong required for the last
21 days), the phone uploads its stored check-ins in one batch. Every record is
checked first; if any fails, the whole batch is refused with each record's
errors and nothing is stored. Records already uploaded (same client id) are
skipped, so a retried upload stores nothing twice. A record at a venue whose type
the policy lacks is refused, naming the type; a stay longer than the venue type's
longest believable one (a phone with a stuck clock) is clipped to it, marked
clipped, and counted in the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from chaincut.clock import Clock
from chaincut.domain import Venue, Visit, VisitSource
from chaincut.errors import (
    BatchRejected,
    FieldError,
    InvalidInput,
    InvalidVenueToken,
    NotFound,
    UnknownVenueType,
)
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.venues.registry import normalise_plate
from chaincut.venues.tokens import VenueTokenVerifier
from chaincut.whereabouts.checkin import CLIENT_ID_PATTERN

__all__ = ["UploadReceipt", "UploadedVisit", "check_batch_size", "upload_history"]


@dataclass(frozen=True)
class UploadedVisit:
    """One record from the phone: the venue (QR token or taxi plate) and the times."""

    entered_at: datetime
    left_at: datetime | None = None
    token: str | None = None
    plate: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class UploadReceipt:
    """How many records were stored, how many were already there, and how many of those
    stored were clipped to their venue type's longest believable stay."""

    stored: int
    already_stored: int
    clipped: int = 0


def check_batch_size(policy: Policy, size: int, noun: str) -> None:
    """Refuse an empty batch, or one of more than the policy's ``uploads.max_records_per_batch``."""
    limit = policy.uploads.max_records_per_batch
    if not size:
        raise InvalidInput(f"the batch holds no {noun}", field="visits", code="empty_batch")
    if size > limit:
        raise InvalidInput(
            f"the batch holds {size} {noun}; at most {limit} are allowed",
            field="visits",
            code="batch_too_large",
        )


def upload_history(
    store: Store,
    policy: Policy,
    clock: Clock,
    verifier: VenueTokenVerifier,
    person_ref: str,
    records: list[UploadedVisit],
) -> UploadReceipt:
    """Store the whole batch, or nothing and a BatchRejected listing every bad record."""
    check_batch_size(policy, len(records), "records")
    now = clock.now()
    try:
        return _store_batch(store, policy, now, verifier, person_ref, records)
    except IntegrityError:
        # A concurrent retry of this upload committed the same client ids between our
        # look-up and our insert (PostgreSQL lets both look first); now the look-up finds them.
        return _store_batch(store, policy, now, verifier, person_ref, records)


def _store_batch(
    store: Store,
    policy: Policy,
    now: datetime,
    verifier: VenueTokenVerifier,
    person_ref: str,
    records: list[UploadedVisit],
) -> UploadReceipt:
    oldest = now - timedelta(days=policy.retention.visits_days)
    with store.write() as uow:
        person_id = uow.people.id_for_ref(person_ref)
        if person_id is None:
            raise NotFound("no such person", field="person")
        errors: list[FieldError] = []
        venues: dict[str, Venue | None] = {}
        seen_ids: set[str] = set()
        visits: list[Visit] = []
        for index, record in enumerate(records):
            problems: list[FieldError] = []

            def problem(field: str, message: str, index: int = index) -> None:
                problems.append(FieldError(field, message, index=index))  # noqa: B023

            venue: Venue | None = None
            if (record.token is None) == (record.plate is None):
                problem("token", "give either the QR token or a taxi plate")
            elif record.token is not None:
                try:
                    claims = verifier.verify(record.token)
                except InvalidVenueToken as exc:
                    problem("token", exc.reason)
                else:
                    if claims.venue_id not in venues:
                        venues[claims.venue_id] = uow.venues.get_by_public_id(claims.venue_id)
                    venue = venues[claims.venue_id]
                    if venue is None:
                        problem("token", "the QR code names a venue that is not registered")
            else:
                assert record.plate is not None
                plate = normalise_plate(record.plate)
                key = "plate:" + plate
                if key not in venues:
                    venues[key] = uow.venues.get_by_plate(plate)
                venue = venues[key]
                if venue is None:
                    problem("plate", "no taxi with this plate is registered")
                elif venue.id is not None and uow.presence.decentralised_venue_ids([venue.id]):
                    problem("plate", "this taxi's riders check in privately (CrowdNotifier): nothing to send")
                    venue = None
            if record.entered_at.tzinfo is None:
                problem("entered_at", "expected a time with a UTC offset")
            elif record.entered_at > now:
                problem("entered_at", "time is in the future")
            elif record.entered_at < oldest:
                problem("entered_at", f"older than the {policy.retention.visits_days}-day retention")
            left_at = record.left_at
            if left_at is not None:
                if left_at.tzinfo is None:
                    problem("left_at", "expected a time with a UTC offset")
                elif left_at > now:
                    problem("left_at", "time is in the future")
                elif record.entered_at.tzinfo is not None and left_at < record.entered_at:
                    problem("left_at", "check-out is before the check-in")
            if record.client_id is not None:
                if not CLIENT_ID_PATTERN.match(record.client_id):
                    problem("client_id", "expected 1-64 letters, digits or . _ : -")
                elif record.client_id in seen_ids:
                    problem("client_id", "appears twice in this batch")
                seen_ids.add(record.client_id)
            rule = None
            if venue is not None:
                try:
                    rule = policy.venue_rule(venue.venue_type)
                except UnknownVenueType as exc:
                    problem("plate" if record.token is None else "token", exc.message)
            if problems or venue is None or venue.id is None or rule is None:
                errors.extend(problems)
                continue
            inferred = left_at is None
            clipped = False
            if left_at is None:
                left_at = min(record.entered_at + rule.default_stay, now)
            else:
                left_at, clipped = rule.clip(record.entered_at, left_at)
            visits.append(
                Visit(
                    person_id=person_id,
                    venue_id=venue.id,
                    entered_at=record.entered_at,
                    left_at=left_at,
                    source=VisitSource.TAXI if venue.is_taxi else VisitSource.UPLOAD,
                    left_inferred=inferred,
                    # Without the phone's id, the venue and entry time identify the record,
                    # so a retried upload still stores nothing twice.
                    client_id=record.client_id
                    or f"upload:{venue.public_id[:12]}:{int(record.entered_at.timestamp())}",
                    clipped=clipped,
                )
            )
        if errors:
            raise BatchRejected(errors)
        keys = sorted({v.client_id for v in visits if v.client_id is not None})
        known = uow.visits.existing_client_ids(person_id, keys)
        fresh = []
        for visit in visits:
            if visit.client_id not in known:
                known.add(visit.client_id or "")
                fresh.append(visit)
        uow.visits.add_many(fresh)
    return UploadReceipt(
        stored=len(fresh), already_stored=len(visits) - len(fresh), clipped=sum(v.clipped for v in fresh)
    )
