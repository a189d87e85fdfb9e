"""Deciding at a checkpoint with no network: the synced bundle, an offline verifier, a local decision log.

Each decision is appended to the log (JSON Lines, owner-only, flushed to disk
before the officer sees it) with a decision id of its own, so uploading the log
later, once or several times, records each decision once. A code, or a booking's
traveller, that already cleared a crossing is refused whether the bundle says so
(crossed before the sync) or the log does (crossed here since). A code the bundle lists as
revoked is refused (``code_revoked``), and a bundle older than its maximum age is
refused whole before any code is looked at (``ClearanceBundle.check_age``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from chaincut.border.bundle import ClearanceBundle, decision_to_dict
from chaincut.border.clearance import decide
from chaincut.border.ports import CodeVerifier, check_code
from chaincut.domain.border import ClearanceDecision
from chaincut.domain.ids import new_public_id
from chaincut.errors import InvalidInput

__all__ = ["DecisionLog", "clear_offline"]


class DecisionLog:
    """A checkpoint's local log of decisions, one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        """Every decision logged; InvalidInput naming the line when one is not a decision."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read the decision log {self.path}: {exc}", field="log") from exc
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or not isinstance(record.get("decision_id"), str):
                raise InvalidInput(f"{self.path} line {number}: not a logged decision", field="log")
            found.append(record)
        return found

    def crossed(self) -> tuple[set[str], set[tuple[str, str]]]:
        """Code ids, and travellers (booking id, subject id), the log's clearances used."""
        codes: set[str] = set()
        travellers: set[tuple[str, str]] = set()
        for record in self.records():
            if record.get("cleared") is True:
                if isinstance(record.get("code_id"), str):
                    codes.add(record["code_id"])
                booking, subject = record.get("booking_id"), record.get("subject")
                if isinstance(booking, str) and isinstance(subject, str):
                    travellers.add((booking, subject))
        return codes, travellers

    def append(self, record: dict[str, Any]) -> None:
        """Add one decision, on disk before this returns; the log is created readable by its owner only."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def clear_offline(
    bundle: ClearanceBundle,
    verifier: CodeVerifier,
    log: DecisionLog,
    qr_text: str,
    now: datetime,
    *,
    new_id: Callable[[], str] = new_public_id,
) -> tuple[str, ClearanceDecision]:
    """Decide on one scanned code against the bundle and the log, and log the decision.

    InvalidInput (``bundle_too_old``) when the bundle is past its maximum age: nothing is logged.
    """
    bundle.check_age(now)
    codes, travellers = log.crossed()
    check = check_code(verifier, qr_text, now)
    decision = decide(
        check,
        bundle.bookings,
        bundle.checkpoint,
        now,
        bundle.zone,
        bundle.rules,
        used_codes=bundle.crossed_codes | codes,
        used_travellers=bundle.crossed_travellers | travellers,
        standing=bundle.standing_of(check.claims if check.valid else None),
    )
    decision_id = new_id()
    log.append(decision_to_dict(decision_id, decision))
    return decision_id, decision
