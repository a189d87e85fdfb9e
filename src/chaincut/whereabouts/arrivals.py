"""Where a check-in takes its place among the person's visits, whatever order check-ins arrive in.

A phone that was offline queues its scans and sends them later, so a check-in made
at 12:00 may reach the store after one made at 12:30. Where a check-in lands must
depend on the time it was made, never on when it arrived. The rule:

A person's visits are intervals on one time line. A check-in made at ``t``

1. closes each of the person's visits that began before ``t`` and is still open, at
   ``t`` or after its venue type's default stay, whichever comes first; and shortens
   to ``t`` each that began before ``t`` and whose end was inferred later than ``t``
   (by an earlier check-in that arrived first, or by the default stay). These ends
   are marked inferred. An end the person gave (a check-out, an uploaded ``left_at``)
   is theirs and is never moved;
2. never changes a visit that began at or after ``t``: a late, backdated check-in
   cannot shorten a newer visit;
3. is itself closed, inferred, at the start of the person's next visit after ``t``, or
   after its own default stay if that comes first; with no later visit it stays open.

Visits that began in the same second do not close each other. Whatever the order of
arrival, the visits then end exactly where they end when the same check-ins arrive
in time order: a visit from ``e`` ends at ``min(e + default stay, next start after
e)``, or is still open when there is no later start and the stay has not run out
(the maintenance job closes it at ``e + default stay``). Only visits recorded one at
a time, which carry the phone's id (check-ins and uploads), take part; bulk imports
keep the times their file gave, on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chaincut.store import VisitSpan

__all__ = ["Placement", "place_check_in"]


@dataclass(frozen=True)
class Placement:
    """What a check-in at ``t`` does: the earlier visits it closes, and its own end (None: open)."""

    closings: list[tuple[int, int]]  # (visit id, new left_at), each inferred
    left_at: int | None


def place_check_in(
    at: int, stay_seconds: int, neighbours: Iterable[VisitSpan], stay_of: Callable[[int], int]
) -> Placement:
    """Place a check-in made at ``at`` with a default stay of ``stay_seconds`` among ``neighbours``.

    ``neighbours`` must hold at least every visit of the person that is open or ends
    after ``at`` (others are ignored); ``stay_of(venue_id)`` gives a venue's default
    stay in seconds, asked only for open visits that began before ``at``.
    """
    closings: list[tuple[int, int]] = []
    next_start: int | None = None
    for visit in neighbours:
        if visit.entered_at < at:
            if visit.left_at is None:
                closings.append((visit.id, min(at, visit.entered_at + stay_of(visit.venue_id))))
            elif visit.left_inferred and visit.left_at > at:
                closings.append((visit.id, at))
        elif visit.entered_at > at and (next_start is None or visit.entered_at < next_start):
            next_start = visit.entered_at
    return Placement(closings, None if next_start is None else min(next_start, at + stay_seconds))
