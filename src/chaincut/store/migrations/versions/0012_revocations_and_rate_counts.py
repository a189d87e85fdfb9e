"""revocations by sequence number, and rate-limit counts shared by every server worker

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocation_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_head")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_api_tokens_revoked_seq", ["revoked_seq"], unique=False)
    # Tokens revoked before this revision share number 1, so a worker starting from 0 learns them.
    tokens = sa.table(
        "api_tokens", sa.column("revoked_at", sa.BigInteger), sa.column("revoked_seq", sa.BigInteger)
    )
    bind = op.get_bind()
    done = bind.execute(
        sa.select(sa.func.count()).select_from(tokens).where(tokens.c.revoked_at.is_not(None))
    )
    seq = 1 if done.scalar_one() else 0
    if seq:
        op.execute(tokens.update().where(tokens.c.revoked_at.is_not(None)).values(revoked_seq=1))
    head = sa.table("revocation_head", sa.column("id"), sa.column("seq"))
    op.bulk_insert(head, [{"id": 1, "seq": seq}])

    op.create_table(
        "rate_counts",
        sa.Column("limit_name", sa.String(length=32), nullable=False),
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("limit_name", "client", "window_start", name=op.f("pk_rate_counts")),
    )
    with op.batch_alter_table("rate_counts", schema=None) as batch_op:
        batch_op.create_index("ix_rate_counts_window_start", ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_counts_window_start")
    op.drop_table("rate_counts")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_api_tokens_revoked_seq")
        batch_op.drop_column("revoked_seq")
    op.drop_table("revocation_head")
