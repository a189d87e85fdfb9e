"""policy: its versions, files deployed and versions uploaded in the console, and the one in force

A version uploaded in the console is activated with a supervisor's approval; the one in force is
the active version activated last.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=80), nullable=False),
        sa.Column("uploaded_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=True),
        sa.Column("requested_at", sa.BigInteger(), nullable=True),
        sa.Column("request_reason", sa.String(length=500), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("activated_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
    )
    op.create_index("ix_policy_versions_status", "policy_versions", ["status", "activated_at"], unique=False)
    op.create_index(
        "ux_policy_versions_active",
        "policy_versions",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ux_policy_versions_active", table_name="policy_versions")
    op.drop_index("ix_policy_versions_status", table_name="policy_versions")
    op.drop_table("policy_versions")
