"""Booking a border crossing: one checkpoint's slot on one day, within its quota, never oversold.

Seats are taken in the same transaction as the booking is stored, by a
conditional UPDATE that only succeeds while the slot's quota holds all the
booking's travellers (``store/border.py``); cancelling gives them back in the
transaction that marks the booking cancelled, once. A retried request (same
booker, same ``request_id``) gets the first answer. Every traveller, the one
named and each companion listed, is known by the keyed hash of their identity
document only, and holds one live booking a day at most (a unique index on the
booking travellers, so it holds under concurrency). A companion already booked
that day, or a traveller listed twice, refuses the whole booking naming the field
(``companions[i]``). The quotas (the policy's in force, ``quotas``), how far ahead
one may book and how many companions come along are the policy's ``[border]`` rules.

A server books through ``submit``: requests arriving together are decided in one
transaction (``first_come.book_together``, on the check-ins' group commit), each
answered after it commits, and a slot this process saw full moments ago is
refused without locking it (``seats_seen``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from chaincut.border.ballot import DrawOutcome, draw_ballot, draw_time
from chaincut.border.commitments import SeedSource, commit_seed, fresh_seeds
from chaincut.border.first_come import (
    Pending,
    already_booked,
    book_together,
    slot_full,
    traveller_field,
)
from chaincut.border.quotas import apply_policy_quotas, audit_quota_changes
from chaincut.border.seats_seen import SeatsSeen
from chaincut.border.types import BookingRequest
from chaincut.clock import Clock
from chaincut.domain.audit import AuditEvent
from chaincut.domain.border import BallotEntry, Booking, QuotaChange, SlotAvailability
from chaincut.domain.ids import new_public_id
from chaincut.errors import BookingRefused, ChaincutError, InvalidInput, NotFound
from chaincut.policy import BookingMode, BorderRules, CheckpointRule
from chaincut.security import IdentityHasher
from chaincut.store import Store, UnitOfWork
from chaincut.store.border import NewBooking, Traveller
from chaincut.whereabouts.group_commit import GroupCommit

__all__ = ["BookingRequest", "BookingService"]

Outcome = Booking | BallotEntry


class _Clash(Exception):
    """A unique constraint refused the insert: a concurrent retry or a second booking that day."""


class BookingService:
    """Books, cancels and lists border crossings under the policy's quotas."""

    def __init__(
        self,
        store: Store,
        rules: BorderRules,
        clock: Clock,
        zone: ZoneInfo,
        hasher: IdentityHasher,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        seeds: SeedSource = fresh_seeds,
    ) -> None:
        """``seeds``: a day's ballot seed, committed before the day's first entry is stored when the
        server's timer has not committed one yet (``draws.BallotDraws.commit_ahead``)."""
        self._store = store
        self._rules = rules
        self._clock = clock
        self._zone = zone
        self._hasher = hasher
        self._seeds = seeds
        self.seats_seen = SeatsSeen(rules.full_slot_recheck_seconds, monotonic)
        self._group: GroupCommit[BookingRequest, Outcome] = GroupCommit(
            self.book_many, name="chaincut-border-bookings"
        )

    @property
    def mode(self) -> BookingMode:
        return self._rules.mode

    def today(self) -> date:
        return self._clock.now().astimezone(self._zone).date()

    def book(self, request: BookingRequest) -> Outcome:
        """Book (first come) or enter the ballot (ballot mode); a retried request returns the first answer."""
        outcome = self.book_many([request])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def submit(self, request: BookingRequest) -> Future[Outcome]:
        """Queue a request to be decided with those arriving meanwhile, in one transaction.

        The future holds the booking (or its refusal) once that transaction has committed.
        """
        return self._group.submit(request)

    def book_many(self, requests: Sequence[BookingRequest]) -> list[Outcome | Exception]:
        """Decide requests together; one outcome per request, in order: its booking or its refusal.

        First come: the requests are decided in one transaction, in the order given. Those
        naming a request id or traveller met earlier in the same batch, ballot entries, and
        every request of a batch that failed as a whole are decided alone afterwards.
        """
        outcomes: list[Outcome | Exception | None] = [None] * len(requests)
        batch: list[Pending] = []
        alone: list[int] = []
        pairs: set[tuple[int, str]] = set()
        travellers: set[tuple[bytes, date]] = set()
        for index, request in enumerate(requests):
            try:
                point = self._check(request)
                whom = self._travellers(request)
            except ChaincutError as exc:
                outcomes[index] = exc
                continue
            pair = (request.person_id, request.request_id)
            days = {(t, request.day) for t, _ in whom}
            if self._rules.mode is BookingMode.BALLOT or pair in pairs or days & travellers:
                alone.append(index)
                continue
            pairs.add(pair)
            travellers |= days
            batch.append(Pending(index, request, whom, point.slots[request.slot]))
        if batch:
            try:
                with self._store.write() as uow:
                    decided = book_together(uow, batch, self.seats_seen, int(self._clock.now().timestamp()))
                    self._audit(uow, decided.created)
                    audit_quota_changes(uow, decided.quota_changes, self._clock)
            except Exception:  # BatchClash, or a failure of the whole transaction
                alone.extend(p.index for p in batch)
            else:
                for key, left in decided.left.items():
                    self.seats_seen.note(key, left)
                for index, outcome in decided.outcomes.items():
                    outcomes[index] = outcome
        for index in sorted(alone):
            outcomes[index] = self._alone(requests[index])
        return [_present(o) for o in outcomes]

    def _alone(self, request: BookingRequest) -> Outcome | Exception:
        """One request in a transaction of its own."""
        try:
            point = self._check(request)
            travellers = self._travellers(request)
            if self._rules.mode is BookingMode.BALLOT:
                return self._enter(request, travellers)
            try:
                return self._book(request, travellers, point.slots[request.slot])
            except _Clash:
                with self._store.read() as uow:
                    first = uow.border.by_request(request.person_id, request.request_id)
                    held = uow.border.live_of([(t, request.day) for t, _ in travellers])
                if first is not None:
                    return replace(first, replayed=True)
                raise already_booked(_first_held(travellers, request.day, held)) from None
        except Exception as exc:
            return exc

    def _travellers(self, request: BookingRequest) -> tuple[Traveller, ...]:
        """Each traveller's identity hash and border subject id, the named one first; a companion's
        unreadable document, or a traveller listed twice, refused naming the field."""
        hashes = []
        for position, document in enumerate((request.id_document, *request.companions)):
            try:
                hashes.append(self._hasher.hash(document))
            except InvalidInput as exc:
                raise InvalidInput(exc.message, field=traveller_field(position), code=exc.code) from None
            if hashes[-1] in hashes[:-1]:
                first = traveller_field(hashes.index(hashes[-1]))
                raise InvalidInput(
                    f"{traveller_field(position)} lists the same traveller as {first}: "
                    "each traveller is listed once",
                    field=traveller_field(position),
                    code="traveller_listed_twice",
                )
        subject_of = self._hasher.subjects.subject_of
        return tuple((h, subject_of(h)) for h in hashes)

    def _audit(self, uow: UnitOfWork, created: Sequence[tuple[BookingRequest, Outcome]]) -> None:
        """One audit entry per new booking or ballot entry whose request names its actor."""
        events = [
            AuditEvent(
                actor=request.actor,
                roles=request.roles,
                action="border.book",
                resource="border/bookings" if isinstance(item, Booking) else "border/ballot-entries",
                record=item.public_id,
                subject_person_id=request.person_id,
                details={
                    "day": item.day.isoformat(),
                    "checkpoint": item.checkpoint,
                    "slot": item.slot,
                    "companions": len(item.companions),
                },
            )
            for request, item in created
            if request.actor
        ]
        if events:
            uow.audit.append(events, at=int(self._clock.now().timestamp()))

    def _book(self, request: BookingRequest, travellers: tuple[Traveller, ...], quota: int) -> Booking:
        with self._store.write() as uow:
            first = uow.border.by_request(request.person_id, request.request_id)
            if first is not None:
                return replace(first, replayed=True)
            live = uow.border.live_of([(t, request.day) for t, _ in travellers])
            named = live.get((travellers[0][0], request.day))
            if named is not None and (named.person_id, named.request_id) == (
                request.person_id,
                request.request_id,
            ):
                return replace(named, replayed=True)  # a retry that raced the first request's commit
            if live:
                raise already_booked(_first_held(travellers, request.day, live))
            key = (request.checkpoint, request.day, request.slot)
            _held, changes = uow.border.lock_slots({key: quota})
            audit_quota_changes(uow, changes, self._clock)
            if not uow.border.take(*key, len(travellers)):
                raise slot_full(request)
            added = uow.border.add(
                NewBooking(
                    public_id=new_public_id(),
                    person_id=request.person_id,
                    day=request.day,
                    checkpoint=request.checkpoint,
                    slot=request.slot,
                    request_id=request.request_id,
                    created_at=int(self._clock.now().timestamp()),
                    travellers=travellers,
                )
            )
            if added is None:
                raise _Clash  # rolls back the seats taken above
            self._audit(uow, [(request, added[1])])
            return added[1]

    def _enter(self, request: BookingRequest, travellers: tuple[Traveller, ...]) -> BallotEntry:
        closes = draw_time(request.day, self._rules, self._zone)
        if self._clock.now() >= closes:
            raise BookingRefused(
                f"entries for {request.day} closed at {closes.astimezone(self._zone):%Y-%m-%d %H:%M}, "
                "when its ballot is drawn",
                code="ballot_closed",
                field="day",
            )
        self._commit_before_entries(request.day)
        hashes = [t for t, _ in travellers]
        try:
            with self._store.write() as uow:
                first = uow.ballot.by_request(request.person_id, request.request_id)
                if first is not None:
                    return replace(first, replayed=True)
                if uow.ballot.draw(request.day) is not None:
                    raise BookingRefused(
                        f"the ballot for {request.day} has been drawn", code="ballot_drawn", field="day"
                    )
                entered = uow.ballot.entered(hashes, request.day)
                if entered:
                    # A retry may race the first request's commit: look for it again before refusing.
                    raced = uow.ballot.by_request(request.person_id, request.request_id)
                    if raced is not None:
                        return replace(raced, replayed=True)
                    raise already_booked(next(i for i, t in enumerate(hashes) if t in entered))
                entry = uow.ballot.add(
                    {
                        "public_id": new_public_id(),
                        "person_id": request.person_id,
                        "day": request.day,
                        "checkpoint": request.checkpoint,
                        "slot": request.slot,
                        "request_id": request.request_id,
                        "created_at": int(self._clock.now().timestamp()),
                    },
                    travellers,
                )
                if entry is None:
                    raise _Clash
                self._audit(uow, [(request, entry)])
                return entry
        except _Clash:
            with self._store.read() as uow:
                again = uow.ballot.by_request(request.person_id, request.request_id)
                entered = uow.ballot.entered(hashes, request.day)
            if again is not None:
                return replace(again, replayed=True)
            raise already_booked(next((i for i, t in enumerate(hashes) if t in entered), 0)) from None

    def _commit_before_entries(self, day: date) -> None:
        """Commit the day's seed, in a transaction of its own, unless it is committed already: the
        commitment is published before the first entry is stored."""
        with self._store.read() as uow:
            if uow.ballot.committed_days(day, day):
                return
        commit_seed(self._store, self._clock, day, self._seeds(day), actor="system:ballot", roles="system")

    def cancel(self, public_id: str, *, person_id: int | None) -> Booking:
        """Cancel and give the seats back, once; cancelling again returns the cancelled booking.

        ``person_id`` limits it to that resident's own bookings (None: any, for staff).
        """
        with self._store.write() as uow:
            booking = uow.border.by_public_id(public_id)
            if booking is None or (person_id is not None and booking.person_id != person_id):
                raise NotFound("no such booking", field="id")
            if uow.border.cancel(public_id, int(self._clock.now().timestamp())):
                uow.border.give_back(booking.checkpoint, booking.day, booking.slot, booking.travellers)
            cancelled = uow.border.by_public_id(public_id)
            assert cancelled is not None
        # The seats are free again: this process asks the store next time (others within the
        # policy's full_slot_recheck_seconds).
        self.seats_seen.forget((booking.checkpoint, booking.day, booking.slot))
        return cancelled

    def own(self, person_id: int) -> list[Booking | BallotEntry]:
        """The bookings and ballot entries the resident's app made, newest crossing day first."""
        with self._store.read() as uow:
            found: list[Booking | BallotEntry] = [
                *uow.border.of_person(person_id, None),
                *uow.ballot.of_person(person_id, None),
            ]
        return sorted(found, key=lambda item: (item.day, item.created_at), reverse=True)

    def availability(self, day: date) -> list[SlotAvailability]:
        """Every checkpoint's slots on ``day`` under the policy's quotas, with the seats still free (and
        the excess of a quota lowered below the seats booked)."""
        with self._store.read() as uow:
            stored = uow.border.slots(day)
        found = []
        for point in self._rules.checkpoints.values():
            for slot, quota in point.slots.items():
                held = stored.get((point.id, slot))
                found.append(SlotAvailability(point.id, day, slot, quota, 0 if held is None else held.booked))
        return found

    def apply_policy_quotas(self) -> list[QuotaChange]:
        """Bring every stored slot from today on to the policy's quota, auditing each change (start-up)."""
        return apply_policy_quotas(self._store, self._rules, self._clock, self.today())

    def bookings(
        self, day: date, checkpoint: str | None = None, *, limit: int = 500, offset: int = 0
    ) -> list[Booking]:
        """The bookings on ``day`` (at ``checkpoint``), in the order they were made: for border officers."""
        if checkpoint is not None:
            self._checkpoint(checkpoint)
        with self._store.read() as uow:
            return uow.border.on_day(day, checkpoint, limit=limit, offset=offset)

    def draw(self, day: date, seed: str | None = None, *, actor: str) -> DrawOutcome:
        """Draw the day's ballot with its committed seed: winners get bookings up to each slot's quota
        (see ``draw_ballot``; ``BallotDraws`` draws and audits for the server and the command line)."""
        subject_of = self._hasher.subjects.subject_of
        return draw_ballot(
            self._store, self._rules, self._clock, day, seed, actor=actor, subject_of=subject_of
        )

    def _checkpoint(self, checkpoint: str) -> CheckpointRule:
        point = self._rules.checkpoint(checkpoint)
        if point is None:
            known = ", ".join(sorted(self._rules.checkpoints))
            raise InvalidInput(
                f"no checkpoint {checkpoint!r} takes bookings; expected one of {known}",
                field="checkpoint",
                code="unknown_checkpoint",
            )
        return point

    def _check(self, request: BookingRequest) -> CheckpointRule:
        point = self._checkpoint(request.checkpoint)
        if request.slot not in point.slots:
            raise InvalidInput(
                f"no slot {request.slot!r} at {request.checkpoint}; expected one of {', '.join(point.slots)}",
                field="slot",
                code="unknown_slot",
            )
        if len(request.companions) > self._rules.max_companions:
            raise InvalidInput(
                f"at most {self._rules.max_companions} companions may come on one booking",
                field="companions",
                code="too_many_companions",
            )
        now = self._clock.now().astimezone(self._zone)
        today = now.date()
        if request.day < today:
            raise InvalidInput(f"{request.day} has passed", field="day", code="day_in_past")
        hours = self._rules.clearance.slot_hours.get(request.slot)
        if request.day == today and hours is not None and hours.end is not None and now.time() >= hours.end:
            raise InvalidInput(
                f"the {request.slot} slot today ended at {hours.end:%H:%M}", field="slot", code="slot_past"
            )
        last = today + timedelta(days=self._rules.booking_days_ahead)
        if request.day > last:
            raise InvalidInput(
                f"bookings open {self._rules.booking_days_ahead} days ahead: {last} at the latest",
                field="day",
                code="day_too_far",
            )
        return point


def _first_held(
    travellers: Sequence[Traveller], day: date, live: Mapping[tuple[bytes, date], Booking]
) -> int:
    """The position of the first traveller holding a live booking that day (0 when none is found)."""
    return next((i for i, (t, _) in enumerate(travellers) if (t, day) in live), 0)


def _present(outcome: Outcome | Exception | None) -> Outcome | Exception:
    assert outcome is not None, "every request of a batch gets an outcome"
    return outcome
