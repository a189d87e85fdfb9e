"""Companions are travellers, on both backends: each with their own identity, one live booking a day
(under concurrency too), cleared on their own code at the checkpoint, online and offline, and shown
in the API, the offline bundle and the data-access report."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.border import BookingRequest, BookingService, ClearanceBundle, ClearanceService
from chaincut.border.offline import DecisionLog, clear_offline
from chaincut.border.testing import FakeCodeVerifier
from chaincut.domain.access import Principal, Role
from chaincut.domain.border import Booking, BookingStatus
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.people import PersonDraft
from support.auth import resident_headers, staff_headers
from support.border import (
    DAY,
    NOW,
    POINT,
    booking_request,
    code_claims,
    register_people,
    small_checkpoint_rules,
)

TODAY = date(2026, 11, 20)  # the fixed clock: 12:00 in Hong Kong, the afternoon slot
OFFICER = Principal.system("officer-1")
LEAD, FRIEND, CHILD = "M123456(7)", "F7654321", "C1111111"


def _service(services: Services, quota: int = 10) -> BookingService:
    rules = small_checkpoint_rules(services, quota)
    return BookingService(services.store, rules, services.clock, services.settings.zone, services.hasher)


def _subject(services: Services, doc: str) -> str:
    return services.subjects.subject_of(services.hasher.hash(doc))


def _booked(services: Services, slot: str = "morning") -> int:
    with services.store.read() as uow:
        found = uow.border.slots(DAY)
    return found[(POINT, slot)].booked if (POINT, slot) in found else 0


def _refusal(service: BookingService, request: BookingRequest) -> tuple[str | None, str | None]:
    with pytest.raises((BookingRefused, InvalidInput)) as caught:
        service.book(request)
    return caught.value.code, caught.value.field


# --- booking ----------------------------------------------------------------------------------------


def test_each_companion_is_a_traveller_with_one_live_booking_a_day(services: Services) -> None:
    service = _service(services)
    lead, other, third = register_people(services, 3, "P")
    booking = service.book(booking_request(lead, LEAD, "r1", companions=(FRIEND, CHILD)))
    assert isinstance(booking, Booking) and booking.travellers == 3 and _booked(services) == 3
    assert booking.subject == _subject(services, LEAD)
    assert booking.companions == (_subject(services, FRIEND), _subject(services, CHILD))

    # Listed again that day, as a companion or named, on any slot: the whole booking is refused,
    # naming the field; nothing is stored and no seat taken.
    again = booking_request(other, "Z0000001", "r1", slot="night", companions=("Z0000002", "c111-1111"))
    assert _refusal(service, again) == ("already_booked", "companions[1]")
    assert _refusal(service, booking_request(other, CHILD, "r2", slot="night")) == (
        "already_booked",
        "id_document",
    )
    assert _booked(services, "night") == 0 and len(service.bookings(DAY, POINT)) == 1
    # Z0000002 was not booked by the refused request: it may book now.
    assert isinstance(service.book(booking_request(third, "Z0000002", "r1", slot="night")), Booking)
    # Another day is another day; cancelling frees every traveller of the booking that day.
    assert isinstance(
        service.book(booking_request(other, FRIEND, "r3", day=DAY + timedelta(days=1))), Booking
    )
    service.cancel(booking.public_id, person_id=lead)
    assert _booked(services) == 0
    assert isinstance(service.book(booking_request(other, CHILD, "r4", companions=(FRIEND,))), Booking)
    assert _booked(services) == 2


@pytest.mark.parametrize(
    ("companions", "field"),
    [
        ((FRIEND, "f765-4321"), "companions[1]"),  # the same document, written otherwise
        (("m123456 7",), "companions[0]"),  # the named traveller again
        ((FRIEND, CHILD, FRIEND), "companions[2]"),
    ],
)
def test_a_traveller_listed_twice_refuses_the_whole_booking_naming_the_field(
    services: Services, companions: tuple[str, ...], field: str
) -> None:
    service = _service(services)
    (lead,) = register_people(services, 1, "P")
    assert _refusal(service, booking_request(lead, LEAD, "r1", companions=companions)) == (
        "traveller_listed_twice",
        field,
    )
    assert _booked(services) == 0 and service.bookings(DAY, POINT) == []
    with pytest.raises(InvalidInput) as unreadable:
        service.book(booking_request(lead, LEAD, "r1", companions=(FRIEND, "!!")))
    assert (unreadable.value.code, unreadable.value.field) == ("invalid_id_document", "companions[1]")


def _race(count: int, work: object) -> None:
    barrier = threading.Barrier(count)

    def start(index: int) -> None:
        barrier.wait()
        work(index)  # type: ignore[operator]

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("path", ["alone", "batched"])
def test_a_companion_listed_by_many_at_once_gets_one_booking(services: Services, path: str) -> None:
    """Eight apps list the same companion at once, on different slots, alone (one transaction each)
    or through two server processes' group commits: one booking holds them."""
    processes = [_service(services), _service(services)]
    people = register_people(services, 8, "P")
    outcomes: list[str] = []
    lock = threading.Lock()
    slots = ["morning", "afternoon", "night"]

    def work(i: int) -> None:
        request = booking_request(people[i], f"N000000{i}", "r1", slot=slots[i % 3], companions=(FRIEND,))
        service = processes[i % 2]
        try:
            if path == "alone":
                service.book(request)
            else:
                service.submit(request).result(timeout=60)
            outcome = "booked"
        except BookingRefused as exc:
            outcome = f"{exc.code}:{exc.field}"
        with lock:
            outcomes.append(outcome)

    _race(8, work)
    assert Counter(outcomes) == {"booked": 1, "already_booked:companions[0]": 7}
    assert sum(_booked(services, s) for s in slots) == 2
    with services.store.read() as uow:
        live = uow.connection.execute(
            sa.text("SELECT count(*) FROM border_booking_travellers WHERE traveller_hash = :h"),
            {"h": services.hasher.hash(FRIEND)},
        ).scalar_one()
    assert live == 1


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    for ref in ("LEAD", "FRIEND", "CHILD"):
        services.people.register(PersonDraft(ref=ref, id_document={"LEAD": LEAD, "FRIEND": FRIEND}.get(ref)))
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def test_the_api_takes_companions_by_document_and_shows_them_by_subject_id(
    services: Services, client: TestClient
) -> None:
    app = resident_headers(services, "LEAD")
    body = {
        "request_id": "app-1",
        "id_document": LEAD,
        "day": "2026-11-21",
        "checkpoint": "shenzhen_bay",
        "slot": "morning",
        "companions": [FRIEND, CHILD],
    }
    made = client.post("/border/bookings", json=body, headers=app)
    assert made.status_code == 201, made.text
    companions = [{"subject": _subject(services, FRIEND)}, {"subject": _subject(services, CHILD)}]
    assert (made.json()["companions"], made.json()["travellers"]) == (companions, 3)
    officer = staff_headers(services, Role.BORDER_OFFICER)
    listed = client.get("/border/bookings", params={"day": "2026-11-21"}, headers=officer).json()["data"]
    assert [(b["id"], b["companions"], b["travellers"]) for b in listed] == [
        (made.json()["id"], companions, 3)
    ]
    # A companion already booked refuses the other app's whole booking, naming the field.
    other = resident_headers(services, "FRIEND")
    clash = client.post(
        "/border/bookings",
        json=body | {"request_id": "app-9", "id_document": "Q0000009", "companions": ["Q0000010", CHILD]},
        headers=other,
    )
    assert clash.status_code == 409
    assert (clash.json()["code"], clash.json()["field"]) == ("already_booked", "companions[1]")
    assert CHILD not in clash.text and FRIEND not in clash.text
    old_shape = client.post(
        "/border/bookings", json=body | {"request_id": "app-3", "companions": 2}, headers=app
    )
    assert old_shape.status_code == 422 and "companions" in old_shape.text
    with services.store.read() as uow:
        stored = uow.connection.execute(sa.text("SELECT * FROM border_booking_travellers")).all()
    assert sorted(r.position for r in stored) == [0, 1, 2]
    assert all(FRIEND not in str(value) and "7654321" not in str(value) for r in stored for value in r)


