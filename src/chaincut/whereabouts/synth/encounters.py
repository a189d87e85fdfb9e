"""One simulated day of close-range encounters (the proximity records a
Bluetooth tracing app would keep).

Most encounters are between people who share a home or a workplace, as in
every contact-tracing dataset: household members in the evening, co-workers
and classmates whose shifts overlap at the same venue, a few people who were
at the same restaurant or shop at the same time, and a few strangers (on the
MTR, in a lift) that no venue record explains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chaincut.whereabouts.synth.clock import ServiceDay
from chaincut.whereabouts.synth.model import City
from chaincut.whereabouts.synth.sampling import weighted_draw
from chaincut.whereabouts.synth.venue_types import SERVICE_DAY_START_HOUR, type_code
from chaincut.whereabouts.synth.visits import DayVisits

__all__ = ["ENCOUNTER_MIX", "DayEncounters", "day_encounters"]

Ints = npt.NDArray[np.int64]

ENCOUNTER_MIX = {"household": 0.55, "workplace": 0.35, "venue": 0.05, "stranger": 0.05}
"""Share of each day's encounters by setting (synthetic-model choice)."""

_MIN_OVERLAP_SECONDS = 600  # shorter co-presence is not worth an encounter record
_EVENING_HOURS = (18.5, 22.5)  # household encounters start in the evening
_HOUSEHOLD_MINUTES = (150.0, 0.4)  # lognormal median and sigma
_WORKPLACE_MINUTES = (40.0, 0.6)
_VENUE_MINUTES = (20.0, 0.5)
_STRANGER_MINUTES = (10.0, 0.6)
_STRANGER_HOURS = (7.0, 23.0)
_OVERSAMPLE = 1.6  # pairs drawn per encounter wanted, since some pairs never overlap


@dataclass(frozen=True)
class DayEncounters:
    """Encounters of one day (UTC epoch seconds), ordered by start."""

    person_a: npt.NDArray[np.int32]
    person_b: npt.NDArray[np.int32]
    start: Ints
    end: Ints


def _minutes(spec: tuple[float, float], count: int, rng: np.random.Generator) -> Ints:
    seconds: Ints = (rng.lognormal(math.log(spec[0]), spec[1], count) * 60).astype(np.int64)
    return np.maximum(seconds, 60)


def _household(
    city: City, day: ServiceDay, count: int, rng: np.random.Generator
) -> tuple[Ints, Ints, Ints, Ints]:
    households = city.households
    size = households.size.astype(np.int64)
    pairs = size * (size - 1) // 2  # bigger households have more pairs
    if count == 0 or pairs.sum() == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    chosen = weighted_draw(np.cumsum(pairs).astype(np.float64), count, rng)
    members = size[chosen]
    first = rng.integers(0, members)
    second = (first + 1 + rng.integers(0, members - 1)) % members
    base = households.start[chosen]
    low, high = (h - SERVICE_DAY_START_HOUR for h in _EVENING_HOURS)
    start = ((low + rng.random(count) * (high - low)) * 3600).astype(np.int64)
    end = np.minimum(start + _minutes(_HOUSEHOLD_MINUTES, count, rng), 86_400)
    return base + first, base + second, start + day.start, end + day.start


def _co_present(
    visits: DayVisits,
    rows: npt.NDArray[np.int64],
    count: int,
    duration: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[Ints, Ints, Ints, Ints]:
    """Pairs of people whose visits to the same venue overlap in time."""
    empty = np.zeros(0, dtype=np.int64)
    if count == 0 or rows.size < 2:
        return empty, empty, empty, empty
    rows = rows[np.argsort(visits.venue[rows], kind="stable")]
    venue = visits.venue[rows]
    boundaries = np.flatnonzero(np.diff(venue)) + 1
    group_start = np.concatenate(([0], boundaries))
    group_size = np.diff(np.concatenate((group_start, [rows.size])))
    group_of = np.repeat(np.arange(group_start.size), group_size)
    shared = np.flatnonzero(group_size[group_of] >= 2)
    if shared.size == 0:
        return empty, empty, empty, empty
    draws = int(count * _OVERSAMPLE) + 16
    i = shared[rng.integers(0, shared.size, draws)]
    g = group_of[i]
    offset = (i - group_start[g] + 1 + rng.integers(0, group_size[g] - 1)) % group_size[g]
    j = group_start[g] + offset
    a, b = rows[i], rows[j]
    overlap_start = np.maximum(visits.entered[a], visits.entered[b])
    overlap_end = np.minimum(visits.left[a], visits.left[b])
    good = overlap_end - overlap_start >= _MIN_OVERLAP_SECONDS
    good &= visits.person[a] != visits.person[b]
    a, b = a[good][:count], b[good][:count]
    overlap_start, overlap_end = overlap_start[good][:count], overlap_end[good][:count]
    length = np.minimum(_minutes(duration, a.size, rng), overlap_end - overlap_start)
    start = overlap_start + (rng.random(a.size) * (overlap_end - overlap_start - length))
    start = start.astype(np.int64)
    return (
        visits.person[a].astype(np.int64),
        visits.person[b].astype(np.int64),
        start,
        start + length,
    )


def _strangers(
    city: City, day: ServiceDay, count: int, rng: np.random.Generator
) -> tuple[Ints, Ints, Ints, Ints]:
    people = city.people.count
    first = rng.integers(0, people, count)
    second = (first + 1 + rng.integers(0, people - 1, count)) % people
    low, high = (h - SERVICE_DAY_START_HOUR for h in _STRANGER_HOURS)
    start = ((low + rng.random(count) * (high - low)) * 3600).astype(np.int64)
    end = start + _minutes(_STRANGER_MINUTES, count, rng)
    return first, second, start + day.start, end + day.start


def day_encounters(
    city: City, day: ServiceDay, visits: DayVisits, target: int, rng: np.random.Generator
) -> DayEncounters:
    """About ``target`` encounters for one service day, inside the city's time window."""
    wanted = {k: round(target * share) for k, share in ENCOUNTER_MIX.items()}
    taxi = type_code("taxi")
    leisure = np.flatnonzero(~visits.work & (city.venues.types[visits.venue] != taxi))
    parts = [
        _household(city, day, wanted["household"], rng),
        _co_present(visits, np.flatnonzero(visits.work), wanted["workplace"], _WORKPLACE_MINUTES, rng),
        _co_present(visits, leisure, wanted["venue"], _VENUE_MINUTES, rng),
    ]
    short = target - sum(p[0].size for p in parts)
    parts.append(_strangers(city, day, max(0, short), rng))
    a, b, start, end = (np.concatenate([p[k] for p in parts]) for k in range(4))
    keep = (start >= day.window_start) & (start < day.window_end)
    a, b, start = a[keep], b[keep], start[keep]
    end = np.minimum(end[keep], day.window_end)
    order = np.argsort(start, kind="stable")
    return DayEncounters(
        person_a=a[order].astype(np.int32),
        person_b=b[order].astype(np.int32),
        start=start[order],
        end=end[order],
    )
