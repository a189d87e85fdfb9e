"""Each refusal of a health code names its reason and the check that failed."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from chaincut.codes.base45 import b45decode, b45encode
from chaincut.codes.code_format import claims_to_cwt
from chaincut.codes.code_verify import CodeTrust, CodeVerifier
from chaincut.codes.issuance import ActiveSigner, build_claims, sign_code
from chaincut.codes.signing_keys import KeyPair, format_kid, new_dsc, new_root
from chaincut.codes.trust_list import IssuerTrust
from chaincut.domain.health_codes import CodeReason, HealthCode

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
AT = NOW + timedelta(hours=2)
ROOT = new_root("HK", NOW)
DSC = new_dsc(ROOT, "HK", NOW, 1)
CLAIMS = build_claims(
    HealthCode(1, "amber", (CodeReason("arrival", "amber", "arrived 2026-11-18", None),), None, NOW, "v"),
    code_id="unit-1",
    issuer="HK",
    subject=None,
    name=None,
    last_negative_test_at=None,
    now=NOW,
    valid_hours=24,
)


def verifier(
    signers: dict[bytes, Any] | None = None, revoked: dict[bytes, datetime] | None = None
) -> CodeVerifier:
    trust = IssuerTrust("HK", ROOT.certificate, signers or {DSC.kid: DSC.certificate}, revoked or {})
    return CodeVerifier(CodeTrust({"HK": trust}))


def signed(cwt: dict[Any, Any], signer: KeyPair = DSC, protected: dict[int, Any] | None = None) -> str:
    """A code with any claims, correctly signed (to reach the checks after the signature)."""
    header = cbor2.dumps(protected if protected is not None else {1: -7, 4: signer.kid})
    payload = cbor2.dumps(cwt)
    tbs = cbor2.dumps(["Signature1", header, b"", payload])
    r, s = decode_dss_signature(signer.private_key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    unprotected = {} if protected is None or 4 in protected else {4: signer.kid}
    message = cbor2.dumps(
        cbor2.CBORTag(18, [header, unprotected, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")])
    )
    return "CC1:" + b45encode(zlib.compress(message))


GENUINE = sign_code(CLAIMS, ActiveSigner(DSC.kid, DSC.private_key, NOW + timedelta(days=300)))


def test_the_genuine_code() -> None:
    result = verifier().verify(GENUINE, AT)
    assert result.valid and result.claims == CLAIMS and result.reason == "valid"
    assert signed(claims_to_cwt(CLAIMS)) != GENUINE  # ECDSA signatures differ, the claims do not
    assert verifier().verify(signed(claims_to_cwt(CLAIMS)), AT).valid


@pytest.mark.parametrize(
    ("text", "step", "reason"),
    [
        ("HC1:6BF", "unprefix", "the QR text does not start with 'CC1:'"),
        ("CC1:ab", "b45decode", "the QR text is not base45"),
        ("CC1:" + b45encode(b"not zlib at all"), "compression", "the certificate is not zlib-compressed"),
        ("CC1:" + b45encode(zlib.compress(b"\xff\xfe")), "decode", "not valid CBOR"),
        ("CC1:" + b45encode(zlib.compress(cbor2.dumps([1, 2, 3, 4]))), "decode", "protected header"),
    ],
)
def test_malformed_codes_stop_at_their_step(text: str, step: str, reason: str) -> None:
    result = verifier().verify(text, AT)
    assert not result.valid and result.checks[step] is False
    assert reason in result.reason
    assert list(result.checks)[-1] == step


def test_a_wrong_schema_is_refused_after_a_good_signature() -> None:
    cwt = claims_to_cwt(CLAIMS)
    cwt[-260][1]["c"] = 7  # the colour is a number
    result = verifier().verify(signed(cwt), AT)
    assert result.checks["verify"] is True and result.checks["schemavalidation"] is False
    assert (
        result.reason == "the code breaks the chaincut code schema: colour (c) is not text of 1-16 characters"
    )
    cwt = claims_to_cwt(CLAIMS)
    cwt[-260][1]["v"] = 2
    assert "payload version" in verifier().verify(signed(cwt), AT).reason


def test_unknown_revoked_expired_and_altered() -> None:
    other = new_dsc(ROOT, "HK", NOW, 2)
    unknown = verifier({other.kid: other.certificate}).verify(GENUINE, AT)
    assert unknown.reason == f"unknown key id {format_kid(DSC.kid)}: HK's trust list does not list it"
    revoked = verifier({}, {DSC.kid: NOW}).verify(GENUINE, AT)
    assert (
        revoked.reason == f"the signing key {format_kid(DSC.kid)} was revoked by HK at 2026-11-20T04:00:00Z"
    )
    expired = verifier().verify(GENUINE, NOW + timedelta(hours=25))
    assert expired.reason == "the code has expired" and expired.checks["verify"] is True
    early = verifier().verify(GENUINE, NOW - timedelta(hours=1))
    assert early.reason == "the code was issued after the validation time"
    cwt = claims_to_cwt(CLAIMS)
    body = cbor2.loads(zlib.decompress(b45decode(GENUINE[4:])))
    sign1 = body.value
    cwt[-260][1]["c"] = "green"  # an amber code turned green, the signature kept
    forged = cbor2.dumps(cbor2.CBORTag(18, [sign1[0], sign1[1], cbor2.dumps(cwt), sign1[3]]))
    altered = verifier().verify("CC1:" + b45encode(zlib.compress(forged)), AT)
    assert not altered.valid and altered.checks["verify"] is False
    assert altered.reason == "the signature does not match the signer's key (altered or forged)"


def test_a_signer_not_chained_to_the_pinned_root_is_refused() -> None:
    stranger = new_dsc(new_root("HK", NOW), "HK", NOW, 1)
    code = signed(claims_to_cwt(CLAIMS), stranger)
    result = verifier({stranger.kid: stranger.certificate}).verify(code, AT)
    assert (
        result.reason
        == f"the signer certificate {format_kid(stranger.kid)} is not chained to HK's pinned root"
    )


def test_the_kid_must_be_protected_and_the_algorithm_es256() -> None:
    unprotected_kid = signed(claims_to_cwt(CLAIMS), protected={1: -7})
    assert verifier().verify(unprotected_kid, AT).reason == "the code's key id is not in its protected header"
    ps256 = signed(claims_to_cwt(CLAIMS), protected={1: -37, 4: DSC.kid})
    assert verifier().verify(ps256, AT).reason == "the code is not signed with ES256 (-7)"
    stranger_issuer = claims_to_cwt(CLAIMS) | {1: "ZZ"}
    assert verifier().verify(signed(stranger_issuer), AT).reason == "no trust list for the issuer 'ZZ'"
