"""Base45 (RFC 9285): the published examples, round trips, and strict refusal of bad text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincut.codes.base45 import b45decode, b45encode
from chaincut.errors import Base45Error, InvalidHealthCertificate

# RFC 9285, sections 4.3 and 4.4.
RFC_EXAMPLES = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("data", "text"), RFC_EXAMPLES)
def test_rfc_examples_encode_and_decode(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


def test_empty_text_is_no_bytes() -> None:
    assert b45decode("") == b""
    assert b45encode(b"") == ""


@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("A", "leaves one character over"),
        ("BB8A", "leaves one character over"),
        ("GGW", "overflows two bytes"),  # 65536, RFC 9285 section 4.4's own example
        (":::", "overflows two bytes"),
        ("ZZ", "overflows one byte"),
        ("bb8", "not in the base45 alphabet"),
        ("B\n8", "not in the base45 alphabet"),
        ("BB_", "not in the base45 alphabet"),
        ("BBé", "not in the base45 alphabet"),
    ],
)
def test_invalid_text_is_refused(text: str, why: str) -> None:
    with pytest.raises(Base45Error, match=why) as caught:
        b45decode(text)
    assert isinstance(caught.value, InvalidHealthCertificate)
    assert caught.value.step == "b45decode"


@given(st.text(max_size=60))
def test_any_text_decodes_or_is_refused(text: str) -> None:
    try:
        data = b45decode(text)
    except Base45Error:
        return
    assert b45encode(data) == text
