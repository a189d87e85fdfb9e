"""follow-ups: whether the person was reached that day (a daily worklist marks the calls that failed)

Every follow-up recorded before was a call that reached the person: the column starts true.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


# Added and dropped in place on both backends (SQLite 3.35 and later), as 0018 does: rebuilding
# ``follow_ups`` is not needed for a column with a constant default.


def upgrade() -> None:
    with op.batch_alter_table("follow_ups", recreate="never") as batch:
        batch.add_column(sa.Column("reached", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", recreate="never") as batch:
        batch.drop_column("reached")
