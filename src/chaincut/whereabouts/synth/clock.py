"""Simulated days and opening hours: when each kind of venue can be visited.

Time inside the generator is integer seconds.  A *service day* runs from
05:00 to 05:00 Hong Kong time (UTC+8 all year: Hong Kong has had no daylight
saving since 1979), so late nights out belong to the day they started.
Within a day, times are seconds since the day's 05:00.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from chaincut.errors import InvalidInput
from chaincut.whereabouts.synth.sampling import weighted_draw
from chaincut.whereabouts.synth.venue_types import SERVICE_DAY_START_HOUR, VENUE_TYPES

__all__ = [
    "DAY_SECONDS",
    "HONG_KONG_UTC_OFFSET",
    "DayHours",
    "ServiceDay",
    "service_days",
]

DAY_SECONDS = 86_400
HONG_KONG_UTC_OFFSET = timedelta(hours=8)
_PEAK_WIDTH_HOURS = 1.25  # spread of each arrival peak (standard deviation)


@dataclass(frozen=True)
class ServiceDay:
    """One simulated day: its local date, weekday and where it sits in UTC."""

    number: int  # 1-based, in order
    weekday: int  # Monday 0
    start: int  # UTC epoch seconds of 05:00 local
    window_start: int  # UTC epoch seconds; nothing may start before this
    window_end: int  # UTC epoch seconds; nothing may end after this


def service_days(end: datetime, days: int) -> list[ServiceDay]:
    """The service days covering the ``days`` x 24 hours that end at ``end``.

    The first and last may be cut by the window; visits outside the window
    are dropped (before it) or closed at its end (still under way).
    """
    if end.tzinfo is None or end.utcoffset() is None:
        raise InvalidInput("end must be a timezone-aware datetime", field="end")
    window_end = math.floor(end.astimezone(UTC).timestamp())
    window_start = window_end - days * DAY_SECONDS
    offset = int(HONG_KONG_UTC_OFFSET.total_seconds()) - SERVICE_DAY_START_HOUR * 3600
    first = (window_start + offset) // DAY_SECONDS
    last = (window_end - 1 + offset) // DAY_SECONDS
    result = []
    for number, index in enumerate(range(first, last + 1), start=1):
        start = index * DAY_SECONDS - offset
        local_date = datetime.fromtimestamp(start, UTC) + HONG_KONG_UTC_OFFSET
        result.append(
            ServiceDay(
                number=number,
                weekday=local_date.weekday(),
                start=start,
                window_start=window_start,
                window_end=window_end,
            )
        )
    return result


class DayHours:
    """Opening hours and arrival profiles of every venue kind on one service day."""

    def __init__(self, weekday: int) -> None:
        count = len(VENUE_TYPES)
        self.weekday = weekday
        self.is_open = np.zeros(count, dtype=bool)
        self.opens = np.zeros(count, dtype=np.int64)
        self.closes = np.zeros(count, dtype=np.int64)
        self.day_factor = np.zeros(count)
        self._piece_starts: list[npt.NDArray[np.float64]] = []
        self._piece_ends: list[npt.NDArray[np.float64]] = []
        self._piece_cumulative: list[npt.NDArray[np.float64]] = []
        for code, kind in enumerate(VENUE_TYPES):
            self.is_open[code] = weekday in kind.open_days
            self.opens[code] = round((kind.opens - SERVICE_DAY_START_HOUR) * 3600)
            self.closes[code] = round((kind.closes - SERVICE_DAY_START_HOUR) * 3600)
            self.day_factor[code] = kind.day_factors[weekday] if self.is_open[code] else 0.0
            # Arrivals stop early enough for the shortest stay to fit before closing.
            last_arrival = kind.closes - kind.stay_min_minutes / 60
            edges = np.unique(
                np.concatenate(
                    (
                        [kind.opens, last_arrival],
                        np.arange(math.ceil(kind.opens), math.floor(last_arrival) + 1),
                    )
                )
            )
            edges = edges[(edges >= kind.opens) & (edges <= last_arrival)]
            starts, ends = edges[:-1], edges[1:]
            middle = (starts + ends) / 2
            shape = np.full(middle.shape, kind.arrival_base)
            for hour, weight in kind.peaks:
                shape += weight * np.exp(-((middle - hour) ** 2) / (2 * _PEAK_WIDTH_HOURS**2))
            self._piece_starts.append((starts - SERVICE_DAY_START_HOUR) * 3600)
            self._piece_ends.append((ends - SERVICE_DAY_START_HOUR) * 3600)
            self._piece_cumulative.append(np.cumsum((ends - starts) * shape))

    def arrivals(self, code: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Arrival times (seconds into the day) of ``count`` visitors to a kind of venue."""
        piece = weighted_draw(self._piece_cumulative[code], count, rng)
        low = self._piece_starts[code][piece]
        high = self._piece_ends[code][piece]
        arrivals: npt.NDArray[np.int64] = (low + rng.random(count) * (high - low)).astype(np.int64)
        return arrivals

    def stays(self, code: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Visitor stay lengths in seconds: lognormal around the kind's median, clipped.

        Lognormal because stays are positive and right-skewed: most lunches
        take about an hour, a few take three.
        """
        kind = VENUE_TYPES[code]
        minutes = rng.lognormal(math.log(kind.stay_median_minutes), kind.stay_sigma, count)
        minutes = np.clip(minutes, kind.stay_min_minutes, kind.stay_max_minutes)
        seconds: npt.NDArray[np.int64] = (minutes * 60).astype(np.int64)
        return seconds
