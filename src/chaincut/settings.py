"""Configuration, read once at start-up from ``CHAINCUT_*`` environment variables.

Secrets are refused when missing outside development, and so are secrets that
are not secret: a placeholder or example value, a key with obviously low
entropy, one key used for two purposes, or the development keys of the data
directory. In development (the embedded default) missing secrets are generated
once and kept in the data directory, readable only by its owner, so a pilot
works without setup.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chaincut.domain.code_validity import DEFAULT_CODE_LEEWAY_SECONDS, MAX_CODE_LEEWAY_SECONDS
from chaincut.errors import ConfigurationError

__all__ = ["Secrets", "Settings", "generate_secrets", "load_secrets"]


class Settings(BaseSettings):
    """Every setting chaincut reads; the README lists them."""

    model_config = SettingsConfigDict(env_prefix="CHAINCUT_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("chaincut-data")
    database_url: str | None = None
    policy_file: Path | None = None
    local_timezone: str = "Asia/Hong_Kong"
    identity_hash_key: SecretStr | None = None
    data_keys: SecretStr | None = Field(
        default=None, description="comma-separated id:base64key pairs; the first is current"
    )
    venue_signing_key_file: Path | None = None
    test_booking_url: str = Field(
        default="https://www.communitytest.gov.hk/en/",
        description="where a resident told of an exposure books a test (the community testing centres')",
    )
    public_url: str | None = Field(
        default=None,
        description="the authority's public address, which posters' QR codes open (https in production)",
    )
    audit_key: SecretStr | None = Field(
        default=None, description="base64 key (32+ bytes) that MACs the audit log's hash chain"
    )
    maintenance_interval_seconds: int = Field(default=300, ge=5)
    checkin_max_future_seconds: int = Field(default=300, ge=0)
    tracing_index: Literal["mapped", "memory", "scan"] = "mapped"
    # Access control (issue 4). Security settings, not epidemiology: they live here.
    password_memory_kib: int = Field(default=19 * 1024, ge=1024, description="Argon2id memory")
    password_time_cost: int = Field(default=2, ge=1, description="Argon2id passes")
    enrolment_minutes: int = Field(default=15, ge=1, le=24 * 60, description="an enrolment code's life")
    device_token_days: int = Field(default=365, ge=1, le=3650, description="residents' and venues' tokens")
    staff_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    session_minutes: int = Field(default=8 * 60, ge=5, le=24 * 60)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    approval_hours: int = Field(default=24, ge=1)
    # Requests per minute per client (a resident's app, a staff member, or an address), counted
    # across every server worker; a venue's device checks people in under its own, higher limit.
    rate_checkins_per_minute: int = Field(default=30, ge=1)
    rate_device_checkins_per_minute: int = Field(default=1200, ge=1)
    rate_uploads_per_minute: int = Field(default=6, ge=1)
    rate_logins_per_minute: int = Field(default=20, ge=1)
    rate_border_bookings_per_minute: int = Field(default=10, ge=1)
    secure_cookies: bool = True
    # Border ballots: how often the server draws the days that are due, and the seed they are drawn with
    # (unset: fresh randomness per draw; either way the seed is recorded with the draw and audited).
    ballot_draw_interval_seconds: int = Field(default=60, ge=5)
    ballot_seed: SecretStr | None = Field(
        default=None, description="the ballot's seed source: each day's seed is derived from it and the day"
    )
    # Signed health codes (issue 5): the issuing jurisdiction's code, written in every code's CWT
    # ``iss`` and the trust list it publishes (e.g. "HK"; a partner runs its own, e.g. "MO").
    code_issuer: str = Field(default="HK", pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    # Clock skew every code verifier tolerates on a code's (or EU DCC's) iat and exp, and its signer's
    # validity: a checkpoint whose clock runs a little behind still accepts a code fetched at the gate.
    code_leeway_seconds: int = Field(default=DEFAULT_CODE_LEEWAY_SECONDS, ge=0, le=MAX_CODE_LEEWAY_SECONDS)

    @field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"expected an http(s) address with no query or fragment, got {value!r}")
        return value.rstrip("/")

    def public_base(self) -> str:
        """Where residents' phones reach this server: CHAINCUT_PUBLIC_URL; in development, local.

        Production needs the setting, and over HTTPS: a phone opens it from a printed poster,
        and the page's cryptography (WebCrypto) runs only on a secure origin.
        """
        if self.public_url is not None:
            if not self.is_development and not self.public_url.startswith("https://"):
                raise ConfigurationError(
                    f"CHAINCUT_PUBLIC_URL must be an https address, not {self.public_url!r}"
                )
            return self.public_url
        if self.is_development:
            return "http://localhost:8000"
        raise ConfigurationError(
            "set CHAINCUT_PUBLIC_URL to the authority's public https address: posters' QR codes open it"
        )

    @property
    def zone(self) -> ZoneInfo:
        """The local time zone for what people read (Asia/Hong_Kong by default)."""
        return ZoneInfo(self.local_timezone)

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    def resolved_database_url(self) -> str:
        """The database URL: CHAINCUT_DATABASE_URL, else SQLite under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'chaincut.sqlite3').resolve()}"

    @property
    def code_leeway(self) -> timedelta:
        """The clock skew tolerated when verifying a code (``code_leeway_seconds``)."""
        return timedelta(seconds=self.code_leeway_seconds)

    @property
    def embedded(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")


@dataclass(frozen=True)
class Secrets:
    """The keys that protect personal data and sign venue posters."""

    identity_hash_key: bytes
    data_keys: dict[int, bytes]
    current_data_key: int
    venue_signing_key_pem: bytes
    audit_key: bytes


def _decode_key(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{what} is not valid base64") from exc


def _parse_data_keys(text: str) -> tuple[dict[int, bytes], int]:
    keys: dict[int, bytes] = {}
    current: int | None = None
    for part in text.split(","):
        key_id, sep, encoded = part.strip().partition(":")
        if not sep or not key_id.isdigit():
            raise ConfigurationError("CHAINCUT_DATA_KEYS: expected id:base64key[,id:base64key...]")
        keys[int(key_id)] = _decode_key(encoded, f"CHAINCUT_DATA_KEYS key {key_id}")
        current = int(key_id) if current is None else current
    if current is None:
        raise ConfigurationError("CHAINCUT_DATA_KEYS is empty")
    return keys, current


def generate_secrets(*, data_key_id: int = 1) -> dict[str, str]:
    """Fresh random secrets: identity_hash_key, data_keys, audit_key (base64), venue_signing_key_pem."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    return {
        "identity_hash_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "data_keys": f"{data_key_id}:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "venue_signing_key_pem": pem,
        "audit_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def _development_secrets(settings: Settings) -> dict[str, str]:
    path = settings.data_dir / "secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        if "audit_key" not in loaded:  # a data directory from before the audit log
            loaded["audit_key"] = base64.b64encode(secrets.token_bytes(32)).decode()
            path.write_text(json.dumps(loaded), encoding="utf-8")
        return loaded
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    generated = generate_secrets()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(generated, out)
    return generated


def load_secrets(settings: Settings) -> Secrets:
    """The configured secrets; in development, generated ones fill the gaps."""
    dev = _development_secrets(settings) if settings.is_development else {}
    missing = []
    hash_text = (
        settings.identity_hash_key.get_secret_value()
        if settings.identity_hash_key
        else dev.get("identity_hash_key")
    )
    if not hash_text:
        missing.append("CHAINCUT_IDENTITY_HASH_KEY")
    keys_text = settings.data_keys.get_secret_value() if settings.data_keys else dev.get("data_keys")
    if not keys_text:
        missing.append("CHAINCUT_DATA_KEYS")
    pem: bytes | None = None
    if settings.venue_signing_key_file is not None:
        try:
            pem = settings.venue_signing_key_file.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"CHAINCUT_VENUE_SIGNING_KEY_FILE: cannot read {settings.venue_signing_key_file}"
            ) from exc
    elif "venue_signing_key_pem" in dev:
        pem = dev["venue_signing_key_pem"].encode("ascii")
    if pem is None:
        missing.append("CHAINCUT_VENUE_SIGNING_KEY_FILE")
    audit_text = settings.audit_key.get_secret_value() if settings.audit_key else dev.get("audit_key")
    if not audit_text:
        missing.append("CHAINCUT_AUDIT_KEY")
    if missing or hash_text is None or keys_text is None or pem is None or audit_text is None:
        raise ConfigurationError("missing secrets outside development: set " + ", ".join(missing))
    if not settings.is_development:
        _refuse_examples(hash_text, keys_text, audit_text)
    identity_key = _decode_key(hash_text, "CHAINCUT_IDENTITY_HASH_KEY")
    if len(identity_key) < 32:
        raise ConfigurationError("CHAINCUT_IDENTITY_HASH_KEY must decode to at least 32 bytes")
    data_keys, current = _parse_data_keys(keys_text)
    audit_key = _decode_key(audit_text, "CHAINCUT_AUDIT_KEY")
    if len(audit_key) < 32:
        raise ConfigurationError("CHAINCUT_AUDIT_KEY must decode to at least 32 bytes")
    if not settings.is_development:
        keys = _named_keys(identity_key, data_keys, audit_key)
        _refuse_weak(keys)
        _refuse_reuse(keys)
        _refuse_development_keys(settings.data_dir / "secrets.json", keys, pem)
    return Secrets(identity_key, data_keys, current, pem, audit_key)


# --- secrets that are not secret, refused outside development ---------------------------------

_HOW = "expected a random key (head -c 32 /dev/urandom | base64, or chaincut keys generate)"

# The README shows no example secrets (it generates them from /dev/urandom); these are the
# placeholders that get pasted into deployments, and its `id:base64key` notation.
_EXAMPLE_TEXTS = frozenset(
    {
        "base64key",
        "<base64key>",
        "change-me",
        "change_me",
        "changeit",
        "changeme",
        "changethis",
        "default",
        "example",
        "key",
        "password",
        "placeholder",
        "replace-me",
        "replaceme",
        "secret",
        "test",
        "todo",
        "your-key-here",
        base64.b64encode(bytes(32)).decode(),
        base64.b64encode(b"\xff" * 32).decode(),
    }
)


def _is_example(text: str) -> bool:
    value = text.strip()
    return value.lower() in _EXAMPLE_TEXTS or value in _EXAMPLE_TEXTS or set(value) <= {"0", "A", "="}


def _refuse_examples(hash_text: str, keys_text: str, audit_text: str) -> None:
    named = [("CHAINCUT_IDENTITY_HASH_KEY", hash_text), ("CHAINCUT_AUDIT_KEY", audit_text)]
    for part in keys_text.split(","):
        key_id, sep, encoded = part.strip().partition(":")
        named.append((f"CHAINCUT_DATA_KEYS key {key_id}" if sep else "CHAINCUT_DATA_KEYS", encoded or part))
    for variable, text in named:
        if _is_example(text):
            raise ConfigurationError(f"{variable} is a placeholder or example value, not a secret: {_HOW}")


def _named_keys(
    identity_key: bytes, data_keys: dict[int, bytes], audit_key: bytes
) -> list[tuple[str, bytes]]:
    named = [("CHAINCUT_IDENTITY_HASH_KEY", identity_key)]
    named += [(f"CHAINCUT_DATA_KEYS key {key_id}", key) for key_id, key in data_keys.items()]
    named.append(("CHAINCUT_AUDIT_KEY", audit_key))
    return named


def _low_entropy(key: bytes) -> bool:
    """Obviously not random: few distinct bytes, a short repeated pattern, or a counting sequence."""
    if len(set(key)) < 8:
        return True
    if any(
        key == (key[:period] * (len(key) // period + 1))[: len(key)] for period in range(1, len(key) // 2 + 1)
    ):
        return True
    steps = {(b - a) % 256 for a, b in itertools.pairwise(key)}
    return len(steps) == 1


def _refuse_weak(keys: list[tuple[str, bytes]]) -> None:
    for variable, key in keys:
        if _low_entropy(key):
            raise ConfigurationError(f"{variable} has obviously low entropy (not random bytes): {_HOW}")


def _refuse_reuse(keys: list[tuple[str, bytes]]) -> None:
    for i, (first, key) in enumerate(keys):
        for second, other in keys[i + 1 :]:
            if key == other:
                raise ConfigurationError(
                    f"{first} and {second} are the same key: expected a different random key for each purpose"
                )


def _refuse_development_keys(path: Path, keys: list[tuple[str, bytes]], pem: bytes) -> None:
    """Production keys must not be the development keys generated into the data directory."""
    try:
        dev = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(dev, dict):
        return
    dev_keys: set[bytes] = set()
    for name in ("identity_hash_key", "audit_key"):
        with contextlib.suppress(ConfigurationError):
            dev_keys.add(_decode_key(str(dev.get(name, "")), name))
    with contextlib.suppress(ConfigurationError):
        dev_keys.update(_parse_data_keys(str(dev.get("data_keys", "")))[0].values())
    dev_keys.discard(b"")
    found = [variable for variable, key in keys if key in dev_keys]
    if str(dev.get("venue_signing_key_pem", "")).strip().encode() == pem.strip():
        found.append("CHAINCUT_VENUE_SIGNING_KEY_FILE")
    if found:
        raise ConfigurationError(
            f"{', '.join(found)}: the development key generated into {path}; expected production "
            "keys that never sat in a development data directory (chaincut keys generate); "
            "then remove that file"
        )
