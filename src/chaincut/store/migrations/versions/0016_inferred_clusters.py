"""building list links, inferred clusters kept across runs, tracers' decisions, inferred infectors

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "buildings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("residential", sa.Boolean(), nullable=False),
        sa.Column("venue_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name=op.f("fk_buildings_venue_id_venues")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("ref", name=op.f("uq_buildings_ref")),
    )
    op.create_index(op.f("ix_buildings_venue_id"), "buildings", ["venue_id"])
    op.create_table(
        "building_cases",
        sa.Column("building_id", _ID, nullable=False),
        sa.Column("case_ref", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_building_cases_building_id_buildings")
        ),
        sa.PrimaryKeyConstraint("building_id", "case_ref", name=op.f("pk_building_cases")),
    )
    op.create_index("ix_building_cases_case_ref", "building_cases", ["case_ref"])
    op.create_table(
        "inferred_clusters",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_onset", sa.Date(), nullable=True),
        sa.Column("last_onset", sa.Date(), nullable=True),
        sa.Column("last_reported", sa.Date(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("merged_into_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["inferred_clusters.id"],
            name=op.f("fk_inferred_clusters_merged_into_id_inferred_clusters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inferred_clusters")),
    )
    op.create_index("ix_inferred_clusters_status_size", "inferred_clusters", ["status", "size"])
    op.create_table(
        "inferred_cluster_members",
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("cluster_id", _ID, nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_inferred_cluster_members_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["inferred_clusters.id"],
            name=op.f("fk_inferred_cluster_members_cluster_id_inferred_clusters"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_inferred_cluster_members")),
    )
    op.create_index(
        op.f("ix_inferred_cluster_members_cluster_id"), "inferred_cluster_members", ["cluster_id"]
    )
    op.create_table(
        "inferred_cluster_settings",
        sa.Column("cluster_id", _ID, nullable=False),
        sa.Column("setting", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["inferred_clusters.id"],
            name=op.f("fk_inferred_cluster_settings_cluster_id_inferred_clusters"),
        ),
        sa.PrimaryKeyConstraint("cluster_id", "setting", name=op.f("pk_inferred_cluster_settings")),
    )
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
    op.create_table(
        "cluster_decisions",
        sa.Column("cluster_id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_cluster_decisions_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["inferred_clusters.id"],
            name=op.f("fk_cluster_decisions_cluster_id_inferred_clusters"),
        ),
        sa.PrimaryKeyConstraint("cluster_id", "case_id", name=op.f("pk_cluster_decisions")),
    )
    op.create_table(
        "inferred_infectors",
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("infector_case_id", _ID, nullable=False),
        sa.Column("likelihood_ppm", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_inferred_infectors_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["infector_case_id"], ["cases.id"], name=op.f("fk_inferred_infectors_infector_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_inferred_infectors")),
    )
    # The epidemic curve groups cases by district from one index, with no join: each case keeps its
    # person's household's district (filled here for the cases already stored).
    op.add_column("cases", sa.Column("district", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE cases SET district = (SELECT households.district FROM people JOIN households "
        "ON households.id = people.household_id WHERE people.id = cases.person_id)"
    )
    op.create_index(
        "ix_cases_tally", "cases", ["onset_on", "reported_on", "classification", "status", "district"]
    )
    # The situation report counts contacts traced by day and tier from this index alone.
    op.create_index(
        "ix_code_exposures_traced_tier_person", "code_exposures", ["traced_at", "tier", "person_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_code_exposures_traced_tier_person", table_name="code_exposures")
    op.drop_index("ix_cases_tally", table_name="cases")
    op.drop_column("cases", "district")
    op.drop_table("inferred_infectors")
    op.drop_table("cluster_decisions")
    op.drop_index(op.f("ix_inferred_cluster_evidence_cluster_id"), table_name="inferred_cluster_evidence")
    op.drop_table("inferred_cluster_evidence")
    op.drop_table("inferred_cluster_settings")
    op.drop_index(op.f("ix_inferred_cluster_members_cluster_id"), table_name="inferred_cluster_members")
    op.drop_table("inferred_cluster_members")
    op.drop_index("ix_inferred_clusters_status_size", table_name="inferred_clusters")
    op.drop_table("inferred_clusters")
    op.drop_index("ix_building_cases_case_ref", table_name="building_cases")
    op.drop_table("building_cases")
    op.drop_index(op.f("ix_buildings_venue_id"), table_name="buildings")
    op.drop_table("buildings")
