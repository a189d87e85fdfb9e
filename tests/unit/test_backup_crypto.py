"""The backup file's encryption: round trips at chunk boundaries, and what it refuses.

A cheap Argon2id setting (8 MiB, one pass) keeps these fast; the parameters are
read back from the header, so the reader needs no hint.
"""

from __future__ import annotations

import io
import os
import struct

import pytest

from chaincut.errors import BackupDamaged, InvalidInput, WrongPassphrase
from chaincut.store import backup_crypto
from chaincut.store.backup_crypto import EncryptingWriter, check_passphrase, open_backup

PASSPHRASE = "a long enough passphrase"
CHEAP = {"time_cost": 1, "memory_kib": 8 * 1024, "parallelism": 1}
CHUNK = 1024


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup_crypto, "CHUNK_BYTES", CHUNK)


def seal(data: bytes, passphrase: str = PASSPHRASE, pieces: int = 3) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, passphrase, revision="0003", created_at=1_795_147_200, **CHEAP)
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        writer.write(data[start : start + step])
    writer.close()
    assert writer.bytes_written == len(out.getvalue())
    return out.getvalue()


def read_all(sealed: bytes, size: int, passphrase: str = PASSPHRASE) -> bytes:
    reader = open_backup(io.BytesIO(sealed), passphrase)
    data = reader.read_exact(size)
    reader.finish()
    return data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)
    sealed = seal(data)
    assert read_all(sealed, size) == data
    reader = open_backup(io.BytesIO(sealed), PASSPHRASE)
    assert reader.header.revision == "0003"
    assert reader.header.created_at == 1_795_147_200


def test_the_same_content_never_encrypts_the_same_way() -> None:
    data = b"Resident 1 +852 9123 4567" * 100
    first, second = seal(data), seal(data)
    assert first != second
    assert b"Resident" not in first
    assert read_all(first, len(data)) == read_all(second, len(data)) == data


def test_reading_past_the_end_or_stopping_short_is_refused() -> None:
    sealed = seal(b"x" * 2000)
    reader = open_backup(io.BytesIO(sealed), PASSPHRASE)
    with pytest.raises(BackupDamaged, match="ends too early"):
        reader.read_exact(2001)
    reader = open_backup(io.BytesIO(sealed), PASSPHRASE)
    reader.read_exact(1999)
    with pytest.raises(BackupDamaged, match="unexpected content after the end"):
        reader.finish()


def test_a_wrong_passphrase_is_told_apart_from_damage() -> None:
    sealed = seal(b"y" * 5000)
    with pytest.raises(WrongPassphrase, match="^wrong passphrase or not a chaincut backup"):
        open_backup(io.BytesIO(sealed), PASSPHRASE + "?")
    with pytest.raises(WrongPassphrase, match="not a chaincut backup"):
        open_backup(io.BytesIO(b"just some file, long enough to hold a header"), PASSPHRASE)
    size = struct.unpack(">I", sealed[16:20])[0]
    first_chunk = 20 + size + 32
    damaged = bytearray(sealed)
    damaged[first_chunk + 10] ^= 0xFF
    with pytest.raises(BackupDamaged, match="^backup file is damaged or altered at chunk 1$"):
        read_all(bytes(damaged), 5000)


def test_header_limits_refuse_a_key_derivation_that_would_exhaust_the_host() -> None:
    sealed = seal(b"z")
    # Checked before any key derivation, so a crafted header cannot make the host derive forever.
    bloated = sealed.replace(b'"time_cost": 1', b'"time_cost": 0', 1)
    assert bloated != sealed
    with pytest.raises(BackupDamaged, match=r"header \(time_cost out of range\)"):
        open_backup(io.BytesIO(bloated), PASSPHRASE)


@pytest.mark.parametrize("weak", [None, "", "eleven char"])
def test_weak_passphrases_are_refused(weak: str | None) -> None:
    with pytest.raises(InvalidInput, match="passphrase") as caught:
        check_passphrase(weak)
    assert caught.value.field == "passphrase"
    with pytest.raises(InvalidInput):
        EncryptingWriter(io.BytesIO(), weak or "", revision="0003", created_at=0, **CHEAP)
    assert check_passphrase("twelve chars") == "twelve chars"
