"""Fuzzing the policy loader: a mistyped policy file is refused with its problems, never a crash.

Epidemiologists edit the policy by hand. Whatever they save, ``parse_policy`` and
``load_policy`` answer with a Policy or a ``PolicyError`` whose problems name each key
path. The default policy is mutated as text (lines dropped, repeated, characters
changed) and as data (values replaced by any TOML value, keys removed or added), and
written as random bytes and other encodings.
"""

# ruff: noqa: PT017 - a fuzzed call may succeed or be refused, so pytest.raises does not fit

from __future__ import annotations

import datetime as dt
import itertools
import math
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.errors import PolicyError
from chaincut.policy import Policy, default_policy_text, load_policy, parse_policy

DEFAULT_TEXT = default_policy_text()
DEFAULT = tomllib.loads(DEFAULT_TEXT)
FAST = settings(max_examples=150, deadline=None)
_files = itertools.count()


def parsed_or_refused(text: str) -> Policy | None:
    try:
        policy = parse_policy(text, source="fuzzed.toml")
    except PolicyError as exc:
        assert exc.message.startswith("fuzzed.toml: "), exc.message
        assert exc.problems, exc.message
        assert all(isinstance(p, str) and ":" in p for p in exc.problems), exc.problems
        return None
    assert policy.version
    assert policy.venue_types
    return policy


def toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else toml_value(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            c
            if c.isprintable() and c not in '"\\'
            else f"\\u{ord(c):04x}"
            if ord(c) < 0x10000
            else f"\\U{ord(c):08x}"
            for c in value
        )
        return f'"{escaped}"'
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def dump(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer: scalars first, then each sub-table under its own header."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "\n".join(lines) + "\n" if lines else ""
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}.{toml_key(key)}" if prefix else toml_key(key)
            out += f"\n[{name}]\n" + dump(value, name)
    return out


SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, 60, 61, 3650, 3651, 10_080, 10_081, 1_000_001]),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["close", "exposed", "none", "CLOSE", "", " "]),
    st.dates(),
    st.datetimes(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def paths(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    return found


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _delete(data: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


def copy(data: Any) -> Any:
    return {k: copy(v) for k, v in data.items()} if isinstance(data, dict) else data


def test_the_writer_round_trips_the_default_policy() -> None:
    assert tomllib.loads(dump(DEFAULT)) == DEFAULT
    assert parsed_or_refused(dump(DEFAULT)) is not None


@FAST
@given(st.data())
def test_mutated_policy_data_is_refused_with_its_problems(data: st.DataObject) -> None:
    policy = copy(DEFAULT)
    for _ in range(data.draw(st.integers(1, 3))):
        every = paths(policy)
        if not every:
            break
        path = data.draw(st.sampled_from(every))
        edit = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if edit == "replace":
            _set(policy, path, data.draw(VALUES))
        elif edit == "delete":
            _delete(policy, path)
        else:
            _set(policy, (*path[:-1], data.draw(st.text(min_size=1, max_size=8))), data.draw(VALUES))
    parsed_or_refused(dump(policy))


@FAST
@given(st.data())
def test_mutated_policy_text_is_refused_with_its_problems(data: st.DataObject) -> None:
    lines = DEFAULT_TEXT.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(lines) - 1))
        edit = data.draw(st.sampled_from(["drop", "repeat", "char", "truncate", "insert"]))
        if edit == "drop":
            del lines[at]
        elif edit == "repeat":
            lines.insert(at, lines[at])
        elif edit == "char" and lines[at]:
            i = data.draw(st.integers(0, len(lines[at]) - 1))
            lines[at] = lines[at][:i] + data.draw(st.text(min_size=1, max_size=2)) + lines[at][i + 1 :]
        elif edit == "truncate":
            lines[at] = lines[at][: data.draw(st.integers(0, len(lines[at])))]
        else:
            lines.insert(at, data.draw(st.text(max_size=30)))
        if not lines:
            break
    parsed_or_refused("\n".join(lines))


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_is_refused(text: str) -> None:
    parsed_or_refused(text)


@settings(max_examples=60, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(["utf-16", "utf-32", "gb18030", "big5", "latin-1"]).map(
            lambda encoding: DEFAULT_TEXT.encode(encoding, "replace")
        ),
        st.just(b"\xef\xbb\xbf" + DEFAULT_TEXT.encode()),
        st.just(DEFAULT_TEXT.encode()[:-1] + b"\xff"),
    )
)
def test_a_policy_file_of_any_bytes_is_refused_or_loaded(tmp_path_factory: Any, content: bytes) -> None:
    path = tmp_path_factory.mktemp("policy") / f"policy-{next(_files)}.toml"
    path.write_bytes(content)
    try:
        load_policy(path)
    except PolicyError as exc:
        assert str(path) in exc.message or "cannot read" in exc.message, exc.message


def test_a_missing_or_unreadable_policy_file_is_refused(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.toml", tmp_path):
        try:
            load_policy(path)
        except PolicyError as exc:
            assert str(path) in exc.message
        else:
            raise AssertionError(f"{path} loaded")
