"""Who is calling: bearer tokens and web sessions turned into principals.

Lookups are cached for a few seconds per server worker, so the check-in path
does not pay a database read per request; revoking a token or disabling an
account takes effect in this worker at once and in the others within
``CACHE_SECONDS``.
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
from chaincut.store import Store

__all__ = ["CACHE_SECONDS", "PrincipalResolver", "SessionPrincipal"]

CACHE_SECONDS = 10.0
_CACHE_SIZE = 100_000
_MAX_SECRET = 200


@dataclass(frozen=True)
class SessionPrincipal:
    """A signed-in web session: its staff member, and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str


class PrincipalResolver:
    """Turns the secret a caller presents into a Principal, or None when it is not valid."""

    def __init__(self, store: Store, clock: Clock, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        # digest -> (monotonic deadline, the token's expiry in epoch seconds or None, principal)
        self._cache: OrderedDict[bytes, tuple[float, int | None, Principal | None]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, secret: str) -> tuple[bool, Principal | None]:
        """(hit, principal) from the cache alone: no database read (for the event loop)."""
        if not secret or len(secret) > _MAX_SECRET:
            return True, None
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
        hit, principal = self.cached(secret)
        if hit:
            return principal
        key = digest(secret)
        principal, expires_at = self._lookup(key)
        with self._lock:
            self._cache[key] = (self._monotonic() + CACHE_SECONDS, expires_at, principal)
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return principal

    def forget(self, secret: str) -> None:
        """Drop a revoked token from this worker's cache."""
        with self._lock:
            self._cache.pop(digest(secret), None)

    def forget_all(self) -> None:
        with self._lock:
            self._cache.clear()

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
                )
                return resident, row.expires_at
            if row.kind == "venue":
                device = Principal(
                    PrincipalKind.VENUE_DEVICE, f"venue:{row.public_id}", venue_id=row.venue_id, via="token"
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
        return SessionPrincipal(principal, row.csrf_token)
