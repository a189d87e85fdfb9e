"""Which store a database and a Parquet archive belong to, and refusing halves of two different stores.

On the embedded default a store has two halves: the SQL database
(``CHAINCUT_DATABASE_URL``, SQLite in the data directory by default) and the
Parquet archive of bulk whereabouts (``CHAINCUT_DATA_DIR/whereabouts``). Pointing
one setting at a new place while the other still names the old one would mix two
stores' whereabouts without a word. So each store has an id, a UUID that
``chaincut db upgrade`` makes in the database (migration 0013, table
``store_identity``) and writes into the archive's manifests; every command and
server that opens the store compares the two and refuses to start when they differ.

A data directory with no archive yet takes the database's id on its first write.
An archive holding whereabouts but no id (written before store ids) is refused
until ``chaincut db upgrade`` binds it (and deletes the rows it holds twice), and
a database that is new (no schema yet) never takes an archive that already holds
whereabouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, inspect, select, update

from chaincut.errors import ConfigurationError
from chaincut.store.archive import ParquetArchive
from chaincut.store.database import Database
from chaincut.store.migrate import current_revision, upgrade
from chaincut.store.tables_store import store_identity

__all__ = ["StoreUpgrade", "check_halves", "read_store_id", "record_restored_from", "upgrade_store"]

_ADVICE = (
    "CHAINCUT_DATABASE_URL and CHAINCUT_DATA_DIR must name the two halves of one store; "
    "nothing was read or written"
)


@dataclass(frozen=True)
class StoreUpgrade:
    """What `chaincut db upgrade` did: schema revisions, the store id, archive rows held twice (deleted)."""

    backend: str
    before: str | None
    reached: str
    store_id: str
    archive_duplicates: int = 0


def read_store_id(db: Database) -> str | None:
    """The database's store id; None when its schema predates store ids (or it has none)."""
    with db.engine.connect() as conn:
        if not inspect(conn).has_table(store_identity.name):
            return None
        value = conn.execute(select(store_identity.c.store_id).where(store_identity.c.id == 1)).scalar()
    return None if value is None else str(value)


def _archive_id(archive: ParquetArchive) -> str | None:
    """The one store id the archive's manifests name (None: none yet); two different ids are refused."""
    found = sorted({i for i in archive.store_ids().values() if i is not None})
    if len(found) > 1:
        raise ConfigurationError(
            f"the whereabouts archive in {archive.root} names two stores ({found[0]} and {found[1]}): "
            "its visits and encounters come from different stores"
        )
    return found[0] if found else None


def _holds_rows(archive: ParquetArchive) -> bool:
    return archive.count("visits") + archive.count("encounters") > 0


def check_halves(store_id: str, archive: ParquetArchive, backend: str) -> None:
    """Refuse (ConfigurationError, naming both ids) an archive that is not this database's store's."""
    found = _archive_id(archive)
    if found is not None and found != store_id:
        raise ConfigurationError(
            f"the whereabouts archive in {archive.root} belongs to store {found}, "
            f"but the {backend} database is store {store_id}: {_ADVICE}"
        )
    if found is None and _holds_rows(archive):
        raise ConfigurationError(
            f"the whereabouts archive in {archive.root} holds whereabouts but names no store; "
            f"run `chaincut db upgrade` to bind it to this {backend} database (store {store_id})"
        )


def upgrade_store(db: Database, archive: ParquetArchive | None) -> StoreUpgrade:
    """Migrate the schema to this chaincut's revision and bind the archive (if any) to the store's id.

    Refuses, before touching either half, an archive that names another store, or
    one holding whereabouts when the database is new.
    """
    before, known = current_revision(db), read_store_id(db)
    if archive is not None:
        found = _archive_id(archive)
        if found is not None and found != known:
            database = f"is store {known}" if known else "has no store id yet (a new database?)"
            raise ConfigurationError(
                f"the whereabouts archive in {archive.root} belongs to store {found}, "
                f"but the {db.backend} database {database}: {_ADVICE}"
            )
        if found is None and before is None and _holds_rows(archive):
            raise ConfigurationError(
                f"the whereabouts archive in {archive.root} already holds whereabouts, but the "
                f"{db.backend} database is new (no schema): a new database cannot take another "
                f"store's archive; {_ADVICE}"
            )
    reached = upgrade(db)
    store_id = read_store_id(db)
    assert store_id is not None  # migration 0013 made it
    duplicates = 0
    if archive is not None:
        # An archive holding rows but no store id was written before keys were kept once:
        # what importing a file twice stored twice goes, as migration 0013 does in SQL.
        older = _archive_id(archive) is None and _holds_rows(archive)
        archive.bind(store_id)
        if older:
            duplicates = archive.drop_duplicates("visits") + archive.drop_duplicates("encounters")
    return StoreUpgrade(db.backend, before, reached, store_id, duplicates)


def record_restored_from(conn: Connection, source_id: str) -> None:
    """Note in the store's identity the id of the store a backup restored into it came from."""
    conn.execute(update(store_identity).where(store_identity.c.id == 1).values(restored_from=source_id))
