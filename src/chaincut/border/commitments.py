"""Ballot seed commitments: each day's seed is fixed, and its SHA-256 published, before entries open.

A ballot drawn with a seed chosen after the entries were seen could be ground:
try seeds until the wanted entries win. So each day's seed is committed first:
its SHA-256 (over the seed's UTF-8 bytes, lower-case hex) is recorded and
published (``GET /border/ballot/commitments``, ``chaincut border commitments``)
before entries for that day open, by the server's timer for every day up to the
first one not yet open (``BallotDraws.commit_ahead``) and, failing that, before the
day's first entry is stored. The seed itself stays sealed until the draw, which
uses it, refuses any other, and reveals it: anyone can then check that SHA-256 of
the revealed seed is the commitment published before the entries, and repeat the
draw from its published record (``ballot``: entries are ranked on tickets the
server cannot choose, so knowing the seed early does not let it pick winners). A
commitment made after entries arrived (a day entered before this safeguard
existed) says how many were already in.

A seed is 1 to 64 printable ASCII characters (space to tilde), so that it can be
published as it is and its bytes are the same everywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date
from secrets import token_hex

from chaincut.clock import Clock, to_epoch
from chaincut.domain.audit import AuditEvent
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.store import Store

__all__ = ["COMMIT_ACTION", "SeedSource", "check_seed", "commit_seed", "commitment_of", "fresh_seeds"]

COMMIT_ACTION = "border.ballot.commit"

SeedSource = Callable[[date], str]
"""A day's ballot seed, when the day's commitment is made."""

_SEED = re.compile(r"[\x20-\x7e]{1,64}")


def fresh_seeds(_day: date) -> str:
    """Fresh randomness: 32 hexadecimal characters (128 bits)."""
    return token_hex(16)


def check_seed(seed: str) -> str:
    """``seed`` when it is 1 to 64 printable ASCII characters; InvalidInput naming ``seed`` otherwise."""
    if not _SEED.fullmatch(seed):
        raise InvalidInput(
            "a draw's seed is 1 to 64 printable ASCII characters", code="invalid_seed", field="seed"
        )
    return seed


def commitment_of(seed: str) -> str:
    """The published commitment to ``seed``: SHA-256 of its UTF-8 bytes, lower-case hex."""
    return hashlib.sha256(check_seed(seed).encode("utf-8")).hexdigest()


def commit_seed(store: Store, clock: Clock, day: date, seed: str, *, actor: str, roles: str) -> bool:
    """Commit ``seed`` for ``day`` in a transaction of its own, audited; False when the day has a
    commitment already (nothing changes). A day already drawn is refused (``ballot_drawn``)."""
    commitment = commitment_of(seed)
    now = to_epoch(clock.now())
    with store.write() as uow:
        if uow.ballot.draw(day) is not None:
            raise BookingRefused(f"the ballot for {day} has been drawn", code="ballot_drawn", field="day")
        entries = uow.ballot.commit(day, commitment, seed, now, actor)
        if entries is None:
            return False
        event = AuditEvent(
            actor=actor,
            roles=roles,
            action=COMMIT_ACTION,
            resource="border/ballot-commitments",
            record=day.isoformat(),
            details={"commitment": commitment, "entries_at_commitment": entries},
        )
        uow.audit.append([event], at=now)
    return True
