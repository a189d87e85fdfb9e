"""The policy's ``[signed_codes]`` section: how long a signed health code is valid, and how long an
offline checkpoint's bundle may be used."""

from __future__ import annotations

import pytest

from chaincut.errors import PolicyError
from chaincut.policy import default_policy_text, parse_policy
from chaincut.policy.diff import diff_policies

DEFAULT = default_policy_text()


def test_the_default_codes_are_valid_for_24_hours() -> None:
    assert parse_policy(DEFAULT).signed_codes.valid_hours == 24


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "signed_codes.valid_hours"),
        ('"24"', "signed_codes.valid_hours"),
        ("10000", "signed_codes.valid_hours"),
    ],
)
def test_a_wrong_validity_is_named_by_its_key(value: str, expected: str) -> None:
    broken = DEFAULT.replace("valid_hours = 24", f"valid_hours = {value}")
    with pytest.raises(PolicyError) as caught:
        parse_policy(broken)
    assert any(problem.startswith(expected) for problem in caught.value.problems), caught.value.problems


def test_a_missing_section_is_named() -> None:
    start = DEFAULT.index("[signed_codes]")
    end = DEFAULT.index("[border]")
    with pytest.raises(PolicyError) as caught:
        parse_policy(DEFAULT[:start] + DEFAULT[end:])
    assert any("signed_codes" in problem for problem in caught.value.problems)


def test_the_diff_shows_a_changed_validity() -> None:
    changed = DEFAULT.replace("valid_hours = 24", "valid_hours = 12")
    changes = diff_policies(DEFAULT, changed)
    assert any("signed_codes.valid_hours" in str(change) for change in changes)


def test_an_offline_bundle_may_be_used_for_6_hours_by_default() -> None:
    assert parse_policy(DEFAULT).signed_codes.bundle_max_age_hours == 6


@pytest.mark.parametrize("value", ["0", '"6"', "1000", "6.5"])
def test_a_wrong_bundle_age_is_named_by_its_key(value: str) -> None:
    broken = DEFAULT.replace("bundle_max_age_hours = 6", f"bundle_max_age_hours = {value}")
    with pytest.raises(PolicyError) as caught:
        parse_policy(broken)
    problems = caught.value.problems
    assert any(p.startswith("signed_codes.bundle_max_age_hours: expected") for p in problems), problems


def test_a_missing_bundle_age_is_named_and_the_diff_shows_a_changed_one() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(DEFAULT.replace("bundle_max_age_hours = 6\n", ""))
    assert (
        "signed_codes.bundle_max_age_hours: missing; expected a whole number of hours"
        in caught.value.problems
    )
    changes = diff_policies(DEFAULT, DEFAULT.replace("bundle_max_age_hours = 6", "bundle_max_age_hours = 2"))
    assert any("signed_codes.bundle_max_age_hours" in str(change) for change in changes)
