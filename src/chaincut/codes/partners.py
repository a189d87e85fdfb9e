"""Partner jurisdictions: pinning their roots, fetching their trust lists, verifying their codes.

``Partners.add`` pins a partner's root certificate (given by the partner out of band) with the
URL of its published trust list (and of its code-revocation list: by default the trust list's
URL ending ``/codes/revocations`` instead of ``/codes/trust-list``). ``Partners.sync`` fetches
each list over HTTP (httpx), checks the root's signature and that every signer chains to the
pinned root, refuses a sequence older than the one held (a rollback), and stores it; a list that
fails leaves the previous one in force and records why. The revocation list is fetched and
checked the same way (signed by the pinned root, for the partner's issuer, never older); a gap
in its sequence is reported, and loses nothing, as each list is complete. ``TrustedCodes``
verifies codes against our own signers and every partner's last accepted list, re-reading them
at most every ``refresh_seconds`` (and at once after a change made through it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.codes.code_verify import CodeTrust, CodeVerificationResult, CodeVerifier
from chaincut.codes.key_service import CodeKeys
from chaincut.codes.revocation_list import RevocationList, read_revocation_list
from chaincut.codes.trust import load_certificate
from chaincut.codes.trust_list import IssuerTrust, read_trust_list
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent
from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS
from chaincut.errors import Conflict, InvalidInput, TrustListError
from chaincut.store.code_keys import PartnerRecord
from chaincut.store.unit_of_work import Store

__all__ = [
    "PartnerInfo",
    "Partners",
    "SyncOutcome",
    "TrustedCodes",
    "default_revocations_url",
    "http_fetch",
]

_MAX_LIST_BYTES = 64 << 20  # a revocation list in a wave: hundreds of thousands of code ids
_TRUST_LIST_PATH, _REVOCATIONS_PATH = "/codes/trust-list", "/codes/revocations"
Fetch = Callable[[str], bytes]


def http_fetch(url: str) -> bytes:
    """GET a partner's trust or revocation list (10 s timeout, at most 64 MiB); httpx errors become
    TrustListError."""
    try:
        with httpx.Client(timeout=10.0, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TrustListError(f"fetching the trust list failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise TrustListError(f"fetching the trust list answered HTTP {response.status_code}")
    if len(response.content) > _MAX_LIST_BYTES:
        raise TrustListError("the list is larger than 64 MiB")
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
    revocations_url: str | None = None
    revocations_sequence: int | None = None
    revocations_synced_at: datetime | None = None


@dataclass(frozen=True)
class SyncOutcome:
    """What one partner's sync did: its trust list accepted (with the sequence held now) or refused,
    its revocation list's sequence held now, and why."""

    name: str
    accepted: bool
    sequence: int | None
    reason: str
    revocations_sequence: int | None = None
    revocations_reason: str = ""  # what became of its code-revocation list


