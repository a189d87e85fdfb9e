"""Reading the ``[clusters]`` section: how clusters of cases are inferred, each value checked by key path."""

from __future__ import annotations

from typing import Any

from chaincut.policy.checker import Checker
from chaincut.policy.model import ClusterRules

__all__ = ["CLUSTER_KEYS", "cluster_rules"]

_SECTION = "clusters"
CLUSTER_KEYS = frozenset(
    {
        "min_cases",
        "interval_days",
        "active_days",
        "coarse_exposure_days_before_onset",
        "merge_min_shared_cases",
        "non_linking_kinds",
        "attach_only_kinds",
        "building_kinds",
    }
)


def cluster_rules(check: Checker, data: dict[str, Any]) -> ClusterRules | None:
    """The ``[clusters]`` section, or None (with the problems noted) when any of it is wrong."""
    section = check.section(data, _SECTION, set(CLUSTER_KEYS))
    if not section and _SECTION not in data:
        return None
    before = len(check.problems)
    min_cases = check.count(section, _SECTION, "min_cases", "cases", low=2, high=1000)
    interval = check.get(section, _SECTION, "interval_days", int, low=0, high=90)
    active = check.get(section, _SECTION, "active_days", int, low=1, high=365)
    coarse = check.get(section, _SECTION, "coarse_exposure_days_before_onset", int, low=1, high=60)
    merge = check.count(section, _SECTION, "merge_min_shared_cases", "cases", low=1, high=1000)
    non_linking = _kinds(check, section, "non_linking_kinds")
    attach_only = _kinds(check, section, "attach_only_kinds")
    words = _building_kinds(check, section)
    if non_linking is not None and attach_only is not None:
        for kind in sorted(non_linking & attach_only):
            check.problems.append(
                f"{_SECTION}.attach_only_kinds: {kind!r} is also in non_linking_kinds; "
                "a kind is one or the other"
            )
    if len(check.problems) > before:
        return None
    assert non_linking is not None
    assert attach_only is not None
    assert words is not None
    return ClusterRules(
        min_cases=min_cases,
        interval_days=interval,
        active_days=active,
        coarse_exposure_days_before_onset=coarse,
        merge_min_shared_cases=merge,
        non_linking_kinds=non_linking,
        attach_only_kinds=attach_only,
        building_kinds=words,
    )


def _strings(check: Checker, value: Any, full: str, what: str) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        check.problems.append(f"{full}: expected a list of non-empty strings ({what}), got {value!r}")
        return None
    return tuple(v.strip() for v in value)


def _kinds(check: Checker, table: dict[str, Any], key: str) -> frozenset[str] | None:
    full = f"{_SECTION}.{key}"
    if key not in table:
        check.problems.append(f"{full}: missing; expected a list of setting kinds")
        return None
    kinds = _strings(check, table[key], full, "setting kinds")
    return None if kinds is None else frozenset(kinds)


def _building_kinds(check: Checker, table: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    full = f"{_SECTION}.building_kinds"
    if "building_kinds" not in table:
        check.problems.append(
            f"{full}: missing; expected a table of setting kind = [words in a building's name]"
        )
        return None
    kinds = check.table(table["building_kinds"], full)
    out: list[tuple[str, tuple[str, ...]]] = []
    for kind, words in kinds.items():  # in the file's order: the first match wins
        listed = _strings(check, words, f"{full}.{kind}", "words in a building's name")
        if listed is not None:
            out.append((kind, listed))
    return tuple(out)
