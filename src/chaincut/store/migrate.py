"""Schema migrations with Alembic: upgrading, and refusing to run on an old schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from chaincut.errors import StoreNotReady
from chaincut.store.database import Database

__all__ = ["current_revision", "downgrade", "ensure_migrated", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The revision this version of chaincut needs."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> str:
    """Bring the schema up to ``revision``; returns the revision reached."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    reached = current_revision(db)
    assert reached is not None
    return reached


def downgrade(db: Database, revision: str) -> str:
    """Take the schema back down to ``revision`` (a rollback of a release); returns the revision reached."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
    reached = current_revision(db)
    assert reached is not None
    return reached


def ensure_migrated(db: Database) -> None:
    """Raise StoreNotReady, saying what to run, unless the schema is at head."""
    current, head = current_revision(db), head_revision()
    if current == head:
        return
    if current is None:
        raise StoreNotReady(
            f"the {db.backend} database has no chaincut schema yet; run `chaincut db upgrade`"
        )
    raise StoreNotReady(
        f"the {db.backend} database is at schema revision {current} but this chaincut needs "
        f"{head}; run `chaincut db upgrade`"
    )
