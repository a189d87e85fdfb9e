"""Sorted-set helpers against NumPy's own (slower) answers, over random keys of every width."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from chaincut.analytics.sorted_sets import counted, isin, order_by, unique, unique_all

_INT64 = st.integers(-(2**63), 2**63 - 1)
_narrow = st.integers(-3, 3)


@st.composite
def _keys(draw: st.DrawFn) -> list[np.ndarray]:
    """Two to six keys of one length: narrow ones (ties), wide ones and the full int64 range."""
    size = draw(st.integers(0, 40))
    keys = []
    for _ in range(draw(st.integers(1, 6))):
        values = draw(st.sampled_from([_narrow, st.integers(0, 2**31), _INT64]))
        keys.append(np.array(draw(st.lists(values, min_size=size, max_size=size)), dtype=np.int64))
    return keys


@given(_keys())
def test_order_by_is_lexsort_with_the_first_key_first(keys: list[np.ndarray]) -> None:
    assert order_by(*keys).tolist() == np.lexsort(keys[::-1]).tolist()


def test_keys_that_fit_are_packed_and_a_full_range_key_is_sorted_as_it_is() -> None:
    rng = np.random.default_rng(7)
    small = [rng.integers(0, 1000, 10_000) for _ in range(4)]
    edge = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max] * 5_000, dtype=np.int64)

    for keys in (small, [edge, *small], [*small, edge]):
        assert order_by(*keys).tolist() == np.lexsort(keys[::-1]).tolist()


def test_keys_that_are_not_signed_integers_sort_as_lexsort_sorts_them() -> None:
    big = np.array([0, 2**63 + 5, 2**63 - 1, 2**64 - 1], dtype=np.uint64)
    fractions = np.array([0.5, 0.25, 0.75, 0.5])
    small = np.array([1, 1, 0, 0], dtype=np.int64)

    for keys in ([big], [small, fractions], [fractions, big], [small, big.astype(np.uint8)]):
        assert order_by(*keys).tolist() == np.lexsort(keys[::-1]).tolist()


@given(st.lists(_INT64, max_size=60))
def test_counted_unique_and_unique_all_agree_with_numpy(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    distinct, counts = np.unique(array, return_counts=True)

    assert [a.tolist() for a in counted(array)] == [distinct.tolist(), counts.tolist()]
    assert unique(array).tolist() == distinct.tolist()
    found, inverse, found_counts, first = unique_all(array)
    assert found.tolist() == distinct.tolist() and found_counts.tolist() == counts.tolist()
    assert found[inverse].tolist() == values
    assert [values.index(v) for v in distinct.tolist()] == first.tolist()


@given(st.lists(_narrow, max_size=30), st.lists(_narrow, max_size=10))
def test_isin_agrees_with_numpy(values: list[int], wanted: list[int]) -> None:
    a, b = np.array(values, dtype=np.int64), np.array(wanted, dtype=np.int64)

    assert isin(a, b).tolist() == np.isin(a, b).tolist()
