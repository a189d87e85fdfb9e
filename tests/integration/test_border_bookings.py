"""Border bookings on both backends: never oversold under concurrency, idempotent, one a day, ballots."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, timedelta

import pytest

from chaincut.bootstrap import Services
from chaincut.border import BookingService
from chaincut.border.commitments import commit_seed
from chaincut.domain.border import BallotEntry, Booking, BookingStatus, EntryStatus
from chaincut.errors import BookingRefused, ChaincutError, InvalidInput, NotFound
from chaincut.policy import BookingMode
from support.border import DAY, POINT, booking_request, companions_of, register_people, small_checkpoint_rules

TODAY = date(2026, 11, 20)  # the fixed clock's local date (12:00 in Hong Kong)


def _service(
    services: Services, quota: int = 10, mode: BookingMode = BookingMode.FIRST_COME, seed: str = "a seed"
) -> BookingService:
    """Bookings under the default rules but with one small checkpoint (a ballot's seed: ``seed``)."""
    rules = small_checkpoint_rules(services, quota, mode=mode)
    return BookingService(
        services.store,
        rules,
        services.clock,
        services.settings.zone,
        services.hasher,
        seeds=lambda _day: seed,
    )


def _people(services: Services, count: int) -> list[int]:
    return register_people(services, count, "R")


_request = booking_request


def _booked(service: BookingService, slot: str = "morning", day: date = DAY) -> int:
    return next(s.booked for s in service.availability(day) if s.checkpoint == POINT and s.slot == slot)


def _run(threads: int, work: object) -> None:
    barrier = threading.Barrier(threads)

    def start(index: int) -> None:
        barrier.wait()
        work(index)  # type: ignore[operator]

    workers = [threading.Thread(target=start, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


@pytest.mark.slow
def test_many_threads_never_oversell_a_slot(services: Services) -> None:
    quota = 60
    service = _service(services, quota=quota)
    people = _people(services, 16)
    accepted: list[Booking] = []
    refusals: list[ChaincutError] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        for i in range(50):
            doc = f"T{thread:02d}N{i:02d}"
            request = _request(people[thread], doc, f"t{thread}-{i}", companions=companions_of(doc, i % 3))
            try:
                result = service.book(request)
            except ChaincutError as exc:
                with lock:
                    refusals.append(exc)
            except BaseException as exc:
                with lock:
                    unexpected.append(exc)
            else:
                assert isinstance(result, Booking)
                with lock:
                    accepted.append(result)

    _run(16, work)
    assert unexpected == []
    assert len(accepted) + len(refusals) == 16 * 50
    assert {(type(e), e.code, e.field) for e in refusals} == {(BookingRefused, "slot_full", "slot")}
    taken = sum(b.travellers for b in accepted)
    assert taken <= quota
    assert _booked(service) == taken
    stored = service.bookings(DAY, POINT)
    assert sorted(b.public_id for b in stored) == sorted(b.public_id for b in accepted)
    assert all(b.status is BookingStatus.BOOKED for b in stored)


def test_concurrent_retries_of_one_request_make_one_booking(services: Services) -> None:
    service = _service(services)
    (person,) = _people(services, 1)
    results: list[Booking | BallotEntry] = []
    lock = threading.Lock()

    def work(_index: int) -> None:
        result = service.book(_request(person, "A1234563", "same"))
        with lock:
            results.append(result)

    _run(8, work)
    assert len({r.public_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert _booked(service) == 1


def test_concurrent_requests_for_one_traveller_give_one_booking_a_day(services: Services) -> None:
    service = _service(services)
    (person,) = _people(services, 1)
    outcomes: list[str] = []
    lock = threading.Lock()
    slots = ["morning", "afternoon", "night"]

    def work(index: int) -> None:
        try:
            service.book(_request(person, "A1234563", f"r{index}", slot=slots[index % 3]))
            outcome = "booked"
        except BookingRefused as exc:
            outcome = f"{exc.code}:{exc.field}"
        with lock:
            outcomes.append(outcome)

    _run(9, work)
    assert Counter(outcomes) == {"booked": 1, "already_booked:id_document": 8}
    assert sum(_booked(service, s) for s in slots) == 1


def test_a_retry_returns_the_first_booking_and_a_second_booking_that_day_is_refused(
    services: Services,
) -> None:
    service = _service(services)
    (person,) = _people(services, 1)
    first = service.book(_request(person, "A123456(3)", "r1", companions=companions_of("A1234563", 2)))
    again = service.book(_request(person, "A123456(3)", "r1", companions=companions_of("A1234563", 2)))
    assert isinstance(first, Booking) and not first.replayed
    assert again.public_id == first.public_id and again.replayed
    assert _booked(service) == 3  # companions count against the quota
    with pytest.raises(BookingRefused) as caught:
        service.book(_request(person, "a1234563", "r2", slot="night"))  # the same document, written otherwise
    assert (caught.value.code, caught.value.field) == ("already_booked", "id_document")
    # Another day is fine.
    other = service.book(_request(person, "A1234563", "r3", day=DAY + timedelta(days=1)))
    assert isinstance(other, Booking)


def test_cancelling_frees_the_seats_once(services: Services) -> None:
    service = _service(services, quota=3)
    people = _people(services, 2)
    booking = service.book(_request(people[0], "A1234563", "r1", companions=companions_of("A1234563", 2)))
    assert _booked(service) == 3
    with pytest.raises(BookingRefused) as caught:
        service.book(_request(people[1], "B7654321", "r1"))
    assert caught.value.code == "slot_full"
    with pytest.raises(NotFound):
        service.cancel(booking.public_id, person_id=people[1])  # not theirs
    cancelled = service.cancel(booking.public_id, person_id=people[0])
    assert cancelled.status is BookingStatus.CANCELLED and cancelled.cancelled_at is not None
    assert _booked(service) == 0
    again = service.cancel(booking.public_id, person_id=people[0])
    assert again.status is BookingStatus.CANCELLED
    assert _booked(service) == 0  # a second cancel gives nothing back twice
    # The traveller may book that day again; the seats are free for others too.
    assert isinstance(service.book(_request(people[0], "A1234563", "r2")), Booking)
    again = _request(people[1], "B7654321", "r2", companions=companions_of("B7654321", 1))
    assert isinstance(service.book(again), Booking)
    assert _booked(service) == 3


def test_concurrent_cancels_give_the_seats_back_once(services: Services) -> None:
    service = _service(services, quota=5)
    (person,) = _people(services, 1)
    booking = service.book(_request(person, "A1234563", "r1", companions=companions_of("A1234563", 3)))
    _run(8, lambda _i: service.cancel(booking.public_id, person_id=person))
    assert _booked(service) == 0


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"day": TODAY - timedelta(days=1)}, "day_in_past", "day"),
        ({"day": TODAY, "slot": "morning"}, "slot_past", "slot"),  # it is 12:00: the morning slot is over
        ({"day": TODAY + timedelta(days=8)}, "day_too_far", "day"),
        ({"checkpoint": "airport"}, "unknown_checkpoint", "checkpoint"),
        ({"slot": "midnight"}, "unknown_slot", "slot"),
        ({"companions": companions_of("B1", 4)}, "too_many_companions", "companions"),
        ({"id_document": "???"}, "invalid_id_document", "id_document"),
    ],
)
def test_refusals_name_the_field(
    services: Services, changes: dict[str, object], code: str, field: str
) -> None:
    service = _service(services)
    (person,) = _people(services, 1)
    with pytest.raises(InvalidInput) as caught:
        service.book(_request(person, "A1234563", "r1", **changes))
    assert (caught.value.code, caught.value.field) == (code, field)
    assert service.bookings(DAY) == []


def test_today_and_the_last_day_ahead_are_open(services: Services) -> None:
    service = _service(services)
    (person,) = _people(services, 1)
    for i, day in enumerate((TODAY, TODAY + timedelta(days=7))):
        booked = service.book(_request(person, "A1234563", f"r{i}", day=day, slot="afternoon"))
        assert isinstance(booked, Booking)


def _ballot(services: Services, quota: int, people: list[int], seed: str) -> BookingService:
    service = _service(services, quota=quota, mode=BookingMode.BALLOT, seed=seed)
    for i in range(30):
        doc = f"D{i:04d}"
        companions = companions_of(doc, i % 2)
        entry = service.book(_request(people[i % len(people)], doc, f"e{i}", companions=companions))
        assert isinstance(entry, BallotEntry) and entry.status is EntryStatus.ENTERED
    return service


def _winners(service: BookingService, services: Services, people: list[int], seed: str | None) -> set[str]:
    outcome = service.draw(DAY, seed, actor="tests")
    assert seed is None or outcome.seed == seed
    with services.store.read() as uow:
        won = set()
        for i in range(30):
            entry = uow.ballot.by_request(people[i % len(people)], f"e{i}")
            assert entry is not None and entry.status is not EntryStatus.ENTERED
            if entry.status is EntryStatus.WON:
                assert entry.booking_public_id is not None
                won.add(entry.request_id)
        draw = uow.ballot.draw(DAY)
    assert draw is not None and draw.seed == outcome.seed and draw.won == len(won) == len(outcome.won)
    return won


def _undraw(services: Services, *, commitment: bool = False) -> None:
    """Put the day's entries back before the draw (and drop its seed commitment)."""
    with services.store.write() as uow:
        run = uow.connection.exec_driver_sql
        run("UPDATE border_ballot_entries SET status = 'entered', booking_id = NULL")
        for table in (
            "border_booking_travellers",
            "border_bookings",
            "border_draws",
            "border_draw_slots",
            "border_slots",
        ):
            run(f"DELETE FROM {table}")
        if commitment:
            run("DELETE FROM border_seed_commitments")


def test_a_ballot_draw_respects_the_quota_and_is_repeatable_with_its_seed(services: Services) -> None:
    people = _people(services, 5)
    service = _ballot(services, 12, people, "seed-2023-01-08")
    assert service.availability(DAY)[0].booked == 0  # entries take no seats before the draw
    won = _winners(service, services, people, "seed-2023-01-08")
    travellers = sum(1 + int(r[1:]) % 2 for r in won)
    assert 0 < travellers <= 12
    assert _booked(service) == travellers
    assert len(service.bookings(DAY, POINT)) == len(won)
    with pytest.raises(BookingRefused) as caught:
        service.draw(DAY, actor="tests")
    assert caught.value.code == "ballot_drawn"
    with pytest.raises(BookingRefused) as caught:
        service.book(_request(people[0], "Z9999999", "late"))
    assert caught.value.code == "ballot_drawn"

    # The same entries and seed draw the same winners again; another seed, others.
    _undraw(services)
    assert _winners(service, services, people, None) == won  # the committed seed, kept sealed
    _undraw(services, commitment=True)
    assert commit_seed(services.store, services.clock, DAY, "another seed", actor="tests", roles="tests")
    assert _winners(service, services, people, "another seed") != won


def test_a_ballot_entry_is_once_per_traveller_and_day(services: Services) -> None:
    service = _service(services, mode=BookingMode.BALLOT)
    (person,) = _people(services, 1)
    first = service.book(_request(person, "A1234563", "r1"))
    assert service.book(_request(person, "A1234563", "r1")).replayed
    with pytest.raises(BookingRefused) as caught:
        service.book(_request(person, "A1234563", "r2", slot="night"))
    assert caught.value.code == "already_booked"
    assert isinstance(first, BallotEntry)


def test_a_booking_is_stored_with_its_travellers_border_subject_id(services: Services) -> None:
    """Checkpoints find bookings by subject id: first-come and ballot bookings carry it from the start."""
    service = _service(services)
    first, drawn = _people(services, 2)
    booked = service.book(_request(first, "A1234563", "r1"))
    ballot = _service(services, mode=BookingMode.BALLOT, seed="subjects")
    ballot.book(_request(drawn, "B7654321", "e1", slot="night"))
    ballot.draw(DAY, seed="subjects", actor="test")
    with services.store.read() as uow:  # a read: nothing is filled in on the way
        mine = uow.clearances.bookings_of(services.subjects.subject_of(services.hasher.hash("A1234563")))
        won = uow.clearances.bookings_of(services.subjects.subject_of(services.hasher.hash("B7654321")))
    assert [b.booking_id for b in mine] == [booked.public_id]
    assert len(won) == 1 and won[0].slot == "night"
