"""ballot draws ranked on tickets: each drawn entry's ticket and exclusion, each slot's seats when drawn

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries drawn before this revision were ranked by entry id (ballot order 1): they have no
    # ticket, and none was excluded on the record. Plain ALTER TABLE ... ADD COLUMN on both backends:
    # a batch would copy border_ballot_entries on SQLite, and the foreign keys of
    # border_entry_travellers forbid dropping the original.
    op.add_column("border_ballot_entries", sa.Column("ticket", sa.String(length=64), nullable=True))
    op.add_column(
        "border_ballot_entries",
        sa.Column("excluded", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "border_draws",
        sa.Column("ballot_order", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
    )
    op.create_table(
        "border_draw_slots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("checkpoint", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "checkpoint", "slot", name=op.f("pk_border_draw_slots")),
    )


def downgrade() -> None:
    op.drop_table("border_draw_slots")
    op.drop_column("border_draws", "ballot_order")
    op.drop_column("border_ballot_entries", "excluded")
    op.drop_column("border_ballot_entries", "ticket")
