"""The relational schema, shared by SQLite (embedded) and PostgreSQL.

Instants are BIGINT seconds since the Unix epoch, UTC, on every backend: one
representation for the store, the Parquet archive and bulk files. Table rows
are never API schemas; repositories turn them into domain objects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "api_tokens",
    "approvals",
    "audit_head",
    "audit_log",
    "border_ballot_entries",
    "border_bookings",
    "border_draws",
    "border_slots",
    "case_assignments",
    "cases",
    "cluster_cases",
    "clusters",
    "encounters",
    "follow_ups",
    "households",
    "key_rotations",
    "metadata",
    "order_events",
    "orders",
    "people",
    "person_corrections",
    "purges",
    "staff",
    "venues",
    "visits",
    "web_sessions",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT primary keys autoincrement on PostgreSQL; on SQLite only INTEGER PRIMARY KEY does.
Id = BigInteger().with_variant(Integer(), "sqlite")

households = Table(
    "households",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("district", String(64)),
)

people = Table(
    "people",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("id_document_hash", LargeBinary(32), index=True),
    Column("name_sealed", LargeBinary),
    Column("phone_sealed", LargeBinary),
    Column("address_sealed", LargeBinary),
    Column("household_id", Id, ForeignKey("households.id"), index=True),
    Column("created_at", BigInteger, nullable=False),
)

venues = Table(
    "venues",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("venue_type", String(40), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("name_zh", String(200), nullable=False),
    Column("district", String(64)),
    Column("address", String(300)),
    Column("plate", String(16), unique=True),
    Column("created_at", BigInteger, nullable=False),
    # The venue operator's staff account that registered it (their posters and devices only).
    Column("operator_id", Id, ForeignKey("staff.id"), index=True),
)

visits = Table(
    "visits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, nullable=False),
    Column("venue_id", Id, nullable=False),
    Column("entered_at", BigInteger, nullable=False),
    Column("left_at", BigInteger),
    Column("left_inferred", Boolean, nullable=False, default=False),
    Column("source", SmallInteger, nullable=False),
    Column("client_id", String(64)),
    UniqueConstraint("person_id", "client_id"),
    Index("ix_visits_venue_time", "venue_id", "entered_at"),
    Index("ix_visits_person_time", "person_id", "entered_at"),
    Index("ix_visits_left_at", "left_at"),
    Index(
        "ix_visits_open",
        "entered_at",
        sqlite_where=Column("left_at").is_(None),
        postgresql_where=Column("left_at").is_(None),
    ),
)

encounters = Table(
    "encounters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_a", Id, nullable=False),
    Column("person_b", Id, nullable=False),
    Column("start_at", BigInteger, nullable=False),
    Column("end_at", BigInteger, nullable=False),
    Index("ix_encounters_a_time", "person_a", "start_at"),
    Index("ix_encounters_b_time", "person_b", "start_at"),
    Index("ix_encounters_end_at", "end_at"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("classification", String(24), nullable=False),
    Column("reported_on", Date),
    Column("onset_on", Date),
    Column("specimen_on", Date),
    Column("created_at", BigInteger, nullable=False),
    Column("isolated_at", BigInteger),
    Column("created_by", String(64)),
    Column("policy_version", String(64)),
    Column("linked_case_id", Id, ForeignKey("cases.id")),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("case_id", Id, ForeignKey("cases.id"), index=True),
    Column("tier", String(16), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_exposure_at", BigInteger),
    Column("issued_at", BigInteger, nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_orders_status_ends_on", "status", "ends_on"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("note", String(500)),
)

follow_ups = Table(
    "follow_ups",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), index=True),
    Column("on_date", Date, nullable=False),
    Column("symptoms", String(500), nullable=False, default=""),
    Column("test_result", String(16)),
    Column("note", String(500)),
    Column("recorded_at", BigInteger, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    UniqueConstraint("person_id", "on_date"),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False, unique=True),
    Column("reported_case_count", Integer),
)

cluster_cases = Table(
    "cluster_cases",
    metadata,
    Column("cluster_id", Id, ForeignKey("clusters.id"), primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
)

purges = Table(
    "purges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("deleted", BigInteger, nullable=False),
    Column("cutoff", BigInteger, nullable=False),
    Column("run_at", BigInteger, nullable=False),
    Column("policy_version", String(64), nullable=False),
)


# --- access control and audit (issue 4) -------------------------------------------

staff = Table(
    "staff",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(80), nullable=False),
)

# Bearer tokens for staff (after signing in), residents' phones and venue devices.
# Only the SHA-256 of a token is stored: tokens are 256-bit random, so no key is needed.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("staff_id", Id, ForeignKey("staff.id"), index=True),
    Column("person_id", Id, ForeignKey("people.id"), index=True),
    Column("venue_id", Id, ForeignKey("venues.id"), index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_hash", LargeBinary(32), nullable=False, unique=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

case_assignments = Table(
    "case_assignments",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("staff_id", Id, ForeignKey("staff.id"), primary_key=True, index=True),
    Column("assigned_at", BigInteger, nullable=False),
    Column("assigned_by", String(80), nullable=False),
)

# Requests that need a supervisor's decision: bulk exports of personal data.
approvals = Table(
    "approvals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("kind", String(24), nullable=False),
    Column("case_id", Id, ForeignKey("cases.id"), index=True),
    Column("requested_by", String(80), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("purpose", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(80)),
    Column("decided_at", BigInteger),
    Column("decision_reason", String(500)),
    Column("expires_at", BigInteger, nullable=False),
)

# Append-only and hash-chained: each row's MAC covers its fields and the previous row's MAC.
# Triggers (migration 0003) refuse UPDATE and DELETE on both backends.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", String(200), nullable=False),
    Column("record", String(200), nullable=False),
    Column("purpose", String(500), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("flags", String(100), nullable=False),
    Column("details", Text, nullable=False),
    Column("subject_person_id", BigInteger, index=True),
    Column("prev_mac", LargeBinary(32), nullable=False),
    Column("mac", LargeBinary(32), nullable=False),
    Index("ix_audit_log_actor_at", "actor", "at"),
    Index("ix_audit_log_action_seq", "action", "seq"),
)

# The chain's head, locked by each append so that appends from every worker form one chain.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("mac", LargeBinary(32), nullable=False),
)

# Corrections of a person's details (PDPO data-access and correction), old and new sealed.
person_corrections = Table(
    "person_corrections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("field", String(32), nullable=False),
    Column("old_sealed", LargeBinary),
    Column("new_sealed", LargeBinary),
    Column("reason", String(500), nullable=False),
    Column("corrected_by", String(80), nullable=False),
    Column("corrected_at", BigInteger, nullable=False),
)

# Progress of re-encrypting sealed fields under the current data key, so a run can resume.
key_rotations = Table(
    "key_rotations",
    metadata,
    Column("table_name", String(64), primary_key=True),
    Column("target_key", Integer, primary_key=True),
    Column("last_id", BigInteger, nullable=False),
    Column("rows_done", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
)

# Border crossings under quota (the January 2023 reopening). ``booked`` counts travellers (a booker and
# their companions) and only ever moves by a conditional UPDATE that keeps it within ``quota``.
border_slots = Table(
    "border_slots",
    metadata,
    Column("checkpoint", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("slot", String(16), primary_key=True),
    Column("quota", Integer, nullable=False),
    Column("booked", Integer, nullable=False),
)

# One live booking per traveller (keyed hash of the identity document) and day; a request id once per
# booker, so a retry finds the first booking.
border_bookings = Table(
    "border_bookings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("traveller_hash", LargeBinary(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("checkpoint", String(64), nullable=False),
    Column("slot", String(16), nullable=False),
    Column("companions", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("cancelled_at", BigInteger),
    UniqueConstraint("person_id", "request_id"),
    Index(
        "uq_border_bookings_live_traveller_day",
        "traveller_hash",
        "day",
        unique=True,
        sqlite_where=text("status = 'booked'"),
        postgresql_where=text("status = 'booked'"),
    ),
    Index("ix_border_bookings_day_checkpoint", "day", "checkpoint"),
)

# Ballot mode: entries wait for the day's draw, which makes the winners' bookings.
border_ballot_entries = Table(
    "border_ballot_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("traveller_hash", LargeBinary(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("checkpoint", String(64), nullable=False),
    Column("slot", String(16), nullable=False),
    Column("companions", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False),  # entered, won, lost
    Column("request_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("booking_id", Id, ForeignKey("border_bookings.id")),
    UniqueConstraint("person_id", "request_id"),
    UniqueConstraint("traveller_hash", "day"),
    Index("ix_border_ballot_entries_day_status", "day", "status"),
)

# Each day's draw, once, with the seed that makes it reproducible.
border_draws = Table(
    "border_draws",
    metadata,
    Column("day", Date, primary_key=True),
    Column("seed", String(64), nullable=False),
    Column("drawn_at", BigInteger, nullable=False),
    Column("drawn_by", String(80), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("won", Integer, nullable=False),
)
