"""Check-in and check-out by scanning a venue's QR poster (or entering a taxi plate).

Check-ins are idempotent on the client's id: a retried request returns the
visit it created the first time. A new check-in closes the person's earlier
open visit, at the latest after its venue type's default stay; visits nobody
closes are closed by the maintenance job after that stay. Either way the
check-out is marked inferred. Check-ins may arrive out of order (a phone that was
offline sends its queue late): where each lands depends on the time it was made,
never on when it arrived, and a late, backdated one never shortens a newer visit
(the rule is chaincut.whereabouts.arrivals'). A check-out later than the venue
type's longest believable stay is clipped to it and the visit marked clipped.

A server records check-ins in groups (`CheckInService.submit`): those arriving
together share one transaction, each answered after it commits with its own
receipt or error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain import Venue, Visit, VisitSource
from chaincut.domain.audit import AuditEvent
from chaincut.errors import ChaincutError, Conflict, InvalidInput, NotFound, UnknownVenueType
from chaincut.policy import Policy
from chaincut.store import Store, UnitOfWork, VisitSpan
from chaincut.venues.registry import normalise_plate
from chaincut.venues.tokens import VenueTokenVerifier
from chaincut.whereabouts.arrivals import Placement, place_check_in
from chaincut.whereabouts.group_commit import GroupCommit
from chaincut.whereabouts.scans import CheckInRequest, VisitReceipt, receipt_of

__all__ = ["CheckInRequest", "CheckInService", "StaleVisits", "VisitReceipt"]

log = logging.getLogger(__name__)

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}\Z")  # \Z: "$" lets a final newline in


@dataclass(frozen=True)
class StaleVisits:
    """What closing stale visits did: how many it closed, and the open visits it had to leave open.

    ``left_open`` counts, by venue type, the open visits at venues of types the policy
    lacks: with no default stay to close them at, they stay open (and are reported)
    until the policy has the type; ``reasons`` says why, by the same type.
    """

    closed: int
    left_open: Mapping[str, int]
    reasons: Mapping[str, str]

    def describe(self) -> str:
        """One line for an operator: how many were closed, and what was left open and why."""
        line = f"closed {self.closed:,} stale visit(s) (check-out inferred)"
        if self.left_open:
            line += "; left open: " + "; ".join(
                f"{n:,} at venues of type {t!r} ({self.reasons[t]})"
                for t, n in sorted(self.left_open.items())
            )
        return line


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
        batch_statements: bool | None = None,
    ) -> None:
        """``batch_statements``: write a group of different people's check-ins in three
        statements (default: on PostgreSQL, not on SQLite; see ``_record_all``)."""
        self._store = store
        self._batch_statements = not store.db.is_sqlite if batch_statements is None else batch_statements
        self._policy = policy
        self._clock = clock
        self._verifier = verifier
        self._max_future = max_future
        # Venues and person ids never change once registered, so found ones are remembered
        # (bounded); misses are not, so a venue registered a moment later is found.
        self._venues: dict[str, Venue] = {}
        self._person_ids: dict[str, int] = {}
        self._venue_types: dict[int, str] = {}
        self._group: GroupCommit[CheckInRequest, VisitReceipt] = GroupCommit(
            self.check_in_many, name="chaincut-checkins"
        )

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
            self._check_device(request, venue)
            # A type the policy lacks is refused, named, as the token's (the request's field).
            self._policy.venue_rule(venue.venue_type, field="token")
            return venue, VisitSource.TAXI if venue.is_taxi else VisitSource.QR
        assert request.plate is not None
        taxi = uow.venues.get_by_plate(normalise_plate(request.plate))
        if taxi is None:
            raise NotFound("no taxi with this plate is registered", field="plate")
        # A taxi whose riders check in privately (CrowdNotifier) takes no central check-in; a QR
        # token is never issued for such a venue, so only the plate needs this look-up.
        assert taxi.id is not None
        if uow.presence.decentralised_venue_ids([taxi.id]):
            raise Conflict(
                "this taxi's riders check in privately (CrowdNotifier): scan the QR code in the taxi",
                field="plate",
            )
        self._check_device(request, taxi)
        self._policy.venue_rule(taxi.venue_type, field="plate")
        return taxi, VisitSource.TAXI

    @staticmethod
    def _check_device(request: CheckInRequest, venue: Venue) -> None:
        if request.venue_only is not None and venue.id != request.venue_only:
            raise InvalidInput(
                "this venue's device checks people in at its own venue only",
                field="token",
                code="wrong_venue",
            )

    def _stay(self, venue_type: str) -> int:
        """The venue type's default stay in seconds (UnknownVenueType, naming it, if the policy lacks it)."""
        return self._policy.venue_rule(venue_type).default_stay_minutes * 60

    def check_in(self, request: CheckInRequest) -> VisitReceipt:
        """Record one check-in in its own transaction."""
        outcome = self.check_in_many([request])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def submit(self, request: CheckInRequest) -> Future[VisitReceipt]:
        """Queue a check-in to be recorded with those arriving meanwhile, in one transaction.

        The future holds its receipt, or its own error, once that transaction has committed.
        This is how a server answers many check-ins at once (see chaincut.whereabouts.group_commit).
        """
        return self._group.submit(request)

    def check_in_many(self, requests: Sequence[CheckInRequest]) -> list[VisitReceipt | Exception]:
        """Record check-ins together in one transaction; one outcome per request, in order.

        Each outcome is the receipt or the error of that request alone: a refused check-in
        (unknown person, forged token, clashing client_id...) writes nothing and leaves the
        others in the transaction. Nothing is recorded until the transaction commits. Should
        it fail as a whole (an unexpected database error), each check-in is retried in a
        transaction of its own, so only the culprit fails. Check-ins of one person are applied
        in the order given.
        """
        outcomes: list[VisitReceipt | Exception | None] = [None] * len(requests)
        pending: list[tuple[int, CheckInRequest, datetime]] = []
        for index, request in enumerate(requests):
            try:
                if not CLIENT_ID_PATTERN.match(request.client_id):
                    raise InvalidInput("expected 1-64 letters, digits or . _ : -", field="client_id")
                pending.append((index, request, self._when(request.at, "at")))
            except ChaincutError as exc:
                outcomes[index] = exc
        if pending:
            try:
                with self._store.write() as uow:
                    recorded = self._record_all(uow, pending)
                    self._audit(uow, pending, recorded)
            except Exception as exc:
                if len(pending) == 1:
                    recorded = [exc]
                else:
                    recorded = [self.check_in_many([request])[0] for _, request, _ in pending]
            for (index, _, _), outcome in zip(pending, recorded, strict=True):
                outcomes[index] = outcome
        return _all(outcomes)

    def _audit(
        self,
        uow: UnitOfWork,
        pending: Sequence[tuple[int, CheckInRequest, datetime]],
        recorded: Sequence[VisitReceipt | Exception],
    ) -> None:
        """One audit entry per new visit, in the check-ins' own transaction."""
        if not uow.audit.enabled:
            return
        events = [
            AuditEvent(
                actor=request.actor,
                roles=request.actor.partition(":")[0],
                action="checkins.create",
                resource="visits",
                record=request.client_id,
                details={"venue": outcome.venue.public_id},
                subject_person_id=outcome.person_id,  # not the cache: it may have been cleared since
            )
            for (_, request, _), outcome in zip(pending, recorded, strict=True)
            if isinstance(outcome, VisitReceipt) and not outcome.replayed
        ]
        uow.audit.append(events, at=to_epoch(self._clock.now()))

    def _record_all(
        self, uow: UnitOfWork, pending: Sequence[tuple[int, CheckInRequest, datetime]]
    ) -> list[VisitReceipt | Exception]:
        unknown = {r.person_ref for _, r, _ in pending if r.person_ref not in self._person_ids}
        if unknown:
            for ref, person_id in uow.people.ids_for_refs(sorted(unknown)).items():
                _remember(self._person_ids, ref, person_id, 262144)
        # In order of person (stable, so one person's check-ins keep their order): concurrent
        # transactions of several server processes then lock people's rows in the same order
        # and cannot deadlock.
        order = sorted(range(len(pending)), key=lambda i: self._person_ids.get(pending[i][1].person_ref, 0))
        recorded: list[VisitReceipt | Exception | None] = [None] * len(pending)
        people = [self._person_ids.get(r.person_ref) for _, r, _ in pending]
        # On PostgreSQL every statement is a round trip to the server and its work, so a batch of
        # different people goes in three statements. SQLite runs in-process, where one prepared
        # statement per check-in is cheaper than preparing a new multi-row one for every batch
        # (bench/checkin.py: closed-loop 1,806/s one by one against 794/s batched).
        if (
            self._batch_statements
            and len(pending) > 1
            and None not in people
            and len(set(people)) == len(people)
        ):
            return self._record_together(uow, pending, order)
        for i in order:
            _, request, at = pending[i]
            try:
                recorded[i] = self._record(uow, request, at)
            except ChaincutError as exc:  # raised before this check-in wrote anything
                recorded[i] = exc
        return _all(recorded)

    def _record_together(
        self, uow: UnitOfWork, pending: Sequence[tuple[int, CheckInRequest, datetime]], order: Sequence[int]
    ) -> list[VisitReceipt | Exception]:
        """Check-ins of different people in three statements (find near, insert, close), not three each.

        The same rules as ``_record``: a retried client_id is found, not inserted again (and
        clashes if it named another venue); each check-in takes its place among the person's
        visits by ``place_check_in``.
        """
        recorded: list[VisitReceipt | Exception | None] = [None] * len(pending)
        ready: list[tuple[int, Visit, Venue]] = []
        for i in order:  # in order of person, as _record_all explains
            _, request, at = pending[i]
            try:
                venue, source = self._venue(uow, request)
            except ChaincutError as exc:
                recorded[i] = exc
                continue
            assert venue.id is not None
            person_id = self._person_ids[request.person_ref]
            ready.append(
                (i, Visit(person_id, venue.id, at, None, source, client_id=request.client_id), venue)
            )
        visits: dict[int, tuple[Visit, Venue, Placement]] = {}
        since = min((to_epoch(visit.entered_at) for _, visit, _ in ready), default=0)
        near = uow.visits.near_many(sorted({visit.person_id for _, visit, _ in ready}), since)
        for i, visit, venue in ready:
            try:  # placed before anything is written, so a refusal here writes nothing
                placement = self._place(uow, visit, venue, near.get(visit.person_id, ()))
            except ChaincutError as exc:
                recorded[i] = exc
                continue
            visits[i] = (_closed_at(visit, placement), venue, placement)
        rows = [
            (
                v.person_id,
                v.venue_id,
                to_epoch(v.entered_at),
                None if v.left_at is None else to_epoch(v.left_at),
                v.left_inferred,
                v.source.code,
                v.client_id or "",
            )
            for v, _, _ in visits.values()
        ]
        inserted = uow.visits.check_in_batch(rows)
        closings = [c for v, _, p in visits.values() if v.person_id in inserted for c in p.closings]
        uow.visits.close_many(sorted(closings), inferred=True)
        for i, (visit, venue, _) in visits.items():
            if visit.person_id in inserted:
                recorded[i] = receipt_of(visit, venue, replayed=False)
                continue
            assert visit.client_id is not None
            earlier = uow.visits.by_client_id(visit.person_id, visit.client_id)
            assert earlier is not None
            if earlier.venue_id != visit.venue_id:
                recorded[i] = Conflict("this client_id was used for another check-in", field="client_id")
            else:
                recorded[i] = receipt_of(earlier, venue, replayed=True)
        return _all(recorded)

    def _place(self, uow: UnitOfWork, visit: Visit, venue: Venue, near: Iterable[VisitSpan]) -> Placement:
        """Where ``visit`` lands among the person's ``near`` visits (chaincut.whereabouts.arrivals)."""
        return place_check_in(
            to_epoch(visit.entered_at),
            self._stay(venue.venue_type),
            near,
            lambda venue_id: self._stay(self._venue_type(uow, venue_id)),
        )

    def _record(self, uow: UnitOfWork, request: CheckInRequest, at: datetime) -> VisitReceipt:
        # A first check-in costs a select of the person's visits near it (normally the open
        # one), an insert, and the closing of those; a retry costs the select, the insert that
        # does nothing and a select by client_id.
        person_id = self._person_ids.get(request.person_ref)
        if person_id is None:
            raise NotFound("no such person", field="person")
        venue, source = self._venue(uow, request)
        assert venue.id is not None
        visit = Visit(
            person_id=person_id,
            venue_id=venue.id,
            entered_at=at,
            left_at=None,
            source=source,
            client_id=request.client_id,
        )
        # Placed before anything is written: a refusal (a venue type the policy lacks) writes nothing.
        placement = self._place(uow, visit, venue, uow.visits.near(person_id, to_epoch(at)))
        visit = _closed_at(visit, placement)
        visit_id = uow.visits.check_in(visit)
        if visit_id is None:
            earlier = uow.visits.by_client_id(person_id, request.client_id)
            assert earlier is not None
            if earlier.venue_id != venue.id:
                raise Conflict("this client_id was used for another check-in", field="client_id")
            return receipt_of(earlier, venue, replayed=True)
        uow.visits.close_many(placement.closings, inferred=True)
        return receipt_of(visit, venue, replayed=False)

    def _venue_type(self, uow: UnitOfWork, venue_id: int) -> str:
        venue_type = self._venue_types.get(venue_id)
        if venue_type is None:
            venue_type = uow.venues.types_of([venue_id]).get(venue_id)
            if venue_type is None:
                return ""
            _remember(self._venue_types, venue_id, venue_type, 65536)
        return venue_type

    def check_out(
        self, person_ref: str, client_id: str, at: datetime | None = None, *, venue_only: int | None = None
    ) -> VisitReceipt:
        """Check out of a visit; a venue's device (``venue_only``) only of visits at its venue."""
        when = self._when(at, "at")
        person_id = self._person(person_ref)
        with self._store.write() as uow:
            visit = uow.visits.by_client_id(person_id, client_id)
            if visit is None or visit.id is None or venue_only not in (None, visit.venue_id):
                raise NotFound("no check-in with this client_id", field="client_id")
            venue = uow.venues.get(visit.venue_id)
            assert venue is not None
            if when < visit.entered_at:
                raise InvalidInput(
                    "check-out is before the check-in", field="at", code="checkout_before_checkin"
                )
            if visit.left_at is not None and not visit.left_inferred:
                return receipt_of(visit, venue, replayed=True)
            # A check-out forgotten for days (or a phone's stuck clock) ends at the longest believable stay.
            rule = self._policy.venue_rule(venue.venue_type, field="client_id")
            left_at, clipped = rule.clip(visit.entered_at, when)
            uow.visits.close(visit.id, to_epoch(left_at), inferred=False, clipped=clipped)
            closed = uow.visits.get(visit.id)
        assert closed is not None
        return receipt_of(closed, venue, replayed=False)

    def close_stale_visits(self) -> StaleVisits:
        """Close every visit whose venue type's default stay has passed; say how many, and what was not.

        A venue type the store holds but the policy lacks (registered by another process
        under another policy) has no default stay: its open visits are left open, counted
        and logged with the reason, and every other type's are closed as usual.
        """
        with self._store.write() as uow:
            stays: dict[str, int] = {}
            reasons: dict[str, str] = {}
            for venue_type in uow.venues.types_in_use():
                try:
                    stays[venue_type] = self._stay(venue_type)
                except UnknownVenueType as exc:
                    reasons[venue_type] = exc.message
            closed = uow.visits.close_stale(to_epoch(self._clock.now()), stays)
            left_open = uow.visits.open_at_types(sorted(reasons)) if reasons else {}
        for venue_type, count in sorted(left_open.items()):
            log.warning(
                "closing stale visits: %d open visit(s) at venues of type %r left open: %s",
                count,
                venue_type,
                reasons[venue_type],
            )
        return StaleVisits(closed, left_open, {t: reasons[t] for t in left_open})


_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V, limit: int) -> None:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _closed_at(visit: Visit, placement: Placement) -> Visit:
    """The new visit, closed (inferred) when a later visit of the person was stored before it."""
    if placement.left_at is None:
        return visit
    return replace(visit, left_at=from_epoch(placement.left_at), left_inferred=True)


def _all(outcomes: list[VisitReceipt | Exception | None]) -> list[VisitReceipt | Exception]:
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(outcomes)
    return done
