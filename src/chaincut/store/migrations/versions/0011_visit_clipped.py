"""visits: a stay clipped to its venue type's longest believable stay is marked clipped

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every visit stored before was taken as given: none was clipped.
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clipped", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("clipped")
