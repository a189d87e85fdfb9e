"""Packed columns: what goes in comes out, the same columns pack the same, damaged bytes are refused."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincut.errors import InvalidInput
from chaincut.store.packed_columns import pack_columns, unpack_columns


def _columns() -> dict[str, np.ndarray]:
    return {
        "case": np.array([3, -1, 2**62], dtype=np.int64),
        "setting": np.array([0, -1, 1], dtype=np.int32),
        "settings": np.array(["venue:v-1", "building:樂富"], dtype=np.str_),
        "kind": np.array([1, 2, -1], dtype=np.int8),
        "seen": np.array([True, False, True]),
        "none": np.zeros(0, dtype=np.int64),
    }


def test_columns_come_back_with_their_names_types_and_values() -> None:
    out = unpack_columns(pack_columns(_columns()))

    assert list(out) == list(_columns())
    for name, column in _columns().items():
        assert out[name].dtype == column.dtype, name
        assert out[name].tolist() == column.tolist(), name


@given(st.lists(st.integers(-(2**63), 2**63 - 1)), st.lists(st.text(max_size=12)))
def test_any_integers_and_text_round_trip_and_pack_alike(ints: list[int], texts: list[str]) -> None:
    columns = {"n": np.array(ints, dtype=np.int64), "t": np.array(texts, dtype=np.str_)}
    packed = pack_columns(columns)

    out = unpack_columns(packed)
    assert out["n"].tolist() == ints
    assert out["t"].tolist() == [t.rstrip("\x00") for t in texts]  # NumPy's text drops trailing NULs
    assert pack_columns({"n": out["n"], "t": out["t"]}) == packed


def test_a_big_endian_column_is_stored_little_endian_with_the_same_values() -> None:
    column = np.array([1, 2, 300], dtype=">i4")

    out = unpack_columns(pack_columns({"x": column}))["x"]

    assert out.dtype == np.dtype("<i4")
    assert out.tolist() == [1, 2, 300]


def test_floats_objects_and_tables_are_refused_when_packing() -> None:
    for bad in (np.array([1.5]), np.array([object()], dtype=object), np.zeros((2, 2), dtype=np.int64)):
        with pytest.raises(ValueError, match="column 'x'"):
            pack_columns({"x": bad})


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda b: b[:-1], "runs past the end"),
        (lambda b: b + b"\0", "1 bytes after the last column"),
        (lambda b: b[:3], "damaged"),
        (lambda b: b.replace(b"<i8", b"<f8"), "dtype <f8"),
        (lambda b: b.replace(b"<i8", b"|O8"), "damaged"),
        (lambda b: b[:4] + b"{" + b[5:], "damaged"),
    ],
)
def test_damaged_bytes_are_refused_with_what_is_wrong(damage: Callable[[bytes], bytes], says: str) -> None:
    packed = pack_columns({"case": np.array([1, 2], dtype=np.int64), "t": np.array(["a"], dtype=np.str_)})

    with pytest.raises(InvalidInput, match=says):
        unpack_columns(damage(packed))
