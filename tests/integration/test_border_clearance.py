"""Clearance at the checkpoint on both backends: decided, recorded once per code and booking even when
officers race, synced for offline use, offline decisions taken in idempotently; ballots drawn when due."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event

from chaincut.bootstrap import Services, ballot_seeds
from chaincut.border import BallotDraws, BookingRequest, BookingService, ClearanceService
from chaincut.border.clearances import CONFLICT_FLAG
from chaincut.border.draws import DRAW_ACTION
from chaincut.border.testing import FakeCodeVerifier
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal
from chaincut.domain.border import Clearance, ClearanceDecision, EntryStatus, RefusalCode, RefusalReason
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.people import PersonDraft
from chaincut.policy import BookingMode
from support.border import NOW, code_claims

TODAY = date(2026, 11, 20)  # the fixed clock: 12:00 in Hong Kong, the afternoon slot
DOC = "M123456(7)"
OFFICER = Principal.system("officer-1")


def book(
    services: Services,
    ref: str,
    doc: str,
    *,
    slot: str = "afternoon",
    request_id: str = "r1",
    companions: tuple[str, ...] = (),
) -> str:
    services.people.register(PersonDraft(ref=ref, id_document=doc))
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref(ref)
    assert person_id is not None
    request = BookingRequest(person_id, doc, TODAY, "shenzhen_bay", slot, companions, request_id)
    return services.border.book(request).public_id


def subject_of(services: Services, doc: str) -> str:
    return services.subjects.subject_of(services.hasher.hash(doc))


def with_codes(services: Services, codes: dict[str, HealthCodeClaims | str]) -> ClearanceService:
    return services.clearances.with_verifier(FakeCodeVerifier(codes))


def test_a_traveller_clears_once_and_every_decision_is_recorded_and_audited(services: Services) -> None:
    booking = book(services, "T1", DOC)
    subject = subject_of(services, DOC)
    red = code_claims(subject, code_id="code-red", colour="red", reasons=("close contact (case C-7)",))
    clearances = with_codes(
        services,
        {
            "QR-GREEN": code_claims(subject),
            "QR-GREEN-2": code_claims(subject, code_id="code-2"),
            "QR-RED": red,
        },
    )
    first = clearances.clear(OFFICER, "QR-GREEN", "shenzhen_bay")
    assert first.decision.cleared, first.decision.reasons
    assert first.decision.booking is not None and first.decision.booking.booking_id == booking
    assert (first.decision.slot, first.officer, first.offline) == ("afternoon", "cli:officer-1", False)

    replayed = clearances.clear(OFFICER, "QR-GREEN", "shenzhen_bay")
    assert replayed.decision.reason_codes == ("code_replayed", "booking_used")
    used = clearances.clear(OFFICER, "QR-GREEN-2", "shenzhen_bay")
    assert used.decision.reason_codes == ("booking_used",)
    refused = clearances.clear(OFFICER, "QR-RED", "man_kam_to")
    assert refused.decision.reason_codes == (
        "colour_not_cleared",
        "booking_other_checkpoint",
        "booking_used",
    )
    assert "red: close contact (case C-7)" in refused.decision.reasons[0].text
    unknown = clearances.clear(OFFICER, "QR-FORGED", "shenzhen_bay")
    assert unknown.decision.reason_codes == ("invalid_code",)

    with services.store.read() as uow:
        stored = uow.clearances.on_day(TODAY)
        person_id = uow.people.id_for_ref("T1")
        audited = uow.audit.find(subject_person_id=person_id, limit=100)
    assert [(c.public_id, c.decision.cleared) for c in stored] == [
        (c.public_id, c.decision.cleared) for c in (first, replayed, used, refused, unknown)
    ]
    assert stored[3].decision.reason_codes == refused.decision.reason_codes
    clearance_entries = [a.event for a in audited if a.event.resource == "border/clearances"]
    assert [e.record for e in clearance_entries] == [
        first.public_id,
        replayed.public_id,
        used.public_id,
        refused.public_id,
    ]
    assert clearance_entries[0].details["cleared"] is True
    assert (
        clearance_entries[3].details["reasons"] == "colour_not_cleared,booking_other_checkpoint,booking_used"
    )
    assert all(DOC not in str(e.details) for e in clearance_entries)


def test_an_unknown_checkpoint_is_refused_naming_the_field(services: Services) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.clearances.clear(OFFICER, "QR", "airport")
    assert (caught.value.code, caught.value.field) == ("unknown_checkpoint", "checkpoint")


def test_two_officers_racing_on_one_code_clear_it_once(services: Services) -> None:
    book(services, "T1", DOC)
    subject = subject_of(services, DOC)
    clearances = with_codes(
        services, {f"QR-{i}": code_claims(subject, code_id="same-code") for i in range(4)}
    )
    barrier = threading.Barrier(4)
    results: list[Clearance] = []
    errors: list[BaseException] = []

    def scan(i: int) -> None:
        try:
            barrier.wait()
            results.append(clearances.clear(Principal.system(f"officer-{i}"), f"QR-{i}", "shenzhen_bay"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(r.decision.cleared for r in results) == [False, False, False, True]
    for refused in (r for r in results if not r.decision.cleared):
        assert "code_replayed" in refused.decision.reason_codes
    with services.store.read() as uow:
        assert sum(c.decision.cleared for c in uow.clearances.on_day(TODAY)) == 1


def test_two_officers_racing_on_one_booking_with_two_codes_clear_it_once(services: Services) -> None:
    book(services, "T1", DOC)
    subject = subject_of(services, DOC)
    clearances = with_codes(
        services, {f"QR-{i}": code_claims(subject, code_id=f"code-{i}") for i in range(4)}
    )
    barrier = threading.Barrier(4)
    results: list[Clearance] = []

    def scan(i: int) -> None:
        barrier.wait()
        results.append(clearances.clear(Principal.system(f"officer-{i}"), f"QR-{i}", "shenzhen_bay"))

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.decision.cleared for r in results) == [False, False, False, True]
    assert all(r.decision.reason_codes == ("booking_used",) for r in results if not r.decision.cleared)


def test_the_sync_bundle_carries_subject_ids_rules_and_what_crossed_and_is_audited(
    services: Services,
) -> None:
    booking = book(services, "T1", DOC)
    book(services, "T2", "N7654321", slot="night", request_id="r2")
    subject = subject_of(services, DOC)
    clearances = with_codes(services, {"QR": code_claims(subject)})
    clearances.clear(OFFICER, "QR", "shenzhen_bay")
    bundle = services.clearances.bundle(OFFICER, "shenzhen_bay", TODAY, purpose="checkpoint sync")
    assert {b.booking_id: b.subject for b in bundle.bookings}[booking] == subject
    assert [b.slot for b in bundle.bookings] == ["afternoon", "night"]
    assert bundle.crossed_codes == {"code-1"} and bundle.crossed_travellers == {(booking, subject)}
    assert bundle.rules.negative_test_hours == 48
    assert bundle.trust_list == {"format": "chaincut-checkpoint-trust-1", "lists": []}  # no keys yet
    document = bundle.to_dict()
    assert DOC not in str(document) and "M123456" not in str(document)
    assert type(bundle).from_dict(document) == bundle
    with services.store.read() as uow:
        read = uow.audit.last_of("border.clear")
    assert read is not None
    assert (read.event.resource, read.event.record) == (
        "border/bookings",
        "checkpoint=shenzhen_bay,day=2026-11-20",
    )
    assert read.event.details["count"] == 2


def _offline(
    decision_id: str, subject: str, booking: str, *, cleared: bool = True, code: str = "code-9"
) -> tuple[str, ClearanceDecision, str]:
    reasons = () if cleared else (RefusalReason(RefusalCode.NO_NEGATIVE_TEST, "no negative test on record"),)
    decision = ClearanceDecision(
        cleared=cleared,
        reasons=reasons,
        checkpoint="shenzhen_bay",
        day=TODAY,
        slot="afternoon",
        decided_at=NOW - timedelta(minutes=30),
        code_id=code,
        subject=subject,
        colour="green",
        booking=None,
    )
    return decision_id, decision, booking


def test_offline_decisions_are_recorded_once_and_a_clash_is_kept_and_flagged(services: Services) -> None:
    booking = book(services, "T1", DOC)
    subject = subject_of(services, DOC)
    first = services.clearances.record_offline(
        OFFICER,
        [
            _offline("offline-decision-1", subject, booking),
            _offline("offline-decision-2", subject, booking, cleared=False, code="code-8"),
        ],
    )
    assert [(r.offline, r.decision.cleared, r.replayed, r.conflict) for r in first] == [
        (True, True, False, None),
        (True, False, False, None),
    ]
    again = services.clearances.record_offline(OFFICER, [_offline("offline-decision-1", subject, booking)])
    assert again[0].replayed and again[0].public_id == "offline-decision-1"
    # Another checkpoint, offline too, cleared the same code: it happened, so it is kept, flagged.
    clash = services.clearances.record_offline(OFFICER, [_offline("offline-decision-3", subject, booking)])
    assert clash[0].decision.cleared and clash[0].conflict == "code_replayed"
    with services.store.read() as uow:
        flagged = uow.audit.find(flag=CONFLICT_FLAG, limit=10)
        stored = uow.clearances.on_day(TODAY)
    assert [a.event.record for a in flagged] == ["offline-decision-3"]
    assert len(stored) == 3
    with pytest.raises(InvalidInput) as caught:
        services.clearances.record_offline(
            OFFICER, [_offline("offline-decision-4", subject, "NO-SUCH-BOOKING")]
        )
    assert caught.value.field == "decisions[0].booking_id"


def test_due_ballots_are_drawn_once_after_their_draw_time_with_a_recorded_seed(services: Services) -> None:
    clock = FixedClock(NOW)  # 12:00 on the 20th; the 21st draws at 20:00 on the 20th
    ballot_rules = replace(services.policy.border, mode=BookingMode.BALLOT)
    settings = services.settings.model_copy(update={"ballot_seed": SecretStr("a seed the authority chose")})
    entries = BookingService(
        services.store,
        ballot_rules,
        clock,
        services.settings.zone,
        services.hasher,
        seeds=ballot_seeds(settings),
    )
    services.people.register(PersonDraft(ref="B1"))
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref("B1")
    assert person_id is not None
    day = TODAY + timedelta(days=1)
    entries.book(BookingRequest(person_id, "B1111111", day, "man_kam_to", "night", (), "e1"))
    entries.book(
        BookingRequest(person_id, "B2222222", day + timedelta(days=1), "man_kam_to", "night", (), "e2")
    )
    draws = BallotDraws(
        services.store,
        ballot_rules,
        clock,
        services.settings.zone,
        ballot_seeds(settings),
        services.subjects.subject_of,
    )
    robot = Principal.system("ballot")

    assert draws.draw_time(day) == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 local
    assert draws.draw_due(robot) == []
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    drawn = draws.draw_due(robot)
    assert [d.day for d in drawn] == [day] and len(drawn[0].won) == 1
    assert draws.draw_due(robot) == []  # idempotent: nothing more is due
    assert drawn[0].seed == ballot_seeds(settings)(day)  # derived from the setting and the day
    with pytest.raises(BookingRefused, match="closed at 2026-11-20 20:00") as closed:
        entries.book(BookingRequest(person_id, "B3333333", day, "man_kam_to", "night", (), "e3"))
    assert (closed.value.code, closed.value.field) == ("ballot_closed", "day")
    with services.store.read() as uow:
        record = uow.ballot.draw(day)
        audit = uow.audit.last_of(DRAW_ACTION)
        entry = uow.ballot.by_request(person_id, "e1")
    assert record is not None and record.seed == drawn[0].seed and record.drawn_by == "cli:ballot"
    assert audit is not None and audit.event.details["seed"] == drawn[0].seed
    assert (audit.event.record, audit.event.details["won"]) == ("2026-11-21", 1)
    assert entry is not None and entry.status is EntryStatus.WON

    clock.set(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    assert [d.day for d in draws.draw_due(robot)] == [day + timedelta(days=1)]


def test_random_seeds_come_from_the_injected_source() -> None:
    from chaincut.settings import Settings

    seeds = ballot_seeds(Settings(), random_hex=lambda: "f" * 32)
    assert seeds(TODAY) == "f" * 32


def test_the_access_report_lists_bookings_entries_and_clearances_of_the_person(services: Services) -> None:
    booking = book(services, "T1", DOC)
    services.people.register(PersonDraft(ref="FRIEND"))
    with services.store.read() as uow:
        friend = uow.people.id_for_ref("FRIEND")
        me = uow.people.get_by_ref("T1")
    assert friend is not None and me is not None
    # A friend's app enters the ballot for T1's document on another day: T1 sees it, not whose app.
    ballot = BookingService(
        services.store,
        replace(services.policy.border, mode=BookingMode.BALLOT),
        services.clock,
        services.settings.zone,
        services.hasher,
    )
    entry = ballot.book(
        BookingRequest(friend, DOC, TODAY + timedelta(days=2), "man_kam_to", "night", (), "f1")
    )
    subject = subject_of(services, DOC)
    cleared = with_codes(
        services, {"QR": code_claims(subject), "QR-RED": code_claims(subject, code_id="c2", colour="red")}
    )
    first = cleared.clear(OFFICER, "QR", "shenzhen_bay")
    second = cleared.clear(OFFICER, "QR-RED", "shenzhen_bay")

    report = services.subject_access.report(me, for_subject=True).as_dict()
    assert [(b["id"], b["booked_by"], b["status"]) for b in report["border_bookings"]] == [
        (booking, "you", "booked")
    ]
    assert [(e["id"], e["entered_by"], e["status"]) for e in report["ballot_entries"]] == [
        (entry.public_id, "another app", "entered")
    ]
    assert [(c["id"], c["cleared"]) for c in report["border_clearances"]] == [
        (first.public_id, True),
        (second.public_id, False),
    ]
    assert report["border_clearances"][1]["reasons"] == [
        "the code's colour may not cross",
        "this traveller has already crossed on this booking",
    ]
    page = services.subject_access.report(me).to_html()
    assert "Border crossing bookings / 過境預約" in page and "Checks at border checkpoints" in page
    assert booking in page and first.public_id in page
    with services.store.read() as uow:
        friend_person = uow.people.get_by_ref("FRIEND")
    assert friend_person is not None
    friend_report = services.subject_access.report(friend_person).as_dict()
    assert [e["entered_by"] for e in friend_report["ballot_entries"]] == ["you"]
    assert friend_report["border_clearances"] == []


def test_a_rival_crossing_committed_between_the_reads_is_seen_as_a_replayed_code(
    services: Services, backend: str
) -> None:
    """Under READ COMMITTED each statement sees what committed before it: a crossing committed
    between reading the used codes and the used bookings was seen as 'booking used' only. The
    scan reads both in one statement, so a rival crossing shows as both or neither."""
    if backend != "postgres":
        pytest.skip("SQLite serialises writers: a rival cannot commit inside the scan's transaction")
    book(services, "T1", DOC)
    subject = subject_of(services, DOC)
    clearances = with_codes(
        services, {f"QR-{i}": code_claims(subject, code_id="same-code") for i in range(2)}
    )
    rival_done: list[Clearance] = []

    def rival_after_first_read(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if rival_done or "clearances" not in statement or not statement.lstrip().upper().startswith("SELECT"):
            return
        if threading.current_thread().name != "scanner":
            return
        # The rival officer's crossing commits on its own connection, right after the scan's first read.
        rival = threading.Thread(
            target=lambda: rival_done.append(
                clearances.clear(Principal.system("rival"), "QR-1", "shenzhen_bay")
            )
        )
        rival.start()
        rival.join()

    results: list[Clearance] = []
    event.listen(services.store.db.engine, "after_cursor_execute", rival_after_first_read)
    try:
        scanner = threading.Thread(
            target=lambda: results.append(clearances.clear(OFFICER, "QR-0", "shenzhen_bay")), name="scanner"
        )
        scanner.start()
        scanner.join()
    finally:
        event.remove(services.store.db.engine, "after_cursor_execute", rival_after_first_read)
    (rival,) = rival_done
    (scan,) = results
    assert rival.decision.cleared
    assert not scan.decision.cleared
    assert "code_replayed" in scan.decision.reason_codes
