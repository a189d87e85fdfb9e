"""cases by onset day: an index the daily counts of R_t read alone, without the table

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_onset_class_status", "cases", ["onset_on", "classification", "status"])


def downgrade() -> None:
    op.drop_index("ix_cases_onset_class_status", table_name="cases")
