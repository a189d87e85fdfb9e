"""A resident's signed health code: their current code, signed for a checkpoint that may be offline.

The code's reasons are the resident's own view (another person's case is "a
case"), its subject is the border subject id of their identity document (so a
checkpoint can match it to a booking), and it carries when their last negative
test of the kinds the border accepts was taken. It expires after the policy's
``[signed_codes] valid_hours`` or when the colour may change, whichever is first.

Every code issued is recorded by id (with its person and expiry, nothing else), so that it
can be revoked by id when the person's colour worsens (``HealthCodeService``). The record is
written under a lock on the person's stored code: a recompute that turns them red either
waits for it and then revokes the new code, or committed first, in which case the code just
signed (still green) is recorded as revoked and signed again from the red code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaincut.clock import to_epoch
from chaincut.codes.issuance import CodeIssuer, IssuedCode
from chaincut.codes.status import HealthCodeService
from chaincut.domain.health_codes import HealthCode, HealthCodeClaims
from chaincut.errors import Conflict, NotFound
from chaincut.store import Store

__all__ = ["SignedCode", "SignedCodes"]


@dataclass(frozen=True)
class SignedCode:
    """The code a resident holds now, and its signed form."""

    code: HealthCode
    issued: IssuedCode


class SignedCodes:
    """Issues residents' signed codes from their current health code."""

    def __init__(
        self, store: Store, codes: HealthCodeService, issuer: CodeIssuer, test_kinds: Iterable[str]
    ) -> None:
        self._store = store
        self._codes = codes
        self._issuer = issuer
        self._test_kinds = tuple(sorted(test_kinds))

    def issue_for(self, person_id: int) -> SignedCode:
        """A freshly signed code for the person, recorded so that it can be revoked; NotFound when
        they or the signing keys do not exist."""
        with self._store.read() as uow:
            person = uow.people.get(person_id)
        if person is None:
            raise NotFound("no such person", field="person")
        for _attempt in range(3):
            code = self._codes.own_code(person_id)
            claims = self._issuer.claims_for(
                code,
                name=person.details.name,
                id_document_hash=person.id_document_hash,
                last_negative_test_at=self._codes.last_negative_test_for(person_id, self._test_kinds),
            )
            issued = self._issuer.issue(claims)
            if self._record(person_id, code, claims):
                return SignedCode(code, issued)
        raise Conflict("the person's code kept changing while it was signed; ask again", field="person")

    def _record(self, person_id: int, code: HealthCode, claims: HealthCodeClaims) -> bool:
        """Record the issued code; False, and recorded as revoked, when the colour worsened meanwhile."""
        colours = self._codes.colours
        with self._store.write() as uow:
            stored = uow.health_codes.lock_current(person_id)
            worse = stored is not None and _rank(colours, stored.colour) > _rank(colours, code.colour)
            uow.issued_codes.add(
                claims.code_id,
                person_id,
                to_epoch(claims.issued_at),
                to_epoch(claims.expires_at),
                revoked_at=to_epoch(claims.issued_at) if worse else None,
            )
        return not worse


def _rank(colours: tuple[str, ...], colour: str) -> int:
    return colours.index(colour) if colour in colours else len(colours)
