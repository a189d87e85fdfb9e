"""Turn the check-in and check-out instants of an import file into Unix seconds.

An instant is accepted only when it cannot be misread: ISO 8601 with an explicit UTC
offset (``2026-03-01T10:15:00+08:00``, ``...Z``), Unix seconds (``1767225600``,
``"1767225600.5"``, or a JSON/Parquet number), or a Parquet timestamp that carries a
time zone. A local time without an offset (``2026-03-01 10:15``) is refused, never
guessed: the importer cannot know which zone the venue's clock was in.

Time representation: whole seconds since 1970-01-01T00:00:00Z as int64. Fractions of a
second are dropped by flooring (``10:15:00.9`` gives ``10:15:00``; ``-0.5`` gives
``-1``), so an instant never moves later than it was recorded.

ISO strings are parsed by Arrow's ISO 8601 parser. Besides the canonical form it accepts
a space for ``T``, ``+0800`` and ``+08`` offsets and minute or hour precision; it refuses
impossible calendar dates (``2026-02-30``) and lower-case ``t``/``z``. Unix seconds are
decimals with at most 9 places (an exponent is tolerated, thousands separators are not).
Surrounding whitespace is ignored. Whether an instant is plausible (not in 2300, not
milliseconds read as seconds) is for the caller to judge.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["describe_instant_error", "parse_instants"]

Seconds = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_EXPECTED = "expected ISO 8601 with a UTC offset (2026-03-01T10:15:00+08:00) or Unix seconds"
_UTC_SECONDS = pa.timestamp("s", tz="UTC")
_UTC_NANOS = pa.timestamp("ns", tz="UTC")
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# Anything Arrow's tz-aware cast can accept starts with a full date and ends with a zone;
# used only to keep hopeless values out of the per-element bisection.
_ISO_WITH_OFFSET = r"^\d{4}-\d\d-\d\d[T ].*(?:Z|[+-]\d\d(?::?\d\d)?)$"
_ISO_NAIVE = r"^\d{4}-\d\d-\d\d(?:[T ][0-9:.]*)?$"
_FRACTION = r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)\.\d+"
# Everything Arrow's decimal parser might take; it has the last word.
_UNIX_SECONDS = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_DECIMAL_SECONDS = pa.decimal128(28, 9)
_SAMPLE_SIZE = 256
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError)
_SHOWN_CHARS = 64


def parse_instants(values: pa.Array | pa.ChunkedArray) -> tuple[Seconds, Mask]:
    """Convert a column of instants to Unix seconds, flagging each one that is unusable.

    Returns ``(seconds, ok)``: int64 epoch seconds (0 where not ok) and a bool mask.
    Nulls, empty strings, naive local times and naive Parquet timestamps are not ok.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    kind = values.type
    if pa.types.is_dictionary(kind):
        return _parse_dictionary(values)
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return _rejected(len(values))
        return _from_ints(values.cast(pa.int64()), _PER_SECOND[kind.unit])
    if pa.types.is_integer(kind):
        return _parse_integers(values)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _parse_floats(values.cast(pa.float64()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_strings(values)
    if pa.types.is_string_view(kind):
        return _parse_strings(values.cast(pa.string()))
    return _rejected(len(values))


def describe_instant_error(value: str | None) -> str:
    """Explain to the data owner why an instant was refused, showing what they sent."""
    text = "" if value is None else value.strip()
    if not text:
        return f"{_EXPECTED}, got nothing"
    shown = value if value is not None and len(value) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}..."
    column = pa.array([text], pa.string())
    if _matches(column, _ISO_NAIVE)[0]:
        hint = " (no UTC offset: add Z or the offset, e.g. +08:00)"
    elif _matches(column, _ISO_WITH_OFFSET)[0]:
        hint = " (not a real date and time)"
    else:
        hint = ""
    return f"{_EXPECTED}, got {shown!r}{hint}"


def _rejected(size: int) -> tuple[Seconds, Mask]:
    return np.zeros(size, np.int64), np.zeros(size, np.bool_)


def _valid(values: pa.Array) -> Mask:
    mask: Mask = values.is_valid().to_numpy(zero_copy_only=False)
    return mask


def _from_ints(ints: pa.Array, per_second: int) -> tuple[Seconds, Mask]:
    ok = _valid(ints)
    raw = np.asarray(pc.fill_null(ints, 0).to_numpy(zero_copy_only=False), np.int64)
    seconds: Seconds = raw // per_second if per_second != 1 else raw.copy()
    seconds[~ok] = 0
    return seconds, ok


def _parse_dictionary(values: pa.DictionaryArray) -> tuple[Seconds, Mask]:
    # Parse each distinct value once: refs and instants repeat a lot in exports.
    word_seconds, word_ok = parse_instants(values.dictionary)
    ok = _valid(values.indices)
    indices = np.asarray(pc.fill_null(values.indices, 0).to_numpy(zero_copy_only=False), np.intp)
    if len(word_seconds) == 0:
        return _rejected(len(values))
    seconds: Seconds = word_seconds[indices]
    ok &= word_ok[indices]
    seconds[~ok] = 0
    return seconds, ok


def _parse_integers(values: pa.Array) -> tuple[Seconds, Mask]:
    if values.type == pa.uint64():
        limit = pa.scalar(np.iinfo(np.int64).max, pa.uint64())
        too_big = pc.fill_null(pc.greater(values, limit), False)
        values = pc.if_else(too_big, pa.scalar(None, pa.uint64()), values)
    return _from_ints(values.cast(pa.int64()), 1)


def _parse_floats(values: pa.Array) -> tuple[Seconds, Mask]:
    raw = np.asarray(pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False), np.float64)
    limit = float(2**62)
    ok = _valid(values) & np.isfinite(raw) & (np.abs(raw) < limit)
    seconds: Seconds = np.floor(np.where(ok, raw, 0.0)).astype(np.int64)
    return seconds, ok


