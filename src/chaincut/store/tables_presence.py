"""The tables of decentralised check-in (CrowdNotifier): the authority's keys, venues' entry codes,
and the warnings tracers propose, supervisors review and phones download.

No check-in is here: phones keep their own, encrypted. What the authority holds is what any phone
could scan at a venue (its entry code), and what it publishes (the traces of a warning).
"""

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
    UniqueConstraint,
    false,
)

from chaincut.store.metadata import Id, metadata

__all__ = ["presence_codes", "presence_keys", "presence_reports", "presence_traces", "presence_warnings"]

# One row (id 1): the authority's X25519 key pair (venues seal its share of their master key to the
# public half) and its own IBE master key pair (server-based venues' entry codes carry the public
# half). Secrets are sealed with the FieldCipher (fields ``presence_authority_key`` and
# ``presence_master_key``). ``published_seq``: the last number given to a published trace; each
# publishing transaction raises it, which serialises them, so numbers commit in order and a phone
# asking for those after its last one misses none.
presence_keys = Table(
    "presence_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("authority_public", LargeBinary(32), nullable=False),
    Column("authority_secret_sealed", LargeBinary, nullable=False),
    Column("master_public", LargeBinary(96), nullable=False),
    Column("master_secret_sealed", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("published_seq", BigInteger, nullable=False),
)

# A venue's CrowdNotifier entry codes (the QR payload, public: any visitor scans it), each valid for
# a time. ``variant``: basic (its owner holds the tracing code) or server (traced by the authority's
# master key alone).
presence_codes = Table(
    "presence_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("venue_id", Id, ForeignKey("venues.id"), nullable=False, index=True),
    Column("variant", String(8), nullable=False),
    Column("entry_payload", LargeBinary, nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_to", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # SHA-256("CN-PREID" || payload || nonce1): what a case's phone sends to share a visit here.
    Column("pre_id", LargeBinary(32), nullable=False, index=True),
    # One of a venue's codes of the day: a new one is made for each local day (server-based only).
    Column("daily", Boolean, nullable=False, server_default=false()),
    # A day gets one code, even when two server workers make it at once.
    UniqueConstraint("venue_id", "valid_from"),
)

# A warning for one venue and one window of a case's stay: proposed by a tracer, published or
# rejected by another supervisor; deleted, with its traces, ``presence.records_days`` (the policy in
# force at the purge) after the window ends.
presence_warnings = Table(
    "presence_warnings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("venue_id", Id, ForeignKey("venues.id"), nullable=False, index=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False, index=True),
    Column("message", String(500), nullable=False),
    Column("status", String(12), nullable=False, index=True),  # proposed, published, rejected
    Column("proposed_by", String(80), nullable=False),
    Column("proposed_at", BigInteger, nullable=False),
    Column("reviewed_by", String(80)),
    Column("reviewed_at", BigInteger),
    Column("review_reason", String(500)),
    Column("expires_at", BigInteger, nullable=False),  # the window's end plus records_days when proposed
)

# The traces of a warning, one per hour of its window: made when it is proposed (so that a bad
# tracing code is refused then), numbered (``seq``) and dated when it is published.
presence_traces = Table(
    "presence_traces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("warning_id", Id, ForeignKey("presence_warnings.id"), nullable=False, index=True),
    Column("start_of_interval", BigInteger, nullable=False),
    Column("trace", LargeBinary, nullable=False),
    Column("seq", BigInteger, unique=True),
    Column("published_at", BigInteger),
)

# A resident's phone matched a published warning and its owner chose to report it: the health code's
# risky_visit rule then applies to them, as to a centrally checked-in visitor. Kept like whereabouts
# (``retention.visits_days`` after the exposure), not with the warning, whose traces go sooner.
presence_reports = Table(
    "presence_reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("venue_id", Id, ForeignKey("venues.id"), nullable=False),
    Column("warning_public_id", String(32), nullable=False),
    Column("last_exposure_at", BigInteger, nullable=False, index=True),
    Column("reported_at", BigInteger, nullable=False),
    UniqueConstraint("person_id", "warning_public_id"),
    Index("ix_presence_reports_person", "person_id"),
)
