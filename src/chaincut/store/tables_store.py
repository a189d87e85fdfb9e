"""The store's records about itself: which store it is, and the bulk files imported into it."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, UniqueConstraint

from chaincut.store.metadata import Id, metadata

__all__ = ["imports", "store_identity"]

# One row (id 1): the store's id, a UUID made by `chaincut db upgrade` (migration 0013) and written
# into the Parquet archive's manifests too, so that a database and an archive of two different
# stores are never used together. ``restored_from`` is the id of the store a backup restored into
# this one came from: a restored store keeps its own id.
store_identity = Table(
    "store_identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("store_id", String(36), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("restored_from", String(36)),
)

# Every bulk file of whereabouts imported, by the SHA-256 of its bytes: the same file is refused a
# second time, naming this record. Counts are rows: read from the file, stored, skipped because a
# row with the same natural key was already held (or came earlier in the file), and rejected.
imports = Table(
    "imports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("file_name", String(200), nullable=False),
    Column("rows_read", BigInteger, nullable=False),
    Column("rows_stored", BigInteger, nullable=False),
    Column("rows_duplicate", BigInteger, nullable=False),
    Column("rows_rejected", BigInteger, nullable=False),
    Column("imported_at", BigInteger, nullable=False),
    Column("imported_by", String(80), nullable=False),
    UniqueConstraint("kind", "digest"),
)
