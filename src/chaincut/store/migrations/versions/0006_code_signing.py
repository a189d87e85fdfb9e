"""code signing: the authority's code-signing keys, its trust list's sequence, partners' trust lists

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "code_signing_keys",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kid", sa.LargeBinary(length=8), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("private_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
        sa.Column("trusted_until", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_signing_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_code_signing_keys_kid")),
    )
    op.create_table(
        "code_trust_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_trust_state")),
    )
    op.create_table(
        "code_partners",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("root_certificate", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", sa.BigInteger(), nullable=False),
        sa.Column("added_by", sa.String(length=80), nullable=False),
        sa.Column("trust_list", sa.Text(), nullable=True),
        sa.Column("issuer", sa.String(length=16), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("synced_at", sa.BigInteger(), nullable=True),
        sa.Column("last_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_partners")),
        sa.UniqueConstraint("name", name=op.f("uq_code_partners_name")),
    )


def downgrade() -> None:
    op.drop_table("code_partners")
    op.drop_table("code_trust_state")
    op.drop_table("code_signing_keys")
