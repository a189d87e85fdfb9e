"""The CrowdNotifier reference library's published test vectors (``testvectors.ts``), read for tests."""

from __future__ import annotations

import re
from typing import Any

from support.shared import shared_data

__all__ = ["reference_vectors"]


def reference_vectors(name: str) -> list[dict[str, Any]]:
    """One exported array of testvectors.ts: each object's numbers and byte arrays."""
    text = shared_data("crowdnotifier", "libcrowdnotifier-v3", "testvectors.ts").read_text(encoding="utf-8")
    body = text.split(f"export const {name}", 1)[1].split("];", 1)[0]
    vectors = []
    for block in re.split(r"\n  },", body):
        fields: dict[str, Any] = {}
        for key, values in re.findall(r"(\w+): Uint8Array\.from\(\[(.*?)\]\)", block, flags=re.S):
            fields[key] = bytes(int(v) & 0xFF for v in re.findall(r"-?\d+", values))
        for key, number in re.findall(r"(\w+): (\d+),", block):
            fields[key] = int(number)
        if fields:
            vectors.append(fields)
    return vectors
