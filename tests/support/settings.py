"""Settings as production would have them: explicit random secrets, a data directory of the test's own."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chaincut.settings import Settings

__all__ = ["cli_env", "production_settings"]


def _signing_key_file(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / "venue-signing-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def production_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """Settings with explicit secrets, as production would have them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        env="production",
        data_dir=data_dir,
        database_url=database_url,
        identity_hash_key=base64.b64encode(os.urandom(32)).decode(),
        data_keys="1:" + base64.b64encode(os.urandom(32)).decode(),
        venue_signing_key_file=_signing_key_file(data_dir),
        public_url="https://chaincut.example.org",
        audit_key=base64.b64encode(os.urandom(32)).decode(),
        # The cheapest Argon2id the settings allow: tests sign in often (the default is tested apart).
        password_memory_kib=1024,
        password_time_cost=1,
    )


def cli_env(settings: Settings, staff: str | None = None) -> dict[str, str]:
    """The CHAINCUT_* variables that give the command line these settings (and, with ``staff``,
    the operator it records as ``cli:<staff>``)."""
    env = {
        "CHAINCUT_ENV": settings.env,
        "CHAINCUT_DATA_DIR": str(settings.data_dir),
        "CHAINCUT_VENUE_SIGNING_KEY_FILE": str(settings.venue_signing_key_file),
    }
    for name in ("identity_hash_key", "data_keys", "audit_key"):
        secret = getattr(settings, name)
        if secret is not None:
            env[f"CHAINCUT_{name.upper()}"] = secret.get_secret_value()
    if settings.database_url:
        env["CHAINCUT_DATABASE_URL"] = settings.database_url
    if staff is not None:
        env["CHAINCUT_STAFF"] = staff
    return env
