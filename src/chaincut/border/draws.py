"""Drawing ballots: one day on request, or every day whose draw time has come (the server's timer, cron).

A day's draw time is the policy's local time, days before the crossing day
(``ballot.draw_time``). ``draw_due`` draws each day with entries waiting whose
draw time has passed and that has no draw yet, so calling it again draws
nothing; two callers racing (server workers, a cron job) draw a day once, the
other finding it drawn. Each draw's seed is recorded with it and in the audit
log, so anyone can repeat the draw: given, or from the seed source (a setting
plus the day, or fresh randomness).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chaincut.border.ballot import DrawOutcome, draw_ballot, draw_time
from chaincut.clock import Clock, to_epoch
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent
from chaincut.errors import BookingRefused, InvalidInput
from chaincut.policy import BorderRules
from chaincut.store import Store, UnitOfWork

__all__ = ["DRAW_ACTION", "BallotDraws"]

DRAW_ACTION = "border.ballot.draw"

SeedSource = Callable[[date], str]


class BallotDraws:
    """Draws ballots on request or when due, recording and auditing each with its seed."""

    def __init__(
        self,
        store: Store,
        rules: BorderRules,
        clock: Clock,
        zone: ZoneInfo,
        seeds: SeedSource,
        subject_of: Callable[[bytes], str] | None = None,
    ) -> None:
        """``subject_of``: each winner's border subject id from their identity hash, stored with the
        booking (without it, clearance fills it in for bookings that lack it)."""
        self._subject_of = subject_of
        self._store = store
        self._rules = rules
        self._clock = clock
        self._zone = zone
        self._seeds = seeds

    def draw_time(self, day: date) -> datetime:
        return draw_time(day, self._rules, self._zone)

    def draw(self, principal: Principal, day: date, seed: str | None = None) -> DrawOutcome:
        """Draw ``day``'s ballot now (refused when drawn already); the seed given, or from the source."""
        chosen = seed if seed is not None else self._seeds(day)
        if not 1 <= len(chosen) <= 64:
            raise InvalidInput("a draw's seed is 1 to 64 characters", code="invalid_seed", field="seed")

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
            chosen,
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
        """Draw every day that is due; a day another caller drew meanwhile is skipped."""
        drawn = []
        for day in self.due():
            try:
                drawn.append(self.draw(principal, day))
            except BookingRefused as exc:
                if exc.code != "ballot_drawn":
                    raise
        return drawn
