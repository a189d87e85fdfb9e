"""inferred clusters' evidence packed as columns, one value per cluster (or per part of a large one)

The evidence of a run's memberships is derived: the next run (``chaincut analytics clusters
--refresh`` or ``POST /analytics/clusters/refresh``) writes it again, so the rows of 0016's
table are dropped, not converted.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_index(op.f("ix_inferred_cluster_evidence_cluster_id"), table_name="inferred_cluster_evidence")
    op.drop_table("inferred_cluster_evidence")
    op.create_table(
        "inferred_cluster_evidence",
        sa.Column("cluster_id", _ID, nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("columns", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["inferred_clusters.id"],
            name=op.f("fk_inferred_cluster_evidence_cluster_id_inferred_clusters"),
        ),
        sa.PrimaryKeyConstraint("cluster_id", "part", name=op.f("pk_inferred_cluster_evidence")),
    )


def downgrade() -> None:
    op.drop_table("inferred_cluster_evidence")
    op.create_table(
        "inferred_cluster_evidence",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("cluster_id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("setting", sa.String(length=80), nullable=True),
        sa.Column("linked_case_id", _ID, nullable=True),
        sa.Column("link", sa.String(length=16), nullable=True),
        sa.Column("start_at", sa.BigInteger(), nullable=True),
        sa.Column("end_at", sa.BigInteger(), nullable=True),
        sa.Column("first_on", sa.Date(), nullable=True),
        sa.Column("last_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_inferred_cluster_evidence_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["inferred_clusters.id"],
            name=op.f("fk_inferred_cluster_evidence_cluster_id_inferred_clusters"),
        ),
        sa.ForeignKeyConstraint(
            ["linked_case_id"],
            ["cases.id"],
            name=op.f("fk_inferred_cluster_evidence_linked_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inferred_cluster_evidence")),
    )
    op.create_index(
        op.f("ix_inferred_cluster_evidence_cluster_id"), "inferred_cluster_evidence", ["cluster_id"]
    )
