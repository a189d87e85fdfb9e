"""Identifier strings built from integer arrays with Arrow compute, never row by row.

Refs (``P0000001``), Hong Kong identity card numbers with their check digit,
mobile numbers and taxi plates.  Building tens of millions of Python strings
would dominate the run time and memory of a Hong Kong sized city, so every
function here takes numpy integers and returns an Arrow string array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "HKID_SINGLE_LETTERS",
    "hkid_check_values",
    "hkid_strings",
    "join",
    "padded",
    "phone_strings",
    "pick",
    "plate_strings",
    "ref_width",
    "unique_codes",
]

IntArray = npt.NDArray[np.integer[Any]]

# Letters seen as the single-letter prefix of identity cards held by residents.
HKID_SINGLE_LETTERS = "ABCDEGHJKLMNPRSTVWYZF"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHECK_CHARS = "0123456789A"
_MILLION = 1_000_000
# Hong Kong plates use two letters, never I, O or Q (too like 1 and 0).
_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def ref_width(count: int, minimum: int) -> int:
    """Digits needed for zero-padded refs of ``count`` items, at least ``minimum``."""
    return max(minimum, len(str(count)))


def padded(prefix: str, numbers: IntArray, width: int) -> Any:
    """``prefix`` followed by each number zero-padded to ``width`` digits."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    if not prefix:
        return digits
    return pc.binary_join_element_wise(prefix, digits, "")


def pick(words: Sequence[str], indices: IntArray) -> Any:
    """The word at each index, as an Arrow string array."""
    return pa.array(list(words), pa.string()).take(pa.array(indices))


def join(*parts: Any, separator: str = "") -> Any:
    """Element-wise concatenation of string arrays and scalars; null parts are skipped."""
    return pc.binary_join_element_wise(*parts, separator, null_handling="skip")


def unique_codes(rng: np.random.Generator, space: int, count: int) -> npt.NDArray[np.int64]:
    """``count`` distinct integers drawn from ``range(space)`` in random order."""
    if count > space:
        raise ValueError(f"cannot draw {count} distinct codes from {space}")
    codes: npt.NDArray[np.int64] = rng.choice(space, size=count, replace=False).astype(np.int64)
    return codes


def hkid_check_values(first: IntArray, second: IntArray, digits: IntArray) -> npt.NDArray[np.int64]:
    """Check digit (0-10, 10 printed as ``A``) of identity card numbers.

    The published HKID scheme: the letters count 10 (A) to 35 (Z), a missing
    first letter counts 36 (a space), the six digits count their value; the
    eight values are weighted 9 down to 2 and the check digit makes the
    weighted sum divisible by 11.
    """
    total = 9 * first.astype(np.int64) + 8 * second.astype(np.int64)
    for position, weight in enumerate(range(7, 1, -1)):
        total += weight * ((digits // 10 ** (5 - position)) % 10)
    check: npt.NDArray[np.int64] = (11 - total % 11) % 11
    return check


def hkid_strings(codes: IntArray) -> Any:
    """Identity card numbers like ``A123456(3)`` for codes from ``unique_codes``.

    Codes below ``len(HKID_SINGLE_LETTERS) * 10**6`` get a single-letter
    prefix; larger codes (only needed for cities far above Hong Kong's size)
    get two letters.
    """
    codes = codes.astype(np.int64)
    singles = len(HKID_SINGLE_LETTERS) * _MILLION
    is_single = codes < singles
    digits = np.where(is_single, codes % _MILLION, (codes - singles) % _MILLION)
    block = np.where(is_single, codes // _MILLION, (codes - singles) // _MILLION)
    letter_values = np.array([_ALPHABET.index(c) + 10 for c in HKID_SINGLE_LETTERS])
    first = np.where(is_single, 36, block // 26 + 10)
    second = np.where(is_single, letter_values[np.where(is_single, block, 0)], block % 26 + 10)
    check = hkid_check_values(first, second, digits)
    first_letter = pick(_ALPHABET, np.where(is_single, 0, first - 10))
    first_text = pc.if_else(pa.array(is_single), None, first_letter)
    prefix = join(first_text, pick(_ALPHABET, second - 10))
    number = padded("", digits, 6)
    return join(prefix, number, "(", pick(_CHECK_CHARS, check), ")")


def phone_strings(codes: IntArray) -> Any:
    """Hong Kong mobile numbers (8 digits starting 5, 6 or 9) for codes below 3 * 10**7."""
    lead = codes // 10_000_000
    return join(pick("569", lead), padded("", codes % 10_000_000, 7))


def plate_strings(codes: IntArray) -> Any:
    """Taxi registration plates like ``AB1234`` for codes below 23 * 23 * 9000."""
    letters = len(_PLATE_LETTERS)
    number = codes % 9000 + 1000
    pair = codes // 9000
    return join(
        pick(_PLATE_LETTERS, pair // letters),
        pick(_PLATE_LETTERS, pair % letters),
        pc.cast(pa.array(number), pa.string()),
    )
