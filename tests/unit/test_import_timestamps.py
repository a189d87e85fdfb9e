"""Instants in import files: accepted forms, refused ones, flooring, typed columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.whereabouts.importing.timestamps import describe_instant_error, parse_instants

T = 1_772_331_300  # 2026-03-01T02:15:00Z, i.e. 10:15 in Hong Kong


def parsed(values: Sequence[object], kind: pa.DataType | None = None) -> list[int | None]:
    seconds, ok = parse_instants(pa.array(values, kind))
    assert seconds.dtype == np.int64
    assert ok.dtype == np.bool_
    assert not seconds[~ok].any()
    return [int(second) if good else None for second, good in zip(seconds, ok, strict=True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:15:00+08:00", T),
        ("2026-03-01T02:15:00Z", T),
        ("2026-03-01T02:15:00+00:00", T),
        ("2026-03-01T01:15:00-01:00", T),
        ("2026-03-01 10:15:00+08:00", T),
        ("2026-03-01T10:15:00+0800", T),
        ("2026-03-01T10:15+08:00", T),
        ("2026-03-01T10:15:00.999+08:00", T),
        ("2026-03-01T10:15:00.123456789Z", T + 8 * 3600),
        ("2026-03-01T10:15:00.1234567891Z", T + 8 * 3600),
        ("  2026-03-01T10:15:00+08:00 ", T),
        ("1772331300", T),
        ("1772331300.5", T),
        ("1772331300.999999999", T),
        ("-0.5", -1),
        ("-1", -1),
        ("0", 0),
    ],
)
def test_accepted_strings(text: str, expected: int) -> None:
    assert parsed([text]) == [expected]
    # The same value among refused ones takes the element-by-element path.
    assert parsed([text, "nonsense", None]) == [expected, None, None]


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T10:15:00",  # naive: which zone?
        "2026-03-01 10:15",
        "2026-03-01",
        "2026-02-30T10:15:00Z",  # no such day
        "2026-03-01T24:00:00Z",
        "2026-03-01T10:15:00+25:00",
        "2026-03-01t10:15:00z",
        "10:15",
        "yesterday",
        "1,772,331,300",
        "0x10",
        "1772331300.0000000001",
        "",
        "   ",
    ],
)
def test_refused_strings(text: str) -> None:
    assert parsed([text]) == [None]
    assert parsed(["2026-03-01T10:15:00+08:00", text]) == [T, None]


def test_nulls_are_not_instants() -> None:
    assert parsed([None, "2026-03-01T10:15:00+08:00"]) == [None, T]
    assert parsed([None, None], pa.string()) == [None, None]
    assert parsed([], pa.string()) == []


def test_fractions_floor_even_before_1970() -> None:
    assert parsed(["1969-12-31T23:59:59.5Z", "1970-01-01T00:00:00.5Z"]) == [-1, 0]
    assert parsed([-0.5, 0.5, -1.0]) == [-1, 0, -1]


def test_far_years_parse_at_second_precision() -> None:
    assert parsed(["2300-01-01T00:00:00.5Z", "0001-01-01T00:00:00Z"]) == [
        10_413_792_000,
        -62_135_596_800,
    ]


def test_uniform_columns_of_each_form() -> None:
    iso = [f"2026-03-01T10:15:{second:02d}+08:00" for second in range(60)]
    assert parsed(iso) == [T + second for second in range(60)]
    fractional = [f"2026-03-01T02:15:{second:02d}.250Z" for second in range(60)]
    assert parsed(fractional) == [T + second for second in range(60)]
    assert parsed([str(T + n) for n in range(300)]) == [T + n for n in range(300)]
    assert parsed([f"{T + n}.75" for n in range(300)]) == [T + n for n in range(300)]


@pytest.mark.parametrize("kind", [pa.int64(), pa.int32(), pa.uint32(), pa.uint64()])
def test_integer_columns_are_unix_seconds(kind: pa.DataType) -> None:
    assert parsed([1_000_000_000, None, 0], kind) == [1_000_000_000, None, 0]


def test_out_of_range_unsigned_is_refused() -> None:
    assert parsed([2**63, 5], pa.uint64()) == [None, 5]


def test_float_columns_floor_and_refuse_non_finite() -> None:
    values = [1772331300.5, float("nan"), float("inf"), None, 1e30]
    assert parsed(values, pa.float64()) == [T, None, None, None, None]
    assert parsed([1.5, -1.5], pa.float32()) == [1, -2]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Hong_Kong", "+08:00"])
def test_zoned_timestamps_are_taken_whatever_the_unit(unit: str, zone: str) -> None:
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    raw = pa.array([T * per_second + per_second // 2, -per_second // 2, None], pa.int64())
    column = raw.cast(pa.timestamp(unit, tz=zone))
    assert parsed_column(column) == [T, -1, None]


def parsed_column(column: pa.Array | pa.ChunkedArray) -> list[int | None]:
    seconds, ok = parse_instants(column)
    return [int(second) if good else None for second, good in zip(seconds, ok, strict=True)]


def test_naive_timestamps_from_parquet_are_refused() -> None:
    column = pa.array([T], pa.int64()).cast(pa.timestamp("s"))
    assert parsed_column(column) == [None]


def test_dictionary_and_chunked_columns() -> None:
    words = pa.array(["2026-03-01T10:15:00+08:00", "nonsense", None, "2026-03-01T10:15:00+08:00"])
    assert parsed_column(words.dictionary_encode()) == [T, None, None, T]
    chunked = pa.chunked_array([["1772331300"], ["bad", "1772331301"]])
    assert parsed_column(chunked) == [T, None, T + 1]
    assert parsed_column(pa.chunked_array([], pa.string())) == []


def test_other_types_are_refused() -> None:
    assert parsed_column(pa.array([True, False])) == [None, None]
    assert parsed_column(pa.array([None, None])) == [None, None]
    assert parsed_column(pa.array([T], pa.int64()).cast(pa.date64())) == [None]


def test_large_and_view_strings() -> None:
    assert parsed_column(pa.array(["1772331300"], pa.large_string())) == [T]
    assert parsed_column(pa.array(["2026-03-01T02:15:00Z"], pa.string_view())) == [T]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2026-03-01 10:15",
            "expected ISO 8601 with a UTC offset (2026-03-01T10:15:00+08:00) or Unix seconds, "
            "got '2026-03-01 10:15' (no UTC offset: add Z or the offset, e.g. +08:00)",
        ),
        (
            "2026-02-30T10:15:00Z",
            "expected ISO 8601 with a UTC offset (2026-03-01T10:15:00+08:00) or Unix seconds, "
            "got '2026-02-30T10:15:00Z' (not a real date and time)",
        ),
        (
            "soon",
            "expected ISO 8601 with a UTC offset (2026-03-01T10:15:00+08:00) or Unix seconds, got 'soon'",
        ),
        (
            None,
            "expected ISO 8601 with a UTC offset (2026-03-01T10:15:00+08:00) or Unix seconds, got nothing",
        ),
        (
            "  ",
            "expected ISO 8601 with a UTC offset (2026-03-01T10:15:00+08:00) or Unix seconds, got nothing",
        ),
    ],
)
def test_error_descriptions(value: str | None, message: str) -> None:
    assert describe_instant_error(value) == message


def test_error_description_shortens_long_values() -> None:
    message = describe_instant_error("x" * 500)
    assert message.endswith("'" + "x" * 64 + "...'")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 12, 31),
    timezones=st.just(UTC),
)
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(max_examples=200, deadline=None)
@given(moments=st.lists(st.tuples(instants, offsets), min_size=1, max_size=20))
def test_iso_with_any_offset_and_unix_seconds_agree(
    moments: list[tuple[datetime, timezone]],
) -> None:
    since_epoch = [moment - EPOCH for moment, _ in moments]
    expected = [elapsed // timedelta(seconds=1) for elapsed in since_epoch]
    iso = [moment.astimezone(offset).isoformat() for moment, offset in moments]
    as_z = [moment.isoformat().replace("+00:00", "Z") for moment, _ in moments]
    unix = [str(second) for second in expected]
    fractional_unix = [
        f"{Decimal(elapsed // timedelta(microseconds=1)).scaleb(-6):f}" for elapsed in since_epoch
    ]
    assert parsed(iso) == expected
    assert parsed(as_z) == expected
    assert parsed(unix) == expected
    assert parsed(fractional_unix) == expected
    mixed = [iso[0], *unix[1:]]
    assert parsed(mixed) == expected
