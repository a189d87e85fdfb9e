"""The trust a checkpoint carries offline: our signed trust list and each partner's, with their pinned roots.

A border officer's bundle (``chaincut border sync``) holds this document, and
``chaincut border clear`` builds its verifier from it with no network::

    {"format": "chaincut-checkpoint-trust-1",
     "lists": [{"list": {...our signed trust list...}, "root": null},
               {"list": {...a partner's signed list...}, "root": "<base64 DER of the pinned root>"}]}

Each list is checked again when the verifier is built: its root's signature, every
signer chained to the root, and for a partner the root it was pinned to.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from chaincut.codes.code_verify import CodeTrust, CodeVerificationResult, CodeVerifier
from chaincut.codes.key_service import CodeKeys
from chaincut.codes.partners import Partners
from chaincut.codes.trust_list import read_trust_list
from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS
from chaincut.errors import NotFound, TrustListError

__all__ = ["CHECKPOINT_TRUST_FORMAT", "bundle_verifier", "checkpoint_trust", "verifier_from_checkpoint_trust"]

CHECKPOINT_TRUST_FORMAT = "chaincut-checkpoint-trust-1"


def checkpoint_trust(keys: CodeKeys, partners: Partners) -> dict[str, Any]:
    """Our own signed trust list (if keys exist) and every partner's last accepted one."""
    lists: list[dict[str, Any]] = []
    with contextlib.suppress(NotFound):  # no keys yet: only partners' codes can be verified
        lists.append({"list": keys.trust_list(), "root": None})
    for name, document, root in partners.signed_lists():
        lists.append({"partner": name, "list": json.loads(document), "root": base64.b64encode(root).decode()})
    return {"format": CHECKPOINT_TRUST_FORMAT, "lists": lists}


def verifier_from_checkpoint_trust(
    document: Mapping[str, Any], *, leeway: timedelta = timedelta(seconds=DEFAULT_CODE_LEEWAY_SECONDS)
) -> CodeVerifier:
    """A verifier for the trust in a bundle (with the checkpoint's clock ``leeway``); a list that
    fails its checks is refused whole."""
    if document.get("format") != CHECKPOINT_TRUST_FORMAT:
        raise TrustListError(f"the bundle's trust is not in the format {CHECKPOINT_TRUST_FORMAT!r}")
    items = document.get("lists")
    if not isinstance(items, list):
        raise TrustListError("the bundle's trust has no list of trust lists")
    trust = CodeTrust()
    own = None
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("list"), Mapping):
            raise TrustListError(f"trust entry {index} is not an object with a signed list")
        root = None
        if item.get("root") is not None:
            try:
                root = x509.load_der_x509_certificate(base64.b64decode(str(item["root"]), validate=True))
            except (binascii.Error, ValueError):
                raise TrustListError(
                    f"trust entry {index}: the pinned root is not a base64 DER certificate"
                ) from None
        issuer_trust = read_trust_list(json.dumps(item["list"]), root)
        if root is None:
            own = issuer_trust
        else:
            trust = trust.with_issuer(issuer_trust)
    if own is not None:
        trust = trust.with_issuer(own)  # our own signers win over a partner claiming our name
    return CodeVerifier(trust, leeway=leeway)


def bundle_verifier(
    document: Mapping[str, Any], *, leeway: timedelta = timedelta(seconds=DEFAULT_CODE_LEEWAY_SECONDS)
) -> Callable[[str, datetime], CodeVerificationResult]:
    """``(qr_text, at) -> result`` for ``chaincut border clear`` (never raises once built)."""
    verifier = verifier_from_checkpoint_trust(document, leeway=leeway)

    def verify(qr_text: str, at: datetime) -> CodeVerificationResult:
        return verifier.verify(qr_text, at)

    return verify
