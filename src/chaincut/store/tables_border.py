"""The tables of border crossings under quota: slots, bookings, ballot entries and draws."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    text,
)

from chaincut.store.metadata import Id, metadata

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
