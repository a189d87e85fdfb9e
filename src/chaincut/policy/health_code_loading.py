"""Reading the ``[health_codes]`` section: the colours, least to most restrictive, and the named rules.

Each problem names its key path and what was expected, like the rest of the
policy check (``loading.py``).
"""

from __future__ import annotations

import re
from typing import Any

from chaincut.policy.checker import Checker
from chaincut.policy.model import CODE_RULE_PARAMETERS, CodeRule, CodeRuleKind, HealthCodeRules

__all__ = ["health_code_rules"]

_COLOUR = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
_KINDS = ", ".join(repr(k.value) for k in CodeRuleKind)
_MAX_DAYS = 3650
_PARAMETER_BOUNDS = {"within_days": (0, _MAX_DAYS), "within_hours": (0, 24 * _MAX_DAYS), "min_doses": (1, 20)}


def health_code_rules(check: Checker, data: dict[str, Any]) -> HealthCodeRules | None:
    """The ``[health_codes]`` section, or None (with the problems noted) when any of it is wrong."""
    section = check.section(data, "health_codes", {"colours", "default_colour", "rules"})
    if not section:
        return None
    raw_colours = section.get("colours")
    colours: list[str] = []
    if not isinstance(raw_colours, list) or not raw_colours:
        check.problems.append(
            "health_codes.colours: expected a list of colour names, least to most restrictive, "
            f"got {raw_colours!r}"
        )
    else:
        for i, colour in enumerate(raw_colours):
            if not isinstance(colour, str) or not _COLOUR.match(colour):
                check.problems.append(
                    f"health_codes.colours[{i}]: expected a lower-case name (letters, digits, _), "
                    f"got {colour!r}"
                )
            elif colour in colours:
                check.problems.append(f"health_codes.colours[{i}]: {colour!r} is listed twice")
            else:
                colours.append(colour)
    named = ", ".join(repr(c) for c in colours)
    default = section.get("default_colour")
    if default not in colours:
        check.problems.append(
            f"health_codes.default_colour: expected one of the colours ({named}), got {default!r}"
        )
    rules: dict[str, CodeRule] = {}
    for name, raw in check.table(section.get("rules"), "health_codes.rules").items():
        rule = _code_rule(check, f"health_codes.rules.{name}", name, raw, colours)
        if rule is not None:
            rules[name] = rule
    if check.problems or default not in colours:
        return None
    return HealthCodeRules(tuple(colours), str(default), rules)


def _code_rule(check: Checker, path: str, name: str, raw: Any, colours: list[str]) -> CodeRule | None:
    entry = check.table(raw, path)
    if not entry:
        return None
    before = len(check.problems)
    try:
        kind = CodeRuleKind(str(entry.get("when")))
    except ValueError:
        check.problems.append(f"{path}.when: expected one of {_KINDS}, got {entry.get('when')!r}")
        return None
    needed = CODE_RULE_PARAMETERS[kind]
    allowed = {"when", "colour", "lifted_by_negative_test_hours", "enabled"} | ({needed} if needed else set())
    check.only(entry, path, allowed)
    colour = entry.get("colour")
    if colour not in colours:
        named = ", ".join(repr(c) for c in colours)
        check.problems.append(
            f"{path}.colour: expected one of health_codes.colours ({named}), got {colour!r}"
        )
    value = None
    if needed is not None:
        low, high = _PARAMETER_BOUNDS[needed]
        unit = "vaccine doses" if needed == "min_doses" else None
        value = (
            check.count(entry, path, needed, unit, low=low, high=high)
            if unit
            else check.get(entry, path, needed, int, low=low, high=high)
        )
    lifted = None
    if "lifted_by_negative_test_hours" in entry:
        lifted = check.get(entry, path, "lifted_by_negative_test_hours", int, low=1, high=24 * 365)
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        check.problems.append(f"{path}.enabled: expected true or false, got {enabled!r}")
    if len(check.problems) > before:
        return None
    params = {needed: value} if needed else {}
    return CodeRule(
        name, kind, str(colour), lifted_by_negative_test_hours=lifted, enabled=bool(enabled), **params
    )
