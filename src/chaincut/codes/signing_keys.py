"""The authority's code-signing keys: a long-lived root and the document signers it certifies.

As in the EU DCC's public-key infrastructure, a root (CSCA-like) EC P-256 key signs its own
X.509 certificate and the certificates of short-lived document signer keys (DSCs); a DSC signs
health codes, and its key id (``kid``) is the first 8 bytes of the SHA-256 of its DER
certificate (DCC technical specification, volume 1, section 3.3.1). A verifier trusts a DSC
only when its certificate is signed by the root it pinned.

Private keys come from the operating system's random source (never a seeded generator: a
guessable signing key would let anyone mint codes).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from chaincut.codes.cose import key_id

__all__ = [
    "DSC_VALID_DAYS",
    "ROOT_VALID_DAYS",
    "KeyPair",
    "chains_to",
    "format_kid",
    "load_private_key",
    "new_dsc",
    "new_root",
    "parse_kid",
    "private_pem",
]

# Key lifetimes are security settings, not epidemiology. The DCC certificate governance
# (eHealth Network, 2021) caps a DSC at 2 years and a CSCA at 4-5; chaincut rotates DSCs far
# more often, and a DSC's certificate outlives its last code by at least a code's validity.
ROOT_VALID_DAYS = 5 * 365
DSC_VALID_DAYS = 365
_BACKDATE = timedelta(minutes=5)  # tolerate a verifier's clock a little behind


@dataclass(frozen=True)
class KeyPair:
    """A private key with its certificate and key id."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    kid: bytes

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)


def _name(issuer: str, what: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{issuer} health authority (chaincut)"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer} {what}"),
        ]
    )


def new_root(issuer: str, now: datetime) -> KeyPair:
    """A fresh root key and its self-signed certificate (a CA that may sign signer certificates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(issuer, "health code root")
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=ROOT_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, certificate, key_id(certificate))


def new_dsc(root: KeyPair, issuer: str, now: datetime, number: int) -> KeyPair:
    """A fresh document signer key, certified by ``root`` (``number`` names it in its subject)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(issuer, f"health code signer {number}"))
        .issuer_name(root.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + timedelta(days=DSC_VALID_DAYS), root.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.private_key.public_key()),
            critical=False,
        )
        .sign(root.private_key, hashes.SHA256())
    )
    return KeyPair(key, certificate, key_id(certificate))


def chains_to(signer: x509.Certificate, root: x509.Certificate) -> bool:
    """Whether ``root`` issued ``signer``: the names match and the root's key signed it."""
    if signer.issuer != root.subject:
        return False
    try:
        signer.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """A private key as unencrypted PKCS#8 PEM (it is sealed before it is stored)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("a code-signing key must be an EC key")
    return key


def format_kid(kid: bytes) -> str:
    """A key id as the DCC trust lists write it: standard base64 (12 characters for 8 bytes)."""
    return base64.b64encode(kid).decode("ascii")


def parse_kid(text: str) -> bytes | None:
    """A key id from standard or URL-safe base64, padded or not; None unless it is 8 bytes."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        kid = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return None
    return kid if len(kid) == 8 else None
