"""decentralised check-in, bridged by consent: venues' pre-identities, reported exposures, daily codes

A case may share private check-ins at server-based venues (found by the venue's pre-identity); a
phone that matched a warning may report it, so that the health code's risky_visit rule applies. A
server-based venue's entry code may change every day (``daily``: one code per local day).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _pre_id(payload: bytes) -> bytes:
    # The protocol's pre-identity, restated here so that this migration never changes with the code.
    nonce = HKDF(algorithm=hashes.SHA256(), length=96, salt=None, info=b"CrowdNotifier_v3").derive(payload)
    return hashlib.sha256(b"CN-PREID" + payload + nonce[:32]).digest()


def upgrade() -> None:
    with op.batch_alter_table("presence_codes") as batch:
        batch.add_column(sa.Column("pre_id", sa.LargeBinary(length=32), nullable=True))
        batch.add_column(sa.Column("daily", sa.Boolean(), server_default=sa.false(), nullable=False))
    codes = sa.table(
        "presence_codes",
        sa.column("id", _ID),
        sa.column("entry_payload", sa.LargeBinary()),
        sa.column("pre_id", sa.LargeBinary(32)),
    )
    conn = op.get_bind()
    for row in conn.execute(sa.select(codes.c.id, codes.c.entry_payload)).all():
        conn.execute(
            codes.update().where(codes.c.id == row.id).values(pre_id=_pre_id(bytes(row.entry_payload)))
        )
    with op.batch_alter_table("presence_codes") as batch:
        batch.alter_column("pre_id", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch.create_index(batch.f("ix_presence_codes_pre_id"), ["pre_id"], unique=False)
        batch.create_unique_constraint(
            batch.f("uq_presence_codes_venue_id_valid_from"), ["venue_id", "valid_from"]
        )
    op.create_table(
        "presence_reports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("venue_id", _ID, nullable=False),
        sa.Column("warning_public_id", sa.String(length=32), nullable=False),
        sa.Column("last_exposure_at", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_presence_reports_person_id_people")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_presence_reports_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_presence_reports_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence_reports")),
        sa.UniqueConstraint(
            "person_id", "warning_public_id", name=op.f("uq_presence_reports_person_id_warning_public_id")
        ),
    )
    op.create_index(op.f("ix_presence_reports_case_id"), "presence_reports", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_presence_reports_last_exposure_at"), "presence_reports", ["last_exposure_at"], unique=False
    )
    op.create_index("ix_presence_reports_person", "presence_reports", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_presence_reports_person", table_name="presence_reports")
    op.drop_index(op.f("ix_presence_reports_last_exposure_at"), table_name="presence_reports")
    op.drop_index(op.f("ix_presence_reports_case_id"), table_name="presence_reports")
    op.drop_table("presence_reports")
    with op.batch_alter_table("presence_codes") as batch:
        batch.drop_constraint(batch.f("uq_presence_codes_venue_id_valid_from"), type_="unique")
        batch.drop_index(batch.f("ix_presence_codes_pre_id"))
        batch.drop_column("daily")
        batch.drop_column("pre_id")
