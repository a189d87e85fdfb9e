"""Who is calling: bearer tokens and web sessions turned into principals.

Residents' apps and venues' devices present signed tokens, checked without a
database read (chaincut.security.device_tokens) against a list of revoked ones
that each worker refreshes every ``REVOCATION_POLL_SECONDS``: a city's check-ins
come from millions of phones, each seldom, so no cache would help them. Staff
tokens are looked up in the store and cached for ``CACHE_SECONDS``.

Each revocation carries a number from one counter in the store, and numbers
commit in the order they are taken (``TokenRepository.revocations``). A worker
remembers the last number it has learnt and asks only for those above it, so it
never misses one, whatever the clocks of the hosts that revoked, and however
late their transactions committed. A poll adds the revoked device tokens to the
worker's list and drops revoked staff tokens from its cache: revoking a token or
disabling an account takes effect in this worker at once and in the others
within ``REVOCATION_POLL_SECONDS``. Web sessions are read from the store on
every request, so ending one takes effect everywhere at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from chaincut.clock import Clock, to_epoch
from chaincut.domain.access import Principal, PrincipalKind
from chaincut.security.credentials import digest
from chaincut.security.device_tokens import DeviceTokens
from chaincut.store import Store

__all__ = ["CACHE_SECONDS", "REVOCATION_POLL_SECONDS", "PrincipalResolver", "SessionPrincipal"]

CACHE_SECONDS = 10.0
REVOCATION_POLL_SECONDS = 5.0
_CACHE_SIZE = 100_000
_MAX_SECRET = 400


@dataclass(frozen=True)
class SessionPrincipal:
    """A signed-in web session: its staff member, and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str
    session_id: int


class PrincipalResolver:
    """Turns the secret a caller presents into a Principal, or None when it is not valid."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        device_tokens: DeviceTokens,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._devices = device_tokens
        self._monotonic = monotonic
        # Revoked device tokens (by id), refreshed from the store every REVOCATION_POLL_SECONDS,
        # and the last revocation number learnt.
        self._revoked: set[int] = set()
        self._revoked_next_poll = float("-inf")
        self._revoked_upto = 0
        # digest -> (monotonic deadline, the token's expiry in epoch seconds or None, principal)
        self._cache: OrderedDict[bytes, tuple[float, int | None, Principal | None]] = OrderedDict()
        self._lock = threading.Lock()

    def revocations_due(self) -> bool:
        return self._monotonic() >= self._revoked_next_poll

    def refresh_revocations(self) -> None:
        """Learn the revocations numbered above the last one this worker knows (an indexed read)."""
        with self._lock:
            after = self._revoked_upto
        with self._store.read() as uow:
            found = uow.tokens.revocations(after=after)
        with self._lock:
            self._revoked.update(found.device_ids)
            for key in found.staff_digests:
                self._cache.pop(key, None)
            # Polls may overlap (several requests find one due): the number only moves forward.
            self._revoked_upto = max(self._revoked_upto, found.upto)
            self._revoked_next_poll = self._monotonic() + REVOCATION_POLL_SECONDS

    def _device(self, secret: str) -> Principal | None:
        claims = self._devices.open(secret)
        if claims is None or claims.expires_at <= to_epoch(self._clock.now()):
            return None
        if claims.token_id in self._revoked:
            return None
        if claims.kind == "resident":
            return Principal(
                PrincipalKind.RESIDENT,
                f"resident:{claims.public_id}",
                person_id=claims.subject_id,
                via="token",
                subject_ref=claims.ref,
                token_id=claims.token_id,
            )
        return Principal(
            PrincipalKind.VENUE_DEVICE,
            f"venue:{claims.public_id}",
            venue_id=claims.subject_id,
            via="token",
            token_id=claims.token_id,
        )

    def cached(self, secret: str) -> tuple[bool, Principal | None]:
        """(hit, principal) from the cache alone: no database read (for the event loop).

        Residents' and venues' tokens are always answered here: they carry their own claims.
        """
        if not secret or len(secret) > _MAX_SECRET:
            return True, None
        if self._devices.looks_like(secret):
            return True, self._device(secret)
        key = digest(secret)
        with self._lock:
            found = self._cache.get(key)
        if found is not None and found[0] > self._monotonic():
            _deadline, expires_at, principal = found
            # A token that expired while cached is refused, however fresh the cache entry.
            if expires_at is not None and expires_at <= to_epoch(self._clock.now()):
                return True, None
            return True, principal
        return False, None

    def from_bearer(self, secret: str) -> Principal | None:
        if not secret or len(secret) > _MAX_SECRET:
            return None
        if self.revocations_due():
            self.refresh_revocations()
        hit, principal = self.cached(secret)
        if hit:
            return principal
        key = digest(secret)
        with self._lock:
            known = self._revoked_upto
        principal, expires_at = self._lookup(key)
        with self._lock:
            # A poll since the lookup may have dropped this token before it was cached (its
            # revocation committed after the lookup read it as live): then it is not cached.
            if self._revoked_upto == known:
                self._cache[key] = (self._monotonic() + CACHE_SECONDS, expires_at, principal)
                self._cache.move_to_end(key)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return principal

    def forget(self, secret: str) -> None:
        """Drop a revoked token from this worker's cache (and learn device revocations now)."""
        with self._lock:
            self._cache.pop(digest(secret), None)
            self._revoked_next_poll = float("-inf")

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()
            self._revoked_next_poll = float("-inf")

    def _lookup(self, key: bytes) -> tuple[Principal | None, int | None]:
        """The token's principal (None when not valid), and when the token expires."""
        now = to_epoch(self._clock.now())
        with self._store.read() as uow:
            row = uow.tokens.find(key, now=now)
            if row is None:
                return None, None
            if row.kind == "resident":
                resident = Principal(
                    PrincipalKind.RESIDENT,
                    f"resident:{row.public_id}",
                    person_id=row.person_id,
                    via="token",
                    subject_ref=row.person_ref,
                    token_id=row.token_id,
                )
                return resident, row.expires_at
            if row.kind == "venue":
                device = Principal(
                    PrincipalKind.VENUE_DEVICE,
                    f"venue:{row.public_id}",
                    venue_id=row.venue_id,
                    via="token",
                    token_id=row.token_id,
                )
                return device, row.expires_at
            record = uow.staff.get(row.staff_id) if row.staff_id is not None else None
        if record is None or record.disabled:
            return None, None
        staff = Principal(
            PrincipalKind.STAFF,
            f"staff:{record.username}",
            staff_id=record.id,
            roles=record.roles,
            via="token",
        )
        return staff, row.expires_at

    def from_session(self, secret: str) -> SessionPrincipal | None:
        """The web session behind a cookie's value (not cached: sessions are for people, not load)."""
        if not secret or len(secret) > _MAX_SECRET:
            return None
        now = to_epoch(self._clock.now())
        with self._store.read() as uow:
            row = uow.sessions.find(digest(secret), now=now)
            record = uow.staff.get(row.staff_id) if row is not None else None
        if row is None or record is None or record.disabled:
            return None
        principal = Principal(
            PrincipalKind.STAFF,
            f"staff:{record.username}",
            staff_id=record.id,
            roles=record.roles,
            via="session",
        )
        return SessionPrincipal(principal, row.csrf_token, row.session_id)
