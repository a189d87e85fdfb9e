"""The tables of access control and audit: staff, credentials, assignments, approvals, the audit log."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from chaincut.store.metadata import Id, metadata

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
    Column("language", String(16)),  # the pages' language the member chose (en, zh-Hant); None: the browser's
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
    # The revocation's number from revocation_head: workers learn revocations in this order.
    Column("revoked_seq", BigInteger, index=True),
)

# One-time codes that enrol a resident's phone (issued at a counter, valid minutes, used once).
# Only the SHA-256 of a code is kept; a code's row goes once it has expired (retention).
enrolment_codes = Table(
    "enrolment_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code_hash", LargeBinary(32), nullable=False, unique=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("issued_by", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("redeemed_at", BigInteger),
)

# The last revocation number handed out. Each revoking transaction increments this one row,
# which serialises them: numbers commit in the order they are taken (store/staff.py).
revocation_head = Table(
    "revocation_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
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

# The purpose a web session's member stated for one record (a case, a person), asked once per
# record and session: the pages then audit each access with it, as the API does with its header.
session_purposes = Table(
    "session_purposes",
    metadata,
    Column("session_id", Id, ForeignKey("web_sessions.id"), primary_key=True),
    Column("record", String(100), primary_key=True),  # "cases/C-1", "people/P-1"
    Column("purpose", String(300), nullable=False),
    Column("stated_at", BigInteger, nullable=False),
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

# The policy's versions: each file deployed (source "file", in force from the first start under it)
# and each uploaded in the console (source "console": a draft until a supervisor approves its
# activation). The one in force is the active row activated last; the text is kept whole.
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", String(100), nullable=False),
    Column("digest", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("source", String(16), nullable=False),  # file, console
    Column("uploaded_by", String(80), nullable=False),
    Column("uploaded_at", BigInteger, nullable=False),
    # draft, pending (activation asked), active, superseded, rejected, withdrawn ("approved" only
    # inside the transaction that activates it)
    Column("status", String(16), nullable=False),
    Column("requested_by", String(80)),
    Column("requested_at", BigInteger),
    Column("request_reason", String(500)),
    Column("decided_by", String(80)),
    Column("decided_at", BigInteger),
    Column("decision_reason", String(500)),
    Column("activated_at", BigInteger),
    Index("ix_policy_versions_status", "status", "activated_at"),
    # At most one version is active: activating one supersedes the other first.
    Index(
        "ux_policy_versions_active",
        "status",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
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

# Requests per client and limit in one fixed minute window, counted by every server worker
# (access/rate_limit.py); windows more than a minute old are deleted as they pass.
rate_counts = Table(
    "rate_counts",
    metadata,
    Column("limit_name", String(32), primary_key=True),
    Column("client", String(128), primary_key=True),
    Column("window_start", BigInteger, primary_key=True, autoincrement=False),
    Column("count", Integer, nullable=False),
    Index("ix_rate_counts_window_start", "window_start"),
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
