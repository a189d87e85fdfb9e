"""Encryption of backup files: a passphrase-derived key and authenticated chunks.

A backup file is a header followed by chunks::

    header   MAGIC, u32 length, JSON (format, revision, KDF and its salt, nonce prefix),
             then HMAC-SHA256 of all that under the passphrase-derived MAC key
    chunk    u8 final flag, u32 ciphertext length, AES-256-GCM ciphertext and tag

The key comes from the passphrase through Argon2id (RFC 9106) with a random salt
kept in the header, so each file has its own keys. Chunk ``n`` (counted from 0)
uses the nonce ``prefix || n`` (8 random bytes, 4-byte counter) and authenticates
the whole header, ``n`` and its final flag as associated data: a flipped byte, a
reordered, dropped or repeated chunk, or a file cut at any point, is refused,
and the header's MAC tells a wrong passphrase from a damaged chunk. Plaintext
chunks are 1 MiB, so memory stays bounded whatever the store's size.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chaincut.errors import BackupDamaged, InvalidInput, WrongPassphrase

__all__ = [
    "CHUNK_BYTES",
    "MIN_PASSPHRASE_CHARS",
    "BackupHeader",
    "DecryptingReader",
    "EncryptingWriter",
    "check_passphrase",
    "open_backup",
]

MAGIC = b"CHAINCUT-BACKUP\n"
FORMAT = 1
CHUNK_BYTES = 1 << 20
MIN_PASSPHRASE_CHARS = 12
_TAG_BYTES = 16
_PREFIX_BYTES = 8
_MAX_COUNTER = 2**32 - 1
_MAX_HEADER_BYTES = 64 * 1024
_CHUNK_HEAD = struct.Struct(">BI")
# Argon2id with 64 MiB, 3 passes and 4 lanes: RFC 9106's second recommended option.
_KDF_DEFAULTS = {"time_cost": 3, "memory_kib": 64 * 1024, "parallelism": 4}
# What a header may ask for: enough for a stronger future default, not enough to exhaust a host.
_KDF_LIMITS = {"time_cost": (1, 20), "memory_kib": (8 * 1024, 4 * 1024 * 1024), "parallelism": (1, 16)}


def check_passphrase(passphrase: str | None) -> str:
    """The passphrase, or InvalidInput saying why it is too weak to protect a backup."""
    if not passphrase:
        raise InvalidInput(
            "no backup passphrase: give --passphrase-file FILE or set CHAINCUT_BACKUP_PASSPHRASE",
            field="passphrase",
            code="passphrase_missing",
        )
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise InvalidInput(
            f"the backup passphrase is too short: use at least {MIN_PASSPHRASE_CHARS} characters",
            field="passphrase",
            code="passphrase_too_short",
        )
    return passphrase


@dataclass(frozen=True)
class BackupHeader:
    """What a backup's header says in the clear: its schema revision and when it was taken."""

    revision: str
    created_at: int  # seconds since the Unix epoch, UTC
    raw: bytes  # the header's bytes up to its MAC, authenticated with every chunk


@dataclass(frozen=True)
class _Keys:
    encryption: bytes
    mac: bytes


def _derive(passphrase: str, salt: bytes, kdf: dict[str, int]) -> _Keys:
    secret = hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=kdf["time_cost"],
        memory_cost=kdf["memory_kib"],
        parallelism=kdf["parallelism"],
        hash_len=64,
        type=Type.ID,
    )
    return _Keys(encryption=secret[:32], mac=secret[32:])


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + counter.to_bytes(4, "big")


def _aad(header: bytes, counter: int, final: bool) -> bytes:
    return header + counter.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


class EncryptingWriter:
    """Writes a backup file: the header now, then the plaintext in encrypted chunks."""

    def __init__(self, out: BinaryIO, passphrase: str, *, revision: str, created_at: int, **kdf: int) -> None:
        params = {**_KDF_DEFAULTS, **kdf}
        salt, self._prefix = os.urandom(16), os.urandom(_PREFIX_BYTES)
        keys = _derive(check_passphrase(passphrase), salt, params)
        fields = {
            "format": FORMAT,
            "revision": revision,
            "created_at": created_at,
            "kdf": {"name": "argon2id", **params, "salt": base64.b64encode(salt).decode()},
            "cipher": "aes-256-gcm",
            "chunk_bytes": CHUNK_BYTES,
            "nonce_prefix": base64.b64encode(self._prefix).decode(),
        }
        body = json.dumps(fields, sort_keys=True).encode()
        self._header = MAGIC + struct.pack(">I", len(body)) + body
        self._out = out
        self._aead = AESGCM(keys.encryption)
        self._buffer = bytearray()
        self._counter = 0
        self._closed = False
        self.bytes_written = 0
        self._emit(self._header + hmac.digest(keys.mac, self._header, "sha256"))

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def _seal(self, plaintext: bytes, final: bool) -> None:
        if self._counter > _MAX_COUNTER:
            raise InvalidInput("the store is too large for one backup file", code="backup_too_large")
        nonce = _nonce(self._prefix, self._counter)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(self._header, self._counter, final))
        self._emit(_CHUNK_HEAD.pack(1 if final else 0, len(sealed)) + sealed)
        self._counter += 1

    def write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        # Strictly more than a chunk: the last chunk is only known, and flagged, at close.
        while len(self._buffer) > CHUNK_BYTES:
            self._seal(bytes(self._buffer[:CHUNK_BYTES]), final=False)
            del self._buffer[:CHUNK_BYTES]

    def close(self) -> None:
        """Seal what is left as the final chunk (possibly empty), marking the end of the backup."""
        if not self._closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._closed = True


