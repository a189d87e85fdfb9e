"""Encryption of personal fields (names, phones, addresses) with AES-GCM.

Each ciphertext starts with a format byte and the id of the key that sealed it,
so keys can be rotated: new writes use the current key, old rows still open
with the key they name until they are re-encrypted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chaincut.errors import ConfigurationError

__all__ = ["FieldCipher"]

_FORMAT = 1
_NONCE_BYTES = 12


class FieldCipher:
    """Seals and opens one personal field, bound to the field's name."""

    def __init__(self, keys: Mapping[int, bytes], current: int) -> None:
        if current not in keys:
            raise ConfigurationError(f"data key {current} is not among the configured keys")
        for key_id, key in keys.items():
            if not 0 <= key_id <= 255:
                raise ConfigurationError(f"data key id {key_id} must be between 0 and 255")
            if len(key) != 32:
                raise ConfigurationError(f"data key {key_id} must be 32 bytes (AES-256)")
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    @property
    def current_key(self) -> int:
        """The id of the key that seals new values."""
        return self._current

    @property
    def key_ids(self) -> frozenset[int]:
        """The ids of every configured key (the current one and those that still open old data)."""
        return frozenset(self._aead)

    def seal(self, value: str | None, *, field: str) -> bytes | None:
        if value is None:
            return None
        nonce = os.urandom(_NONCE_BYTES)
        header = bytes([_FORMAT, self._current])
        sealed = self._aead[self._current].encrypt(nonce, value.encode("utf-8"), header + field.encode())
        return header + nonce + sealed

    def open(self, blob: bytes | None, *, field: str) -> str | None:
        if blob is None:
            return None
        if len(blob) < 2 + _NONCE_BYTES + 16 or blob[0] != _FORMAT:
            raise ConfigurationError(f"stored {field} is not in a format this version can open")
        key_id = blob[1]
        aead = self._aead.get(key_id)
        if aead is None:
            raise ConfigurationError(f"stored {field} was sealed with data key {key_id}, not configured")
        nonce, sealed = blob[2 : 2 + _NONCE_BYTES], blob[2 + _NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, sealed, blob[:2] + field.encode()).decode("utf-8")
        except InvalidTag as exc:
            raise ConfigurationError(f"stored {field} failed its integrity check") from exc

    @staticmethod
    def key_of(blob: bytes | None) -> int | None:
        """The id of the key that sealed ``blob`` (for rotation)."""
        return None if blob is None or len(blob) < 2 else blob[1]
