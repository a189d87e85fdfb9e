"""Mapping a bulk file's references to store ids: the hashed lookup equals pyarrow's index_in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chaincut.whereabouts.importing import whereabouts
from chaincut.whereabouts.importing.whereabouts import _RefIndex


def expected(column: pa.Array, refs: pa.Array) -> np.ndarray:
    return np.asarray(pc.index_in(column, value_set=refs).fill_null(-1).to_numpy(zero_copy_only=False))


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whereabouts, "_HASHED_FROM", 1)


@pytest.mark.usefixtures("hashed")
def test_hashed_lookup_equals_index_in() -> None:
    rng = np.random.default_rng(3)
    refs = pa.array(
        [f"P{i:07d}" for i in range(5000)] + ["香港-1", "a", "a-much-longer-reference-of-40-characters!"]
    )
    index = _RefIndex(pa.table({"ref": refs, "id": pa.array(np.arange(len(refs)) * 3 + 7)}))
    assert index._hashes is not None  # the hashed path is the one under test
    values = [f"P{i:07d}" for i in rng.integers(0, 6000, 3000)] + ["香港-1", "a", "", "P0000001 ", None]
    values.append("a-much-longer-reference-of-40-characters!")
    column = pa.array(values)
    assert np.array_equal(index.positions(column), expected(column, refs))
    sliced = column.slice(7, 500)  # an array with an offset into its buffers
    assert np.array_equal(index.positions(sliced), expected(sliced, refs))
    encoded = column.dictionary_encode()
    assert np.array_equal(index.positions(encoded), expected(column, refs))
    ids = index.take_ids(index.positions(pa.array(["P0000002", "nobody"])))
    assert ids.tolist() == [2 * 3 + 7, -1]


@pytest.mark.usefixtures("hashed")
def test_a_hash_collision_in_the_index_falls_back_to_index_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whereabouts, "_hash_strings", lambda strings: np.zeros(len(strings), dtype=np.uint64))
    refs = pa.array(["P1", "P2", "P3"])
    index = _RefIndex(pa.table({"ref": refs, "id": pa.array([10, 20, 30])}))
    assert index._hashes is None
    column = pa.array(["P3", "P9", "P1"])
    assert index.positions(column).tolist() == [2, -1, 0]


def test_the_hash_tells_strings_apart() -> None:
    strings = pa.array(["", "a", "b", "ab", "ba", "a" * 8, "a" * 9, "a" * 16, "香港", None])
    hashes = whereabouts._hash_strings(strings)
    assert len(set(hashes[:-1].tolist())) == len(strings) - 1  # all but the null differ
    assert hashes[-1] == hashes[0]  # a null hashes as the empty string (and never matches a ref)


def test_a_repeated_or_grown_dictionary_is_mapped_once_and_a_new_one_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refs = pa.array(["P1", "P2", "P3"])
    index = _RefIndex(pa.table({"ref": refs, "id": pa.array([10, 20, 30])}))
    first = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 1]), pa.array(["P2", "P3"]))
    again = pa.DictionaryArray.from_arrays(pa.array([1, 0]), pa.array(["P2", "P3"]))  # equal, not the same
    other = pa.DictionaryArray.from_arrays(pa.array([0, 1]), pa.array(["P1", "P9"]))
    assert index.positions(first).tolist() == [1, 2, -1, 2]
    calls: list[int] = []
    original = _RefIndex.positions

    def counted(self: _RefIndex, column: pa.Array) -> np.ndarray:
        calls.append(len(column))
        return original(self, column)

    monkeypatch.setattr(_RefIndex, "positions", counted)
    assert index.positions(again).tolist() == [2, 1]
    assert calls == [2]  # the dictionary itself was not looked up again
    grown = pa.DictionaryArray.from_arrays(pa.array([2, 0, 3]), pa.array(["P2", "P3", "P1", "P7"]))
    assert index.positions(grown).tolist() == [0, 1, -1]
    assert calls == [2, 3, 2]  # then only the two entries appended to the dictionary were looked up
    assert index.positions(other).tolist() == [0, -1]
    assert calls == [2, 3, 2, 2, 2]  # a different dictionary is looked up whole
