"""Reading the ``[reproduction_number]`` section: how R_t is estimated, each value checked by key path.

The values are real numbers (a prior mean of 5, a coefficient of variation of 0.3), which
the integer checks of ``Checker.get`` do not take; whole numbers are accepted for them too.
"""

from __future__ import annotations

import math
from typing import Any

from chaincut.policy.checker import Checker
from chaincut.policy.model import ReproductionNumberRules

__all__ = ["REPRODUCTION_KEYS", "reproduction_number_rules"]

_SECTION = "reproduction_number"
REPRODUCTION_KEYS = frozenset(
    {
        "window_days",
        "prior_mean",
        "prior_sd",
        "max_posterior_cv",
        "serial_interval_mean_days",
        "serial_interval_sd_days",
    }
)


def reproduction_number_rules(check: Checker, data: dict[str, Any]) -> ReproductionNumberRules | None:
    """The ``[reproduction_number]`` section, or None (with the problems noted) when any of it is wrong."""
    section = check.section(data, _SECTION, set(REPRODUCTION_KEYS))
    if not section and _SECTION not in data:
        return None
    before = len(check.problems)
    window = check.get(section, _SECTION, "window_days", int, low=1, high=90)
    prior_mean = _number(check, section, "prior_mean", "", above=0.0, high=1000.0)
    prior_sd = _number(check, section, "prior_sd", "", above=0.0, high=1000.0)
    cv = _number(check, section, "max_posterior_cv", "", above=0.0, high=1.0)
    # EpiEstim's serial interval is a gamma offset by one day: its mean must exceed one day.
    si_mean = _number(check, section, "serial_interval_mean_days", " days", above=1.0, high=60.0)
    si_sd = _number(check, section, "serial_interval_sd_days", " days", above=0.0, high=60.0)
    if len(check.problems) > before:
        return None
    assert prior_mean is not None
    assert prior_sd is not None
    assert cv is not None
    assert si_mean is not None
    assert si_sd is not None
    return ReproductionNumberRules(
        window_days=window,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
        max_posterior_cv=cv,
        serial_interval_mean_days=si_mean,
        serial_interval_sd_days=si_sd,
    )


def _number(
    check: Checker, table: dict[str, Any], key: str, unit: str, *, above: float, high: float
) -> float | None:
    full = f"{_SECTION}.{key}"
    expected = f"a number{unit and ' of' + unit} greater than {above:g} and at most {high:g}"
    if key not in table:
        check.problems.append(f"{full}: missing; expected {expected}")
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        check.problems.append(f"{full}: expected {expected}, got {value!r}")
        return None
    number = float(value)
    if not math.isfinite(number) or number <= above or number > high:
        check.problems.append(f"{full}: expected {expected}, got {value!r}")
        return None
    return number
