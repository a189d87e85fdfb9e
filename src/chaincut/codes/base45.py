"""Base45, the alphabet a health certificate's QR code carries its bytes in (RFC 9285).

Decoding is strict: a character outside the 45-character alphabet, a length that
leaves one character over, or a group whose value overflows its bytes is refused
with ``Base45Error`` rather than guessed at.

Why our own rather than the ``base45`` package on PyPI (0.4.4, August 2022, the latest
release; checked 2026-12): that package decodes one character at a time in Python, about
45 us for a 300-byte code against 10 us here, a quarter of a verification's budget at
5,000 codes/s; it silently strips trailing newlines where we refuse them; every failure
is the same "Invalid base45 string", with no character or position to report; and its
released wheel carries no type hints. RFC 9285's examples are in tests/unit/test_base45.py.
"""

from __future__ import annotations

import numpy as np

from chaincut.errors import Base45Error

__all__ = ["ALPHABET", "b45decode", "b45encode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
_TABLE = np.full(256, 255, dtype=np.uint32)
_TABLE[[ord(char) for char in ALPHABET]] = np.arange(45, dtype=np.uint32)


def b45encode(data: bytes) -> str:
    """The QR-alphanumeric text for some bytes: two bytes become three characters, a last byte two."""
    out: list[str] = []
    for start in range(0, len(data) - 1, 2):
        value = data[start] * 256 + data[start + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def _values(text: str) -> list[int]:
    try:
        return [_VALUES[char] for char in text]
    except KeyError as exc:
        raise Base45Error(f"character {exc.args[0]!r} is not in the base45 alphabet") from None


def b45decode(text: str) -> bytes:
    """The bytes a certificate's base45 text stands for; refuses anything RFC 9285 does not allow."""
    if len(text) % 3 == 1:
        raise Base45Error(f"a base45 text of {len(text)} characters leaves one character over")
    if text.isascii():
        # Whole groups at once (a verifier decodes thousands of codes a second); any problem is
        # left to the character-by-character reading below, which names it.
        codes = _TABLE[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
        whole = len(text) - len(text) % 3
        groups = codes[:whole].reshape(-1, 3)
        values = groups[:, 0] + groups[:, 1] * 45 + groups[:, 2] * 2025
        tail = codes[whole:]
        tail_value = int(tail[0] + tail[1] * 45) if len(tail) else 0
        if not (codes == 255).any() and not (values > 0xFFFF).any() and tail_value <= 0xFF:
            out = values.astype(">u2").tobytes()
            return out + bytes([tail_value]) if len(tail) else out
    return _b45decode_slowly(text)


def _b45decode_slowly(text: str) -> bytes:
    values = _values(text)
    out = bytearray()
    for start in range(0, len(values), 3):
        group = values[start : start + 3]
        if len(group) == 3:
            value = group[0] + group[1] * 45 + group[2] * 45 * 45
            if value > 0xFFFF:
                raise Base45Error(f"the group at character {start} overflows two bytes")
            out += value.to_bytes(2, "big")
        else:
            value = group[0] + group[1] * 45
            if value > 0xFF:
                raise Base45Error(f"the group at character {start} overflows one byte")
            out.append(value)
    return bytes(out)
