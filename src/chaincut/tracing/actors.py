"""Who did it: the staff id every tracing action records (until sign-in replaces it)."""

from __future__ import annotations

import re

from chaincut.errors import InvalidInput

__all__ = ["ACTOR_PATTERN", "validate_actor"]

# A staff id or a system name (``api``, ``cli``, ``tracing``), never a person's name.
ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,63}\Z")


def validate_actor(actor: str) -> str:
    """The actor as stored; InvalidInput when it is empty, too long or has odd characters."""
    if not ACTOR_PATTERN.match(actor or ""):
        raise InvalidInput(
            "expected the acting staff id: 1-64 letters, digits or . _ : @ -",
            field="actor",
            code="invalid_actor",
        )
    return actor