def _url(url: str, field: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        raise InvalidInput("expected an http(s) URL of at most 500 characters", field=field)
    return url


def default_revocations_url(trust_list_url: str) -> str | None:
    """Where a chaincut partner publishes its revocation list, beside its trust list; None if unknown."""
    if trust_list_url.endswith(_TRUST_LIST_PATH):
        return trust_list_url[: -len(_TRUST_LIST_PATH)] + _REVOCATIONS_PATH
    return None


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
        self._revocations: dict[tuple[str, int, int], RevocationList] = {}
        self._lock = threading.Lock()
        self.changed: Callable[[], None] = lambda: None

    def add(
        self,
        name: str,
        url: str,
        root_certificate: bytes,
        by: Principal,
        *,
        revocations_url: str | None = None,
    ) -> PartnerInfo:
        """Pin a partner's root (PEM, base64 DER or DER) and where its trust list (and its code-revocation
        list: by default beside the trust list) are published."""
        name = _name(name)
        url = _url(url, "url")
        revocations_url = (
            default_revocations_url(url)
            if revocations_url is None
            else _url(revocations_url, "revocations_url")
        )
        try:
            root = load_certificate(root_certificate)
        except TrustListError as exc:
            raise InvalidInput(f"the partner's root: {exc.message}", field="root") from None
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            if uow.code_keys.partner(name) is not None:
                raise Conflict(f"partner {name} is already pinned", field="name")
            uow.code_keys.add_partner(
                name=name,
                url=url,
                root_certificate=root.public_bytes(Encoding.DER),
                at=now,
                by=by.name,
                revocations_url=revocations_url,
            )
            details: dict[str, str | int | bool | None] = {"url": url, "revocations_url": revocations_url}
            uow.audit.append([self._event(by, "codes.partners.add", name, details)], at=now)
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
                    {
                        "accepted": o.accepted,
                        "sequence": o.sequence,
                        "reason": o.reason[:200],
                        "revocations_sequence": o.revocations_sequence,
                        "revocations_reason": o.revocations_reason[:200],
                    },
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

    def revocation_lists(self) -> dict[str, RevocationList]:
        """Each partner's last accepted code-revocation list, by issuer.

        Read on every online scan of a partner's code: only the lists' fingerprints are read from
        the store, and a list is parsed again only when a sync has replaced it. Request threads
        share the cache, so it changes under a lock.
        """
        with self._store.read() as uow:
            keys = uow.code_keys.revocation_fingerprints()
        with self._lock:
            missing = {key[0] for key in keys if key not in self._revocations}
        if missing:
            with self._store.read() as uow:
                records = [uow.code_keys.partner(name) for name in sorted(missing)]
            for record in records:
                if record is None or record.revocation_list is None or record.revocations_sequence is None:
                    continue
                key = (record.name, record.revocations_sequence, record.revocations_synced_at or 0)
                root = x509.load_der_x509_certificate(record.root_certificate)
                parsed = read_revocation_list(record.revocation_list, root)
                with self._lock:
                    for old in [k for k in self._revocations if k[0] == record.name]:
                        del self._revocations[old]
                    self._revocations[key] = parsed
        with self._lock:
            held = [self._revocations.get(key) for key in keys]
        return {parsed.issuer: parsed for parsed in held if parsed is not None}

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
        outcome = self._sync_trust_list(record)
        issuer = record.issuer or (self._issuer_of(record.name) if outcome.accepted else None)
        sequence, why = self._sync_revocations(record, issuer)
        return replace(outcome, revocations_sequence=sequence, revocations_reason=why)

    def _issuer_of(self, name: str) -> str | None:
        with self._store.read() as uow:
            record = uow.code_keys.partner(name)
        return None if record is None else record.issuer

    def _sync_trust_list(self, record: PartnerRecord) -> SyncOutcome:
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

    def _sync_revocations(self, record: PartnerRecord, issuer: str | None) -> tuple[int | None, str]:
        """Fetch and check the partner's revocation list: the sequence held now, and what happened."""
        held = record.revocations_sequence
        # A partner pinned before revocation lists existed has no URL of its own: a chaincut
        # partner publishes its list beside its trust list.
        url = record.revocations_url or default_revocations_url(record.url)
        if url is None:
            return held, "no revocation list URL: its codes cannot be revoked here"
        if issuer is None:
            return held, "revocation list not fetched: no trust list of this partner accepted yet"
        now = to_epoch(self._clock.now())
        try:
            text = self._fetch(url).decode("utf-8")
            revocations = read_revocation_list(text, x509.load_der_x509_certificate(record.root_certificate))
            if revocations.issuer != issuer:
                raise TrustListError(f"the revocation list's issuer {revocations.issuer!r} is not {issuer!r}")
            if held is not None and revocations.sequence < held:
                raise TrustListError(
                    f"the revocation list's sequence {revocations.sequence} is older than the {held} held "
                    "(a rollback): kept the list held"
                )
        except (TrustListError, UnicodeDecodeError) as exc:
            reason = exc.message if isinstance(exc, TrustListError) else "the revocation list is not UTF-8"
            with self._store.write() as uow:
                uow.code_keys.refuse_list(record.name, error=f"revocation list: {reason}", at=now)
            return held, f"revocation list refused: {reason}"
        with self._store.write() as uow:
            uow.code_keys.accept_revocations(record.name, text=text, sequence=revocations.sequence, at=now)
        why = f"revocation list sequence {revocations.sequence} ({len(revocations.revoked)} codes revoked)"
        if held is not None and revocations.sequence > held + 1:
            missed = revocations.sequence - held - 1
            why += f"; a gap: {missed} list(s) since {held} never fetched (each list is complete)"
        return revocations.sequence, why

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
            revocations_url=record.revocations_url,
            revocations_sequence=record.revocations_sequence,
            revocations_synced_at=(
                None if record.revocations_synced_at is None else from_epoch(record.revocations_synced_at)
            ),
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
