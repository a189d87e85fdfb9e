"""border travellers: companions with their own identity, a traveller crosses once, ballot seed commitments

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-26 10:00:00

Every booking and ballot entry gets one traveller row per traveller: the named one (position 0,
copied from the booking or entry) and, from now on, each companion listed with their own identity
hash. The rule of one live booking (one entry) per traveller and day moves from the bookings' and
entries' own unique indexes to the travellers tables, where it covers companions too. Companions
of bookings made before this revision were seats without an identity: they keep their seats
(``companions``) but have no traveller row, so they cannot be cleared on the booking; they book
again as listed companions. Clearances record the traveller who crossed; one crossing per
traveller replaces one per booking (a past clearance is the named traveller's).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LIVE = {"sqlite_where": sa.text("live = 1"), "postgresql_where": sa.text("live")}
_CROSSED = {
    "sqlite_where": sa.text("cleared = 1 AND conflict IS NULL"),
    "postgresql_where": sa.text("cleared AND conflict IS NULL"),
}


def upgrade() -> None:
    op.create_table(
        "border_booking_travellers",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("booking_id", _ID, nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("traveller_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["border_bookings.id"],
            name=op.f("fk_border_booking_travellers_booking_id_border_bookings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_border_booking_travellers")),
        sa.UniqueConstraint(
            "booking_id", "position", name=op.f("uq_border_booking_travellers_booking_id_position")
        ),
    )
    op.execute(
        "INSERT INTO border_booking_travellers (booking_id, position, traveller_hash, subject, day, live) "
        "SELECT id, 0, traveller_hash, subject, day, (status = 'booked') FROM border_bookings ORDER BY id"
    )
    with op.batch_alter_table("border_booking_travellers", schema=None) as batch_op:
        batch_op.create_index("ix_border_booking_travellers_subject", ["subject"], unique=False)
        batch_op.create_index(
            "uq_border_booking_travellers_live_day", ["traveller_hash", "day"], unique=True, **_LIVE
        )
    with op.batch_alter_table("border_bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_border_bookings_live_traveller_day",
            sqlite_where=sa.text("status = 'booked'"),
            postgresql_where=sa.text("status = 'booked'"),
        )

    # SQLite rebuilds the table to drop a constraint: before any table refers to it.
    with op.batch_alter_table("border_ballot_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_border_ballot_entries_traveller_hash_day", type_="unique")
    op.create_table(
        "border_entry_travellers",
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("traveller_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["border_ballot_entries.id"],
            name=op.f("fk_border_entry_travellers_entry_id_border_ballot_entries"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "position", name=op.f("pk_border_entry_travellers")),
        sa.UniqueConstraint(
            "traveller_hash", "day", name=op.f("uq_border_entry_travellers_traveller_hash_day")
        ),
    )
    op.execute(
        "INSERT INTO border_entry_travellers (entry_id, position, traveller_hash, subject, day) "
        "SELECT id, 0, traveller_hash, NULL, day FROM border_ballot_entries ORDER BY id"
    )

    with op.batch_alter_table("border_clearances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("traveller_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_border_clearances_traveller_id_border_booking_travellers"),
            "border_booking_travellers",
            ["traveller_id"],
            ["id"],
        )
    op.execute(
        "UPDATE border_clearances SET traveller_id = (SELECT t.id FROM border_booking_travellers t "
        "WHERE t.booking_id = border_clearances.booking_id AND t.position = 0) WHERE booking_id IS NOT NULL"
    )
    with op.batch_alter_table("border_clearances", schema=None) as batch_op:
        batch_op.drop_index("uq_border_clearances_booking_crossed", **_CROSSED)
        batch_op.create_index(
            "uq_border_clearances_traveller_crossed", ["traveller_id"], unique=True, **_CROSSED
        )

    op.create_table(
        "border_seed_commitments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("seed_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("committed_at", sa.BigInteger(), nullable=False),
        sa.Column("committed_by", sa.String(length=80), nullable=False),
        sa.Column("entries_at_commitment", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_border_seed_commitments")),
        sa.UniqueConstraint("day", name=op.f("uq_border_seed_commitments_day")),
    )


def downgrade() -> None:
    op.drop_table("border_seed_commitments")
    with op.batch_alter_table("border_clearances", schema=None) as batch_op:
        batch_op.drop_index("uq_border_clearances_traveller_crossed", **_CROSSED)
        batch_op.create_index("uq_border_clearances_booking_crossed", ["booking_id"], unique=True, **_CROSSED)
        batch_op.drop_constraint(
            "fk_border_clearances_traveller_id_border_booking_travellers", type_="foreignkey"
        )
        batch_op.drop_column("traveller_id")
    op.drop_table("border_entry_travellers")
    with op.batch_alter_table("border_ballot_entries", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_border_ballot_entries_traveller_hash_day", ["traveller_hash", "day"]
        )
    with op.batch_alter_table("border_bookings", schema=None) as batch_op:
        batch_op.create_index(
            "uq_border_bookings_live_traveller_day",
            ["traveller_hash", "day"],
            unique=True,
            sqlite_where=sa.text("status = 'booked'"),
            postgresql_where=sa.text("status = 'booked'"),
        )
    op.drop_table("border_booking_travellers")
