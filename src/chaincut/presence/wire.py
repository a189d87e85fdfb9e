"""What chaincut adds around the CrowdNotifier protocol, shared by the authority and its phones: how a
poster's address carries an entry code, how an owner's sheet carries a tracing code, and how the
pages of published warnings are signed."""

from __future__ import annotations

import base64
import binascii

from chaincut.errors import InvalidInput

__all__ = [
    "ENTRY_CONTENT_TYPE",
    "ENTRY_PREFIX",
    "FAKE_HEADER",
    "PAGE_LIMIT",
    "SIGNATURE_HEADER",
    "TRACING_PREFIX",
    "WARNINGS_CONTENT_TYPE",
]

ENTRY_PREFIX = "CROWDNOTIFIER:3:"
"""Marks a CrowdNotifier v3 entry code in a poster's address fragment: a compact JWS whose payload is
the QR payload, signed with the authority's poster key."""
ENTRY_CONTENT_TYPE = "chaincut-crowdnotifier-entry"
"""The ``typ`` of an entry code's signature."""
TRACING_PREFIX = "CROWDNOTIFIER-TRACE:3:"
"""Marks a basic venue's tracing code (base64url) on its owner's sheet."""
WARNINGS_CONTENT_TYPE = "chaincut-presence-warnings"
"""The ``typ`` of the detached JWS that signs a page of warnings: never taken for a poster's token."""
SIGNATURE_HEADER = "Chaincut-Signature"
PAGE_LIMIT = 1000
"""The most traces a page of warnings holds; pages are fixed blocks of this many numbers."""
"""The response header that carries a page's detached JWS."""
FAKE_HEADER = "Chaincut-Fake"
"""A request with this header set to ``1`` is a phone's dummy: answered alike, nothing read or kept."""


def decode_code(text: str, field: str) -> bytes:
    """A QR code's bytes from base64 (URL-safe or standard, padded or not, spaces ignored)."""
    cleaned = "".join(text.split())
    try:
        return base64.b64decode(cleaned.replace("-", "+").replace("_", "/") + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("expected base64", field=field) from None
