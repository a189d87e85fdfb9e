"""Staff passwords, stored only as Argon2id hashes."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chaincut.errors import InvalidInput

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordVault"]

MIN_PASSWORD_LENGTH = 12


class PasswordVault:
    """Hashes new passwords and checks offered ones against their stored hash."""

    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19 * 1024) -> None:
        # Argon2id at OWASP's recommended minimum by default (19 MiB, 2 passes, 1 lane);
        # CHAINCUT_PASSWORD_MEMORY_KIB and CHAINCUT_PASSWORD_TIME_COST raise it.
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._decoy: str | None = None

    def hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(
                f"expected a password of at least {MIN_PASSWORD_LENGTH} characters",
                field="password",
                code="weak_password",
            )
        if len(password) > 1024:
            raise InvalidInput("expected a password of at most 1024 characters", field="password")
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; with no stored hash, spends the same time."""
        if stored is None and self._decoy is None:
            # Checked against when a username is unknown, so that a miss costs as long as a hit.
            self._decoy = self._hasher.hash("decoy password for unknown users")
        try:
            return self._hasher.verify(stored or self._decoy or "", password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
