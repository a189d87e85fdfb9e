"""Which signed codes may no longer be used, and what the issuer knows now of a scanned code's holder.

A signed code states its holder's colour when it was issued and stays valid for hours; their
colour may worsen meanwhile. ``HealthCodeService`` then revokes every outstanding code of
theirs by id (``chaincut.store.issued_codes``). ``CodeRevocations`` serves what follows:

- ``revocation_list()``: our signed, sequenced list of revoked code ids (``GET /codes/revocations``,
  ``chaincut.codes.revocation_list``), for partners;
- ``revoked_codes()``: every revoked id we know, ours and each partner's as last synced, by
  issuer, for the checkpoint bundle an offline checkpoint decides with;
- ``standing(claims)``: for online clearance, whether the scanned code is revoked and its
  holder's current code, read from the store at the moment of the scan.

A partner's code has no holder in our store: its standing says only whether the partner's last
synced revocation list names it, and the checkpoint decides on the colour the code states. Our own
code that we hold no record of issuing (one signed before codes were recorded, so at most
``[signed_codes] valid_hours`` after the upgrade, or one never issued to a resident) cannot be
checked against its holder's current code, so it is refused as revoked: the traveller fetches a
fresh code, which is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.codes.key_service import CodeKeys
from chaincut.codes.partners import Partners
from chaincut.codes.revocation_list import sign_revocation_list
from chaincut.codes.status import HealthCodeService
from chaincut.domain.code_validity import MAX_CODE_LEEWAY_SECONDS
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.store import Store

__all__ = ["LISTED_AFTER_EXPIRY", "CodeRevocations", "CodeStanding"]

# A revoked code stays listed until no verifier, however much clock leeway it allows, still accepts it.
LISTED_AFTER_EXPIRY = timedelta(seconds=MAX_CODE_LEEWAY_SECONDS)
_PUBLISHED_SECONDS = 60.0


@dataclass(frozen=True)
class CodeStanding:
    """What the issuer knows now of one scanned code (the border's ``CodeStanding`` port)."""

    revoked: str | None  # why the code may no longer be used; None when it may
    colour: str | None = None  # its holder's colour now; None when the holder is not in our store
    reasons: tuple[str, ...] = ()  # the holder's reasons now, as they see them themselves
    until: datetime | None = None  # when the holder's colour may change by itself


class CodeRevocations:
    """Revoked codes, ours and partners', and the standing of a scanned code."""

    def __init__(
        self,
        store: Store,
        keys: CodeKeys,
        partners: Partners,
        codes: HealthCodeService,
        clock: Clock,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._keys = keys
        self._partners = partners
        self._codes = codes
        self._clock = clock
        self.issuer = keys.issuer
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._published: tuple[int, float, dict[str, object]] | None = None  # sequence, when, list

    def _own_revoked(self) -> tuple[int, dict[str, int]]:
        cutoff = to_epoch(self._clock.now() - LISTED_AFTER_EXPIRY)
        with self._store.read() as uow:
            return uow.issued_codes.sequence(), uow.issued_codes.revoked_since(cutoff)

    def revocation_list(self) -> dict[str, object]:
        """Our revocation list, signed by the root (NotFound before the keys exist).

        Anyone may fetch it, so a signed list is reused while its sequence holds, for at most
        a minute: a flood of requests costs a read each, not a signature.
        """
        with self._store.read() as uow:
            sequence = uow.issued_codes.sequence()
        with self._lock:
            held = self._published
            if held is not None and held[0] == sequence and self._monotonic() - held[1] < _PUBLISHED_SECONDS:
                return held[2]
        root_key = self._keys.root_key()
        sequence, revoked = self._own_revoked()
        document = sign_revocation_list(
            issuer=self.issuer,
            sequence=sequence,
            issued_at=self._clock.now(),
            revoked={code_id: from_epoch(expires) for code_id, expires in revoked.items()},
            root_key=root_key,
        )
        with self._lock:
            self._published = (sequence, self._monotonic(), document)
        return document

    def revoked_codes(self) -> dict[str, frozenset[str]]:
        """Every code id known to be revoked, by issuer: ours now, each partner's as last synced."""
        found = {issuer: frozenset(r.revoked) for issuer, r in self._partners.revocation_lists().items()}
        found[self.issuer] = frozenset(self._own_revoked()[1])
        return found

    def standing(self, claims: HealthCodeClaims) -> CodeStanding:
        """Whether the scanned code is revoked, and (our own codes) its holder's current code."""
        if claims.issuer != self.issuer:
            listed = self._partners.revocation_lists().get(claims.issuer)
            if listed is not None and claims.code_id in listed.revoked:
                where = f"{claims.issuer}'s revocation list (sequence {listed.sequence})"
                return CodeStanding(f"code {claims.code_id} is on {where}")
            return CodeStanding(None)
        with self._store.read() as uow:
            issued = uow.issued_codes.get(claims.code_id)
        if issued is None:
            unknown = f"{self.issuer} holds no record of issuing code {claims.code_id}"
            return CodeStanding(f"{unknown}: the traveller fetches a fresh code")
        current = self._codes.own_code(issued.person_id)
        revoked = None
        if issued.revoked_at is not None:
            at = from_epoch(issued.revoked_at).isoformat().replace("+00:00", "Z")
            revoked = (
                f"code {claims.code_id} was revoked at {at}: its holder's colour worsened after it was issued"
            )
        return CodeStanding(
            revoked, current.colour, tuple(reason.text for reason in current.reasons), current.until
        )
