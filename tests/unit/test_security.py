"""Personal data at rest: sealed fields, keyed document hashes, and the secrets behind them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaincut.errors import ConfigurationError, InvalidInput
from chaincut.security import FieldCipher, IdentityHasher, normalise_document_number
from chaincut.settings import Settings, generate_secrets, load_secrets

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))
# Random-looking and fixed: production refuses KEY_1 and KEY_2 (counting sequences).
HASH_KEY = hashlib.sha256(b"identity hash key").digest()
DATA_KEY_1 = hashlib.sha256(b"data key 1").digest()
DATA_KEY_2 = hashlib.sha256(b"data key 2").digest()
AUDIT_KEY = hashlib.sha256(b"audit key").digest()


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
    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", b64(HASH_KEY))
    monkeypatch.setenv("CHAINCUT_DATA_KEYS", f"2:{b64(DATA_KEY_2)},1:{b64(DATA_KEY_1)}")
    monkeypatch.setenv("CHAINCUT_VENUE_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("CHAINCUT_AUDIT_KEY", b64(AUDIT_KEY))
    secrets = load_secrets(Settings())
    assert secrets.identity_hash_key == HASH_KEY
    assert secrets.data_keys == {2: DATA_KEY_2, 1: DATA_KEY_1}
    assert secrets.current_data_key == 2  # the first listed is current
    assert secrets.venue_signing_key_pem == pem
    assert secrets.audit_key == AUDIT_KEY

    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", b64(HASH_KEY[:16]))
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        load_secrets(Settings())
    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", "not base64!")
    with pytest.raises(ConfigurationError, match="CHAINCUT_IDENTITY_HASH_KEY is not valid base64"):
        load_secrets(Settings())
    monkeypatch.setenv("CHAINCUT_IDENTITY_HASH_KEY", b64(HASH_KEY))
    monkeypatch.setenv("CHAINCUT_DATA_KEYS", b64(DATA_KEY_2))
    with pytest.raises(ConfigurationError, match="expected id:base64key"):
        load_secrets(Settings())
    monkeypatch.setenv("CHAINCUT_DATA_KEYS", f"1:{b64(DATA_KEY_1)}")
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


# --- secrets that are not secret, refused outside development ---------------------------------


def _signing_key_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "signing.pem"
    path.write_text(generate_secrets()["venue_signing_key_pem"], encoding="ascii")
    return path


def production(tmp_path: Path, **overrides: str) -> Settings:
    """Production settings with good secrets, except the ones overridden (by Settings field name)."""
    values: dict[str, str] = {
        "identity_hash_key": b64(HASH_KEY),
        "data_keys": f"2:{b64(DATA_KEY_2)},1:{b64(DATA_KEY_1)}",
        "audit_key": b64(AUDIT_KEY),
    }
    values.update(overrides)
    return Settings(
        env="production",
        data_dir=tmp_path / "data",
        venue_signing_key_file=_signing_key_file(tmp_path / "keys"),
        **values,  # type: ignore[arg-type]
    )


def refusal(settings: Settings) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_secrets(settings)
    return str(caught.value)


def test_good_production_secrets_are_accepted(tmp_path: Path) -> None:
    secrets = load_secrets(production(tmp_path))
    assert secrets.data_keys == {2: DATA_KEY_2, 1: DATA_KEY_1}
    fresh = generate_secrets()
    accepted = production(
        tmp_path,
        identity_hash_key=fresh["identity_hash_key"],
        data_keys=fresh["data_keys"],
        audit_key=fresh["audit_key"],
    )
    assert load_secrets(accepted).current_data_key == 1


ZERO_KEY = b64(bytes(32))


@pytest.mark.parametrize(
    ("setting", "value", "variable"),
    [
        ("identity_hash_key", "changeme", "CHAINCUT_IDENTITY_HASH_KEY"),
        ("identity_hash_key", ZERO_KEY, "CHAINCUT_IDENTITY_HASH_KEY"),
        ("audit_key", "CHANGEME", "CHAINCUT_AUDIT_KEY"),
        ("audit_key", "password", "CHAINCUT_AUDIT_KEY"),
        ("audit_key", ZERO_KEY, "CHAINCUT_AUDIT_KEY"),
        ("data_keys", "1:base64key", "CHAINCUT_DATA_KEYS key 1"),
        ("data_keys", f"2:{b64(DATA_KEY_2)},1:{ZERO_KEY}", "CHAINCUT_DATA_KEYS key 1"),
        ("data_keys", "1:changeme", "CHAINCUT_DATA_KEYS key 1"),
    ],
)
def test_example_and_placeholder_values_are_refused(
    tmp_path: Path, setting: str, value: str, variable: str
) -> None:
    message = refusal(production(tmp_path, **{setting: value}))
    assert message.startswith(f"{variable} is a placeholder or example value")
    assert "expected a random key" in message
    assert value.split(":")[-1] not in message  # the secret itself is never printed


def test_development_leaves_weak_keys_to_the_operator(tmp_path: Path) -> None:
    weak = production(tmp_path, identity_hash_key=ZERO_KEY, audit_key=b64(KEY_1), data_keys=f"1:{b64(KEY_1)}")
    secrets = load_secrets(weak.model_copy(update={"env": "development"}))
    assert secrets.identity_hash_key == bytes(32)
    assert secrets.audit_key == secrets.data_keys[1] == KEY_1


@pytest.mark.parametrize(
    ("weak", "why"),
    [
        (b"\x07" * 32, "all bytes equal"),
        (bytes([1, 2, 3, 4, 5, 6, 7]) * 4 + bytes([1, 2, 3, 4]), "seven distinct bytes"),
        (hashlib.sha256(b"pattern").digest()[:8] * 4, "a repeated 8-byte pattern"),
        (KEY_1, "counting up"),
        (bytes(range(200, 136, -2)), "counting down in twos"),
    ],
)
@pytest.mark.parametrize(
    ("setting", "variable"),
    [
        ("identity_hash_key", "CHAINCUT_IDENTITY_HASH_KEY"),
        ("audit_key", "CHAINCUT_AUDIT_KEY"),
        ("data_keys", "CHAINCUT_DATA_KEYS key 1"),
    ],
)
def test_keys_with_obviously_low_entropy_are_refused(
    tmp_path: Path, weak: bytes, why: str, setting: str, variable: str
) -> None:
    assert len(weak) == 32, why
    value = f"2:{b64(DATA_KEY_2)},1:{b64(weak)}" if setting == "data_keys" else b64(weak)
    message = refusal(production(tmp_path, **{setting: value}))
    assert message.startswith(f"{variable} has obviously low entropy"), why
    assert b64(weak) not in message


@pytest.mark.parametrize(
    ("overrides", "first", "second"),
    [
        ({"audit_key": b64(HASH_KEY)}, "CHAINCUT_IDENTITY_HASH_KEY", "CHAINCUT_AUDIT_KEY"),
        ({"data_keys": f"1:{b64(HASH_KEY)}"}, "CHAINCUT_IDENTITY_HASH_KEY", "CHAINCUT_DATA_KEYS key 1"),
        ({"audit_key": b64(DATA_KEY_1)}, "CHAINCUT_DATA_KEYS key 1", "CHAINCUT_AUDIT_KEY"),
        (
            {"data_keys": f"2:{b64(DATA_KEY_1)},1:{b64(DATA_KEY_1)}"},
            "CHAINCUT_DATA_KEYS key 2",
            "CHAINCUT_DATA_KEYS key 1",
        ),
    ],
)
def test_one_key_for_two_purposes_is_refused(
    tmp_path: Path, overrides: dict[str, str], first: str, second: str
) -> None:
    message = refusal(production(tmp_path, **overrides))
    assert message.startswith(f"{first} and {second} are the same key")
    assert "a different random key for each purpose" in message
    for key in (HASH_KEY, DATA_KEY_1):
        assert b64(key) not in message


def test_production_refuses_the_development_keys_of_its_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    load_secrets(Settings(env="development", data_dir=data_dir))  # a pilot generated its keys here
    dev = json.loads((data_dir / "secrets.json").read_text(encoding="utf-8"))
    pem_file = tmp_path / "dev-signing.pem"
    pem_file.write_text(dev["venue_signing_key_pem"], encoding="ascii")

    copied = Settings(
        env="production",
        data_dir=data_dir,
        identity_hash_key=dev["identity_hash_key"],
        data_keys=dev["data_keys"],
        audit_key=dev["audit_key"],
        venue_signing_key_file=pem_file,
    )
    message = refusal(copied)
    for variable in (
        "CHAINCUT_IDENTITY_HASH_KEY",
        "CHAINCUT_DATA_KEYS key 1",
        "CHAINCUT_AUDIT_KEY",
        "CHAINCUT_VENUE_SIGNING_KEY_FILE",
    ):
        assert variable in message
    assert str(data_dir / "secrets.json") in message
    assert "chaincut keys generate" in message
    for value in (dev["identity_hash_key"], dev["audit_key"], dev["data_keys"].split(":")[1]):
        assert value not in message

    # One development key among production ones is enough to refuse.
    one = production(tmp_path, data_keys=f"2:{b64(DATA_KEY_2)},{dev['data_keys']}")
    one = one.model_copy(update={"data_dir": data_dir})
    assert refusal(one).startswith("CHAINCUT_DATA_KEYS key 1: the development key")
    # Fresh production keys in that data directory are fine.
    fresh = production(tmp_path).model_copy(update={"data_dir": data_dir})
    assert load_secrets(fresh).current_data_key == 2


def _serve_env(tmp_path: Path, *, audit_key: str) -> dict[str, str]:
    """A production server's environment, every secret given (the audit key as chosen)."""
    return {
        "CHAINCUT_ENV": "production",
        "CHAINCUT_DATA_DIR": str(tmp_path / "data"),
        "CHAINCUT_IDENTITY_HASH_KEY": b64(HASH_KEY),
        "CHAINCUT_DATA_KEYS": f"1:{b64(DATA_KEY_1)}",
        "CHAINCUT_VENUE_SIGNING_KEY_FILE": str(_signing_key_file(tmp_path / "keys")),
        "CHAINCUT_AUDIT_KEY": audit_key,
    }


