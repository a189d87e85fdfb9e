"""Reading and checking the policy file, reporting every problem by key path."""

from __future__ import annotations

import hashlib
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from chaincut.errors import PolicyError
from chaincut.policy.model import Policy, RetentionRules, UploadRules, VenueTypeRule

__all__ = ["default_policy_text", "load_policy", "parse_policy"]


def default_policy_text() -> str:
    """The policy chaincut ships, with a source cited for every value."""
    return (resources.files("chaincut.policy") / "default.toml").read_text(encoding="utf-8")


def load_policy(path: Path | None) -> Policy:
    """The policy at ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        return parse_policy(default_policy_text(), source="default policy")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
    return parse_policy(text, source=str(path))


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def table(self, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problems.append(f"{path}: expected a table")
            return {}
        return data

    def only(self, table: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.problems.append(f"{path}.{key}: unknown key; expected one of {', '.join(sorted(allowed))}")

    def get(self, table: dict[str, Any], path: str, key: str, kind: type, **bounds: int) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in table:
            self.problems.append(f"{full}: missing; expected {kind.__name__}")
            return None
        value = table[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.problems.append(f"{full}: expected an integer, got {value!r}")
            return None
        if kind is str and (not isinstance(value, str) or not value.strip()):
            self.problems.append(f"{full}: expected a non-empty string, got {value!r}")
            return None
        low, high = bounds.get("low"), bounds.get("high")
        if low is not None and value < low:
            self.problems.append(f"{full}: expected at least {low}, got {value}")
            return None
        if high is not None and value > high:
            self.problems.append(f"{full}: expected at most {high}, got {value}")
            return None
        return value


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """Check the whole policy text and build a Policy, or raise PolicyError listing all problems."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}", [f"(file): {exc}"]) from exc
    check = _Checker()
    head = check.table(data.get("policy", None), "policy")
    check.only(head, "policy", {"version", "authority"})
    version = check.get(head, "policy", "version", str)
    ret = check.table(data.get("retention", None), "retention")
    check.only(ret, "retention", {"visits_days", "encounters_days"})
    visits_days = check.get(ret, "retention", "visits_days", int, low=1, high=3650)
    encounters_days = check.get(ret, "retention", "encounters_days", int, low=1, high=3650)
    up = check.table(data.get("uploads", None), "uploads")
    check.only(up, "uploads", {"max_records_per_batch", "history_days"})
    max_records = check.get(up, "uploads", "max_records_per_batch", int, low=1, high=1_000_000)
    history_days = check.get(up, "uploads", "history_days", int, low=1, high=3650)
    types_table = check.table(data.get("venue_types", None), "venue_types")
    if not types_table:
        check.problems.append("venue_types: expected at least one venue type")
    venue_types: dict[str, VenueTypeRule] = {}
    for name, raw in types_table.items():
        path = f"venue_types.{name}"
        entry = check.table(raw, path)
        check.only(entry, path, {"label_en", "label_zh", "default_stay_minutes"})
        label_en = check.get(entry, path, "label_en", str)
        label_zh = check.get(entry, path, "label_zh", str)
        stay = check.get(entry, path, "default_stay_minutes", int, low=1, high=7 * 24 * 60)
        if label_en is not None and label_zh is not None and stay is not None:
            venue_types[name] = VenueTypeRule(name, label_en, label_zh, stay)
    known = {"policy", "retention", "uploads", "venue_types"}
    for extra in sorted(set(data) - known):
        check.problems.append(f"{extra}: unknown section; expected one of {', '.join(sorted(known))}")
    if check.problems:
        raise PolicyError(f"{source}: {len(check.problems)} problem(s): {check.problems[0]}", check.problems)
    return Policy(
        version=version,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        retention=RetentionRules(visits_days=visits_days, encounters_days=encounters_days),
        uploads=UploadRules(max_records_per_batch=max_records, history_days=history_days),
        venue_types=venue_types,
    )