def _read_header(source: BinaryIO) -> tuple[bytes, dict[str, Any], bytes]:
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise WrongPassphrase("not a chaincut backup: the file does not start with a chaincut backup header")
    size_bytes = source.read(4)
    size = struct.unpack(">I", size_bytes)[0] if len(size_bytes) == 4 else _MAX_HEADER_BYTES + 1
    body = source.read(size) if size <= _MAX_HEADER_BYTES else b""
    mac = source.read(32)
    if len(body) != size or len(mac) != 32:
        raise BackupDamaged("backup file is damaged or altered in its header")
    try:
        fields = json.loads(body)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise BackupDamaged("backup file is damaged or altered in its header")
    return MAGIC + size_bytes + body, fields, mac


def _kdf_params(fields: dict[str, Any]) -> tuple[bytes, dict[str, int], bytes]:
    try:
        if fields["format"] != FORMAT or fields["cipher"] != "aes-256-gcm":
            raise WrongPassphrase(
                f"this backup's format ({fields['format']}, {fields['cipher']}) is not one this "
                "chaincut reads"
            )
        kdf = fields["kdf"]
        if kdf["name"] != "argon2id":
            raise WrongPassphrase(f"this backup's key derivation ({kdf['name']}) is not one chaincut reads")
        params = {name: int(kdf[name]) for name in _KDF_LIMITS}
        salt = base64.b64decode(kdf["salt"], validate=True)
        prefix = base64.b64decode(fields["nonce_prefix"], validate=True)
        str(fields["revision"])
        int(fields["created_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupDamaged("backup file is damaged or altered in its header") from exc
    for name, (low, high) in _KDF_LIMITS.items():
        if not low <= params[name] <= high:
            raise BackupDamaged(f"backup file is damaged or altered in its header ({name} out of range)")
    if len(salt) < 16 or len(prefix) != _PREFIX_BYTES:
        raise BackupDamaged("backup file is damaged or altered in its header")
    return salt, params, prefix


def open_backup(source: BinaryIO, passphrase: str) -> DecryptingReader:
    """Check the header against the passphrase and return a reader of the authenticated plaintext."""
    header, fields, mac = _read_header(source)
    salt, params, prefix = _kdf_params(fields)
    keys = _derive(check_passphrase(passphrase), salt, params)
    if not hmac.compare_digest(hmac.digest(keys.mac, header, "sha256"), mac):
        raise WrongPassphrase("wrong passphrase or not a chaincut backup (or its header was altered)")
    info = BackupHeader(revision=str(fields["revision"]), created_at=int(fields["created_at"]), raw=header)
    return DecryptingReader(source, info, keys.encryption, prefix)


class DecryptingReader:
    """Reads a backup's plaintext, releasing only bytes from chunks that passed authentication."""

    def __init__(self, source: BinaryIO, header: BackupHeader, key: bytes, prefix: bytes) -> None:
        self.header = header
        self._source = source
        self._aead = AESGCM(key)
        self._prefix = prefix
        self._counter = 0
        self._final_seen = False
        self._buffer = memoryview(b"")
        self.bytes_read = len(header.raw) + 32

    def _damaged(self, why: str = "") -> BackupDamaged:
        suffix = f" ({why})" if why else ""
        return BackupDamaged(f"backup file is damaged or altered at chunk {self._counter + 1}{suffix}")

    def _next_chunk(self) -> bool:
        """Decrypt the next chunk into the buffer; False at the end of the backup."""
        if self._final_seen:
            return False
        head = self._source.read(_CHUNK_HEAD.size)
        if len(head) < _CHUNK_HEAD.size:
            raise self._damaged("the file ends before the backup's last chunk")
        flag, size = _CHUNK_HEAD.unpack(head)
        if flag not in (0, 1) or not _TAG_BYTES <= size <= CHUNK_BYTES + _TAG_BYTES:
            raise self._damaged()
        sealed = self._source.read(size)
        if len(sealed) != size:
            raise self._damaged("the file ends inside the chunk")
        final = flag == 1
        aad = _aad(self.header.raw, self._counter, final)
        try:
            plaintext = self._aead.decrypt(_nonce(self._prefix, self._counter), sealed, aad)
        except InvalidTag:
            raise self._damaged() from None
        self.bytes_read += len(head) + size
        self._counter += 1
        self._buffer = memoryview(plaintext)
        if final:
            self._final_seen = True
            if self._source.read(1):
                raise BackupDamaged(f"backup file is damaged or altered after its last chunk {self._counter}")
        return True

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` authenticated bytes; BackupDamaged when the backup ends first."""
        parts: list[bytes] = []
        needed = size
        while needed:
            if not self._buffer and not self._next_chunk():
                raise self._damaged("the backup's content ends too early")
            take = self._buffer[:needed]
            parts.append(bytes(take))
            self._buffer = self._buffer[len(take) :]
            needed -= len(take)
        return b"".join(parts)

    def finish(self) -> None:
        """Check that the backup ends here: its final chunk read, nothing left over."""
        while not self._buffer and self._next_chunk():
            pass
        if self._buffer:
            raise self._damaged("unexpected content after the end of the backup")
