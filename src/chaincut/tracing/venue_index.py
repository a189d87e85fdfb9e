"""Visits sorted by venue and entry time, for finding those near an exposure."""

from __future__ import annotations

import numpy as np

from chaincut.tracing.columns import _SPAN, I64, VisitArrays

__all__ = ["VenueTimeIndex"]


class VenueTimeIndex:
    """Candidate visits sorted by venue, then entry, for range searches.

    The sort key is the venue and the entry time, coarsened to ``2**quantum`` seconds
    only if both would not fit in 62 bits; a coarse key only widens a search (a range may
    hold a few visits too many), and the exact times decide every overlap. The keys are
    radix sorted (``kernels.sort_order``): four times as fast as ``np.sort``.
    """

    def __init__(self, visits: VisitArrays) -> None:
        from chaincut.tracing.kernels import sort_order  # numba: loaded when a trace runs

        n = len(visits)
        self.base = int(visits.entered.min()) if n else 0
        offset = np.clip(visits.entered - self.base, 0, _SPAN)
        venue_bits = max(int(visits.venue.max()) if n else 1, 1).bit_length()
        time_bits = max(int(offset.max()) if n else 1, 1).bit_length()
        self.quantum = max(0, venue_bits + time_bits - 62)
        self.time_bits = time_bits - self.quantum
        keys = (visits.venue << self.time_bits) | (offset >> self.quantum)
        del offset  # a day's candidates at Hong Kong scale are 60M: every copy is half a gigabyte
        if n > 1 and not bool(np.all(keys[1:] >= keys[:-1])):  # often already in order
            order = (
                sort_order(keys, venue_bits + self.time_bits)
                if int(visits.venue.min()) >= 0  # venues are store ids; a stray one is sorted apart
                else np.argsort(keys, kind="stable")
            )
            keys = keys[order]
            visits = visits.take(order)
            del order
        self.keys = keys
        self.visits = visits
        longest = np.zeros(int(visits.venue.max()) + 1 if n else 0, dtype=np.int64)
        if n:
            venue = self.visits.venue
            starts = np.flatnonzero(np.r_[True, venue[1:] != venue[:-1]])
            longest[venue[starts]] = np.maximum.reduceat(self.visits.left - self.visits.entered, starts)
        self.longest = longest

    def ranges(self, venue: I64, start: I64, end: I64) -> tuple[I64, I64]:
        if not len(self.keys):
            zeros = np.zeros(len(venue), dtype=np.int64)
            return zeros, zeros
        inside = venue < len(self.longest)
        longest = np.zeros(len(venue), dtype=np.int64)
        longest[inside] = self.longest[venue[inside]]
        # Clipped to the key's time bits, so a search never strays into another venue's keys.
        top = (1 << self.time_bits) - 1
        low = (venue << self.time_bits) | np.clip((start - longest - self.base) >> self.quantum, 0, top)
        high = (venue << self.time_bits) | np.clip((end - self.base) >> self.quantum, 0, top)
        return (
            np.searchsorted(self.keys, low, side="left").astype(np.int64),
            np.searchsorted(self.keys, high, side="right").astype(np.int64),
        )
