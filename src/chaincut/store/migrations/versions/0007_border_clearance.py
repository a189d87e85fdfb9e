"""border clearance: decisions at checkpoints, and bookings' border subject ids

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-25 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CROSSED = {
    "sqlite_where": sa.text("cleared = 1 AND conflict IS NULL"),
    "postgresql_where": sa.text("cleared AND conflict IS NULL"),
}


def upgrade() -> None:
    with op.batch_alter_table("border_bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_border_bookings_subject", ["subject"], unique=False)

    op.create_table(
        "border_clearances",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("code_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("booking_id", _ID, nullable=True),
        sa.Column("checkpoint", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.String(length=400), nullable=False),
        sa.Column("officer", sa.String(length=80), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("conflict", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["border_bookings.id"],
            name=op.f("fk_border_clearances_booking_id_border_bookings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_border_clearances")),
        sa.UniqueConstraint("public_id", name=op.f("uq_border_clearances_public_id")),
    )
    with op.batch_alter_table("border_clearances", schema=None) as batch_op:
        batch_op.create_index("ix_border_clearances_day_checkpoint", ["day", "checkpoint"], unique=False)
        batch_op.create_index("ix_border_clearances_subject", ["subject"], unique=False)
        batch_op.create_index("uq_border_clearances_code_crossed", ["code_id"], unique=True, **_CROSSED)
        batch_op.create_index("uq_border_clearances_booking_crossed", ["booking_id"], unique=True, **_CROSSED)


def downgrade() -> None:
    with op.batch_alter_table("border_clearances", schema=None) as batch_op:
        batch_op.drop_index("uq_border_clearances_booking_crossed", **_CROSSED)
        batch_op.drop_index("uq_border_clearances_code_crossed", **_CROSSED)
        batch_op.drop_index("ix_border_clearances_subject")
        batch_op.drop_index("ix_border_clearances_day_checkpoint")
    op.drop_table("border_clearances")
    with op.batch_alter_table("border_bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_border_bookings_subject")
        batch_op.drop_column("subject")
