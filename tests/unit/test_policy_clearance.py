"""The policy's clearance rules (issue 5 part 6) and the ballot's draw time, each problem named."""

from __future__ import annotations

from datetime import time

import pytest

from chaincut.errors import PolicyError
from chaincut.policy import default_policy_text, load_policy, parse_policy
from chaincut.policy.diff import diff_policies


def broken(*edits: tuple[str, str]) -> str:
    text = default_policy_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return dict(p.split(": ", 1) for p in caught.value.problems)


def test_the_january_2023_rules_are_the_default() -> None:
    rules = load_policy(None).border.clearance
    assert rules.negative_test_hours == 48
    assert rules.cleared_colours == frozenset({"green"})
    assert (rules.ballot_draw_local_time, rules.ballot_draw_days_before) == (time(20, 0), 1)
    assert {s: str(h) for s, h in rules.slot_hours.items()} == {
        "morning": "06:30-12:00",
        "afternoon": "12:00-18:00",
        "night": "18:00-24:00",
    }
    assert rules.slot_at(time(6, 29)) is None
    assert rules.slot_at(time(6, 30)) == "morning"
    assert rules.slot_at(time(12, 0)) == "afternoon"
    assert rules.slot_at(time(23, 59)) == "night"


def test_each_broken_clearance_key_is_named_with_what_was_expected() -> None:
    found = problems_of(
        broken(
            ("negative_test_hours = 48", 'negative_test_hours = "two days"'),
            ('cleared_colours = ["green"]', "cleared_colours = []"),
            ('morning = "06:30-12:00"', 'morning = "12:00-06:30"'),
            ('afternoon = "12:00-18:00"', 'afternoon = "12:00-18:00"\nevening = "19:00-20:00"'),
            ('ballot_draw_local_time = "20:00"', 'ballot_draw_local_time = "8pm"'),
            ("ballot_draw_days_before = 1", "ballot_draw_days_before = 9"),
        )
    )
    assert found["border.negative_test_hours"] == "expected a whole number of hours, got 'two days'"
    assert found["border.cleared_colours"].startswith("expected a non-empty list of code colours")
    assert found["border.slot_hours.morning"].startswith('expected local opening hours "HH:MM-HH:MM"')
    assert found["border.slot_hours.evening"].startswith("unknown key")
    assert found["border.ballot_draw_local_time"] == "expected a local time \"HH:MM\", got '8pm'"
    assert found["border.ballot_draw_days_before"].startswith("9 days contradicts booking_days_ahead = 7")


def test_cleared_colours_must_be_code_colours_and_test_kinds_a_list() -> None:
    found = problems_of(broken(('cleared_colours = ["green"]', 'cleared_colours = ["green", "blue"]')))
    assert (
        found["border.cleared_colours"]
        == "'blue' is not a colour of health_codes.colours (green, amber, red)"
    )
    found = problems_of(broken(('negative_test_kinds = ["pcr"]', 'negative_test_kinds = "pcr"')))
    assert (
        found["border.negative_test_kinds"]
        == "expected a non-empty list of test kinds (e.g. [\"pcr\"]), got 'pcr'"
    )
    assert parse_policy(broken(('negative_test_kinds = ["pcr"]', 'negative_test_kinds = ["pcr", "rat"]')))


def test_overlapping_slots_and_missing_keys_are_refused() -> None:
    found = problems_of(
        broken(
            ('afternoon = "12:00-18:00"', 'afternoon = "11:00-18:00"'),
            ("negative_test_hours = 48\n", ""),
            ('night = "18:00-24:00"', 'night = "18:00-25:00"'),
        )
    )
    assert found["border.slot_hours.afternoon"].startswith("11:00-18:00 overlaps morning (06:30-12:00)")
    assert found["border.negative_test_hours"] == "missing; expected a whole number of hours"
    assert "border.slot_hours.night" in found


def test_policy_diff_shows_a_changed_test_window() -> None:
    changed = broken(("negative_test_hours = 48", "negative_test_hours = 72"))
    changes = {c.path: (c.old, c.new) for c in diff_policies(load_policy(None), parse_policy(changed))}
    assert changes == {"border.negative_test_hours": (48, 72)}