# --- at the checkpoint ------------------------------------------------------------------------------


def _party(services: Services) -> tuple[str, ClearanceService, FakeCodeVerifier]:
    """LEAD booked this afternoon at Shenzhen Bay with FRIEND and CHILD; FRIEND's code is red."""
    for ref, doc in (("LEAD", LEAD), ("FRIEND", FRIEND)):
        services.people.register(PersonDraft(ref=ref, id_document=doc))
    with services.store.read() as uow:
        lead = uow.people.id_for_ref("LEAD")
    assert lead is not None
    request = BookingRequest(lead, LEAD, TODAY, "shenzhen_bay", "afternoon", (FRIEND, CHILD), "r1")
    booking = services.border.book(request).public_id
    lead_s, friend_s, child_s = (_subject(services, d) for d in (LEAD, FRIEND, CHILD))
    codes: dict[str, HealthCodeClaims | str] = {
        "QR-LEAD": code_claims(lead_s, code_id="code-lead"),
        "QR-FRIEND": code_claims(friend_s, code_id="code-friend", colour="red", reasons=("close contact",)),
        "QR-CHILD": code_claims(child_s, code_id="code-child"),
        "QR-CHILD-2": code_claims(child_s, code_id="code-child-2"),
    }
    verifier = FakeCodeVerifier(codes)
    return booking, services.clearances.with_verifier(verifier), verifier


