"""Ballot entries for border slots and their travellers, each day's seed commitment, and each draw.

An entry's travellers (its named traveller, then each companion listed) have rows
of ``border_entry_travellers``, where a unique index keeps one entry per traveller
and day. A day's seed is committed before its entries open: the commitment (its
SHA-256) is public at once, the seed is sealed with the data keys (field
``ballot_seed``) until the draw records it in ``border_draws``, with each entry's
ticket and outcome and each slot's seats (``border_draw_slots``): the day's
published draw record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from chaincut.domain.border import (
    BallotEntry,
    DrawnSlot,
    DrawnTicket,
    EntryStatus,
    PublishedDraw,
    SeedCommitment,
    TicketOutcome,
)
from chaincut.security import FieldCipher
from chaincut.store.tables import (
    border_ballot_entries,
    border_bookings,
    border_draw_slots,
    border_draws,
    border_entry_travellers,
    border_seed_commitments,
)

__all__ = ["SEED_FIELD", "BallotRepository", "DrawRecord", "DrawnSlotRow", "EntryRow"]

SEED_FIELD = "ballot_seed"  # the field name bound into a sealed seed (store/rotation.py re-seals it)

_e = border_ballot_entries
_t = border_entry_travellers
_s = border_seed_commitments

Traveller = tuple[bytes, str | None]  # a traveller's identity hash and border subject id


class EntryRow:
    """An entry with the row id and travellers' hashes the draw needs (never shown to callers)."""

    def __init__(self, row_id: int, travellers: Sequence[Traveller], entry: BallotEntry) -> None:
        self.row_id = row_id
        self.travellers = tuple(travellers)  # the named traveller first, then each companion listed
        self.entry = entry

    @property
    def traveller_hash(self) -> bytes:
        return self.travellers[0][0]


class DrawRecord:
    """One day's draw: its seed, when and by whom, how many entries and winners, in which ballot order."""

    def __init__(
        self, day: date, seed: str, drawn_at: int, drawn_by: str, entries: int, won: int, order: int
    ) -> None:
        self.day, self.seed, self.drawn_at, self.drawn_by = day, seed, drawn_at, drawn_by
        self.entries, self.won, self.order = entries, won, order


class DrawnSlotRow:
    """A slot as drawn: the seats it had free then."""

    def __init__(self, checkpoint: str, slot: str, seats: int) -> None:
        self.checkpoint, self.slot, self.seats = checkpoint, slot, seats


def _entry(r: Row[Any], travellers: Sequence[Traveller]) -> EntryRow:
    companions = tuple(subject or "" for _, subject in travellers[1:])
    entry = BallotEntry(
        public_id=r.public_id,
        person_id=r.person_id,
        day=r.day,
        checkpoint=r.checkpoint,
        slot=r.slot,
        companions=companions,
        status=EntryStatus(r.status),
        request_id=r.request_id,
        created_at=datetime.fromtimestamp(r.created_at, UTC),
        booking_public_id=r.booking_public_id,
        subject=travellers[0][1] if travellers else None,
        unlisted=max(0, r.companions - len(companions)),
    )
    named = travellers if travellers else ((bytes(r.traveller_hash), None),)
    return EntryRow(r.id, named, entry)


