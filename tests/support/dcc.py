"""Test health certificates: a throwaway signer and EU DCCs it issues, as QR text."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from chaincut.codes.base45 import b45encode
from chaincut.codes.cose import key_id

__all__ = ["ISSUED", "VACCINATION", "TestSigner", "new_signer"]

ISSUED = datetime(2026, 11, 1, tzinfo=UTC)
VACCINATION: dict[str, Any] = {
    "ver": "1.3.0",
    "nam": {"fn": "Chan", "fnt": "CHAN", "gn": "Tai Man", "gnt": "TAI<MAN"},
    "dob": "1980-01-01",
    "v": [
        {
            "tg": "840539006",
            "vp": "J07BX03",
            "mp": "EU/1/20/1528",
            "ma": "ORG-100030215",
            "dn": 2,
            "sd": 2,
            "dt": "2026-10-01",
            "co": "HK",
            "is": "Department of Health",
            "ci": "URN:UVCI:01:HK:TESTONLY0001#X",
        }
    ],
}


@dataclass(frozen=True)
class TestSigner:
    """A document signer (ES256) and its self-signed certificate, valid for a year from ISSUED."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def issue(self, dcc: dict[str, Any] | None = None, *, valid_days: int = 180) -> str:
        """The QR text (``HC1:...``) of a certificate this signer issues at ISSUED."""
        claims = {
            1: "HK",
            6: int(ISSUED.timestamp()),
            4: int((ISSUED + timedelta(days=valid_days)).timestamp()),
            -260: {1: VACCINATION if dcc is None else dcc},
        }
        protected = cbor2.dumps({1: -7, 4: key_id(self.certificate)})
        payload = cbor2.dumps(claims)
        to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
        r, s = decode_dss_signature(self.key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        message = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
        return "HC1:" + b45encode(zlib.compress(message, 9))


def new_signer() -> TestSigner:
    """A fresh signer for one test module."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chaincut test DSC")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ISSUED - timedelta(days=1))
        .not_valid_after(ISSUED + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return TestSigner(key, certificate)
