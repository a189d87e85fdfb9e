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
    false,
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

# A booking for its named traveller (keyed hash of the identity document) and their companions, each a
# traveller of ``border_booking_travellers``; a request id once per booker, so a retry finds the first
# booking. ``companions`` counts the seats besides the named traveller's (bookings made before
# companions were listed hold seats for companions who have no traveller row).
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
    Index("ix_border_bookings_day_checkpoint", "day", "checkpoint"),
    Index("ix_border_bookings_subject", "subject"),
)

# Every traveller of a booking: its named traveller (position 0) and each companion listed (1, 2, ...),
# by keyed hash and border subject id. One live booking per traveller and day, whether they are named
# on it or listed as a companion: the partial unique index holds it under concurrency on both backends.
# ``live`` follows the booking (true while it holds its seats).
border_booking_travellers = Table(
    "border_booking_travellers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("booking_id", Id, ForeignKey("border_bookings.id"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    Column("traveller_hash", LargeBinary(32), nullable=False),
    # None only for bookings made before subject ids were stored; clearance fills it in.
    Column("subject", String(32)),
    Column("day", Date, nullable=False),
    Column("live", Boolean, nullable=False),
    UniqueConstraint("booking_id", "position"),
    Index(
        "uq_border_booking_travellers_live_day",
        "traveller_hash",
        "day",
        unique=True,
        sqlite_where=text("live = 1"),
        postgresql_where=text("live"),
    ),
    Index("ix_border_booking_travellers_subject", "subject"),
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
    # Set by the draw, for its published record: the entry's ballot ticket (lower-case hex; None while
    # waiting, and for days drawn in ballot order 1), and whether it was excluded, not ranked, because
    # one of its travellers already held a booking that day.
    Column("ticket", String(64)),
    Column("excluded", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("person_id", "request_id"),
    Index("ix_border_ballot_entries_day_status", "day", "status"),
)

# Every traveller of a ballot entry (position 0 the named one, then each companion): one entry per
# traveller and day, whether named or listed as a companion.
border_entry_travellers = Table(
    "border_entry_travellers",
    metadata,
    Column("entry_id", Id, ForeignKey("border_ballot_entries.id"), primary_key=True),
    Column("position", SmallInteger, primary_key=True),
    Column("traveller_hash", LargeBinary(32), nullable=False),
    Column("subject", String(32)),
    Column("day", Date, nullable=False),
    UniqueConstraint("traveller_hash", "day"),
)

# Each day's seed commitment, made before that day's entries open: the SHA-256 of the seed, published
# at once; the seed itself stays sealed (data keys, field ``ballot_seed``) until the draw reveals it in
# ``border_draws``. ``entries_at_commitment`` says how many entries were already in (0 when made in time).
border_seed_commitments = Table(
    "border_seed_commitments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False, unique=True),
    Column("commitment", String(64), nullable=False),  # SHA-256 of the seed's UTF-8 bytes, lower-case hex
    Column("seed_sealed", LargeBinary, nullable=False),
    Column("committed_at", BigInteger, nullable=False),
    Column("committed_by", String(80), nullable=False),
    Column("entries_at_commitment", Integer, nullable=False),
)

# Each day's draw, once, with the seed that makes it reproducible and the ballot order it was drawn in
# (1: ranked by entry ids, before revision 0014; 2: by tickets, ``border/ballot.py``).
border_draws = Table(
    "border_draws",
    metadata,
    Column("day", Date, primary_key=True),
    Column("seed", String(64), nullable=False),
    Column("drawn_at", BigInteger, nullable=False),
    Column("drawn_by", String(80), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("won", Integer, nullable=False),
    Column("ballot_order", SmallInteger, nullable=False, server_default=text("1")),
)

# The seats each slot with entries had free when its day was drawn (its quota less the seats booked
# then): with the tickets, what anyone needs to repeat the draw from its published record.
border_draw_slots = Table(
    "border_draw_slots",
    metadata,
    Column("day", Date, primary_key=True),
    Column("checkpoint", String(64), primary_key=True),
    Column("slot", String(16), primary_key=True),
    Column("seats", Integer, nullable=False),
)

# Each clearance decision at a checkpoint, online or uploaded from an offline checkpoint. A code id, and a
# traveller of a booking, clear one crossing only: the partial unique indexes hold even when two officers
# scan at once.
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
    # The booking's traveller who crossed (or was refused): the one whose code was scanned.
    Column("traveller_id", Id, ForeignKey("border_booking_travellers.id")),
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
        "uq_border_clearances_traveller_crossed",
        "traveller_id",
        unique=True,
        sqlite_where=_CROSSED_SQLITE,
        postgresql_where=_CROSSED_PG,
    ),
    Index("ix_border_clearances_subject", "subject"),
    Index("ix_border_clearances_day_checkpoint", "day", "checkpoint"),
)
