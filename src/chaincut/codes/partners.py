"""Partner jurisdictions: pinning their roots, fetching their trust lists, verifying their codes.

``Partners.add`` pins a partner's root certificate (given by the partner out of band) with the
URL of its published trust list. ``Partners.sync`` fetches each list over HTTP (httpx), checks
the root's signature and that every signer chains to the pinned root, refuses a sequence older
than the one held (a rollback), and stores it; a list that fails leaves the previous one in
force and records why. ``TrustedCodes`` verifies codes against our own signers and every
partner's last accepted list, re-reading them at most every ``refresh_seconds`` (and at once
after a change made through it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.codes.code_verify import CodeTrust, CodeVerificationResult, CodeVerifier
from chaincut.codes.key_service import CodeKeys
from chaincut.codes.trust import load_certificate
from chaincut.codes.trust_list import IssuerTrust, read_trust_list
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent
from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS
from chaincut.errors import Conflict, InvalidInput, TrustListError
from chaincut.store.code_keys import PartnerRecord
from chaincut.store.unit_of_work import Store

__all__ = ["PartnerInfo", "Partners", "SyncOutcome", "TrustedCodes", "http_fetch"]

_MAX_LIST_BYTES = 4 << 20
Fetch = Callable[[str], bytes]


def http_fetch(url: str) -> bytes:
    """GET a partner's trust list (10 s timeout, at most 4 MiB); httpx errors become TrustListError."""
    try:
        with httpx.Client(timeout=10.0, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TrustListError(f"fetching the trust list failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise TrustListError(f"fetching the trust list answered HTTP {response.status_code}")
    if len(response.content) > _MAX_LIST_BYTES:
        raise TrustListError("the trust list is larger than 4 MiB")
    return response.content


@dataclass(frozen=True)
class PartnerInfo:
    """A partner as administrators see it."""

    name: str
    url: str
    issuer: str | None
    sequence: int | None
    signers: int
    synced_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class SyncOutcome:
    """What one partner's sync did: accepted (with the sequence held now) or refused, and why."""

    name: str
    accepted: bool
    sequence: int | None
    reason: str


def _name(name: str) -> str:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 64 or not all(c.isalnum() or c in "-_." for c in cleaned):
        raise InvalidInput("expected a partner name of 1-64 letters, digits, - _ .", field="name")
    return cleaned


class Partners:
    """The partner jurisdictions whose codes we accept."""

    def __init__(self, store: Store, clock: Clock, own_issuer: str, fetch: Fetch = http_fetch) -> None:
        self._store = store
        self._own_issuer = own_issuer
        self._clock = clock
        self._fetch = fetch
        self._parsed: dict[tuple[str, int, int], IssuerTrust] = {}
        self.changed: Callable[[], None] = lambda: None

    def add(self, name: str, url: str, root_certificate: bytes, by: Principal) -> PartnerInfo:
        """Pin a partner's root (PEM, base64 DER or DER) and where its trust list is published."""
        name = _name(name)
        if not url.startswith(("http://", "https://")) or len(url) > 500:
            raise InvalidInput("expected an http(s) URL of at most 500 characters", field="url")
        try:
            root = load_certificate(root_certificate)
        except TrustListError as exc:
            raise InvalidInput(f"the partner's root: {exc.message}", field="root") from None
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            if uow.code_keys.partner(name) is not None:
                raise Conflict(f"partner {name} is already pinned", field="name")
            uow.code_keys.add_partner(
                name=name, url=url, root_certificate=root.public_bytes(Encoding.DER), at=now, by=by.name
            )
            uow.audit.append([self._event(by, "codes.partners.add", name, {"url": url})], at=now)
        return next(p for p in self.list_partners() if p.name == name)

    def list_partners(self) -> list[PartnerInfo]:
        with self._store.read() as uow:
            records = uow.code_keys.partners()
        return [self._info(r) for r in records]

    def sync(self, by: Principal) -> list[SyncOutcome]:
        """Fetch, check and store every partner's trust list; each outcome says what happened."""
        with self._store.read() as uow:
            records = uow.code_keys.partners()
        outcomes = [self._sync_one(record) for record in records]
        with self._store.write() as uow:
            events = [
                self._event(
                    by,
                    "codes.partners.sync",
                    o.name,
                    {"accepted": o.accepted, "sequence": o.sequence, "reason": o.reason[:200]},
                )
                for o in outcomes
            ]
            uow.audit.append(events, at=to_epoch(self._clock.now()))
        self.changed()
        return outcomes

    def trusts(self) -> list[IssuerTrust]:
        """Each partner's last accepted list, as a verifier trusts it."""
        with self._store.read() as uow:
            records = uow.code_keys.partners()
        found: list[IssuerTrust] = []
        for record in records:
            trust = self._parse(record)
            if trust is not None:
                found.append(trust)
        return found

    def signed_lists(self) -> list[tuple[str, str, bytes]]:
        """Each partner's last accepted signed list as fetched, with its pinned root (DER)."""
        with self._store.read() as uow:
            records = uow.code_keys.partners()
        return [(r.name, r.trust_list, r.root_certificate) for r in records if r.trust_list is not None]

    def fingerprint(self) -> tuple[tuple[str, int | None, int | None], ...]:
        with self._store.read() as uow:
            return tuple((r.name, r.sequence, r.synced_at) for r in uow.code_keys.partners())

    def _parse(self, record: PartnerRecord) -> IssuerTrust | None:
        if record.trust_list is None or record.sequence is None:
            return None
        key = (record.name, record.sequence, record.synced_at or 0)
        if key not in self._parsed:
            root = x509.load_der_x509_certificate(record.root_certificate)
            parsed = read_trust_list(record.trust_list, root)
            for old in [k for k in self._parsed if k[0] == record.name]:
                del self._parsed[old]
            self._parsed[key] = parsed
        return self._parsed[key]

    def _sync_one(self, record: PartnerRecord) -> SyncOutcome:
        now = to_epoch(self._clock.now())
        try:
            raw = self._fetch(record.url)
            text = raw.decode("utf-8")
            trust = read_trust_list(text, x509.load_der_x509_certificate(record.root_certificate))
            if record.sequence is not None and trust.sequence < record.sequence:
                raise TrustListError(
                    f"the trust list's sequence {trust.sequence} is older than the {record.sequence} held "
                    "(a rollback): kept the list held"
                )
            if trust.issuer == self._own_issuer:
                raise TrustListError(f"the trust list claims our own issuer {trust.issuer!r}")
            if record.issuer is not None and trust.issuer != record.issuer:
                raise TrustListError(f"the trust list's issuer {trust.issuer!r} is not {record.issuer!r}")
        except (TrustListError, UnicodeDecodeError) as exc:
            reason = exc.message if isinstance(exc, TrustListError) else "the trust list is not UTF-8"
            with self._store.write() as uow:
                uow.code_keys.refuse_list(record.name, error=reason, at=now)
            return SyncOutcome(record.name, False, record.sequence, reason)
        with self._store.write() as uow:
            uow.code_keys.accept_list(
                record.name, text=text, issuer=trust.issuer, sequence=trust.sequence, at=now
            )
        return SyncOutcome(record.name, True, trust.sequence, f"accepted sequence {trust.sequence}")

    def _info(self, record: PartnerRecord) -> PartnerInfo:
        try:
            trust = self._parse(record)
        except TrustListError:
            trust = None
        return PartnerInfo(
            name=record.name,
            url=record.url,
            issuer=record.issuer,
            sequence=record.sequence,
            signers=0 if trust is None else len(trust.signers),
            synced_at=None if record.synced_at is None else from_epoch(record.synced_at),
            last_attempt_at=None if record.last_attempt_at is None else from_epoch(record.last_attempt_at),
            last_error=record.last_error,
        )

    def _event(
        self, by: Principal, action: str, name: str, details: dict[str, str | int | bool | None]
    ) -> AuditEvent:
        return AuditEvent(
            actor=by.name,
            roles=by.role_names,
            action=action,
            resource="code_partners",
            record=name,
            details=details,
        )


class TrustedCodes:
    """Verifies our own and partners' codes against what the store trusts now.

    For the checkpoint: ``verify(qr_text, at)`` gives ``.valid``, ``.reason`` and ``.claims``.
    """

    def __init__(
        self,
        keys: CodeKeys,
        partners: Partners,
        *,
        refresh_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        leeway: timedelta = timedelta(seconds=DEFAULT_CODE_LEEWAY_SECONDS),
    ) -> None:
        self._keys = keys
        self._partners = partners
        self._leeway = leeway
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._verifier: CodeVerifier | None = None
        self._checked = -1e18
        partners.changed = self.forget
        keys.changed = self.forget

    def forget(self) -> None:
        """Re-read the trust on the next verification (after a rotation, revocation or sync here)."""
        with self._lock:
            self._verifier = None

    def trust(self) -> CodeTrust:
        """Our own signers and every partner's, as the verifier uses them now."""
        return self._current().trust

    def _current(self) -> CodeVerifier:
        with self._lock:
            if self._verifier is not None and self._monotonic() - self._checked < self._refresh:
                return self._verifier
        trust = CodeTrust()
        for partner in self._partners.trusts():
            trust = trust.with_issuer(partner)
        own = self._keys.own_trust()
        if own is not None:
            trust = trust.with_issuer(own)  # our own keys win over a partner claiming our name
        with self._lock:
            if self._verifier is None or self._verifier.trust != trust:
                self._verifier = CodeVerifier(trust, leeway=self._leeway)
            self._checked = self._monotonic()
            return self._verifier

    def verify(self, qr_text: str, at: datetime) -> CodeVerificationResult:
        """Verify a health code's QR text at ``at``; never raises."""
        return self._current().verify(qr_text, at)
