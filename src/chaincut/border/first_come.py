"""First come, first served: a batch of booking requests decided in one transaction.

A server queues the booking requests arriving together (``BookingService.submit``)
and decides them at once, in a handful of statements whatever their number:

1. find the stored bookings of the batch's request ids (a retry gets its first
   booking) and the live bookings of its travellers that day, named or listed as
   companions (one live booking each);
2. refuse without touching a slot any request needing more seats than its slot
   had left when this process last saw it (``SeatsSeen``; see there how stale);
3. lock the slots the others ask for, in key order, bring each to the policy's
   quota, read what each holds, and give seats in arrival order while the quota
   holds them;
4. insert the accepted bookings and their travellers in two statements, then add
   each slot's seats with the same conditional UPDATE a single booking uses.

The slot rows stay locked until the commit, so no two transactions give the same
seats: never oversold. Should an insert clash with a booking committed meanwhile
elsewhere (a retry, or one of the travellers through another server process), the
batch raises ``BatchClash`` and the caller rolls it back and decides each request
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from chaincut.border.seats_seen import SeatsSeen, SlotKey
from chaincut.border.types import BookingRequest
from chaincut.domain.border import Booking, QuotaChange
from chaincut.domain.ids import new_public_id
from chaincut.errors import BookingRefused
from chaincut.store import UnitOfWork
from chaincut.store.border import NewBooking, Traveller

__all__ = ["BatchClash", "Pending", "already_booked", "book_together", "slot_full", "traveller_field"]


@dataclass(frozen=True)
class Pending:
    """A checked request waiting for its batch: where it stands in the batch, whom it books."""

    index: int
    request: BookingRequest
    # Each traveller's keyed identity hash and border subject id: the named one, then the companions.
    travellers: tuple[Traveller, ...]
    quota: int  # the policy's quota of its slot

    @property
    def slot(self) -> SlotKey:
        return (self.request.checkpoint, self.request.day, self.request.slot)

    @property
    def seats(self) -> int:
        return len(self.travellers)


class BatchClash(Exception):
    """A booking of the batch clashed with one stored meanwhile: decide each request alone."""


@dataclass
class Decided:
    """A batch's outcomes by index, the new bookings (to audit), the seats left per slot seen, and the
    stored quotas brought to the policy's (to audit)."""

    outcomes: dict[int, Booking | BookingRefused]
    created: list[tuple[BookingRequest, Booking]]
    left: dict[SlotKey, int]
    quota_changes: list[QuotaChange]


def book_together(uow: UnitOfWork, batch: Sequence[Pending], seats: SeatsSeen, created_at: int) -> Decided:
    """Decide ``batch`` (different request ids and travellers) in ``uow``'s transaction."""
    outcomes: dict[int, Booking | BookingRefused] = {}
    firsts = uow.border.by_requests([(p.request.person_id, p.request.request_id) for p in batch])
    live = uow.border.live_of([(t, p.request.day) for p in batch for t, _ in p.travellers])
    wanting: list[Pending] = []
    for p in batch:
        first = firsts.get((p.request.person_id, p.request.request_id))
        held = [i for i, (t, _) in enumerate(p.travellers) if (t, p.request.day) in live]
        named = live.get((p.travellers[0][0], p.request.day))
        if first is None and named is not None and _same(named, p.request):
            first = named  # a retry that raced the first request's commit (between the two reads)
        if first is not None:
            outcomes[p.index] = replace(first, replayed=True)
        elif held:
            outcomes[p.index] = already_booked(held[0])
        elif seats.too_full(p.slot, p.seats):
            outcomes[p.index] = slot_full(p.request)
        else:
            wanting.append(p)
    held_now, changes = uow.border.lock_slots({p.slot: p.quota for p in wanting})
    booked = {key: taken for key, (_quota, taken) in held_now.items()}
    accepted: list[tuple[Pending, NewBooking]] = []
    for p in wanting:  # in order of arrival
        quota = held_now[p.slot][0]
        if booked[p.slot] + p.seats > quota:
            outcomes[p.index] = slot_full(p.request)
            continue
        booked[p.slot] += p.seats
        accepted.append((p, _new_booking(p, created_at)))
    stored = {(b.person_id, b.request_id): b for b in uow.border.add_many([n for _, n in accepted])}
    if len(stored) != len(accepted):
        raise BatchClash
    created = []
    for p, _new in accepted:
        booking = stored[(p.request.person_id, p.request.request_id)]
        outcomes[p.index] = booking
        created.append((p.request, booking))
    for key, taken in booked.items():
        more = taken - held_now[key][1]
        if more and not uow.border.take(*key, more):
            raise BatchClash  # cannot happen while the row is locked; never oversell if it did
    left = {key: held_now[key][0] - taken for key, taken in booked.items()}
    return Decided(outcomes, created, left, changes)


def _same(booking: Booking, request: BookingRequest) -> bool:
    return (booking.person_id, booking.request_id) == (request.person_id, request.request_id)


def _new_booking(p: Pending, created_at: int) -> NewBooking:
    return NewBooking(
        public_id=new_public_id(),
        person_id=p.request.person_id,
        day=p.request.day,
        checkpoint=p.request.checkpoint,
        slot=p.request.slot,
        request_id=p.request.request_id,
        created_at=created_at,
        travellers=p.travellers,
    )


def slot_full(request: BookingRequest) -> BookingRefused:
    return BookingRefused(
        f"the {request.slot} slot at {request.checkpoint} on {request.day} is full",
        code="slot_full",
        field="slot",
    )


def traveller_field(position: int) -> str:
    """The request field that names the traveller at ``position`` (0 the named one, n the n-th companion)."""
    return "id_document" if position == 0 else f"companions[{position - 1}]"


def already_booked(position: int = 0) -> BookingRefused:
    """The traveller at ``position`` already holds a booking (or a ballot entry) that day."""
    who = "this traveller" if position == 0 else f"companion {position}"
    return BookingRefused(
        f"{who} already holds a booking (or a ballot entry) that day",
        code="already_booked",
        field=traveller_field(position),
    )
