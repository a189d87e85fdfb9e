"""What a checkpoint takes offline (the bundle) and brings back (its decisions), as JSON.

The bundle holds the day's bookings for one checkpoint with every traveller (the
one named and each companion listed) by border subject id (never a document
number or its hash), the clearance rules in force, the code ids and the
travellers (booking id, subject id) that had already crossed when it was made,
and the trust list its verifier checks codes against. It also holds the code ids
revoked when it was made, by issuer (ours and partners': a code whose holder's colour
worsened since it was issued), and how long it may be used: a bundle older than the
policy's ``[signed_codes] bundle_max_age_hours`` is refused (``check_age``), so the
revocations a checkpoint decides with are never older than that. A decision record is what an offline
checkpoint appends to its log and later uploads; its ``decision_id`` makes the
upload idempotent. Reading either refuses a malformed document naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chaincut.border.ports import NOTHING_KNOWN, KnownStanding
from chaincut.domain.border import (
    BookingStatus,
    ClearanceDecision,
    RefusalCode,
    RefusalReason,
    SyncedBooking,
)
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import InvalidInput
from chaincut.policy import ClearanceRules
from chaincut.policy.border_loading import parse_slot_hours

__all__ = ["BUNDLE_FORMAT", "ClearanceBundle", "decision_from_dict", "decision_to_dict"]

BUNDLE_FORMAT = "chaincut-clearance-bundle/2"  # 2: companions listed by subject id, each crossing once


@dataclass(frozen=True)
class ClearanceBundle:
    """One checkpoint's day, as synced for deciding offline."""

    generated_at: datetime
    checkpoint: str
    day: date
    zone: ZoneInfo
    policy_version: str
    rules: ClearanceRules
    bookings: tuple[SyncedBooking, ...]
    crossed_codes: frozenset[str]
    crossed_travellers: frozenset[tuple[str, str]]  # (booking id, subject id) of travellers who crossed
    trust_list: Mapping[str, Any]
    revoked_codes: Mapping[str, frozenset[str]]  # issuer -> code ids revoked when the bundle was made
    max_age_hours: int  # the policy's [signed_codes] bundle_max_age_hours when it was made

    def __repr__(self) -> str:
        return f"ClearanceBundle({self.checkpoint!r}, {self.day}, {len(self.bookings)} bookings)"

    @property
    def expires_at(self) -> datetime:
        """After this instant the bundle is too old to decide with: sync again."""
        return self.generated_at + timedelta(hours=self.max_age_hours)

    def check_age(self, now: datetime) -> None:
        """InvalidInput (``bundle_too_old``, naming ``generated_at``) when the bundle is past its age."""
        if now > self.expires_at:
            age_hours = (now - self.generated_at).total_seconds() / 3600
            raise InvalidInput(
                f"the bundle was synced at {self.generated_at.astimezone(self.zone):%Y-%m-%d %H:%M}, "
                f"{age_hours:.1f} hours ago; a bundle may be used for {self.max_age_hours} hours "
                "(the policy's signed_codes.bundle_max_age_hours), so codes revoked since are not in it: "
                "sync again",
                field="generated_at",
                code="bundle_too_old",
            )

    def standing_of(self, claims: HealthCodeClaims | None) -> KnownStanding:
        """What the bundle knows of a code: revoked by its issuer when the bundle was made, or nothing."""
        if claims is None or claims.code_id not in self.revoked_codes.get(claims.issuer, frozenset()):
            return NOTHING_KNOWN
        synced = self.generated_at.astimezone(self.zone)
        return KnownStanding(
            revoked=f"code {claims.code_id} was revoked by {claims.issuer} (as of the sync at {synced:%H:%M})"
        )

    def to_dict(self) -> dict[str, Any]:
        r = self.rules
        return {
            "format": BUNDLE_FORMAT,
            "generated_at": self.generated_at.isoformat(),
            "checkpoint": self.checkpoint,
            "day": self.day.isoformat(),
            "time_zone": self.zone.key,
            "policy_version": self.policy_version,
            "rules": {
                "negative_test_hours": r.negative_test_hours,
                "cleared_colours": sorted(r.cleared_colours),
                "slot_hours": {slot: str(hours) for slot, hours in r.slot_hours.items()},
                "ballot_draw_local_time": f"{r.ballot_draw_local_time:%H:%M}",
                "ballot_draw_days_before": r.ballot_draw_days_before,
            },
            "bookings": [
                {
                    "subject": b.subject,
                    "booking_id": b.booking_id,
                    "slot": b.slot,
                    "companions": list(b.companions),
                    "status": b.status.value,
                }
                for b in self.bookings
            ],
            "crossed": {
                "code_ids": sorted(self.crossed_codes),
                "travellers": [
                    {"booking_id": booking, "subject": subject}
                    for booking, subject in sorted(self.crossed_travellers)
                ],
            },
            "trust_list": dict(self.trust_list),
            "revoked_codes": {issuer: sorted(ids) for issuer, ids in sorted(self.revoked_codes.items())},
            "max_age_hours": self.max_age_hours,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ClearanceBundle:
        """A bundle read back; InvalidInput naming the field when it is not one."""
        doc = _mapping(data, "bundle")
        if doc.get("format") != BUNDLE_FORMAT:
            raise InvalidInput(f"expected a {BUNDLE_FORMAT} document", field="format", code="invalid_bundle")
        checkpoint = _text(doc, "checkpoint")
        day = _day(doc, "day")
        try:
            zone = ZoneInfo(_text(doc, "time_zone"))
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad("time_zone", "a known time zone") from None
        rules = _rules(_mapping(doc.get("rules"), "rules"))
        bookings = []
        for i, raw in enumerate(_list(doc, "bookings")):
            item = _mapping(raw, f"bookings[{i}]")
            try:
                status = BookingStatus(str(item.get("status")))
                companions = tuple(_strings(item, "companions"))
                booking = SyncedBooking(
                    subject=_text(item, "subject"),
                    booking_id=_text(item, "booking_id"),
                    checkpoint=checkpoint,
                    day=day,
                    slot=_text(item, "slot"),
                    companions=companions,
                    status=status,
                )
            except (KeyError, TypeError, ValueError, InvalidInput):
                raise _bad(
                    f"bookings[{i}]", "subject, booking_id, slot, companions (subject ids) and status"
                ) from None
            bookings.append(booking)
        crossed = _mapping(doc.get("crossed"), "crossed")
        travellers = []
        for i, raw in enumerate(_list(crossed, "travellers")):
            item = _mapping(raw, f"crossed.travellers[{i}]")
            try:
                travellers.append((_text(item, "booking_id"), _text(item, "subject")))
            except InvalidInput:
                raise _bad(f"crossed.travellers[{i}]", "booking_id and subject") from None
        trust = doc.get("trust_list", {})
        revoked = _mapping(doc.get("revoked_codes"), "revoked_codes")
        max_age = doc.get("max_age_hours")
        if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 1:
            raise _bad("max_age_hours", "a whole number of hours, at least 1")
        revoked_codes = {}
        for issuer, ids in revoked.items():
            if not isinstance(ids, list) or not all(isinstance(v, str) for v in ids):
                raise _bad(f"revoked_codes.{str(issuer)[:16]}", "a list of code ids")
            revoked_codes[issuer] = frozenset(ids)
        return cls(
            generated_at=_instant(doc, "generated_at"),
            checkpoint=checkpoint,
            day=day,
            zone=zone,
            policy_version=_text(doc, "policy_version"),
            rules=rules,
            bookings=tuple(bookings),
            crossed_codes=frozenset(_strings(crossed, "code_ids")),
            crossed_travellers=frozenset(travellers),
            trust_list=_mapping(trust, "trust_list"),
            revoked_codes=revoked_codes,
            max_age_hours=max_age,
        )


def decision_to_dict(decision_id: str, d: ClearanceDecision) -> dict[str, Any]:
    """A decision as an offline checkpoint logs and uploads it."""
    return {
        "decision_id": decision_id,
        "checkpoint": d.checkpoint,
        "day": d.day.isoformat(),
        "slot": d.slot,
        "decided_at": d.decided_at.isoformat(),
        "cleared": d.cleared,
        "reasons": [{"code": r.code.value, "text": r.text} for r in d.reasons],
        "code_id": d.code_id,
        "subject": d.subject,
        "colour": d.colour,
        "booking_id": None if d.booking is None else d.booking.booking_id,
        # Where the traveller stands on the booking: 0 the named traveller, n the n-th companion.
        "place": None if d.booking is None else d.booking.place_of(d.subject),
    }


def decision_from_dict(
    data: Any, bookings: Mapping[str, SyncedBooking] | None = None
) -> tuple[str, ClearanceDecision]:
    """A logged decision read back: its id and the decision (its booking from ``bookings`` if known)."""
    doc = _mapping(data, "decision")
    reasons = []
    for i, raw in enumerate(_list(doc, "reasons")):
        item = _mapping(raw, f"reasons[{i}]")
        try:
            reasons.append(RefusalReason(RefusalCode(str(item.get("code"))), str(item.get("text", ""))))
        except ValueError:
            raise _bad(f"reasons[{i}].code", "a refusal code") from None
    booking_id = doc.get("booking_id")
    booking = None
    if isinstance(booking_id, str) and bookings is not None:
        booking = bookings.get(booking_id)
    cleared = doc.get("cleared")
    if not isinstance(cleared, bool) or cleared == bool(reasons):
        raise _bad("cleared", "true with no reasons, or false with at least one")
    decision = ClearanceDecision(
        cleared=cleared,
        reasons=tuple(reasons),
        checkpoint=_text(doc, "checkpoint"),
        day=_day(doc, "day"),
        slot=_optional_text(doc, "slot"),
        decided_at=_instant(doc, "decided_at"),
        code_id=_optional_text(doc, "code_id"),
        subject=_optional_text(doc, "subject"),
        colour=_optional_text(doc, "colour"),
        booking=booking,
    )
    return _text(doc, "decision_id"), decision


# --- reading fields -------------------------------------------------------------------------------


def _bad(field: str, expected: str) -> InvalidInput:
    return InvalidInput(f"{field}: expected {expected}", field=field, code="invalid_bundle")


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(field, "a JSON object")
    return value


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise _bad(key, "a list")
    return value


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise _bad(key, "a non-empty string")
    return value


def _optional_text(doc: Mapping[str, Any], key: str) -> str | None:
    return None if doc.get(key) is None else _text(doc, key)


def _strings(doc: Mapping[str, Any], key: str) -> list[str]:
    values = _list(doc, key)
    if not all(isinstance(v, str) for v in values):
        raise _bad(key, "a list of strings")
    return values


def _day(doc: Mapping[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(_text(doc, key))
    except ValueError:
        raise _bad(key, "a date YYYY-MM-DD") from None


def _instant(doc: Mapping[str, Any], key: str) -> datetime:
    try:
        at = datetime.fromisoformat(_text(doc, key))
    except ValueError:
        raise _bad(key, "an ISO-8601 instant with its UTC offset") from None
    if at.tzinfo is None:
        raise _bad(key, "an ISO-8601 instant with its UTC offset")
    return at


def _rules(doc: Mapping[str, Any]) -> ClearanceRules:
    hours_doc = _mapping(doc.get("slot_hours"), "rules.slot_hours")
    slot_hours = {}
    for slot, text in hours_doc.items():
        parsed = parse_slot_hours(slot, text) if isinstance(text, str) else None
        if parsed is None:
            raise _bad(f"rules.slot_hours.{slot}", '"HH:MM-HH:MM"')
        slot_hours[slot] = parsed
    draw = parse_slot_hours("draw", f"{doc.get('ballot_draw_local_time')}-24:00")
    test_hours, days_before = doc.get("negative_test_hours"), doc.get("ballot_draw_days_before")
    if not isinstance(test_hours, int) or isinstance(test_hours, bool) or test_hours < 1:
        raise _bad("rules.negative_test_hours", "a whole number of hours")
    if draw is None or not isinstance(days_before, int):
        raise _bad("rules.ballot_draw_local_time", 'a local time "HH:MM" and ballot_draw_days_before')
    colours = _strings(doc, "cleared_colours")
    return ClearanceRules(test_hours, frozenset(colours), slot_hours, draw.start, days_before)
