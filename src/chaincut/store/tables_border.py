"""The tables of border crossings under quota: slots, bookings, ballot entries, draws and clearances."""

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
    # The traveller's border subject id (security/identity.py BorderSubjects), what a health code and a
    # checkpoint's synced list carry; stored with each booking (clearance fills in any made without it).
    Column("subject", String(32)),
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
    Index("ix_border_bookings_subject", "subject"),
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

# Each clearance decision at a checkpoint, online or uploaded from an offline checkpoint. A code id, and a
# booking, clear one crossing only: the partial unique indexes hold even when two officers scan at once.
# An offline clearance that clashes with one already stored is kept as it happened, with ``conflict`` set.
_CROSSED_SQLITE = text("cleared = 1 AND conflict IS NULL")
_CROSSED_PG = text("cleared AND conflict IS NULL")
border_clearances = Table(
    "border_clearances",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(32), nullable=False, unique=True),  # the decision id
    Column("code_id", String(64)),  # None: the code could not be read
    Column("subject", String(32)),  # the traveller's border subject id, as the code states it
    Column("booking_id", Id, ForeignKey("border_bookings.id")),
    Column("checkpoint", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("slot", String(16)),  # the slot open when decided; None outside every slot's hours
    Column("decided_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("cleared", Boolean, nullable=False),
    Column("reasons", String(400), nullable=False),  # refusal codes, comma-separated; "" when cleared
    Column("officer", String(80), nullable=False),
    Column("offline", Boolean, nullable=False),
    Column("conflict", String(32)),
    Index(
        "uq_border_clearances_code_crossed",
        "code_id",
        unique=True,
        sqlite_where=_CROSSED_SQLITE,
        postgresql_where=_CROSSED_PG,
    ),
    Index(
        "uq_border_clearances_booking_crossed",
        "booking_id",
        unique=True,
        sqlite_where=_CROSSED_SQLITE,
        postgresql_where=_CROSSED_PG,
    ),
    Index("ix_border_clearances_subject", "subject"),
    Index("ix_border_clearances_day_checkpoint", "day", "checkpoint"),
)