def test_each_traveller_is_cleared_or_refused_on_their_own_code_and_crosses_once(services: Services) -> None:
    booking, clearances, _codes = _party(services)
    lead = clearances.clear(OFFICER, "QR-LEAD", "shenzhen_bay")
    assert lead.decision.cleared and lead.decision.booking is not None
    assert (
        lead.decision.booking.booking_id == booking
        and lead.decision.booking.place_of(lead.decision.subject) == 0
    )
    # The lead's green code carried nobody: the red companion is refused on their own code.
    friend = clearances.clear(OFFICER, "QR-FRIEND", "shenzhen_bay")
    assert friend.decision.reason_codes == ("colour_not_cleared",)
    assert friend.decision.booking is not None and friend.decision.booking.booking_id == booking
    child = clearances.clear(OFFICER, "QR-CHILD", "shenzhen_bay")
    assert child.decision.cleared and child.decision.booking is not None
    assert child.decision.booking.place_of(child.decision.subject) == 2
    # Each traveller crosses once: the child's second code is refused, the lead's code replayed too.
    again = clearances.clear(OFFICER, "QR-CHILD-2", "shenzhen_bay")
    assert again.decision.reason_codes == ("booking_used",)
    assert clearances.clear(OFFICER, "QR-LEAD", "shenzhen_bay").decision.reason_codes == (
        "code_replayed",
        "booking_used",
    )
    with services.store.read() as uow:
        crossed = uow.clearances.crossed_on(TODAY)[1]
        friend_id = uow.people.id_for_ref("FRIEND")
        audited = [a.event.record for a in uow.audit.find(subject_person_id=friend_id, limit=20)]
    assert crossed == {(booking, _subject(services, LEAD)), (booking, _subject(services, CHILD))}
    assert friend.public_id in audited  # the refusal is recorded against the companion, not the lead


def test_two_officers_racing_on_one_companion_clear_them_once(services: Services) -> None:
    _booking, clearances, _codes = _party(services)
    results = []
    lock = threading.Lock()

    def scan(i: int) -> None:
        decided = clearances.clear(
            Principal.system(f"officer-{i}"), "QR-CHILD" if i % 2 else "QR-CHILD-2", "shenzhen_bay"
        )
        with lock:
            results.append(decided.decision.cleared)

    _race(4, scan)
    assert sorted(results) == [False, False, False, True]


