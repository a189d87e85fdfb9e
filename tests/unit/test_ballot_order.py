"""The ballot's order is our own, documented algorithm over SHA-256, the same on every Python version:
checked against an independent recomputation and against digests made by another tool."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincut.border.ballot import ballot_order, ballot_rank
from chaincut.border.commitments import check_seed, commitment_of
from chaincut.errors import InvalidInput

# `printf 'seed-2023-01-08\0entry-X' | sha256sum`, sorted: coreutils, not Python, made these.
PINNED = [
    ("19eda2c18bfedd93daa440100e348204c28fc6c0f468d4eaf2cd5444e112055d", "entry-d"),
    ("574944cd501a2541df2597348e9414a1b5f170bab48144950df6911d4d11ba4c", "entry-a"),
    ("8a7862409d58b13dd12e090b6f904f5118668475c4bdf64783f67074bf5d06bf", "entry-c"),
    ("c91922b377b031f6eb24cb837797b1c4ce54a035062301d7143485c83e363adf", "entry-b"),
    ("f5d0afddf5efb9b41c29cbc24e63b71323507b96ebcc9c5736c17313df17e45b", "entry-e"),
]


def test_the_order_matches_digests_made_by_another_tool() -> None:
    ids = ["entry-a", "entry-b", "entry-c", "entry-d", "entry-e"]
    assert ballot_order("seed-2023-01-08", ids, lambda e: e) == [entry for _, entry in PINNED]
    for digest, entry in PINNED:
        assert ballot_rank("seed-2023-01-08", entry) == int(digest, 16)


def _independent(seed: str, ids: list[str]) -> list[str]:
    """The documented order, restated: SHA-256 digests compared as bytes (big-endian), then the id."""
    return sorted(ids, key=lambda i: (hashlib.sha256(f"{seed}\x00{i}".encode()).digest(), i))


@given(
    seed=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64),
    ids=st.lists(st.text(min_size=1, max_size=32), unique=True, max_size=40),
)
def test_the_order_is_the_documented_one_whatever_the_seed_and_entries(seed: str, ids: list[str]) -> None:
    shuffled = list(ids)
    random.Random(0).shuffle(shuffled)
    # The order depends on the seed and the ids only, never on the order the entries came in.
    assert (
        ballot_order(seed, shuffled, lambda e: e)
        == ballot_order(seed, ids, lambda e: e)
        == _independent(seed, ids)
    )


def test_another_seed_gives_another_order() -> None:
    ids = [f"entry-{i:03d}" for i in range(50)]
    assert ballot_order("one", ids, lambda e: e) != ballot_order("two", ids, lambda e: e)


def test_a_commitment_is_the_sha256_of_the_seed_and_a_seed_is_printable_ascii() -> None:
    assert (
        commitment_of("seed-2023-01-08") == "f555c31909a480dec633aeee98d9ba0cbb3233fb654469908f941d0385f818a4"
    )
    assert check_seed(" ~") == " ~"
    for bad in ("", "x" * 65, "tab\there", "種子", "nul\x00"):
        with pytest.raises(InvalidInput) as caught:
            check_seed(bad)
        assert (caught.value.code, caught.value.field) == ("invalid_seed", "seed")
