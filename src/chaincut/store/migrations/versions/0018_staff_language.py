"""staff: the pages' language each member chose; cases in the order they were reported

``ix_cases_created`` serves the console's lists of cases (oldest report first, by keyset): without
it each page of the unassigned cases sorted every case (0.2 s at a million).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


# Both backends add and drop a column in place (SQLite 3.35 and later): rebuilding ``staff``, which
# sessions and tokens refer to, would fail its foreign keys once it has members.


def upgrade() -> None:
    with op.batch_alter_table("staff", recreate="never") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    op.create_index("ix_cases_created", "cases", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_created", table_name="cases")
    with op.batch_alter_table("staff", recreate="never") as batch:
        batch.drop_column("language")
