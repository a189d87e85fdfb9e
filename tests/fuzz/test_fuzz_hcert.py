"""Fuzzing the health certificate verifier: whatever a scanner reads, the answer is a result.

Arbitrary text and altered genuine certificates never raise; they come back
``valid=False`` with a reason. Only the genuine, unaltered certificate is valid.
"""

from __future__ import annotations

import json
import zlib
from datetime import timedelta

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.codes import CHECKS, TrustAnchors, verify_hcert
from chaincut.codes.base45 import ALPHABET, b45decode, b45encode
from support.dcc import ISSUED, new_signer

SIGNER = new_signer()
GENUINE = SIGNER.issue()
TRUST = TrustAnchors.of([SIGNER.certificate])
AT = ISSUED + timedelta(days=30)


def _assert_refused_cleanly(text: str) -> None:
    result = verify_hcert(text, TRUST, AT)
    if text == GENUINE:
        assert result.valid
        return
    assert set(result.checks) <= set(CHECKS)
    json.dumps(result.to_json())  # always printable as JSON
    assert not result.valid, "an altered certificate verified"
    assert result.reason and result.reason != "valid"


def test_genuine_certificate_is_valid() -> None:
    result = verify_hcert(GENUINE, TRUST, AT)
    assert result.valid, result.reason
    assert result.checks == dict.fromkeys(CHECKS, True)
    assert result.payload["nam"]["fnt"] == "CHAN"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_is_refused(text: str) -> None:
    result = verify_hcert(text, TRUST, AT)
    assert not result.valid
    assert result.reason


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, max_size=600))
def test_arbitrary_base45_is_refused(body: str) -> None:
    result = verify_hcert("HC1:" + body, TRUST, AT)
    assert not result.valid
    assert result.reason


@settings(max_examples=400)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(GENUINE) - 1), st.sampled_from(ALPHABET + "é\n")),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_genuine_certificate_is_refused(changes: list[tuple[int, str]]) -> None:
    text = list(GENUINE)
    for position, char in changes:
        text[position] = char
    mutated = "".join(text)
    result = verify_hcert(mutated, TRUST, AT)
    if mutated == GENUINE:
        assert result.valid
    else:
        assert not result.valid, "an altered certificate verified"
        assert result.reason


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=len(GENUINE)), st.text(max_size=20))
def test_truncated_or_extended_certificate_is_refused(cut: int, tail: str) -> None:
    _assert_refused_cleanly(GENUINE[:cut] + tail)


def _wrap(message: bytes) -> str:
    return "HC1:" + b45encode(zlib.compress(message))


GENUINE_COSE = zlib.decompress(b45decode(GENUINE[4:]))
CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.binary(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.integers() | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(GENUINE_COSE) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_signed_envelope_is_refused(changes: list[tuple[int, int]]) -> None:
    message = bytearray(GENUINE_COSE)
    for position, value in changes:
        message[position] = value
    if bytes(message) != GENUINE_COSE:
        _assert_refused_cleanly(_wrap(bytes(message)))


@settings(max_examples=300)
@given(CBOR_VALUES, CBOR_VALUES)
def test_arbitrary_envelope_and_claims_are_refused(envelope: object, claims: object) -> None:
    _assert_refused_cleanly(_wrap(cbor2.dumps(envelope)))
    protected = cbor2.dumps({1: -7})
    sign1 = cbor2.CBORTag(18, [protected, {}, cbor2.dumps(claims), b"\0" * 64])
    _assert_refused_cleanly(_wrap(cbor2.dumps(sign1)))
    dcc_claims = {1: "HK", 4: 2**70, 6: -1.5, -260: {1: claims}}
    _assert_refused_cleanly(
        _wrap(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps(dcc_claims), b""])))
    )
