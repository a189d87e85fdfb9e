"""The tables of health codes: the facts they are computed from, the current codes and their history.

Facts: tests, vaccinations and arrivals recorded by staff; exposures written when a
case is traced (who, which case, how closely, the evidence, the last exposure), and
when each case was last traced. Codes: one current row per person, an append-only
history of every change, and supervisors' overrides. Reasons are JSON text (rule,
colour, text, until, case and venue refs: no names or documents).
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
    String,
    Table,
    Text,
)

from chaincut.store.metadata import Id, metadata

__all__ = [
    "code_case_traces",
    "code_exposures",
    "health_arrivals",
    "health_code_history",
    "health_code_overrides",
    "health_codes",
    "health_tests",
    "health_vaccinations",
]

health_tests = Table(
    "health_tests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("taken_at", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # pcr, rat, follow_up
    Column("result", String(16), nullable=False),  # positive, negative
    Column("recorded_at", BigInteger, nullable=False),
    Column("recorded_by", String(80), nullable=False),
    Index("ix_health_tests_person_time", "person_id", "taken_at"),
)

health_vaccinations = Table(
    "health_vaccinations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("dose_on", Date, nullable=False),  # local date
    Column("product", String(64), nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("recorded_by", String(80), nullable=False),
)

health_arrivals = Table(
    "health_arrivals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("arrived_at", BigInteger, nullable=False),
    Column("origin", String(64), nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("recorded_by", String(80), nullable=False),
    Index("ix_health_arrivals_person_time", "person_id", "arrived_at"),
)

# Written each time a case is traced, replacing that case's previous rows: one row per person,
# evidence kind and venue, with the last exposure. tier: close, exposed or risky_visit.
code_exposures = Table(
    "code_exposures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, index=True),
    Column("tier", String(16), nullable=False),
    Column("evidence", String(16), nullable=False),  # venue, encounter, household
    Column("venue_ref", String(64)),
    Column("generation", Integer, nullable=False),
    Column("last_exposure_at", BigInteger, nullable=False),
    Column("traced_at", BigInteger, nullable=False),
    # Covers the situation report's counts of contacts traced on a day and to date (by tier).
    Index("ix_code_exposures_traced_tier_person", "traced_at", "tier", "person_id"),
)

code_case_traces = Table(
    "code_case_traces",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("traced_at", BigInteger, nullable=False),
    Column("exposures", Integer, nullable=False),
    Column("policy_version", String(64), nullable=False),
)

health_codes = Table(
    "health_codes",
    metadata,
    Column("person_id", Id, ForeignKey("people.id"), primary_key=True),
    Column("colour", String(32), nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of {rule, colour, text, until, case, venue}
    Column("until", BigInteger),  # when the colour may change by itself
    Column("refresh_at", BigInteger),  # when any reason may change by itself: recompute on read after
    Column("computed_at", BigInteger, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("overridden", Boolean, nullable=False),
    Index("ix_health_codes_refresh_at", "refresh_at"),
)

health_code_history = Table(
    "health_code_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False, index=True),
    Column("colour", String(32), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("until", BigInteger),
    Column("computed_at", BigInteger, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("overridden", Boolean, nullable=False),
    Column("changed_by", String(80), nullable=False),
)

health_code_overrides = Table(
    "health_code_overrides",
    metadata,
    Column("person_id", Id, ForeignKey("people.id"), primary_key=True),
    Column("colour", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("until", BigInteger),
    Column("set_at", BigInteger, nullable=False),
    Column("set_by", String(80), nullable=False),
)