def test_the_offline_bundle_lists_companions_and_clears_each_once(services: Services, tmp_path: Path) -> None:
    booking, clearances, verifier = _party(services)
    clearances.clear(OFFICER, "QR-LEAD", "shenzhen_bay")  # the lead crossed online before the sync
    bundle = ClearanceBundle.from_dict(services.clearances.bundle(OFFICER, "shenzhen_bay", TODAY).to_dict())
    (synced,) = bundle.bookings
    assert synced.companions == (_subject(services, FRIEND), _subject(services, CHILD))
    assert bundle.crossed_travellers == {(booking, _subject(services, LEAD))}
    document = bundle.to_dict()
    assert document["bookings"][0]["companions"] == list(synced.companions)
    assert FRIEND not in str(document) and CHILD not in str(document)

    log = DecisionLog(tmp_path / "decisions.jsonl")
    _id, lead = clear_offline(bundle, verifier, log, "QR-LEAD", NOW)
    assert lead.reason_codes == ("code_replayed", "booking_used")
    _id, child = clear_offline(bundle, verifier, log, "QR-CHILD", NOW)
    assert child.cleared and log.records()[-1]["place"] == 2
    _id, twice = clear_offline(bundle, verifier, log, "QR-CHILD-2", NOW)
    assert twice.reason_codes == ("booking_used",)
    _id, friend = clear_offline(bundle, verifier, log, "QR-FRIEND", NOW)
    assert friend.reason_codes == ("colour_not_cleared",)


def test_the_access_report_shows_a_companion_their_booking_and_their_own_checks_only(
    services: Services,
) -> None:
    booking, clearances, _codes = _party(services)
    lead_check = clearances.clear(OFFICER, "QR-LEAD", "shenzhen_bay")
    friend_check = clearances.clear(OFFICER, "QR-FRIEND", "shenzhen_bay")
    with services.store.read() as uow:
        lead, friend = uow.people.get_by_ref("LEAD"), uow.people.get_by_ref("FRIEND")
    assert lead is not None and friend is not None
    theirs = services.subject_access.report(friend, for_subject=True).as_dict()
    assert [
        (b["id"], b["you_travel_as"], b["booked_by"], b["companions"]) for b in theirs["border_bookings"]
    ] == [(booking, "companion", "another app", 2)]
    assert [c["id"] for c in theirs["border_clearances"]] == [friend_check.public_id]
    mine = services.subject_access.report(lead, for_subject=True).as_dict()
    assert [(b["id"], b["you_travel_as"], b["booked_by"]) for b in mine["border_bookings"]] == [
        (booking, "named traveller", "you")
    ]
    assert [c["id"] for c in mine["border_clearances"]] == [lead_check.public_id]  # not the companion's
    page = services.subject_access.report(friend).to_html()
    assert booking in page and _subject(services, LEAD) not in page


def test_a_booking_made_before_companions_were_listed_keeps_its_seats(services: Services) -> None:
    """A stored booking whose companions were only counted (before this release) holds their seats,
    gives them all back when cancelled, and lists no companion."""
    service = _service(services)
    (lead,) = register_people(services, 1, "P")
    booking = service.book(booking_request(lead, LEAD, "r1"))
    with services.store.write() as uow:
        uow.connection.execute(sa.text("UPDATE border_bookings SET companions = 2"))
        uow.connection.execute(sa.text("UPDATE border_slots SET booked = 3"))
    stored = service.bookings(DAY, POINT)[0]
    assert (stored.companions, stored.unlisted, stored.travellers) == ((), 2, 3)
    cancelled = service.cancel(booking.public_id, person_id=lead)
    assert cancelled.status is BookingStatus.CANCELLED and _booked(services) == 0
