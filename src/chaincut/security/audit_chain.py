"""The audit log's hash chain: each entry's MAC covers its fields and the MAC before it.

The MAC is HMAC-SHA-256 under a key from configuration (CHAINCUT_AUDIT_KEY), so
someone who can write to the database but does not hold the key cannot rebuild
the chain after altering, deleting, inserting or reordering entries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "ChainBreak", "ChainReport", "entry_mac", "verify_chain"]

GENESIS = bytes(32)  # the "previous MAC" of the first entry


def _canonical(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_mac(key: bytes, prev_mac: bytes, fields: Mapping[str, Any]) -> bytes:
    """The MAC of one entry (``fields`` are its stored columns but the MACs)."""
    return hmac.new(key, prev_mac + _canonical(fields), hashlib.sha256).digest()


@dataclass(frozen=True)
class ChainBreak:
    """Where the chain first fails, and how."""

    seq: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the whole chain."""

    checked: int
    last_seq: int
    breaks: list[ChainBreak]

    @property
    def intact(self) -> bool:
        return not self.breaks


def verify_chain(
    key: bytes,
    entries: Iterable[tuple[int, bytes, bytes, Mapping[str, Any]]],
    *,
    head: tuple[int, bytes] | None,
    max_breaks: int = 20,
) -> ChainReport:
    """Check ``entries`` (seq, prev_mac, mac, fields, in stored order) against the chain's head.

    Finds an altered entry (its MAC does not match its fields), a deleted one
    (a gap in the sequence, or a previous-MAC that is not the MAC before it),
    an inserted or reordered one (the same), and a cut-off tail (the head
    names a later entry than the last one found).
    """
    breaks: list[ChainBreak] = []
    expected_seq, expected_prev = 1, GENESIS
    checked = last_seq = 0
    for seq, prev_mac, mac, fields in entries:
        checked += 1
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "out of order or duplicated"
            span = f"{expected_seq}..{seq - 1}" if seq > expected_seq + 1 else str(expected_seq)
            breaks.append(ChainBreak(seq, f"entry {span} {what} before entry {seq}"))
        elif not hmac.compare_digest(prev_mac, expected_prev):
            breaks.append(ChainBreak(seq, f"entry {seq} does not follow the entry before it"))
        if not hmac.compare_digest(mac, entry_mac(key, prev_mac, fields)):
            breaks.append(ChainBreak(seq, f"entry {seq} was altered: its contents do not match its MAC"))
        if len(breaks) >= max_breaks:
            break
        expected_seq, expected_prev, last_seq = seq + 1, mac, seq
    if head is not None and len(breaks) < max_breaks:
        head_seq, head_mac = head
        if head_seq > last_seq:
            breaks.append(ChainBreak(last_seq + 1, f"entries {last_seq + 1}..{head_seq} are missing"))
        elif head_seq == last_seq and last_seq and not hmac.compare_digest(head_mac, expected_prev):
            breaks.append(ChainBreak(last_seq, "the chain's head does not match its last entry"))
        elif head_seq < last_seq:
            breaks.append(ChainBreak(head_seq + 1, f"entries after {head_seq} were added outside the log"))
    return ChainReport(checked, last_seq, breaks)
