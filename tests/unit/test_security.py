"""Personal data at rest: sealed fields, keyed document hashes, and the secrets behind them."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from chaincut.errors import ConfigurationError, InvalidInput
from chaincut.security import FieldCipher, IdentityHasher, normalise_document_number
from chaincut.settings import Settings, load_secrets

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- FieldCipher ------------------------------------------------------------------------------


def test_a_sealed_field_opens_to_the_same_text() -> None:
    cipher = FieldCipher({1: KEY_1}, 1)
    for text in ("Chan Tai Man", "陳大文", "", "+852 9123 4567"):
        sealed = cipher.seal(text, field="name")
        assert sealed is not None
        assert text.encode() not in sealed or not text
        assert cipher.open(sealed, field="name") == text
    assert cipher.seal(None, field="name") is None
    assert cipher.open(None, field="name") is None


def test_sealing_is_randomised() -> None:
    cipher = FieldCipher({1: KEY_1}, 1)
    assert cipher.seal("Chan Tai Man", field="name") != cipher.seal("Chan Tai Man", field="name")


def test_a_tampered_ciphertext_fails() -> None:
    cipher = FieldCipher({1: KEY_1}, 1)
    sealed = cipher.seal("Chan Tai Man", field="name")
    assert sealed is not None
    for position in (2, 14, len(sealed) // 2, len(sealed) - 1):  # nonce, body, tag
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(ConfigurationError, match="failed its integrity check") as caught:
            cipher.open(bytes(tampered), field="name")
        assert "Chan" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="not in a format"):
        cipher.open(sealed[:20], field="name")
    with pytest.raises(ConfigurationError, match="not in a format"):
        cipher.open(b"\x02" + sealed[1:], field="name")


def test_a_ciphertext_is_bound_to_its_field() -> None:
    cipher = FieldCipher({1: KEY_1}, 1)
    sealed = cipher.seal("+852 9123 4567", field="name")
    with pytest.raises(ConfigurationError, match="phone failed its integrity check"):
        cipher.open(sealed, field="phone")
    assert cipher.open(sealed, field="name") == "+852 9123 4567"


def test_key_rotation() -> None:
    old = FieldCipher({1: KEY_1}, 1)
    old_sealed = old.seal("Chan Tai Man", field="name")
    assert FieldCipher.key_of(old_sealed) == 1

    rotated = FieldCipher({2: KEY_2, 1: KEY_1}, 2)
    assert rotated.open(old_sealed, field="name") == "Chan Tai Man"
    new_sealed = rotated.seal("Chan Tai Man", field="name")
    assert FieldCipher.key_of(new_sealed) == 2
    assert rotated.open(new_sealed, field="name") == "Chan Tai Man"

    # The old key alone cannot open what the new key sealed, and says which key is missing.
    with pytest.raises(ConfigurationError, match="data key 2, not configured"):
        old.open(new_sealed, field="name")
    # The same key id with other key material fails the integrity check.
    with pytest.raises(ConfigurationError, match="integrity"):
        FieldCipher({2: KEY_1}, 2).open(new_sealed, field="name")


def test_bad_cipher_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not among"):
        FieldCipher({1: KEY_1}, 2)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        FieldCipher({1: KEY_1[:16]}, 1)
    with pytest.raises(ConfigurationError, match="between 0 and 255"):
        FieldCipher({256: KEY_1}, 256)


# --- IdentityHasher ---------------------------------------------------------------------------


def test_the_same_document_in_any_formatting_hashes_alike() -> None:
    hasher = IdentityHasher(KEY_1)
    expected = hasher.hash("A1234567")
    for spelling in ("A123456(7)", "a1234567", " a 123456 (7) ", "A123456-7", "a123456/7"):
        assert hasher.hash(spelling) == expected, spelling
    assert normalise_document_number("a123456(7)") == "A1234567"
    assert len(expected) == 32
    assert hasher.hash("A1234568") != expected


def test_a_different_key_gives_a_different_hash() -> None:
    assert IdentityHasher(KEY_1).hash("A123456(7)") != IdentityHasher(KEY_2).hash("A123456(7)")


def test_bad_documents_and_keys_are_refused() -> None:
    hasher = IdentityHasher(KEY_1)
    for bad in ("", "()", "A12345#7", "A" * 33):
        with pytest.raises(InvalidInput) as caught:
            hasher.hash(bad)
        assert caught.value.field == "id_document"
        assert caught.value.code == "invalid_id_document"
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        IdentityHasher(KEY_1[:31])


@pytest.mark.parametrize("document", ["Ä1234567", "陳1234567", "A１２３４５６７"])
def test_non_ascii_document_numbers_are_refused(document: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        IdentityHasher(KEY_1).hash(document)
    assert caught.value.field == "id_document"


# --- secrets from settings --------------------------------------------------------------------


def test_production_without_secrets_names_every_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_secrets(Settings(env="production", data_dir=tmp_path / "data"))
    message = str(caught.value)
    for variable in (
        "CHAINCUT_IDENTITY_HASH_KEY",
        "CHAINCUT_DATA_KEYS",
        "CHAINCUT_VENUE_SIGNING_KEY_FILE",
        "CHAINCUT_AUDIT_KEY",
    ):
        assert variable in message
    assert not (tmp_path / "data" / "secrets.json").exists()

    partly = Settings(env="production", data_dir=tmp_path, identity_hash_key=b64(KEY_1))
    with pytest.raises(ConfigurationError) as caught:
        load_secrets(partly)
    assert "CHAINCUT_IDENTITY_HASH_KEY" not in str(caught.value)
    assert "CHAINCUT_DATA_KEYS" in str(caught.value)


def test_production_reads_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem)
    monkeypatch.setenv("CHAINCUT_ENV", "production")
    monkeypatch.setenv("CHAINCUT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", b64(KEY_1))
    monkeypatch.setenv("CHAINCUT_DATA_KEYS", f"2:{b64(KEY_2)},1:{b64(KEY_1)}")
    monkeypatch.setenv("CHAINCUT_VENUE_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("CHAINCUT_AUDIT_KEY", b64(bytes(range(50, 82))))
    secrets = load_secrets(Settings())
    assert secrets.identity_hash_key == KEY_1
    assert secrets.data_keys == {2: KEY_2, 1: KEY_1}
    assert secrets.current_data_key == 2  # the first listed is current
    assert secrets.venue_signing_key_pem == pem

    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", b64(KEY_1[:16]))
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        load_secrets(Settings())
    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", "not base64!")
    with pytest.raises(ConfigurationError, match="CHAINCUT_IDENTITY_HASH_KEY is not valid base64"):
        load_secrets(Settings())
    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", b64(KEY_1))
    monkeypatch.setenv("CHAINCUT_DATA_KEYS", b64(KEY_2))
    with pytest.raises(ConfigurationError, match="expected id:base64key"):
        load_secrets(Settings())
    monkeypatch.setenv("CHAINCUT_DATA_KEYS", f"1:{b64(KEY_1)}")
    monkeypatch.setenv("CHAINCUT_VENUE_SIGNING_KEY_FILE", str(tmp_path / "absent.pem"))
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_secrets(Settings())


def test_development_generates_secrets_once_readable_only_by_the_owner(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path / "data")
    first = load_secrets(settings)
    path = tmp_path / "data" / "secrets.json"
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.identity_hash_key) == 32
    assert len(first.data_keys[first.current_data_key]) == 32
    assert first.venue_signing_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")

    written = path.read_bytes()
    again = load_secrets(Settings(env="development", data_dir=tmp_path / "data"))
    assert again == first
    assert path.read_bytes() == written

    elsewhere = load_secrets(Settings(env="development", data_dir=tmp_path / "other"))
    assert elsewhere.identity_hash_key != first.identity_hash_key


def test_development_prefers_configured_secrets(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path, identity_hash_key=b64(KEY_2))
    assert load_secrets(settings).identity_hash_key == KEY_2
