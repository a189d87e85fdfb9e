"""The policy's ``[reproduction_number]`` section: its shipped values, and bad values named by key."""

from __future__ import annotations

import pytest

from chaincut.errors import PolicyError
from chaincut.policy import default_policy_text, load_policy, parse_policy
from chaincut.policy.diff import diff_policies, policy_document
from support.policy_edits import problems_of_edits


def problems_of(*edits: tuple[str, str]) -> dict[str, str]:
    return problems_of_edits("reproduction_number", *edits)


def test_the_shipped_values_are_epiestim_s_defaults_and_a_published_serial_interval() -> None:
    rules = load_policy(None).reproduction_number
    assert rules.window_days == 7
    assert (rules.prior_mean, rules.prior_sd, rules.max_posterior_cv) == (5.0, 5.0, 0.3)
    assert (rules.serial_interval_mean_days, rules.serial_interval_sd_days) == (
        4.7,
        2.9,
    )  # Nishiura et al. 2020


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("window_days = 7", "window_days = 0", "window_days", "expected at least 1, got 0"),
        ("window_days = 7", "window_days = 7.5", "window_days", "expected a whole number of days, got 7.5"),
        ("prior_mean = 5.0", "prior_mean = 0", "prior_mean", "greater than 0 and at most 1000, got 0"),
        ("prior_sd = 5.0", 'prior_sd = "five"', "prior_sd", "got 'five'"),
        ("prior_sd = 5.0", "prior_sd = nan", "prior_sd", "got nan"),
        ("max_posterior_cv = 0.3", "max_posterior_cv = 1.5", "max_posterior_cv", "at most 1, got 1.5"),
        ("max_posterior_cv = 0.3", "max_posterior_cv = true", "max_posterior_cv", "got True"),
        (
            "serial_interval_mean_days = 4.7",
            "serial_interval_mean_days = 1",
            "serial_interval_mean_days",
            "expected a number of days greater than 1 and at most 60, got 1",
        ),
        (
            "serial_interval_sd_days = 2.9",
            "serial_interval_sd_days = -2",
            "serial_interval_sd_days",
            "got -2",
        ),
        (
            "serial_interval_sd_days = 2.9\n",
            "",
            "serial_interval_sd_days",
            "missing; expected a number of days",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(old: str, new: str, key: str, problem: str) -> None:
    by_path = problems_of((old, new))
    assert problem in by_path[f"reproduction_number.{key}"]


def test_an_unknown_key_and_a_missing_section_are_named() -> None:
    by_path = problems_of(("window_days = 7", "window_days = 7\nwindow = 7"))
    assert by_path["reproduction_number.window"].startswith("unknown key")
    text = default_policy_text()
    older = text[: text.index("[reproduction_number]")]  # a policy file from before R_t
    with pytest.raises(PolicyError) as caught:
        parse_policy(older)
    assert "reproduction_number: expected a table, missing" in caught.value.problems


def test_policy_diff_and_show_list_the_section() -> None:
    policy = load_policy(None)
    assert policy_document(policy)["reproduction_number"]["serial_interval_mean_days"] == 4.7
    edited = default_policy_text().replace(
        "serial_interval_mean_days = 4.7", "serial_interval_mean_days = 5.2"
    )
    changes = diff_policies(policy, parse_policy(edited))
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("reproduction_number.serial_interval_mean_days", 4.7, 5.2)
    ]
