"""Clearance at the checkpoint: cleared, or refused with every reason that holds.

The issue's rule (January 2023): a traveller crosses when their booking is
valid for this checkpoint, today and the slot open now, their health code is of
a colour the policy clears (green), and a negative test was taken within the
policy's hours; a code that already cleared a crossing does not clear another,
and a traveller crosses once on a booking. Each traveller of a booking, the one
named and each companion listed, presents their own code and is decided on it
alone: the booking is found by the code's subject id wherever it is listed, and
nobody's code carries anyone else through. ``decide`` is pure: the same inputs
give the same decision online (the store's bookings) and offline (a synced
bundle), and it never reads a clock or the network.

A code's colour is its holder's when it was issued, hours ago perhaps. What is known
of it now is its ``standing``: a revoked code (its holder's colour worsened since) is
refused (``code_revoked``), and when the holder's current code is known (online, for
our own residents) the colour decided on is the current one, and the one the code
shows must be cleared too: neither a stale green nor a stale red code crosses.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chaincut.border.ports import NOTHING_KNOWN, CodeCheck, CodeStanding
from chaincut.domain.border import (
    BookingStatus,
    ClearanceDecision,
    RefusalCode,
    RefusalReason,
    SyncedBooking,
)
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.policy import ClearanceRules

__all__ = ["decide"]

_R = RefusalCode


def decide(
    check: CodeCheck,
    bookings: Sequence[SyncedBooking],
    checkpoint: str,
    now: datetime,
    zone: ZoneInfo,
    rules: ClearanceRules,
    *,
    used_codes: Collection[str] = (),
    used_travellers: Collection[tuple[str, str]] = (),
    standing: CodeStanding = NOTHING_KNOWN,
) -> ClearanceDecision:
    """Decide on one scanned code at ``checkpoint`` at ``now`` (aware UTC).

    ``bookings``: what is known of the traveller's bookings (a checkpoint's synced
    list, or the store's); ``used_codes``: code ids that have already cleared a
    crossing; ``used_travellers``: (booking id, subject id) of travellers who have
    already crossed on that booking; ``standing``: what is known now of the code
    (revoked?) and of its holder's current code.
    """
    local = now.astimezone(zone)
    day = local.date()
    slot = rules.slot_at(local.time().replace(tzinfo=None))
    claims = check.claims if check.valid else None
    if claims is None:
        why = check.reason or "no reason given"
        return ClearanceDecision(
            cleared=False,
            reasons=(RefusalReason(_R.INVALID_CODE, f"the code is not valid: {why}"),),
            checkpoint=checkpoint,
            day=day,
            slot=slot,
            decided_at=now,
            code_id=None,
            subject=None,
            colour=None,
            booking=None,
        )
    reasons: list[RefusalReason] = []
    if claims.code_id in used_codes:
        reasons.append(
            RefusalReason(_R.CODE_REPLAYED, f"this code ({claims.code_id}) has already cleared a crossing")
        )
    if standing.revoked is not None:
        reasons.append(RefusalReason(_R.CODE_REVOKED, f"the code was revoked: {standing.revoked}"))
    colour = _colour_reason(claims, standing, zone, rules)
    if colour is not None:
        reasons.append(colour)
    booking, booking_reasons = _booking(claims.subject, bookings, checkpoint, day, slot, local, rules)
    reasons += booking_reasons
    if booking is not None and (booking.booking_id, claims.subject) in used_travellers:
        reasons.append(
            RefusalReason(
                _R.BOOKING_USED, f"this traveller has already crossed on booking {booking.booking_id}"
            )
        )
    test = _test_reason(claims, now, zone, rules)
    if test is not None:
        reasons.append(test)
    return ClearanceDecision(
        cleared=not reasons,
        reasons=tuple(reasons),
        checkpoint=checkpoint,
        day=day,
        slot=slot,
        decided_at=now,
        code_id=claims.code_id,
        subject=claims.subject,
        colour=standing.colour or claims.colour,
        booking=booking,
    )


def _shown(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _colour_reason(
    claims: HealthCodeClaims, standing: CodeStanding, zone: ZoneInfo, rules: ClearanceRules
) -> RefusalReason | None:
    """Why the colour may not cross: the holder's current one first, else the one the code shows."""
    allowed = ", ".join(sorted(rules.cleared_colours))
    if standing.colour is not None and standing.colour not in rules.cleared_colours:
        shows = "" if standing.colour == claims.colour else f" (the code shows {claims.colour})"
        text = _colour_text(standing.colour, standing.reasons, standing.until, zone)
        return RefusalReason(_R.COLOUR_NOT_CLEARED, f"now {text}{shows} (only {allowed} may cross)")
    if claims.colour not in rules.cleared_colours:
        text = _colour_text(claims.colour, claims.reasons, claims.status_until, zone)
        return RefusalReason(_R.COLOUR_NOT_CLEARED, f"{text} (only {allowed} may cross)")
    return None


