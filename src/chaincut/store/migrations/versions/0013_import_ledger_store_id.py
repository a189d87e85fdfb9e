"""imports recorded and stored once; the store's id

Each bulk file of whereabouts is recorded by its SHA-256 (``imports``), so the same
file is refused a second time. Bulk visits (no client id) and encounters are stored
once under their natural keys: (person, venue, entered_at), and (unordered pair,
start, end) with the pair stored in order. The key indexes replace those on
(person_id, entered_at) and (person_a, start_at), which their first columns serve.
Rows already stored twice by importing a file twice are deleted here, the lowest
id kept: they counted double in tracing.

``store_identity`` holds the store's id, a new UUID: `chaincut db upgrade` writes it
into the Parquet archive's manifests too, and the database and archive of two
different stores are refused together.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Bulk visits have no client id: all of theirs are '' in the key, so two with one key collide.
_VISIT_KEY: list[str | sa.TextClause] = [
    "person_id",
    "entered_at",
    "venue_id",
    sa.text("COALESCE(client_id, '')"),
]


def upgrade() -> None:
    identity = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("restored_from", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_identity")),
    )
    op.bulk_insert(identity, [{"id": 1, "store_id": str(uuid.uuid4()), "created_at": int(time.time())}])

    op.create_table(
        "imports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_stored", sa.BigInteger(), nullable=False),
        sa.Column("rows_duplicate", sa.BigInteger(), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", sa.BigInteger(), nullable=False),
        sa.Column("imported_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sa.UniqueConstraint("kind", "digest", name=op.f("uq_imports_kind_digest")),
    )

    # Encounters: the pair in order, then each natural key once.
    op.execute("UPDATE encounters SET person_a = person_b, person_b = person_a WHERE person_a > person_b")
    op.execute(
        "DELETE FROM encounters WHERE EXISTS (SELECT 1 FROM encounters AS earlier"
        " WHERE earlier.person_a = encounters.person_a AND earlier.person_b = encounters.person_b"
        " AND earlier.start_at = encounters.start_at AND earlier.end_at = encounters.end_at"
        " AND earlier.id < encounters.id)"
    )
    # Its first columns serve look-ups by person_a and time: it replaces (person_a, start_at).
    op.create_index(
        "uq_encounters_key", "encounters", ["person_a", "start_at", "person_b", "end_at"], unique=True
    )
    op.drop_index("ix_encounters_a_time", table_name="encounters")
    op.execute(
        "DELETE FROM visits WHERE client_id IS NULL AND EXISTS (SELECT 1 FROM visits AS earlier"
        " WHERE earlier.client_id IS NULL AND earlier.person_id = visits.person_id"
        " AND earlier.venue_id = visits.venue_id AND earlier.entered_at = visits.entered_at"
        " AND earlier.id < visits.id)"
    )
    # The natural key's index takes the place of (person_id, entered_at): its first columns.
    op.create_index("uq_visits_key", "visits", _VISIT_KEY, unique=True)
    op.drop_index("ix_visits_person_time", table_name="visits")


def downgrade() -> None:
    op.create_index("ix_visits_person_time", "visits", ["person_id", "entered_at"], unique=False)
    op.drop_index("uq_visits_key", table_name="visits")
    op.create_index("ix_encounters_a_time", "encounters", ["person_a", "start_at"], unique=False)
    op.drop_index("uq_encounters_key", table_name="encounters")
    op.drop_table("imports")
    op.drop_table("store_identity")
