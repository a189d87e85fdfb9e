"""Each value of a policy file with the source its experts wrote for it, for people to read.

The policy cites a source for every value in comments (TOML keeps no comments, so
the text is read line by line here). A value's source is the comment at the end of
its line, else the comment block above it or above an earlier key of the same run
of keys, else the comment just above its table's header. A blank line ends a run.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

__all__ = ["PolicyValue", "policy_values"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_KEY = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=\s*(.*)$")
_HEADER = re.compile(rf"^\s*\[\[?\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]\]?\s*(?:#.*)?$")
_PART = re.compile(_KEY_PART)


@dataclass(frozen=True)
class PolicyValue:
    """One value at its key path (as the checker and the diff name it), and its cited source."""

    path: str
    value: Any
    source: str | None


def _parts(dotted: str) -> list[str]:
    parts = []
    for match in _PART.finditer(dotted):
        part = match.group(0)
        if part[0] in "\"'":
            part = part[1:-1].replace('\\"', '"').replace("\\\\", "\\") if part[0] == '"' else part[1:-1]
        parts.append(part)
    return parts


def _path(parts: list[str]) -> str:
    return ".".join(
        p if _BARE.fullmatch(p) else '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts
    )


def _scan(value: str) -> tuple[str | None, int]:
    """The comment after a value on its line, and how many brackets the value leaves open (a
    multi-line array goes on); '#' and brackets inside strings do not count."""
    depth, quote, escaped = 0, None, False
    for i, ch in enumerate(value):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return value[i + 1 :].strip() or None, depth
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return None, depth


def _sources(text: str) -> dict[str, str]:
    sources: dict[str, str] = {}
    table: list[str] = []
    table_note: str | None = None
    run_note: str | None = None
    pending: list[str] = []
    depth = 0
    string_end: str | None = None  # inside a multi-line string: its closing quotes
    for line in text.splitlines():
        stripped = line.strip()
        if string_end is not None:
            if line.count(string_end) % 2 == 1:
                string_end = None
            continue
        if depth > 0:
            depth += _scan(stripped)[1]
            continue
        if not stripped:
            pending, run_note = [], None
            continue
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        header = _HEADER.match(line)
        if header is not None:
            table = _parts(header.group(1))
            table_note = " ".join(pending) if pending else None
            pending, run_note = [], None
            continue
        key = _KEY.match(line)
        if key is None:
            pending = []
            continue
        if pending:
            run_note = " ".join(pending)
            pending = []
        value = key.group(2)
        opened = next((q for q in ('"""', "'''") if value.count(q) % 2 == 1), None)
        if opened is not None:
            string_end, comment = opened, None
        else:
            comment, opened_brackets = _scan(value)
            depth = max(0, opened_brackets)
        note = comment or run_note or table_note
        if note:
            sources[_path([*table, *_parts(key.group(1))])] = note
    return sources


def _walk(data: dict[str, Any], prefix: list[str], sources: dict[str, str], out: list[PolicyValue]) -> None:
    for key, value in data.items():
        parts = [*prefix, key]
        if isinstance(value, dict):
            _walk(value, parts, sources, out)
        else:
            path = _path(parts)
            # A value inside an inline table or an array of tables: its nearest cited parent's source.
            found = next(
                (sources[p] for p in (_path(parts[:n]) for n in range(len(parts), 0, -1)) if p in sources),
                None,
            )
            out.append(PolicyValue(path, value, found))


def policy_values(text: str) -> list[PolicyValue]:
    """Every value of a policy text (valid TOML) in file order, each with its cited source."""
    values: list[PolicyValue] = []
    _walk(tomllib.loads(text), [], _sources(text), values)
    return values
