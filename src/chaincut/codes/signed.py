"""A resident's signed health code: their current code, signed for a checkpoint that may be offline.

The code's reasons are the resident's own view (another person's case is "a
case"), its subject is the border subject id of their identity document (so a
checkpoint can match it to a booking), and it carries when their last negative
test of the kinds the border accepts was taken. It expires after the policy's
``[signed_codes] valid_hours`` or when the colour may change, whichever is first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaincut.codes.issuance import CodeIssuer, IssuedCode
from chaincut.codes.status import HealthCodeService
from chaincut.domain.health_codes import HealthCode
from chaincut.errors import NotFound
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
        """A freshly signed code for the person; NotFound when they or the signing keys do not exist."""
        with self._store.read() as uow:
            person = uow.people.get(person_id)
        if person is None:
            raise NotFound("no such person", field="person")
        code = self._codes.own_code(person_id)
        claims = self._issuer.claims_for(
            code,
            name=person.details.name,
            id_document_hash=person.id_document_hash,
            last_negative_test_at=self._codes.last_negative_test_for(person_id, self._test_kinds),
        )
        return SignedCode(code, self._issuer.issue(claims))
