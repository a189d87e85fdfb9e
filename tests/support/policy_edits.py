"""The shipped policy with a section's text edited, and the problems the loader names for it."""

from __future__ import annotations

import pytest

from chaincut.errors import PolicyError
from chaincut.policy import default_policy_text, parse_policy

__all__ = ["edited_policy", "problems_of_edits"]


def problems_of_edits(section: str, *edits: tuple[str, str]) -> dict[str, str]:
    """Each (old, new) replaced once inside ``[section]`` (whatever other sections hold alike);
    the loader's problems by key path. Fails if the edited policy loads."""
    text = default_policy_text()
    start = text.index(f"[{section}]")
    for old, new in edits:
        assert old in text[start:], old
        text = text[:start] + text[start:].replace(old, new, 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return dict(p.split(": ", 1) for p in caught.value.problems)


def edited_policy(*edits: tuple[str, str]) -> str:
    """The shipped policy's text with each (old, new) replaced once (each old must be there)."""
    text = default_policy_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text
