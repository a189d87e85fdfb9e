"""Checking the values of a policy file: each problem names its key path and what was expected.

Every section loader (``loading``, ``border_loading``, ``health_code_loading``) reads its values
through one ``Checker``, which collects the problems so the whole file is reported at once.
"""

from __future__ import annotations

from typing import Any

from chaincut.domain.contacts import Tier

__all__ = ["Checker"]

_UNITS = {"_minutes": "minutes", "_days": "days", "_seconds": "seconds", "_hours": "hours"}
_TIERS = ", ".join(repr(t.value) for t in Tier)


class Checker:
    """Collects every problem of a policy file, each naming its key path and what was expected."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def table(self, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problems.append(f"{path}: expected a table" + ("" if data is not None else ", missing"))
            return {}
        return data

    def only(self, table: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.problems.append(f"{path}.{key}: unknown key; expected one of {', '.join(sorted(allowed))}")

    def get(self, table: dict[str, Any], path: str, key: str, kind: type, **bounds: int) -> Any:
        return self._value(table, path, key, kind, None, bounds)

    def count(self, table: dict[str, Any], path: str, key: str, unit: str, *, low: int, high: int) -> Any:
        """A whole number of ``unit`` (travellers, ...) that the key's name does not state."""
        return self._value(table, path, key, int, unit, {"low": low, "high": high})

    def _value(
        self, table: dict[str, Any], path: str, key: str, kind: type, unit: str | None, bounds: dict[str, int]
    ) -> Any:
        full = f"{path}.{key}" if path else key
        unit = unit or next(
            (
                u
                for sfx, u in _UNITS.items()
                if key.endswith(sfx) or key.startswith(sfx[1:] + "_") or f"{sfx}_" in key
            ),
            None,
        )
        expected = f"a whole number of {unit}" if unit else ("an integer" if kind is int else "a string")
        if key not in table:
            self.problems.append(f"{full}: missing; expected {expected}")
            return None
        value = table[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.problems.append(f"{full}: expected {expected}, got {value!r}")
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

    def tier(self, table: dict[str, Any], path: str, key: str = "tier") -> Tier | None:
        full = f"{path}.{key}"
        if key not in table:
            self.problems.append(f"{full}: missing; expected one of {_TIERS}")
            return None
        return self._tier_value(table[key], full)

    def _tier_value(self, value: Any, full: str) -> Tier | None:
        try:
            return Tier(value)
        except ValueError:
            self.problems.append(f"{full}: expected one of {_TIERS}, got {value!r}")
            return None

    def tiers(self, table: dict[str, Any], path: str, key: str) -> frozenset[Tier] | None:
        full = f"{path}.{key}"
        value = table.get(key)
        if not isinstance(value, list):
            self.problems.append(f"{full}: expected a list of tiers ({_TIERS}), got {value!r}")
            return None
        found = [self._tier_value(v, f"{full}[{i}]") for i, v in enumerate(value)]
        return None if None in found else frozenset(t for t in found if t is not None)

    def section(self, data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
        table = self.table(data.get(name), name)
        self.only(table, name, allowed)
        return table