def _colour_text(colour: str, reasons: tuple[str, ...], until: datetime | None, zone: ZoneInfo) -> str:
    why = "; ".join(reasons) or "no reason given"
    shown = f"; until {_shown(until, zone)}" if until is not None else ""
    return f"{colour}: {why}{shown}"


def _booking(
    subject: str | None,
    bookings: Sequence[SyncedBooking],
    checkpoint: str,
    day: object,
    slot: str | None,
    local: datetime,
    rules: ClearanceRules,
) -> tuple[SyncedBooking | None, list[RefusalReason]]:
    """The traveller's booking (named on it or listed as a companion) closest to this checkpoint, day
    and slot, and what is wrong with it."""
    if subject is None:
        text = "the code names no identity document, so no booking can be matched"
        return None, [RefusalReason(_R.NO_BOOKING, text)]
    mine = [b for b in bookings if b.place_of(subject) is not None]
    if not mine:
        return None, [RefusalReason(_R.NO_BOOKING, f"no booking for this traveller at {checkpoint} on {day}")]

    def distance(b: SyncedBooking) -> tuple[bool, bool, bool, bool, str]:
        live = b.status is BookingStatus.BOOKED
        return (not live, b.day != day, b.checkpoint != checkpoint, b.slot != slot, b.booking_id)

    best = min(mine, key=distance)
    reasons: list[RefusalReason] = []
    name = f"booking {best.booking_id}"
    if best.status is not BookingStatus.BOOKED:
        reasons.append(RefusalReason(_R.BOOKING_CANCELLED, f"{name} was cancelled"))
    if best.checkpoint != checkpoint:
        reasons.append(
            RefusalReason(_R.BOOKING_OTHER_CHECKPOINT, f"{name} is for {best.checkpoint}, not {checkpoint}")
        )
    if best.day != day:
        reasons.append(RefusalReason(_R.BOOKING_OTHER_DAY, f"{name} is for {best.day}, not today ({day})"))
    elif best.slot != slot:
        hours = rules.slot_hours.get(best.slot)
        booked = f"the {best.slot} slot" + (f" ({hours})" if hours is not None else "")
        now_open = f"no slot is open at {local:%H:%M}" if slot is None else f"not the {slot} slot open now"
        reasons.append(RefusalReason(_R.BOOKING_OTHER_SLOT, f"{name} is for {booked}, {now_open}"))
    return best, reasons


def _test_reason(
    claims: HealthCodeClaims, now: datetime, zone: ZoneInfo, rules: ClearanceRules
) -> RefusalReason | None:
    hours = rules.negative_test_hours
    last = claims.last_negative_test_at
    if last is None:
        return RefusalReason(
            _R.NO_NEGATIVE_TEST, f"no negative test on record; one within {hours} hours is needed"
        )
    if now - last > timedelta(hours=hours):
        ago = int((now - last).total_seconds() // 3600)
        return RefusalReason(
            _R.NO_NEGATIVE_TEST,
            f"the last negative test was at {_shown(last, zone)}, {ago} hours ago; "
            f"one within {hours} hours is needed",
        )
    return None
