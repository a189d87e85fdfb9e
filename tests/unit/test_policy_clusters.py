"""The policy's ``[clusters]`` section: its shipped values, and bad values named by key."""

from __future__ import annotations

import pytest

from chaincut.errors import PolicyError
from chaincut.policy import default_policy_text, load_policy, parse_policy
from chaincut.policy.diff import policy_document
from support.policy_edits import problems_of_edits


def problems_of(*edits: tuple[str, str]) -> dict[str, str]:
    return problems_of_edits("clusters", *edits)


def test_the_shipped_values() -> None:
    rules = load_policy(None).clusters
    assert (rules.min_cases, rules.interval_days, rules.active_days) == (2, 14, 28)
    assert rules.coarse_exposure_days_before_onset == 14  # the building list's own definition
    assert rules.merge_min_shared_cases == 2
    assert {"hospital", "clinic", "laboratory", "quarantine", "treatment_facility", "airport"} == set(
        rules.non_linking_kinds
    )
    assert rules.attach_only_kinds == frozenset({"residence"})
    assert [kind for kind, _ in rules.building_kinds][:2] == ["social_service", "hospital"]  # file order


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("min_cases = 2", "min_cases = 1", "min_cases", "expected at least 2, got 1"),
        ("interval_days = 14", "interval_days = -1", "interval_days", "expected at least 0, got -1"),
        (
            "active_days = 28",
            'active_days = "28"',
            "active_days",
            "expected a whole number of days, got '28'",
        ),
        (
            "coarse_exposure_days_before_onset = 14\n",
            "",
            "coarse_exposure_days_before_onset",
            "missing; expected a whole number of days",
        ),
        (
            "merge_min_shared_cases = 2",
            "merge_min_shared_cases = 0",
            "merge_min_shared_cases",
            "at least 1, got 0",
        ),
        (
            'non_linking_kinds = ["hospital"',
            'non_linking_kinds = [1, "hospital"',
            "non_linking_kinds",
            "got [1,",
        ),
        (
            'attach_only_kinds = ["residence"]',
            'attach_only_kinds = ["hospital"]',
            "attach_only_kinds",
            "also in",
        ),
        (
            'hospital = ["hospital"',
            'hospital = ["", "hospital"',
            "building_kinds.hospital",
            "non-empty strings",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(old: str, new: str, key: str, problem: str) -> None:
    by_path = problems_of((old, new))
    assert problem in by_path[f"clusters.{key}"]


def test_an_unknown_key_and_a_missing_section_are_named() -> None:
    by_path = problems_of(("min_cases = 2", "min_cases = 2\nminimum = 2"))
    assert by_path["clusters.minimum"].startswith("unknown key")
    text = default_policy_text()
    older = text[: text.index("[clusters]")]  # a policy file from before clusters
    with pytest.raises(PolicyError) as caught:
        parse_policy(older)
    assert caught.value.problems == ["clusters: expected a table, missing"]


def test_policy_show_lists_the_section() -> None:
    document = policy_document(load_policy(None))["clusters"]
    assert document["merge_min_shared_cases"] == 2
    assert document["building_kinds"]["hospital"] == ["hospital", "sanatorium"]
