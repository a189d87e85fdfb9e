"""Drawing ballots: seeds committed ahead, one day drawn on request, or every day whose draw time has come.

Each day's seed is committed (its SHA-256 published) before the day's entries
open (``commitments``): ``commit_ahead`` commits every day up to the first one not
yet open for entries (the server's timer and ``chaincut border draw --due`` call
it), ``commit`` one day with a seed of the authority's own. A day's draw time is
the policy's local time, days before the crossing day (``ballot.draw_time``).
``draw_due`` draws each day with entries waiting whose draw time has passed and
that has no draw yet, so calling it again draws nothing; two callers racing
(server workers, a cron job) draw a day once, the other finding it drawn. Each
draw uses the committed seed, records and audits it (revealing it) with each
entry's ticket and outcome and each slot's seats, so anyone can check the seed
against the commitment and repeat the draw from its published record
(``published``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chaincut.border.ballot import DrawOutcome, draw_ballot, draw_time
from chaincut.border.commitments import SeedSource, check_seed, commit_seed
from chaincut.clock import Clock, to_epoch
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent
from chaincut.domain.border import PublishedDraw, SeedCommitment
from chaincut.errors import BookingRefused, NotFound
from chaincut.policy import BookingMode, BorderRules
from chaincut.store import Store, UnitOfWork

__all__ = ["DRAW_ACTION", "BallotDraws"]

DRAW_ACTION = "border.ballot.draw"

log = logging.getLogger(__name__)


class BallotDraws:
    """Commits each day's seed before its entries open, and draws ballots on request or when due,
    recording and auditing each with its seed."""

    def __init__(
        self,
        store: Store,
        rules: BorderRules,
        clock: Clock,
        zone: ZoneInfo,
        seeds: SeedSource,
        subject_of: Callable[[bytes], str],
    ) -> None:
        """``seeds``: each day's seed when its commitment is made (a setting plus the day, or fresh
        randomness); ``subject_of``: a traveller's border subject id from their identity hash (an
        entry's ticket is made from its named traveller's), for entries stored without it."""
        self._subject_of = subject_of
        self._store = store
        self._rules = rules
        self._clock = clock
        self._zone = zone
        self._seeds = seeds

    def draw_time(self, day: date) -> datetime:
        return draw_time(day, self._rules, self._zone)

    def today(self) -> date:
        return self._clock.now().astimezone(self._zone).date()

    # --- commitments -----------------------------------------------------------------------------------

    def commit(self, principal: Principal, day: date, seed: str | None = None) -> SeedCommitment:
        """Commit ``day``'s seed (given, or from the seed source) and publish its SHA-256; refused
        (``already_committed``) when the day has one, or when it has been drawn."""
        chosen = check_seed(seed) if seed is not None else self._seeds(day)
        if not commit_seed(
            self._store, self._clock, day, chosen, actor=principal.name, roles=principal.role_names
        ):
            raise BookingRefused(
                f"a seed is already committed for {day}; it cannot change",
                code="already_committed",
                field="day",
            )
        found = self.commitments(day, day)
        assert found
        return found[0]

    def commit_ahead(self, principal: Principal) -> list[date]:
        """In ballot mode, commit a seed for each day from today to the first day not yet open for
        entries that has none; the days committed."""
        if self._rules.mode is not BookingMode.BALLOT:
            return []
        first = self.today()
        last = first + timedelta(days=self._rules.booking_days_ahead + 1)
        with self._store.read() as uow:
            have = uow.ballot.committed_days(first, last)
        made = []
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            if day in have:
                continue
            try:
                if commit_seed(
                    self._store,
                    self._clock,
                    day,
                    self._seeds(day),
                    actor=principal.name,
                    roles=principal.role_names,
                ):
                    made.append(day)
            except BookingRefused as exc:
                if exc.code != "ballot_drawn":
                    raise
        return made

    def commitments(self, first: date, last: date) -> list[SeedCommitment]:
        """The published commitments from ``first`` to ``last``, each with its seed once drawn."""
        with self._store.read() as uow:
            return uow.ballot.commitments(first, last)

    def published(self, day: date) -> PublishedDraw:
        """``day``'s draw record as published, for anyone to repeat the draw: the commitment, the
        revealed seed, and each slot's seats and tickets with their outcomes (``ballot``); NotFound
        (``day``) until the day is drawn."""
        with self._store.read() as uow:
            found = uow.ballot.published(day)
        if found is None:
            raise NotFound(f"the ballot for {day} has not been drawn", field="day")
        return found

    # --- draws -----------------------------------------------------------------------------------------

    def draw(self, principal: Principal, day: date, seed: str | None = None) -> DrawOutcome:
        """Draw ``day``'s ballot now with its committed seed (``seed``, if given, must be that seed);
        refused when drawn already or when no seed was committed."""

        def audit(uow: UnitOfWork, outcome: DrawOutcome) -> None:
            event = AuditEvent(
                actor=principal.name,
                roles=principal.role_names,
                action=DRAW_ACTION,
                resource="border/draws",
                record=day.isoformat(),
                details={
                    "seed": outcome.seed,
                    "entries": len(outcome.won) + len(outcome.lost),
                    "won": len(outcome.won),
                    "seed_given": seed is not None,
                },
            )
            uow.audit.append([event], at=to_epoch(self._clock.now()))

        return draw_ballot(
            self._store,
            self._rules,
            self._clock,
            day,
            seed,
            actor=principal.name,
            on_drawn=audit,
            subject_of=self._subject_of,
        )

    def due(self) -> list[date]:
        """Days with entries waiting, no draw yet, and their draw time passed."""
        now = self._clock.now()
        with self._store.read() as uow:
            days = uow.ballot.undrawn_days()
        return [d for d in days if self.draw_time(d) <= now]

    def draw_due(self, principal: Principal) -> list[DrawOutcome]:
        """Draw every day that is due; a day another caller drew meanwhile is skipped, and so is a day
        with no seed committed (logged: it waits for ``chaincut border commit``) or one whose seats or
        bookings changed while it was drawn (logged: nothing of it was stored; the next call draws it)."""
        drawn = []
        for day in self.due():
            try:
                drawn.append(self.draw(principal, day))
            except BookingRefused as exc:
                if exc.code == "no_commitment":
                    log.warning("ballot: %s is due but has no seed committed; it is not drawn", day)
                elif exc.code == "draw_conflict":
                    log.warning("ballot: %s changed while being drawn; it is drawn again next time", day)
                elif exc.code != "ballot_drawn":
                    raise
        return drawn
