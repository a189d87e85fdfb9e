"""Reading the ``[border]`` keys of clearance at the checkpoint and of the ballot's draw time.

Each problem names its key path and what was expected, like the rest of the
policy check (``loading.py``).
"""

from __future__ import annotations

import itertools
import re
from datetime import time
from typing import Any

from chaincut.policy.checker import Checker
from chaincut.policy.model import ClearanceRules, SlotHours

__all__ = ["CLEARANCE_KEYS", "clearance_rules", "parse_slot_hours"]

CLEARANCE_KEYS = frozenset(
    {
        "negative_test_hours",
        "negative_test_kinds",
        "cleared_colours",
        "slot_hours",
        "ballot_draw_local_time",
        "ballot_draw_days_before",
    }
)
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
_MAX_TEST_HOURS = 14 * 24


def _clock_time(text: str, *, end: bool) -> time | bool | None:
    """``HH:MM`` as a time; "24:00" as None (midnight) when it ends a range; False when malformed."""
    found = _CLOCK.match(text.strip())
    if found is None:
        return False
    hours, minutes = int(found[1]), int(found[2])
    if end and (hours, minutes) == (24, 0):
        return None
    if hours > 23 or minutes > 59:
        return False
    return time(hours, minutes)


def parse_slot_hours(slot: str, text: str) -> SlotHours | None:
    """``"HH:MM-HH:MM"`` as a slot's opening hours (end after start, "24:00" for midnight); None if not."""
    start_text, _, end_text = text.partition("-")
    start = _clock_time(start_text, end=False)
    end = _clock_time(end_text, end=True)
    if not isinstance(start, time) or end is False or (isinstance(end, time) and end <= start):
        return None
    assert end is None or isinstance(end, time)
    return SlotHours(slot, start, end)


def _slot_hours(check: Checker, raw: Any, slots: tuple[str, ...]) -> dict[str, SlotHours] | None:
    path = "border.slot_hours"
    table = check.table(raw, path)
    check.only(table, path, set(slots))
    found: dict[str, SlotHours] = {}
    for slot in slots if table else ():
        value = table.get(slot)
        expected = 'local opening hours "HH:MM-HH:MM" (end after start; "24:00" for midnight)'
        if not isinstance(value, str):
            got = "missing" if value is None else f"got {value!r}"
            check.problems.append(f"{path}.{slot}: expected {expected}, {got}")
            continue
        hours = parse_slot_hours(slot, value)
        if hours is None:
            check.problems.append(f"{path}.{slot}: expected {expected}, got {value!r}")
            continue
        found[slot] = hours
    ordered = sorted(found.values(), key=lambda s: s.start)
    for before, after in itertools.pairwise(ordered):
        if before.end is None or before.end > after.start:
            check.problems.append(
                f"{path}.{after.slot}: {after} overlaps {before.slot} ({before}); "
                "expected slots that do not overlap, so the slot open now is never in doubt"
            )
    if not table or len(found) != len(slots):
        return None
    return found


def _names(check: Checker, raw: Any, key: str, example: str) -> frozenset[str] | None:
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) and c.strip() for c in raw):
        got = "missing" if raw is None else f"got {raw!r}"
        check.problems.append(f"border.{key}: expected a non-empty list of {example}, {got}")
        return None
    return frozenset(c.strip() for c in raw)


def clearance_rules(
    check: Checker, section: dict[str, Any], slots: tuple[str, ...], booking_days_ahead: int | None
) -> ClearanceRules | None:
    """The clearance keys of ``[border]``, or None (with the problems noted) when any is wrong."""
    if not section:
        return None
    test_hours = check.get(section, "border", "negative_test_hours", int, low=1, high=_MAX_TEST_HOURS)
    colours = _names(
        check, section.get("cleared_colours"), "cleared_colours", 'code colours (e.g. ["green"])'
    )
    kinds = _names(
        check, section.get("negative_test_kinds"), "negative_test_kinds", 'test kinds (e.g. ["pcr"])'
    )
    hours = _slot_hours(check, section.get("slot_hours"), slots)
    draw_text = section.get("ballot_draw_local_time")
    draw_at = _clock_time(draw_text, end=False) if isinstance(draw_text, str) else False
    if not isinstance(draw_at, time):
        got = "missing" if draw_text is None else f"got {draw_text!r}"
        check.problems.append(f'border.ballot_draw_local_time: expected a local time "HH:MM", {got}')
    days_before = check.get(section, "border", "ballot_draw_days_before", int, low=1, high=366)
    if days_before is not None and booking_days_ahead is not None and days_before > booking_days_ahead:
        check.problems.append(
            f"border.ballot_draw_days_before: {days_before} days contradicts booking_days_ahead = "
            f"{booking_days_ahead}: the draw would come before entries for the day open"
        )
        days_before = None
    if (
        test_hours is None
        or colours is None
        or kinds is None
        or hours is None
        or not isinstance(draw_at, time)
    ):
        return None
    if days_before is None:
        return None
    return ClearanceRules(test_hours, colours, hours, draw_at, days_before, kinds)
