"""residents' phones: one-time enrolment codes

A supervisor or a counter issues a code; the resident's phone trades it, once and within
minutes, for its app token.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrolment_codes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issued_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("redeemed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_enrolment_codes_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_enrolment_codes_code_hash")),
    )
    op.create_index(op.f("ix_enrolment_codes_person_id"), "enrolment_codes", ["person_id"], unique=False)
    op.create_index(op.f("ix_enrolment_codes_expires_at"), "enrolment_codes", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_enrolment_codes_expires_at"), table_name="enrolment_codes")
    op.drop_index(op.f("ix_enrolment_codes_person_id"), table_name="enrolment_codes")
    op.drop_table("enrolment_codes")
