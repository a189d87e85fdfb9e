"""code revocation: the signed codes issued (to revoke by id), the revocation list's sequence, partners'
revocation lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "issued_codes",
        sa.Column("code_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_issued_codes_person_id_people")),
        sa.PrimaryKeyConstraint("code_id", name=op.f("pk_issued_codes")),
    )
    with op.batch_alter_table("issued_codes", schema=None) as batch_op:
        batch_op.create_index("ix_issued_codes_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_issued_codes_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "code_revocation_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_revocation_state")),
    )

    with op.batch_alter_table("code_partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revocations_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("revocation_list", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("revocations_sequence", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("revocations_synced_at", sa.BigInteger(), nullable=True))
    # Partners pinned before revocation lists existed: a chaincut partner publishes its list beside
    # its trust list (codes.partners.default_revocations_url), so their next sync fetches it.
    op.execute(
        "UPDATE code_partners SET revocations_url = "
        "substr(url, 1, length(url) - length('/codes/trust-list')) || '/codes/revocations' "
        "WHERE url LIKE '%/codes/trust-list' AND revocations_url IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("code_partners", schema=None) as batch_op:
        batch_op.drop_column("revocations_synced_at")
        batch_op.drop_column("revocations_sequence")
        batch_op.drop_column("revocation_list")
        batch_op.drop_column("revocations_url")
    op.drop_table("code_revocation_state")
    with op.batch_alter_table("issued_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_issued_codes_expires_at")
        batch_op.drop_index("ix_issued_codes_person_id")
    op.drop_table("issued_codes")
