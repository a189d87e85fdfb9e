"""access: the purpose a web session's member stated for a case or a person, asked once per record

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_purposes",
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("record", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=300), nullable=False),
        sa.Column("stated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["web_sessions.id"], name=op.f("fk_session_purposes_session_id_web_sessions")
        ),
        sa.PrimaryKeyConstraint("session_id", "record", name=op.f("pk_session_purposes")),
    )


def downgrade() -> None:
    op.drop_table("session_purposes")
