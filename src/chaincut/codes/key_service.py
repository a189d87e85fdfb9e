"""The authority's code-signing keys as a service: initialise, rotate, revoke, list, publish.

Exactly one document signer (DSC) is active and signs new codes. Rotating makes a new DSC
active and retires the old one, which stays in the published trust list until every code it
signed has expired (``trusted_until``: the retirement plus the policy's code validity), then
leaves it. Revoking takes a DSC out of the trust list at once and lists its kid as revoked (a
revoked active DSC is replaced by a new one in the same transaction). Every change raises the
trust list's sequence number and is audited in the same transaction. The active signer is
cached and re-read at most every ``refresh_seconds``, so a rotation by another process (the
command line) reaches a running server within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.codes.issuance import ActiveSigner
from chaincut.codes.signing_keys import (
    KeyPair,
    format_kid,
    load_private_key,
    new_dsc,
    new_root,
    parse_kid,
    private_pem,
)
from chaincut.codes.trust_list import IssuerTrust, ListedSigner, sign_trust_list
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.store.code_keys import CodeKeyRecord
from chaincut.store.unit_of_work import Store, UnitOfWork

__all__ = ["CodeKeyInfo", "CodeKeys"]

ROOT, DSC = "root", "dsc"
ACTIVE, RETIRED, EXPIRED, REVOKED = "active", "retired", "expired", "revoked"
_PUBLISHED_SECONDS = 60.0


@dataclass(frozen=True)
class CodeKeyInfo:
    """A signing key as administrators see it (never its private half)."""

    kid: str
    role: str
    status: str
    created_at: datetime
    created_by: str
    not_after: datetime  # its certificate's end
    retired_at: datetime | None
    trusted_until: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None


def _at(value: int | None) -> datetime | None:
    return None if value is None else from_epoch(value)


def _info(record: CodeKeyRecord) -> CodeKeyInfo:
    certificate = x509.load_der_x509_certificate(record.certificate)
    return CodeKeyInfo(
        kid=format_kid(record.kid),
        role=record.role,
        status=record.status,
        created_at=from_epoch(record.created_at),
        created_by=record.created_by,
        not_after=certificate.not_valid_after_utc,
        retired_at=_at(record.retired_at),
        trusted_until=_at(record.trusted_until),
        revoked_at=_at(record.revoked_at),
        revoked_reason=record.revoked_reason,
    )


class CodeKeys:
    """Initialises, rotates, revokes and publishes the authority's code-signing keys."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        issuer: str,
        valid_hours: int,
        *,
        refresh_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self.issuer = issuer
        self._valid = timedelta(hours=valid_hours)
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._signer: ActiveSigner | None = None
        self._checked = -1e18
        self.changed: Callable[[], None] = lambda: None  # told after every change made here
        self._published: tuple[int, float, dict[str, object]] | None = None  # sequence, when, list

    # --- changes --------------------------------------------------------------------------------

    def init(self, by: Principal) -> list[CodeKeyInfo]:
        """Make the root key and the first document signer; refused when keys exist."""
        now = self._clock.now()
        with self._store.write() as uow:
            if uow.code_keys.all_keys():
                raise Conflict("code-signing keys already exist: rotate them instead", field="kid")
            root = new_root(self.issuer, now)
            self._add(uow, root, ROOT, by, now)
            dsc = self._new_dsc(uow, root, by, now)
            uow.code_keys.bump_sequence(to_epoch(now))
            self._audit(uow, by, "codes.keys.init", dsc.kid, {"root": format_kid(root.kid)})
        self._forget()
        return self.list_keys()

    def rotate(self, by: Principal) -> CodeKeyInfo:
        """A new document signer becomes active; the old one is retired (listed until its codes expire).

        On a store with no keys yet this initialises them.
        """
        now = self._clock.now()
        with self._store.write() as uow:
            root = self._root(uow)
            if root is None:
                root = new_root(self.issuer, now)
                self._add(uow, root, ROOT, by, now)
                old = None
            else:
                old = self._retire_active(uow, now)
            dsc = self._new_dsc(uow, root, by, now)
            uow.code_keys.bump_sequence(to_epoch(now))
            details: dict[str, str | int | bool | None] = {
                "retired": None if old is None else format_kid(old)
            }
            self._audit(uow, by, "codes.keys.rotate", dsc.kid, details)
        self._forget()
        return self._one(dsc.kid)

    def revoke(self, kid_text: str, reason: str, by: Principal) -> CodeKeyInfo:
        """Take a document signer out of the trust list at once; a new one replaces it if it was active."""
        reason = reason.strip()
        if not 3 <= len(reason) <= 300:
            raise InvalidInput(
                "expected a reason of 3-300 characters", field="reason", code="reason_required"
            )
        kid = parse_kid(kid_text)
        if kid is None:
            raise InvalidInput("expected a key id: 8 bytes in base64", field="kid", code="invalid_kid")
        now = self._clock.now()
        with self._store.write() as uow:
            record = uow.code_keys.key(kid)
            if record is None:
                raise NotFound(f"no code-signing key {format_kid(kid)}", field="kid")
            if record.role == ROOT:
                raise Conflict(
                    "the root key cannot be revoked: partners pin it; start a new root", field="kid"
                )
            if record.status == REVOKED:
                raise Conflict(f"key {format_kid(kid)} is already revoked", field="kid")
            epoch = to_epoch(now)
            uow.code_keys.set_status(kid, REVOKED, revoked_at=epoch, revoked_reason=reason)
            replaced = None
            if record.status == ACTIVE:
                root = self._root(uow)
                assert root is not None  # a DSC exists only under a root
                replaced = self._new_dsc(uow, root, by, now).kid
            uow.code_keys.bump_sequence(epoch)
            details: dict[str, str | int | bool | None] = {
                "was": record.status,
                "replaced_by": None if replaced is None else format_kid(replaced),
            }
            self._audit(uow, by, "codes.keys.revoke", kid, details)
        self._forget()
        return self._one(kid)

    # --- reading --------------------------------------------------------------------------------

    def list_keys(self) -> list[CodeKeyInfo]:
        """Every key, oldest first (after retiring from the list those whose codes have all expired)."""
        self._expire_retired()
        with self._store.read() as uow:
            return [_info(r) for r in uow.code_keys.all_keys()]

    def active_signer(self) -> ActiveSigner:
        """The document signer that signs new codes (cached; re-read every ``refresh_seconds``)."""
        with self._lock:
            if self._signer is not None and self._monotonic() - self._checked < self._refresh:
                return self._signer
            with self._store.read() as uow:
                active = [r for r in uow.code_keys.all_keys() if r.role == DSC and r.status == ACTIVE]
                if not active:
                    raise NotFound("no active code-signing key: run `chaincut codes keys init`", field="kid")
                record = active[-1]
                if self._signer is None or self._signer.kid != record.kid:
                    certificate = x509.load_der_x509_certificate(record.certificate)
                    key = load_private_key(uow.code_keys.private_pem(record.kid))
                    self._signer = ActiveSigner(record.kid, key, certificate.not_valid_after_utc)
            self._checked = self._monotonic()
            return self._signer

    def own_trust(self) -> IssuerTrust | None:
        """Our own signers as a verifier trusts them (straight from the store), or None before init."""
        self._expire_retired()
        with self._store.read() as uow:
            records = uow.code_keys.all_keys()
            sequence = uow.code_keys.sequence() or 0
        roots = [r for r in records if r.role == ROOT]
        if not roots:
            return None
        return IssuerTrust(
            issuer=self.issuer,
            root=x509.load_der_x509_certificate(roots[0].certificate),
            signers={
                r.kid: x509.load_der_x509_certificate(r.certificate)
                for r in records
                if r.role == DSC and r.status in (ACTIVE, RETIRED)
            },
            revoked={r.kid: from_epoch(r.revoked_at) for r in records if r.revoked_at is not None},
            sequence=sequence,
        )

    def trust_list(self) -> dict[str, object]:
        """The authority's trust list, signed by its root (see ``chaincut.codes.trust_list``).

        Anyone may fetch it, so a signed list is reused while its sequence holds, for at most
        ``_PUBLISHED_SECONDS``: a flood of requests costs a read each, not a signature.
        """
        self._expire_retired()
        now = self._clock.now()
        with self._store.read() as uow:
            sequence = uow.code_keys.sequence() or 0
            published = self._published
            if (
                published is not None
                and published[0] == sequence
                and self._monotonic() - published[1] < _PUBLISHED_SECONDS
            ):
                return published[2]
            records = uow.code_keys.all_keys()
            roots = [r for r in records if r.role == ROOT]
            if not roots:
                raise NotFound("no code-signing keys yet: run `chaincut codes keys init`", field="kid")
            root_key = load_private_key(uow.code_keys.private_pem(roots[0].kid))
        document = sign_trust_list(
            issuer=self.issuer,
            sequence=sequence,
            issued_at=now,
            root_key=root_key,
            root=x509.load_der_x509_certificate(roots[0].certificate),
            signers=[
                ListedSigner(
                    r.kid, x509.load_der_x509_certificate(r.certificate), r.status, _at(r.trusted_until)
                )
                for r in records
                if r.role == DSC and r.status in (ACTIVE, RETIRED)
            ],
            revoked={r.kid: from_epoch(r.revoked_at) for r in records if r.revoked_at is not None},
        )
        self._published = (sequence, self._monotonic(), document)
        return document

    def root_key(self) -> ec.EllipticCurvePrivateKey:
        """The root's private key, which signs what the authority publishes besides the trust list
        (the code-revocation list); NotFound before the keys are initialised."""
        with self._store.read() as uow:
            root = self._root(uow)
        if root is None:
            raise NotFound("no code-signing keys yet: run `chaincut codes keys init`", field="kid")
        return root.private_key

    # --- helpers --------------------------------------------------------------------------------

    def _forget(self) -> None:
        with self._lock:
            self._signer = None
        self.changed()

    def _one(self, kid: bytes) -> CodeKeyInfo:
        with self._store.read() as uow:
            record = uow.code_keys.key(kid)
        assert record is not None
        return _info(record)

    def _add(self, uow: UnitOfWork, pair: KeyPair, role: str, by: Principal, now: datetime) -> None:
        uow.code_keys.add_key(
            kid=pair.kid,
            role=role,
            status=ACTIVE,
            certificate=pair.der,
            private_pem=private_pem(pair.private_key),
            at=to_epoch(now),
            by=by.name,
        )

    def _root(self, uow: UnitOfWork) -> KeyPair | None:
        roots = [r for r in uow.code_keys.all_keys() if r.role == ROOT]
        if not roots:
            return None
        certificate = x509.load_der_x509_certificate(roots[0].certificate)
        return KeyPair(load_private_key(uow.code_keys.private_pem(roots[0].kid)), certificate, roots[0].kid)

    def _new_dsc(self, uow: UnitOfWork, root: KeyPair, by: Principal, now: datetime) -> KeyPair:
        number = sum(1 for r in uow.code_keys.all_keys() if r.role == DSC) + 1
        dsc = new_dsc(root, self.issuer, now, number)
        self._add(uow, dsc, DSC, by, now)
        return dsc

    def _retire_active(self, uow: UnitOfWork, now: datetime) -> bytes | None:
        active = [r for r in uow.code_keys.all_keys() if r.role == DSC and r.status == ACTIVE]
        for record in active:
            uow.code_keys.set_status(
                record.kid, RETIRED, retired_at=to_epoch(now), trusted_until=to_epoch(now + self._valid)
            )
        return active[-1].kid if active else None

    def _expire_retired(self) -> None:
        """Retired signers whose every code has expired leave the trust list (a new sequence)."""
        now = to_epoch(self._clock.now())
        with self._store.read() as uow:
            due = [
                r.kid
                for r in uow.code_keys.all_keys()
                if r.status == RETIRED and r.trusted_until is not None and r.trusted_until <= now
            ]
        if not due:
            return
        with self._store.write() as uow:
            for kid in due:
                uow.code_keys.set_status(kid, EXPIRED)
            uow.code_keys.bump_sequence(now)

    def _audit(
        self,
        uow: UnitOfWork,
        by: Principal,
        action: str,
        kid: bytes,
        details: dict[str, str | int | bool | None],
    ) -> None:
        event = AuditEvent(
            actor=by.name,
            roles=by.role_names,
            action=action,
            resource="code_keys",
            record=format_kid(kid),
            details=details,
        )
        uow.audit.append([event], at=to_epoch(self._clock.now()))
