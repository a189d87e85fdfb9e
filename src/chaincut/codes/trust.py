"""The signer certificates a border officer trusts to issue health certificates.

A trust list is a JSON object mapping each signer's key id (``kid``, base64) to
its X.509 certificate (base64 DER)::

    {"dTd8dmZcQ4Q=": "MIIBvTCCAWOgAwIBAgIKAXk8i88OleLsuTAKBggqhkjOPQQDAjA2...", ...}

The key id is taken as the list declares it, as national trust lists do; a
single certificate given on its own is indexed by the key id the DCC
specification derives from it (the first 8 bytes of its SHA-256).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509

from chaincut.codes.cose import key_id
from chaincut.errors import TrustListError

__all__ = ["TrustAnchors", "load_certificate", "parse_trust_list"]


def load_certificate(data: bytes) -> x509.Certificate:
    """A signer certificate from PEM, base64 DER or raw DER bytes."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(text)
        try:
            der = base64.b64decode(b"".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            der = data
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise TrustListError(f"not an X.509 certificate (PEM, base64 DER or DER): {exc}") from None


@dataclass(frozen=True)
class TrustAnchors:
    """The trusted signer certificates, by key id."""

    by_kid: Mapping[bytes, x509.Certificate]

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate]) -> TrustAnchors:
        """Trust these certificates, each under the key id the DCC specification derives from it."""
        return cls({key_id(certificate): certificate for certificate in certificates})

    def signer_for(self, kid: bytes | None) -> x509.Certificate | None:
        """The trusted certificate with this key id, if any."""
        return None if kid is None else self.by_kid.get(kid)


def parse_trust_list(text: str) -> TrustAnchors:
    """The signers a trust list names (JSON: base64 kid -> base64 DER); refused whole if one is bad."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TrustListError(f"the trust list is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise TrustListError("the trust list is not a JSON object of kid -> certificate")
    anchors: dict[bytes, x509.Certificate] = {}
    for kid_text, certificate_text in document.items():
        try:
            kid = base64.b64decode(kid_text, validate=True)
        except (binascii.Error, ValueError):
            raise TrustListError(f"trust list key id {kid_text!r} is not base64") from None
        if not isinstance(certificate_text, str):
            raise TrustListError(f"trust list entry {kid_text!r} is not a base64 string")
        try:
            anchors[kid] = load_certificate(certificate_text.encode("ascii"))
        except UnicodeEncodeError:
            raise TrustListError(f"trust list entry {kid_text!r} is not base64") from None
        except TrustListError as exc:
            raise TrustListError(f"trust list entry {kid_text!r}: {exc.message}") from None
    return TrustAnchors(anchors)