def _instant(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class BallotRepository:
    """Entries waiting for a draw, their travellers and outcomes, the seed commitments, and the draws."""

    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    # --- entries -------------------------------------------------------------------------------------

    def _select(self) -> Any:
        return select(_e, border_bookings.c.public_id.label("booking_public_id")).select_from(
            _e.outerjoin(border_bookings, border_bookings.c.id == _e.c.booking_id)
        )

    def _rows(self, query: Any) -> list[EntryRow]:
        rows = self._conn.execute(query).all()
        travellers = self._travellers(r.id for r in rows)
        return [_entry(r, travellers.get(r.id, ())) for r in rows]

    def _travellers(self, entry_ids: Iterable[int]) -> dict[int, list[Traveller]]:
        ids = sorted(set(entry_ids))
        found: dict[int, list[Traveller]] = defaultdict(list)
        for start in range(0, len(ids), 1000):
            rows = self._conn.execute(
                select(_t.c.entry_id, _t.c.traveller_hash, _t.c.subject)
                .where(_t.c.entry_id.in_(ids[start : start + 1000]))
                .order_by(_t.c.entry_id, _t.c.position)
            )
            for r in rows:
                found[r.entry_id].append((bytes(r.traveller_hash), r.subject))
        return found

    def add(self, values: dict[str, Any], travellers: Sequence[Traveller]) -> BallotEntry | None:
        """Store an entry and its travellers (the named one first); None, and nothing stored, when one
        of them already entered for that day or the request id is used."""
        named = travellers[0][0]
        try:
            with self._conn.begin_nested():
                row_id = self._conn.execute(
                    insert(_e)
                    .values(
                        **values,
                        traveller_hash=named,
                        companions=len(travellers) - 1,
                        status=EntryStatus.ENTERED.value,
                    )
                    .returning(_e.c.id)
                ).scalar_one()
                self._conn.execute(
                    insert(_t),
                    [
                        {
                            "entry_id": row_id,
                            "position": position,
                            "traveller_hash": traveller_hash,
                            "subject": subject,
                            "day": values["day"],
                        }
                        for position, (traveller_hash, subject) in enumerate(travellers)
                    ],
                )
        except IntegrityError:
            return None
        found = self.by_request(values["person_id"], values["request_id"])
        assert found is not None
        return found

    def by_request(self, person_id: int, request_id: str) -> BallotEntry | None:
        rows = self._rows(self._select().where(_e.c.person_id == person_id, _e.c.request_id == request_id))
        return rows[0].entry if rows else None

    def entered(self, travellers: Sequence[bytes], day: date) -> set[bytes]:
        """Those of ``travellers`` (identity hashes) who already have an entry for ``day``."""
        if not travellers:
            return set()
        query = select(_t.c.traveller_hash).where(
            _t.c.traveller_hash.in_(sorted(set(travellers))), _t.c.day == day
        )
        return {bytes(r.traveller_hash) for r in self._conn.execute(query)}

    def waiting(self, day: date) -> list[EntryRow]:
        """The day's entries still waiting for the draw, in the order they were made."""
        return self._rows(
            self._select()
            .where(_e.c.day == day, _e.c.status == EntryStatus.ENTERED.value)
            .order_by(_e.c.created_at, _e.c.id)
        )

    def of_person(self, person_id: int, traveller_hash: bytes | None) -> list[BallotEntry]:
        """Entries the person's app made, or on which their identity document travels (named or as a
        companion), oldest first."""
        where = _e.c.person_id == person_id
        if traveller_hash is not None:
            where = where | _e.c.id.in_(select(_t.c.entry_id).where(_t.c.traveller_hash == traveller_hash))
        return [row.entry for row in self._rows(self._select().where(where).order_by(_e.c.id))]

    def count_on(self, day: date) -> int:
        """How many entries ``day`` has."""
        return int(
            self._conn.execute(select(func.count()).select_from(_e).where(_e.c.day == day)).scalar_one()
        )

    def decide(
        self,
        row_id: int,
        status: EntryStatus,
        booking_id: int | None = None,
        *,
        ticket: str,
        excluded: bool = False,
    ) -> None:
        """Record what the draw made of an entry, with its ticket (and whether it was excluded)."""
        self._conn.execute(
            update(_e)
            .where(_e.c.id == row_id)
            .values(status=status.value, booking_id=booking_id, ticket=ticket, excluded=excluded)
        )

    # --- seed commitments ----------------------------------------------------------------------------

    def commit(
        self, day: date, commitment: str, seed: str, committed_at: int, committed_by: str
    ) -> int | None:
        """Record ``day``'s commitment and its sealed seed: how many entries the day already had; None
        (nothing recorded) when the day has a commitment already."""
        sealed = self._cipher.seal(seed, field=SEED_FIELD)
        entries = self.count_on(day)
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(_s).values(
                        day=day,
                        commitment=commitment,
                        seed_sealed=sealed,
                        committed_at=committed_at,
                        committed_by=committed_by[:80],
                        entries_at_commitment=entries,
                    )
                )
        except IntegrityError:
            return None
        return entries

    def committed_seed(self, day: date) -> tuple[str, str] | None:
        """``day``'s commitment and its seed (opened): only for the draw."""
        row = self._conn.execute(select(_s.c.commitment, _s.c.seed_sealed).where(_s.c.day == day)).first()
        if row is None:
            return None
        seed = self._cipher.open(row.seed_sealed, field=SEED_FIELD)
        assert seed is not None
        return row.commitment, seed

    def commitments(self, first: date, last: date) -> list[SeedCommitment]:
        """The commitments of the days from ``first`` to ``last``, with the seed of each day drawn."""
        query = (
            select(_s, border_draws.c.seed, border_draws.c.drawn_at)
            .select_from(_s.outerjoin(border_draws, border_draws.c.day == _s.c.day))
            .where(_s.c.day >= first, _s.c.day <= last)
            .order_by(_s.c.day)
        )
        return [
            SeedCommitment(
                day=r.day,
                commitment=r.commitment,
                committed_at=datetime.fromtimestamp(r.committed_at, UTC),
                committed_by=r.committed_by,
                entries_at_commitment=r.entries_at_commitment,
                seed=r.seed,
                drawn_at=_instant(r.drawn_at),
            )
            for r in self._conn.execute(query)
        ]

    def committed_days(self, first: date, last: date) -> set[date]:
        query = select(_s.c.day).where(_s.c.day >= first, _s.c.day <= last)
        return {r.day for r in self._conn.execute(query)}

    # --- draws ---------------------------------------------------------------------------------------

    def record_draw(self, draw: DrawRecord, slots: Sequence[DrawnSlotRow] = ()) -> bool:
        """Record the day's draw and the seats of each slot drawn; False when the day was drawn already."""
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(border_draws).values(
                        day=draw.day,
                        seed=draw.seed,
                        drawn_at=draw.drawn_at,
                        drawn_by=draw.drawn_by,
                        entries=draw.entries,
                        won=draw.won,
                        ballot_order=draw.order,
                    )
                )
                if slots:
                    self._conn.execute(
                        insert(border_draw_slots),
                        [
                            {"day": draw.day, "checkpoint": s.checkpoint, "slot": s.slot, "seats": s.seats}
                            for s in slots
                        ],
                    )
        except IntegrityError:
            return False
        return True

    def undrawn_days(self) -> list[date]:
        """Days with entries waiting and no draw yet, earliest first."""
        drawn = select(border_draws.c.day).where(border_draws.c.day == _e.c.day)
        query = (
            select(_e.c.day)
            .where(_e.c.status == EntryStatus.ENTERED.value, ~drawn.exists())
            .group_by(_e.c.day)
            .order_by(_e.c.day)
        )
        return [r.day for r in self._conn.execute(query)]

    def draw(self, day: date) -> DrawRecord | None:
        r = self._conn.execute(select(border_draws).where(border_draws.c.day == day)).first()
        if r is None:
            return None
        return DrawRecord(r.day, r.seed, r.drawn_at, r.drawn_by, r.entries, r.won, r.ballot_order)

    def published(self, day: date) -> PublishedDraw | None:
        """``day``'s draw record as published: its commitment, seed, and every slot's tickets with their
        outcomes (no entry id, person or subject id); None when the day is not drawn."""
        d = border_draws
        r = self._conn.execute(
            select(d, _s.c.commitment, _s.c.committed_at, _s.c.entries_at_commitment)
            .select_from(d.outerjoin(_s, _s.c.day == d.c.day))
            .where(d.c.day == day)
        ).first()
        if r is None:
            return None
        tickets: dict[tuple[str, str], list[DrawnTicket]] = defaultdict(list)
        entries = (
            select(_e.c.checkpoint, _e.c.slot, _e.c.ticket, _e.c.companions, _e.c.status, _e.c.excluded)
            .where(_e.c.day == day, _e.c.ticket.is_not(None))
            .order_by(_e.c.checkpoint, _e.c.slot, _e.c.ticket)
        )
        for e in self._conn.execute(entries):
            outcome = TicketOutcome.EXCLUDED if e.excluded else TicketOutcome(e.status)
            tickets[(e.checkpoint, e.slot)].append(DrawnTicket(e.ticket, 1 + e.companions, outcome))
        seats = self._conn.execute(
            select(border_draw_slots)
            .where(border_draw_slots.c.day == day)
            .order_by(border_draw_slots.c.checkpoint, border_draw_slots.c.slot)
        )
        slots = tuple(
            DrawnSlot(s.checkpoint, s.slot, s.seats, tuple(tickets.get((s.checkpoint, s.slot), ())))
            for s in seats
        )
        return PublishedDraw(
            day=r.day,
            order=r.ballot_order,
            commitment=r.commitment,
            committed_at=_instant(r.committed_at),
            entries_at_commitment=r.entries_at_commitment,
            seed=r.seed,
            drawn_at=datetime.fromtimestamp(r.drawn_at, UTC),
            entries=r.entries,
            won=r.won,
            slots=slots,
        )
