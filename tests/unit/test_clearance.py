"""Clearance at the checkpoint, decided purely: each refusal reason alone, and several at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chaincut.border.clearance import decide
from chaincut.border.testing import CheckedCode, FakeCodeVerifier
from chaincut.domain.border import BookingStatus, RefusalCode, SyncedBooking
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.policy import load_policy

ZONE = ZoneInfo("Asia/Hong_Kong")
RULES = load_policy(None).border.clearance
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # 10:00 in Hong Kong: the morning slot
TODAY = date(2026, 11, 21)
SUBJECT = "c3ViamVjdC1vbmUtMTIzNA"

CLAIMS = HealthCodeClaims(
    code_id="code-1",
    issuer="HK",
    subject=SUBJECT,
    name=None,
    colour="green",
    reasons=(),
    status_until=None,
    last_negative_test_at=NOW - timedelta(hours=20),
    issued_at=NOW - timedelta(hours=1),
    expires_at=NOW + timedelta(hours=23),
)
COMPANIONS = ("Y29tcGFuaW9uLW9uZS0xMjM", "Y29tcGFuaW9uLXR3by00NTY")
BOOKING = SyncedBooking(SUBJECT, "BK1", "shenzhen_bay", TODAY, "morning", COMPANIONS, BookingStatus.BOOKED)


def valid(**changes: object) -> CheckedCode:
    return CheckedCode(True, "", replace(CLAIMS, **changes))  # type: ignore[arg-type]


def codes(decision: object) -> list[str]:
    return [r.code.value for r in decision.reasons]  # type: ignore[attr-defined]


def test_a_green_code_with_a_booking_for_now_and_a_recent_test_is_cleared() -> None:
    decision = decide(valid(), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert decision.cleared and decision.reasons == ()
    assert (decision.day, decision.slot, decision.booking) == (TODAY, "morning", BOOKING)
    assert (decision.code_id, decision.subject, decision.colour) == ("code-1", SUBJECT, "green")


def test_an_invalid_code_is_refused_with_the_verifiers_reason_and_nothing_else() -> None:
    decision = decide(
        CheckedCode(False, "unknown key id 'abc'", None), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES
    )
    assert not decision.cleared
    assert [(r.code, r.text) for r in decision.reasons] == [
        (RefusalCode.INVALID_CODE, "the code is not valid: unknown key id 'abc'")
    ]
    assert decision.code_id is None and decision.booking is None


def test_a_red_code_is_refused_with_its_own_reasons_and_until_when() -> None:
    red = valid(
        colour="red",
        reasons=("close contact (visit to venue V-1 with case C-7)",),
        status_until=datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
    )
    decision = decide(red, [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert codes(decision) == ["colour_not_cleared"]
    assert decision.reasons[0].text == (
        "red: close contact (visit to venue V-1 with case C-7); until 2026-11-25 00:00 (only green may cross)"
    )


def test_no_booking_for_this_subject() -> None:
    other = replace(BOOKING, subject="someone-else")
    decision = decide(valid(), [other], "shenzhen_bay", NOW, ZONE, RULES)
    assert codes(decision) == ["no_booking"]
    assert decision.booking is None
    no_subject = decide(valid(subject=None), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert codes(no_subject) == ["no_booking"]
    assert "no identity document" in no_subject.reasons[0].text


@pytest.mark.parametrize(
    ("booking", "expected", "words"),
    [
        (
            replace(BOOKING, checkpoint="man_kam_to"),
            ["booking_other_checkpoint"],
            "is for man_kam_to, not shenzhen_bay",
        ),
        (
            replace(BOOKING, day=TODAY + timedelta(days=1)),
            ["booking_other_day"],
            "is for 2026-11-22, not today",
        ),
        (
            replace(BOOKING, slot="night"),
            ["booking_other_slot"],
            "the night slot (18:00-24:00), not the morning",
        ),
        (replace(BOOKING, status=BookingStatus.CANCELLED), ["booking_cancelled"], "was cancelled"),
    ],
)
def test_a_booking_elsewhere_or_at_another_time_names_what_differs(
    booking: SyncedBooking, expected: list[str], words: str
) -> None:
    decision = decide(valid(), [booking], "shenzhen_bay", NOW, ZONE, RULES)
    assert codes(decision) == expected
    assert words in decision.reasons[0].text
    assert decision.booking == booking


def test_outside_every_slot_the_booking_is_refused_saying_no_slot_is_open() -> None:
    early = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 05:00 local
    decision = decide(valid(), [BOOKING], "shenzhen_bay", early, ZONE, RULES)
    assert decision.slot is None
    assert codes(decision) == ["booking_other_slot"]
    assert "no slot is open at 05:00" in decision.reasons[0].text


def test_the_matching_booking_is_preferred_over_the_travellers_other_ones() -> None:
    cancelled = replace(BOOKING, booking_id="BK0", status=BookingStatus.CANCELLED)
    tomorrow = replace(BOOKING, booking_id="BK2", day=TODAY + timedelta(days=1))
    decision = decide(valid(), [cancelled, tomorrow, BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert decision.cleared and decision.booking == BOOKING


def test_a_negative_test_must_fall_within_the_policys_hours() -> None:
    at_limit = decide(
        valid(last_negative_test_at=NOW - timedelta(hours=48)), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES
    )
    assert at_limit.cleared
    stale = decide(
        valid(last_negative_test_at=NOW - timedelta(hours=48, seconds=1)),
        [BOOKING],
        "shenzhen_bay",
        NOW,
        ZONE,
        RULES,
    )
    assert codes(stale) == ["no_negative_test"]
    assert "48 hours ago; one within 48 hours is needed" in stale.reasons[0].text
    never = decide(valid(last_negative_test_at=None), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert codes(never) == ["no_negative_test"]
    stricter = replace(RULES, negative_test_hours=12)
    assert codes(decide(valid(), [BOOKING], "shenzhen_bay", NOW, ZONE, stricter)) == ["no_negative_test"]


def test_a_replayed_code_and_a_traveller_who_crossed_are_refused() -> None:
    decision = decide(valid(), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES, used_codes={"code-1"})
    assert codes(decision) == ["code_replayed"]
    crossed = {("BK1", SUBJECT)}
    again = decide(
        valid(code_id="code-2"), [BOOKING], "shenzhen_bay", NOW, ZONE, RULES, used_travellers=crossed
    )
    assert codes(again) == ["booking_used"]
    # The named traveller crossed; their companion has not, and crosses on their own code.
    companion = valid(code_id="code-3", subject=COMPANIONS[1])
    theirs = decide(companion, [BOOKING], "shenzhen_bay", NOW, ZONE, RULES, used_travellers=crossed)
    assert theirs.cleared and theirs.booking == BOOKING and BOOKING.place_of(theirs.subject) == 2


def test_each_companion_is_decided_on_their_own_code() -> None:
    """The booking is found by the companion's own subject id; the named traveller's code carries
    nobody: a companion whose own code is red is refused, whatever the named traveller's is."""
    first = valid(code_id="code-c0", subject=COMPANIONS[0])
    assert decide(first, [BOOKING], "shenzhen_bay", NOW, ZONE, RULES).cleared
    red = valid(code_id="code-c1", subject=COMPANIONS[1], colour="red")
    refused = decide(red, [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert codes(refused) == ["colour_not_cleared"] and refused.booking == BOOKING
    stranger = valid(code_id="code-x", subject="c29tZW9uZS1lbHNlLTc4OQ")
    assert codes(decide(stranger, [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)) == ["no_booking"]


def test_every_reason_that_holds_is_given_together() -> None:
    bad = valid(colour="amber", reasons=("arrived in Hong Kong within 21 days",), last_negative_test_at=None)
    booking = replace(BOOKING, checkpoint="man_kam_to", day=TODAY - timedelta(days=1))
    decision = decide(
        bad,
        [booking],
        "shenzhen_bay",
        NOW,
        ZONE,
        RULES,
        used_codes={"code-1"},
        used_travellers={("BK1", SUBJECT)},
    )
    assert codes(decision) == [
        "code_replayed",
        "colour_not_cleared",
        "booking_other_checkpoint",
        "booking_other_day",
        "booking_used",
        "no_negative_test",
    ]
    assert not decision.cleared
    assert decision.reason_codes == tuple(codes(decision))


def test_the_colours_cleared_come_from_the_policy() -> None:
    lenient = replace(RULES, cleared_colours=frozenset({"green", "amber"}))
    assert decide(valid(colour="amber"), [BOOKING], "shenzhen_bay", NOW, ZONE, lenient).cleared


def test_the_fake_verifier_answers_from_its_dict_and_expires_codes() -> None:
    verifier = FakeCodeVerifier({"HC1:GOOD": CLAIMS, "HC1:BAD": "signature does not verify"})
    assert verifier("HC1:GOOD", NOW).claims == CLAIMS
    assert verifier("HC1:BAD", NOW).reason == "signature does not verify"
    assert not verifier("HC1:OTHER", NOW).valid
    # The same clock leeway as the real verifiers (300 s by default): a second past it is too late.
    assert verifier("HC1:GOOD", CLAIMS.expires_at + timedelta(seconds=300)).valid
    late = verifier("HC1:GOOD", CLAIMS.expires_at + timedelta(seconds=301))
    assert not late.valid and late.reason == "the code has expired"
    assert len(verifier.calls) == 5


def test_a_verifier_that_raises_refuses_the_code_with_its_reason() -> None:
    from chaincut.border.ports import check_code
    from chaincut.errors import InvalidHealthCertificate

    def crashing(_qr: str, _at: datetime) -> CheckedCode:
        raise InvalidHealthCertificate("truncated CBOR")

    check = check_code(crashing, "HC1:XX", NOW)
    decision = decide(check, [BOOKING], "shenzhen_bay", NOW, ZONE, RULES)
    assert [(r.code.value, r.text) for r in decision.reasons] == [
        ("invalid_code", "the code is not valid: truncated CBOR")
    ]
