"""decentralised check-in (CrowdNotifier): the authority's keys, venues' entry codes, warnings

Phones keep their own check-ins; the authority holds only venues' public entry codes and the
warnings it publishes.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "presence_keys",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("authority_public", sa.LargeBinary(length=32), nullable=False),
        sa.Column("authority_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("master_public", sa.LargeBinary(length=96), nullable=False),
        sa.Column("master_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("published_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_keys")),
    )
    op.create_table(
        "presence_codes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("venue_id", _ID, nullable=False),
        sa.Column("variant", sa.String(length=8), nullable=False),
        sa.Column("entry_payload", sa.LargeBinary(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name=op.f("fk_presence_codes_venue_id_venues")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_codes")),
    )
    op.create_index(op.f("ix_presence_codes_venue_id"), "presence_codes", ["venue_id"], unique=False)
    op.create_table(
        "presence_warnings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("venue_id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("proposed_by", sa.String(length=80), nullable=False),
        sa.Column("proposed_at", sa.BigInteger(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=80), nullable=True),
        sa.Column("reviewed_at", sa.BigInteger(), nullable=True),
        sa.Column("review_reason", sa.String(length=500), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_presence_warnings_venue_id_venues")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_presence_warnings_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_warnings")),
        sa.UniqueConstraint("public_id", name=op.f("uq_presence_warnings_public_id")),
    )
    for column in ("venue_id", "case_id", "status", "end_time"):
        op.create_index(op.f(f"ix_presence_warnings_{column}"), "presence_warnings", [column], unique=False)
    op.create_table(
        "presence_traces",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("warning_id", _ID, nullable=False),
        sa.Column("start_of_interval", sa.BigInteger(), nullable=False),
        sa.Column("trace", sa.LargeBinary(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("published_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["warning_id"],
            ["presence_warnings.id"],
            name=op.f("fk_presence_traces_warning_id_presence_warnings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_traces")),
        sa.UniqueConstraint("seq", name=op.f("uq_presence_traces_seq")),
    )
    op.create_index(op.f("ix_presence_traces_warning_id"), "presence_traces", ["warning_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_presence_traces_warning_id"), table_name="presence_traces")
    op.drop_table("presence_traces")
    for column in ("end_time", "status", "case_id", "venue_id"):
        op.drop_index(op.f(f"ix_presence_warnings_{column}"), table_name="presence_warnings")
    op.drop_table("presence_warnings")
    op.drop_index(op.f("ix_presence_codes_venue_id"), table_name="presence_codes")
    op.drop_table("presence_codes")
    op.drop_table("presence_keys")
