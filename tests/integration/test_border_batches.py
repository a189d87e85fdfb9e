"""Bookings decided in batches (the server's group commit) and slots seen full, on both backends."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
import sqlalchemy as sa

from chaincut.bootstrap import Services
from chaincut.border import BookingService
from chaincut.domain.border import Booking
from chaincut.errors import BookingRefused, ChaincutError
from chaincut.store.border import BorderRepository
from support.border import DAY, POINT, booking_request, companions_of, register_people, small_checkpoint_rules

RECHECK = 2  # seconds a slot seen full is refused without the store


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _service(services: Services, quota: int, ticker: Ticker | None = None) -> BookingService:
    """One server process's booking service, on a checkpoint of ``quota`` seats per slot."""
    rules = small_checkpoint_rules(services, quota, full_slot_recheck_seconds=RECHECK)
    return BookingService(
        services.store,
        rules,
        services.clock,
        services.settings.zone,
        services.hasher,
        monotonic=ticker or Ticker(),
    )


def _people(services: Services, count: int) -> list[int]:
    return register_people(services, count, "B")


_request = booking_request


def _booked(services: Services, slot: str = "morning") -> int:
    with services.store.read() as uow:
        found = uow.border.slots(DAY)
    return found[(POINT, slot)].booked if (POINT, slot) in found else 0


def _codes(outcomes: list[Booking | BookingRefused | Exception | object]) -> list[str]:
    return [
        ("replayed" if o.replayed else "booked")
        if isinstance(o, Booking)
        else (o.code if isinstance(o, ChaincutError) else repr(o))
        for o in outcomes
    ]


def test_a_batch_gives_seats_in_arrival_order_while_the_quota_holds(services: Services) -> None:
    service = _service(services, quota=5)
    people = _people(services, 6)
    first = service.book(_request(people[0], "A0000001", "first"))
    outcomes = service.book_many(
        [
            _request(people[1], "A0000002", "r1", companions=companions_of("A0000002", 2)),  # 3: 4 taken
            _request(people[2], "A0000003", "r1", companions=companions_of("A0000003", 3)),  # 4: 1 left
            _request(people[0], "A0000001", "first"),  # a retry: the first booking
            _request(people[3], "A0000001", "other"),  # that traveller is booked already
            _request(people[4], "A0000005", "r1"),  # 1 seat: fits
            _request(people[5], "A0000006", "r1", slot="nowhere"),  # its own refusal
            _request(people[5], "A0000006", "r2"),  # full now
        ]
    )
    assert _codes(outcomes) == [
        "booked",
        "slot_full",
        "replayed",
        "already_booked",
        "booked",
        "unknown_slot",
        "slot_full",
    ]
    assert isinstance(outcomes[2], Booking) and outcomes[2].public_id == first.public_id
    assert _booked(services) == 5
    stored = service.bookings(DAY, POINT)
    assert len(stored) == 3


def test_one_request_id_or_traveller_twice_in_a_batch_gets_one_booking(services: Services) -> None:
    service = _service(services, quota=5)
    people = _people(services, 2)
    outcomes = service.book_many(
        [
            _request(people[0], "A0000001", "same"),
            _request(people[0], "A0000001", "same"),
            _request(people[1], "A0000001", "else", slot="night"),
        ]
    )
    assert _codes(outcomes) == ["booked", "replayed", "already_booked"]
    assert _booked(services) == 1 and _booked(services, "night") == 0


def test_a_slot_seen_full_refuses_without_the_store_yet_a_retry_still_gets_its_booking(
    services: Services,
) -> None:
    service = _service(services, quota=1)
    people = _people(services, 2)
    booked = service.book(_request(people[0], "A0000001", "r1"))
    with pytest.raises(BookingRefused, match="full"):
        service.book(_request(people[1], "A0000002", "r1"))
    assert service.seats_seen.too_full((POINT, DAY, "morning"), 1)
    # The retry of the accepted request is answered from the store, not from the note.
    again = service.book(_request(people[0], "A0000001", "r1"))
    assert again.replayed and again.public_id == booked.public_id
    # A traveller already booked hears so, as without the note.
    with pytest.raises(BookingRefused) as caught:
        service.book(_request(people[0], "A0000001", "r2"))
    assert caught.value.code == "already_booked"


