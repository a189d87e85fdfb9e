"""Check-in and check-out by scanning a venue's QR poster (or entering a taxi plate).

Check-ins are idempotent on the client's id: a retried request returns the
visit it created the first time. A new check-in closes the person's earlier
open visit, at the latest after its venue type's default stay; visits nobody
closes are closed by the maintenance job after that stay. Either way the
check-out is marked inferred.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from chaincut.clock import Clock, to_epoch
from chaincut.domain import Venue, Visit, VisitSource
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store, UnitOfWork
from chaincut.venues.registry import normalise_plate
from chaincut.venues.tokens import VenueTokenVerifier

__all__ = ["CheckInRequest", "CheckInService", "VisitReceipt"]

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")


@dataclass(frozen=True)
class CheckInRequest:
    """A scan: who, the QR token or taxi plate, the client's id for retries, and when."""

    person_ref: str
    client_id: str
    token: str | None = None
    plate: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class VisitReceipt:
    """What the resident's phone shows after a check-in or check-out."""

    client_id: str
    venue: Venue
    entered_at: datetime
    left_at: datetime | None
    left_inferred: bool
    replayed: bool


class CheckInService:
    """Records check-ins and check-outs."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        verifier: VenueTokenVerifier,
        *,
        max_future: timedelta = timedelta(minutes=5),
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._verifier = verifier
        self._max_future = max_future
        # Venues and person ids never change once registered, so found ones are remembered
        # (bounded); misses are not, so a venue registered a moment later is found.
        self._venues: dict[str, Venue] = {}
        self._person_ids: dict[str, int] = {}
        self._venue_types: dict[int, str] = {}

    def _venue_by_public_id(self, uow: UnitOfWork, public_id: str) -> Venue | None:
        # Looked up in the caller's transaction: a second connection per check-in could
        # exhaust the pool under load, each request holding one and waiting for another.
        venue = self._venues.get(public_id)
        if venue is None:
            venue = uow.venues.get_by_public_id(public_id)
            if venue is not None:
                _remember(self._venues, public_id, venue, 65536)
        return venue

    def _person_id(self, ref: str) -> int | None:
        person_id = self._person_ids.get(ref)
        if person_id is None:
            with self._store.read() as uow:
                person_id = uow.people.id_for_ref(ref)
            if person_id is not None:
                _remember(self._person_ids, ref, person_id, 262144)
        return person_id

    def _when(self, at: datetime | None, field: str) -> datetime:
        now = self._clock.now().replace(microsecond=0)  # the store keeps whole seconds
        if at is None:
            return now
        if at.tzinfo is None:
            raise InvalidInput("expected a time with a UTC offset", field=field, code="naive_time")
        if at > now + self._max_future:
            raise InvalidInput("time is in the future", field=field, code="time_in_future")
        if at < now - timedelta(days=self._policy.retention.visits_days):
            raise InvalidInput(
                f"time is older than the {self._policy.retention.visits_days}-day retention",
                field=field,
                code="outside_retention",
            )
        return at.replace(microsecond=0)

    def _person(self, ref: str) -> int:
        person_id = self._person_id(ref)
        if person_id is None:
            raise NotFound("no such person", field="person")
        return person_id

    def _venue(self, uow: UnitOfWork, request: CheckInRequest) -> tuple[Venue, VisitSource]:
        if (request.token is None) == (request.plate is None):
            raise InvalidInput("give either the QR token or a taxi plate", field="token")
        if request.token is not None:
            claims = self._verifier.verify(request.token)
            venue = self._venue_by_public_id(uow, claims.venue_id)
            if venue is None:
                raise NotFound("the QR code names a venue that is not registered", field="token")
            return venue, VisitSource.TAXI if venue.is_taxi else VisitSource.QR
        assert request.plate is not None
        taxi = uow.venues.get_by_plate(normalise_plate(request.plate))
        if taxi is None:
            raise NotFound("no taxi with this plate is registered", field="plate")
        return taxi, VisitSource.TAXI

    def _stay(self, venue_type: str) -> timedelta:
        rule = self._policy.venue_type(venue_type)
        return rule.default_stay if rule else timedelta(hours=2)

    def check_in(self, request: CheckInRequest) -> VisitReceipt:
        if not CLIENT_ID_PATTERN.match(request.client_id):
            raise InvalidInput("expected 1-64 letters, digits or . _ : -", field="client_id")
        at = self._when(request.at, "at")
        try:
            return self._record(request, at, look_first=False)
        except IntegrityError:
            # The unique (person, client_id) refused the insert: a retry of an earlier check-in,
            # or a concurrent retry committed first. Looking first now finds that visit.
            return self._record(request, at, look_first=True)

    def _record(self, request: CheckInRequest, at: datetime, *, look_first: bool) -> VisitReceipt:
        # One transaction per check-in. A person not yet remembered is looked up inside it, and
        # the client_id is only looked up when the insert has been refused, so a first check-in
        # costs a select of the open visits, the insert and the closing of the earlier visit.
        with self._store.write() as uow:
            person_id = self._person_in(uow, request.person_ref)
            venue, source = self._venue(uow, request)
            if look_first:
                earlier = uow.visits.by_client_id(person_id, request.client_id)
                if earlier is not None:
                    if earlier.venue_id != venue.id:
                        raise Conflict("this client_id was used for another check-in", field="client_id")
                    return _receipt(earlier, venue, replayed=True)
            open_visits = uow.visits.open_visits_of(person_id)
            assert venue.id is not None
            visit = Visit(
                person_id=person_id,
                venue_id=venue.id,
                entered_at=at,
                left_at=None,
                source=source,
                client_id=request.client_id,
            )
            uow.visits.add(visit)
            for open_visit in open_visits:
                assert open_visit.id is not None
                stay_end = open_visit.entered_at + self._stay(self._venue_type(uow, open_visit.venue_id))
                close_at = max(open_visit.entered_at, min(at, stay_end))
                uow.visits.close(open_visit.id, to_epoch(close_at), inferred=True)
        return _receipt(visit, venue, replayed=False)

    def _person_in(self, uow: UnitOfWork, ref: str) -> int:
        person_id = self._person_ids.get(ref)
        if person_id is None:
            person_id = uow.people.id_for_ref(ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            _remember(self._person_ids, ref, person_id, 262144)
        return person_id

    def _venue_type(self, uow: UnitOfWork, venue_id: int) -> str:
        venue_type = self._venue_types.get(venue_id)
        if venue_type is None:
            venue_type = uow.venues.types_of([venue_id]).get(venue_id)
            if venue_type is None:
                return ""
            _remember(self._venue_types, venue_id, venue_type, 65536)
        return venue_type

    def check_out(self, person_ref: str, client_id: str, at: datetime | None = None) -> VisitReceipt:
        when = self._when(at, "at")
        person_id = self._person(person_ref)
        with self._store.write() as uow:
            visit = uow.visits.by_client_id(person_id, client_id)
            if visit is None or visit.id is None:
                raise NotFound("no check-in with this client_id", field="client_id")
            venue = uow.venues.get(visit.venue_id)
            assert venue is not None
            if when < visit.entered_at:
                raise InvalidInput(
                    "check-out is before the check-in", field="at", code="checkout_before_checkin"
                )
            if visit.left_at is not None and not visit.left_inferred:
                return _receipt(visit, venue, replayed=True)
            uow.visits.close(visit.id, to_epoch(when), inferred=False)
            closed = uow.visits.get(visit.id)
        assert closed is not None
        return _receipt(closed, venue, replayed=False)

    def close_stale_visits(self) -> int:
        """Close every visit whose venue type's default stay has passed; returns how many."""
        stays = {name: rule.default_stay_minutes * 60 for name, rule in self._policy.venue_types.items()}
        with self._store.write() as uow:
            return uow.visits.close_stale(to_epoch(self._clock.now()), stays)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V, limit: int) -> None:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _receipt(visit: Visit, venue: Venue, *, replayed: bool) -> VisitReceipt:
    assert visit.client_id is not None
    return VisitReceipt(
        client_id=visit.client_id,
        venue=venue,
        entered_at=visit.entered_at,
        left_at=visit.left_at,
        left_inferred=visit.left_inferred,
        replayed=replayed,
    )
