"""Opaque public ids: random, so that nobody can guess or enumerate them."""

from __future__ import annotations

import base64
import secrets

__all__ = ["new_public_id"]


def new_public_id() -> str:
    """128 random bits as 26 lower-case base32 characters."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