def _parse_strings(values: pa.Array) -> tuple[Seconds, Mask]:
    # Exports are uniform, so one whole-array cast usually does it. A failing Arrow cast
    # costs about 40 times a succeeding one, so a small sample picks the form to try.
    sample = values.slice(0, _SAMPLE_SIZE).drop_null()
    for convert in _FORMS if len(sample) else ():
        try:
            convert(sample)
        except _CAST_ERRORS:
            continue
        try:
            return convert(values)
        except _CAST_ERRORS:
            break
    return _parse_mixed_strings(values)


def _iso_seconds(values: pa.Array) -> tuple[Seconds, Mask]:
    return _from_ints(pc.cast(values, _UTC_SECONDS).cast(pa.int64()), 1)


def _iso_nanos(values: pa.Array) -> tuple[Seconds, Mask]:
    return _from_ints(pc.cast(values, _UTC_NANOS).cast(pa.int64()), _PER_SECOND["ns"])


def _unix_integers(values: pa.Array) -> tuple[Seconds, Mask]:
    # Arrow's integer cast also reads hexadecimal, which no exporter means as seconds.
    if pc.any(pc.match_substring(values, "x", ignore_case=True)).as_py():
        raise pa.ArrowInvalid("hexadecimal is not Unix seconds")
    return _from_ints(pc.cast(values, pa.int64()), 1)


def _unix_decimals(values: pa.Array) -> tuple[Seconds, Mask]:
    # Through decimal, not float: 1767225600.999999999 must floor to ...600, not ...601.
    exact = pc.cast(values, _DECIMAL_SECONDS)
    return _from_ints(pc.cast(pc.floor(exact), pa.int64()), 1)


_FORMS: tuple[Callable[[pa.Array], tuple[Seconds, Mask]], ...] = (
    _iso_seconds,
    _iso_nanos,
    _unix_integers,
    _unix_decimals,
)


def _parse_mixed_strings(values: pa.Array) -> tuple[Seconds, Mask]:
    seconds, ok = _rejected(len(values))
    trimmed = pc.utf8_trim_whitespace(values)
    # Dropping the fraction of the wall-clock time is flooring the instant, and lets the
    # widest unit (seconds) parse it.
    whole = pc.replace_substring_regex(trimmed, _FRACTION, r"\1")
    for column, pattern, convert in (
        (whole, _ISO_WITH_OFFSET, _iso_seconds),
        (trimmed, _UNIX_SECONDS, _unix_decimals),
    ):
        rows = np.flatnonzero(_matches(column, pattern))
        if len(rows):
            _convert_bisecting(column.take(pa.array(rows)), rows, convert, seconds, ok)
    return seconds, ok


def _matches(values: pa.Array, pattern: str) -> Mask:
    found = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    mask: Mask = found.to_numpy(zero_copy_only=False)
    return mask


def _convert_bisecting(
    candidates: pa.Array,
    rows: npt.NDArray[np.intp],
    convert: Callable[[pa.Array], tuple[Seconds, Mask]],
    seconds: Seconds,
    ok: Mask,
) -> None:
    """Convert what Arrow accepts, halving around the values it refuses (rare: bad dates)."""
    pending = [(0, len(candidates))]
    while pending:
        start, stop = pending.pop()
        try:
            part_seconds, part_ok = convert(candidates.slice(start, stop - start))
        except _CAST_ERRORS:
            if stop - start > 1:
                middle = (start + stop) // 2
                pending.extend(((middle, stop), (start, middle)))
            continue
        target = rows[start:stop]
        seconds[target] = part_seconds
        ok[target] = part_ok