def test_a_cancel_reopens_the_seat_at_once_here_and_after_the_recheck_time_elsewhere(
    services: Services,
) -> None:
    ticker = Ticker()
    here = _service(services, quota=1, ticker=ticker)
    elsewhere = _service(services, quota=1, ticker=ticker)  # another server process
    people = _people(services, 3)
    booking = here.book(_request(people[0], "A0000001", "r1"))
    for service, person in ((here, people[1]), (elsewhere, people[2])):
        with pytest.raises(BookingRefused, match="full"):
            service.book(_request(person, f"D{person:07d}", "try1"))
    here.cancel(booking.public_id, person_id=people[0])
    assert _booked(services) == 0
    # The other process still refuses from its note, for at most the recheck time...
    with pytest.raises(BookingRefused, match="full"):
        elsewhere.book(_request(people[2], f"D{people[2]:07d}", "try2"))
    assert _booked(services) == 0
    ticker.now += RECHECK + 0.1
    # ...then asks the store and takes the seat; the cancelling process would have at once.
    taken = elsewhere.book(_request(people[2], f"D{people[2]:07d}", "try3"))
    assert isinstance(taken, Booking) and _booked(services) == 1
    with pytest.raises(BookingRefused, match="full"):
        here.book(_request(people[1], f"D{people[1]:07d}", "try2"))


def test_the_cancelling_process_offers_the_seat_again_at_once(services: Services) -> None:
    service = _service(services, quota=1)
    people = _people(services, 2)
    booking = service.book(_request(people[0], "A0000001", "r1"))
    with pytest.raises(BookingRefused, match="full"):
        service.book(_request(people[1], "A0000002", "r1"))
    service.cancel(booking.public_id, person_id=people[0])
    assert isinstance(service.book(_request(people[1], "A0000002", "r2")), Booking)
    assert _booked(services) == 1


def test_a_batch_that_clashes_with_a_booking_stored_meanwhile_is_decided_request_by_request(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(services, quota=5)
    people = _people(services, 3)
    service.book(_request(people[0], "A0000001", "r1"))
    # As if the traveller's booking committed elsewhere after the batch looked: its insert clashes.
    monkeypatch.setattr(BorderRepository, "live_of", lambda self, travellers: {})
    outcomes = service.book_many(
        [_request(people[1], "A0000002", "r1"), _request(people[2], "A0000001", "r1", slot="night")]
    )
    assert _codes(outcomes) == ["booked", "already_booked"]
    assert _booked(services) == 2 and _booked(services, "night") == 0  # the clash's seats rolled back


def test_each_new_booking_is_audited_in_its_batch_and_a_retry_is_not(services: Services) -> None:
    service = _service(services, quota=5)
    people = _people(services, 2)
    requests = [
        _request(people[0], "A0000001", "r1", actor="resident:P1", roles="resident"),
        _request(
            people[1], "A0000002", "r1", actor="resident:P2", roles="resident", companions=("A0000002C0",)
        ),
    ]
    made = service.book_many(requests)
    service.book_many(requests[:1])  # a retry
    with services.store.read() as uow:
        rows = uow.connection.execute(
            sa.text("SELECT actor, action, resource, record, subject_person_id FROM audit_log")
        ).all()
    entries = [r for r in rows if r.resource == "border/bookings"]
    assert [(e.actor, e.action, e.subject_person_id) for e in entries] == [
        ("resident:P1", "border.book", people[0]),
        ("resident:P2", "border.book", people[1]),
    ]
    assert [e.record for e in entries] == [b.public_id for b in made if isinstance(b, Booking)]
    assert services.audit.verify().breaks == []


@pytest.mark.slow
def test_two_processes_queueing_many_requests_never_oversell(services: Services) -> None:
    quota = 40
    services_of = [_service(services, quota=quota), _service(services, quota=quota)]
    people = _people(services, 8)
    futures: list[Future[Booking | object]] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        service = services_of[thread % 2]
        for i in range(40):
            doc = f"T{thread}N{i:03d}"
            request = _request(people[thread], doc, f"t{thread}-{i}", companions=companions_of(doc, i % 3))
            future = service.submit(request)
            with lock:
                futures.append(future)  # type: ignore[arg-type]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted, refused = [], []
    for future in futures:
        try:
            accepted.append(future.result(timeout=60))
        except BookingRefused as exc:
            refused.append(exc.code)
    assert set(refused) == {"slot_full"}
    taken = sum(b.travellers for b in accepted if isinstance(b, Booking))
    assert taken <= quota
    assert _booked(services) == taken
    assert sorted(b.public_id for b in services_of[0].bookings(DAY, POINT)) == sorted(
        b.public_id for b in accepted if isinstance(b, Booking)
    )
    assert taken >= quota - 2  # far more asked than fit: the slot ends (nearly) full