def test_serve_refuses_a_default_secret_in_production(tmp_path: Path) -> None:
    from chaincut.cli import app

    env = _serve_env(tmp_path, audit_key="changeme")
    result = CliRunner().invoke(app, ["serve", "--port", "8765"], env=env)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: CHAINCUT_AUDIT_KEY is a placeholder or example value")
    assert "changeme" not in result.output
    assert "Traceback" not in result.output

    env["CHAINCUT_AUDIT_KEY"] = b64(HASH_KEY)
    reused = CliRunner().invoke(app, ["serve", "--port", "8765"], env=env)
    assert reused.exit_code == 1
    assert "CHAINCUT_IDENTITY_HASH_KEY and CHAINCUT_AUDIT_KEY are the same key" in reused.output


def test_serve_refuses_to_start_in_production_without_a_public_https_address(tmp_path: Path) -> None:
    # Posters, enrolment codes and kiosks open CHAINCUT_PUBLIC_URL: a server without it would answer
    # every poster with an error, so it does not start.
    from chaincut.cli import app

    env = _serve_env(tmp_path, audit_key=b64(os.urandom(32)))
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    missing = runner.invoke(app, ["serve", "--port", "8765"], env=env)
    assert missing.exit_code == 1
    assert missing.output.strip().startswith("error: set CHAINCUT_PUBLIC_URL"), missing.output
    plain = runner.invoke(
        app, ["serve", "--port", "8765"], env={**env, "CHAINCUT_PUBLIC_URL": "http://hk.example"}
    )
    assert plain.exit_code == 1
    assert "CHAINCUT_PUBLIC_URL must be an https address" in plain.output
