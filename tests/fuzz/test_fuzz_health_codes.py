"""Fuzzing the health-code verifier (``CC1:``): whatever a scanner reads, the answer is a result.

Arbitrary text, arbitrary base45, arbitrary CBOR in a valid envelope, and genuine codes with a
character changed never raise; they come back ``valid=False`` with a reason. Only the genuine
code verifies.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.codes import TrustAnchors
from chaincut.codes.base45 import ALPHABET, b45encode
from chaincut.codes.code_verify import CODE_CHECKS, CodeTrust, CodeVerifier, verify_qr
from chaincut.codes.issuance import ActiveSigner, build_claims, sign_code
from chaincut.codes.signing_keys import new_dsc, new_root
from chaincut.codes.trust_list import IssuerTrust
from chaincut.domain.health_codes import CodeReason, HealthCode

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
ROOT = new_root("HK", NOW)
DSC = new_dsc(ROOT, "HK", NOW, 1)
VERIFIER = CodeVerifier(CodeTrust({"HK": IssuerTrust("HK", ROOT.certificate, {DSC.kid: DSC.certificate})}))
SIGNER = ActiveSigner(DSC.kid, DSC.private_key, NOW + timedelta(days=300))
CODE = HealthCode(
    1, "red", (CodeReason("close_contact", "red", "close contact of case C-7", None),), None, NOW, "v"
)
CLAIMS = build_claims(
    CODE,
    code_id="fuzz-1",
    issuer="HK",
    subject="c3ViamVjdC1pZC0xMjM0NQ",
    name="陳大文",
    last_negative_test_at=None,
    now=NOW,
    valid_hours=24,
)
GENUINE = sign_code(CLAIMS, SIGNER)
AT = NOW + timedelta(hours=1)


def _refused(text: str) -> None:
    result = VERIFIER.verify(text, AT)
    json.dumps(result.to_json())  # always printable as JSON
    assert set(result.checks) <= set(CODE_CHECKS)
    if text == GENUINE:
        assert result.valid
        return
    assert not result.valid, "an altered code verified"
    assert result.reason and result.reason != "valid"


def test_the_genuine_code_is_valid_and_says_what_it_claims() -> None:
    result = VERIFIER.verify(GENUINE, AT)
    assert result.valid, result.reason
    assert result.claims == CLAIMS
    assert result.payload["reasons"] == ["close contact of case C-7"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_is_refused(text: str) -> None:
    _refused(text)
    result = verify_qr(text, codes=VERIFIER, dcc=TrustAnchors({}), at=AT)
    assert not result.valid and result.reason


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, max_size=600))
def test_arbitrary_base45_is_refused(body: str) -> None:
    _refused("CC1:" + body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=4, max_value=len(GENUINE) - 1), st.sampled_from(ALPHABET))
def test_one_changed_character_is_refused(position: int, replacement: str) -> None:
    _refused(GENUINE[:position] + replacement + GENUINE[position + 1 :])


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=len(GENUINE) - 1))
def test_a_truncated_code_is_refused(length: int) -> None:
    _refused(GENUINE[:length])


_CBOR = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.integers() | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_CBOR, _CBOR)
def test_arbitrary_cbor_in_a_signed_envelope_is_refused(claims: object, payload: object) -> None:
    """Well-formed COSE with hostile claims (signed by a trusted key): refused by the schema, not a crash."""
    cwt = {1: "HK", 4: 2_000_000_000, 6: 1_700_000_000, 7: b"x", -260: {1: payload}}
    for body in (claims, cwt):
        protected = cbor2.dumps({1: -7, 4: DSC.kid})
        try:
            content = cbor2.dumps(body)
        except (ValueError, TypeError, OverflowError):
            continue
        message = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, content, bytes(64)]))
        _refused("CC1:" + b45encode(zlib.compress(message)))
