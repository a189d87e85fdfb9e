"""The signed envelope of a health certificate: COSE_Sign1 (RFC 9052) as the EU DCC uses it.

A certificate arrives as a COSE_Sign1 array ``[protected, unprotected, payload,
signature]``, tagged 18, untagged, or wrapped in the CWT tag 61. The signer's key
id (``kid``, the first 8 bytes of the SHA-256 of its DER certificate) sits in the
protected header or, failing that, the unprotected one; the protected header wins
because only it is covered by the signature. Signatures are ES256 (raw ``r||s``)
or PS256 (RSASSA-PSS, SHA-256, salt length 32), as the DCC technical
specification (eHealth Network, volume 1, section 3.3.2) requires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from chaincut.errors import InvalidHealthCertificate

__all__ = [
    "ALG_ES256",
    "ALG_PS256",
    "CoseSign1",
    "decode_cbor",
    "decode_sign1",
    "key_id",
    "verify_signature",
]

ALG_ES256 = -7
ALG_PS256 = -37
_HEADER_ALG = 1
_HEADER_KID = 4
_TAG_SIGN1 = 18
_TAG_CWT = 61
_PSS_SALT_LENGTH = 32  # DCC technical specification, volume 1, section 3.3.2


def decode_cbor(data: bytes, what: str) -> Any:
    """One CBOR item from bytes a stranger sent; any decoder failure becomes a refusal."""
    try:
        return cbor2.loads(data)
    except Exception as exc:  # the decoder raises many kinds on hostile input; none may escape
        raise InvalidHealthCertificate(f"{what} is not valid CBOR ({type(exc).__name__})") from None


@dataclass(frozen=True)
class CoseSign1:
    """A certificate's signed envelope, with both headers decoded and the bytes the signature covers."""

    protected_bytes: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes = field(repr=False)

    @property
    def alg(self) -> Any:
        """The signature algorithm the issuer declares (protected header first)."""
        if _HEADER_ALG in self.protected:
            return self.protected[_HEADER_ALG]
        return self.unprotected.get(_HEADER_ALG)

    @property
    def kid(self) -> bytes | None:
        """The signer's key id: the protected header's if present, else the unprotected one's."""
        for header in (self.protected, self.unprotected):
            value = header.get(_HEADER_KID)
            if isinstance(value, bytes):
                return value
        return None

    def to_be_signed(self) -> bytes:
        """The Sig_structure of RFC 9052 section 4.4 that the issuer signed."""
        return cbor2.dumps(["Signature1", self.protected_bytes, b"", self.payload])


def _unwrap(item: Any) -> Any:
    if isinstance(item, cbor2.CBORTag) and item.tag == _TAG_CWT:
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != _TAG_SIGN1:
            raise InvalidHealthCertificate(f"CBOR tag {item.tag} is not a COSE_Sign1")
        item = item.value
    return item


def decode_sign1(data: bytes) -> CoseSign1:
    """The COSE_Sign1 envelope of a decompressed certificate, or a refusal saying what is wrong."""
    item = _unwrap(decode_cbor(data, "the COSE message"))
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise InvalidHealthCertificate("the COSE message is not a four-element COSE_Sign1 array")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes):
        raise InvalidHealthCertificate("the COSE protected header is not a byte string")
    protected = decode_cbor(protected_bytes, "the COSE protected header") if protected_bytes else {}
    if not isinstance(protected, Mapping):
        raise InvalidHealthCertificate("the COSE protected header is not a map")
    if not isinstance(unprotected, Mapping):
        raise InvalidHealthCertificate("the COSE unprotected header is not a map")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise InvalidHealthCertificate("the COSE payload or signature is not a byte string")
    return CoseSign1(protected_bytes, protected, unprotected, payload, signature)


def key_id(certificate: x509.Certificate) -> bytes:
    """The DCC key id of a signer certificate: the first 8 bytes of the SHA-256 of its DER form."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()[:8]


def verify_signature(message: CoseSign1, certificate: x509.Certificate) -> None:
    """Check the issuer's signature with a trusted signer certificate; refuse on any mismatch."""
    try:
        key = certificate.public_key()
    except (ValueError, TypeError):
        raise InvalidHealthCertificate("the signer certificate's key cannot be read", step="verify") from None
    data = message.to_be_signed()
    try:
        if message.alg == ALG_ES256:
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise InvalidHealthCertificate("ES256 needs a P-256 signer key", step="verify")
            if len(message.signature) != 64:
                raise InvalidHealthCertificate("an ES256 signature is 64 bytes (r||s)", step="verify")
            r = int.from_bytes(message.signature[:32], "big")
            s = int.from_bytes(message.signature[32:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        elif message.alg == ALG_PS256:
            if not isinstance(key, rsa.RSAPublicKey):
                raise InvalidHealthCertificate("PS256 needs an RSA signer key", step="verify")
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=_PSS_SALT_LENGTH)
            key.verify(message.signature, data, pss, hashes.SHA256())
        else:
            raise InvalidHealthCertificate(
                f"signature algorithm {message.alg!r} is not ES256 (-7) or PS256 (-37)", step="verify"
            )
    except InvalidSignature:
        raise InvalidHealthCertificate(
            "the signature does not match the signer's key", step="verify"
        ) from None
