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
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    false,
    func,
    literal_column,
    true,
)

from chaincut.store.metadata import Id, metadata
from chaincut.store.tables_access import (
    api_tokens,
    approvals,
    audit_head,
    audit_log,
    case_assignments,
    enrolment_codes,
    key_rotations,
    person_corrections,
    policy_versions,
    rate_counts,
    revocation_head,
    session_purposes,
    staff,
    web_sessions,
)
from chaincut.store.tables_border import (
    border_ballot_entries,
    border_booking_travellers,
    border_bookings,
    border_clearances,
    border_draw_slots,
    border_draws,
    border_entry_travellers,
    border_seed_commitments,
    border_slots,
)
from chaincut.store.tables_clusters import (
    building_cases,
    buildings,
    cluster_decisions,
    inferred_cluster_evidence,
    inferred_cluster_members,
    inferred_cluster_settings,
    inferred_clusters,
    inferred_infectors,
)
from chaincut.store.tables_codes import (
    code_case_traces,
    code_exposures,
    health_arrivals,
    health_code_history,
    health_code_overrides,
    health_codes,
    health_tests,
    health_vaccinations,
)
from chaincut.store.tables_keys import (
    code_partners,
    code_revocation_state,
    code_signing_keys,
    code_trust_state,
    issued_codes,
)
from chaincut.store.tables_presence import presence_codes, presence_keys, presence_traces, presence_warnings
from chaincut.store.tables_store import imports, store_identity

# The tables of later capabilities live in modules of their own, on the same metadata, and
# are re-exported here so that whoever imports this module (Alembic included) knows them all.
__all__ = [
    "api_tokens",
    "approvals",
    "audit_head",
    "audit_log",
    "border_ballot_entries",
    "border_booking_travellers",
    "border_bookings",
    "border_clearances",
    "border_draw_slots",
    "border_draws",
    "border_entry_travellers",
    "border_seed_commitments",
    "border_slots",
    "building_cases",
    "buildings",
    "case_assignments",
    "cases",
    "cluster_cases",
    "cluster_decisions",
    "clusters",
    "code_case_traces",
    "code_exposures",
    "code_partners",
    "code_revocation_state",
    "code_signing_keys",
    "code_trust_state",
    "encounters",
    "enrolment_codes",
    "follow_ups",
    "health_arrivals",
    "health_code_history",
    "health_code_overrides",
    "health_codes",
    "health_tests",
    "health_vaccinations",
    "households",
    "imports",
    "inferred_cluster_evidence",
    "inferred_cluster_members",
    "inferred_cluster_settings",
    "inferred_clusters",
    "inferred_infectors",
    "issued_codes",
    "key_rotations",
    "metadata",
    "order_events",
    "orders",
    "people",
    "person_corrections",
    "policy_versions",
    "presence_codes",
    "presence_keys",
    "presence_traces",
    "presence_warnings",
    "purges",
    "rate_counts",
    "revocation_head",
    "session_purposes",
    "staff",
    "store_identity",
    "venues",
    "visits",
    "web_sessions",
]


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
    # The stay as given ran past the venue type's max_stay_minutes and was clipped to it.
    Column("clipped", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("person_id", "client_id"),
    Index("ix_visits_venue_time", "venue_id", "entered_at"),
    Index("ix_visits_left_at", "left_at"),
    Index(
        "ix_visits_open",
        "entered_at",
        sqlite_where=Column("left_at").is_(None),
        postgresql_where=Column("left_at").is_(None),
    ),
)
# A visit's natural key: a person entering a venue at an instant. Bulk rows (no client id) are stored
# once under it; check-ins and uploads are idempotent by their client id, so theirs count in the key.
# Its first columns serve every look-up by person and time: it is the visits' only index by person
# (an index more would slow bulk loads on PostgreSQL by half, bench/import_visits.py).
Index(
    "uq_visits_key",
    visits.c.person_id,
    visits.c.entered_at,
    visits.c.venue_id,
    func.coalesce(visits.c.client_id, literal_column("''")),
    unique=True,
)

encounters = Table(
    "encounters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_a", Id, nullable=False),
    Column("person_b", Id, nullable=False),
    Column("start_at", BigInteger, nullable=False),
    Column("end_at", BigInteger, nullable=False),
    # An encounter's natural key: the unordered pair (stored as person_a < person_b), start and end.
    # Ordered so that its first columns serve look-ups by person_a and time, as no other index does.
    Index("uq_encounters_key", "person_a", "start_at", "person_b", "end_at", unique=True),
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
    Column("discharged_at", BigInteger),
    # The district of the case's person's household, kept with the case (set when it is stored and
    # when a correction moves the person), so the epidemic curve groups cases without a join.
    Column("district", String(64)),
    # Covers the daily counts by onset (store/incidence.py): read from the index alone, in its order.
    Index("ix_cases_onset_class_status", "onset_on", "classification", "status"),
    # Covers the epidemic curve's counts (store/case_tallies.py): one GROUP BY over the index alone.
    Index("ix_cases_tally", "onset_on", "reported_on", "classification", "status", "district"),
    # The console's lists of cases, oldest report first, page after page by keyset (store/caseload.py).
    Index("ix_cases_created", "created_at", "id"),
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
    # False: the day's call went unanswered (no symptoms or result can then be known)
    Column("reached", Boolean, nullable=False, default=True, server_default=true()),
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
