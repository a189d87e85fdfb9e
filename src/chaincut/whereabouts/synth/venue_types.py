"""What each kind of venue looks like in the synthetic city: hours, stays, crowds.

All numbers here are synthetic-model parameters chosen so the city *looks*
like Hong Kong's LeaveHomeSafe check-in data (restaurants busiest at lunch and
dinner, bars at night, schools and offices on weekdays, wet markets in the
morning).  They are not epidemiological policy and nothing in tracing reads
them; change them freely to stress other shapes of data.

Hours are *service-day hours*: a service day runs from 05:00 local time to
05:00 the next morning, so a bar open 17 -> 27 closes at 03:00.  Every venue
kind's opening is one interval inside [5, 29), which keeps each person's day
self-contained (nobody's evening spills into the next day's schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AGE_GROUPS",
    "DAILY",
    "SERVICE_DAY_START_HOUR",
    "VENUE_TYPES",
    "VENUE_TYPE_NAMES",
    "WEEKDAYS",
    "VenueType",
    "type_code",
]

SERVICE_DAY_START_HOUR = 5
"""Local hour at which one simulated day ends and the next begins (05:00)."""

DAILY = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS = (0, 1, 2, 3, 4)

AGE_GROUPS = ("child", "adult", "elderly")
"""Favourite-place preferences differ by age group: under 18, 18-64, 65 and over."""


@dataclass(frozen=True)
class VenueType:
    """One kind of venue: how many there are, when they open, who goes and for how long."""

    name: str
    share: float  # fraction of all venues
    opens: float  # service-day hour
    closes: float  # service-day hour, <= 29
    open_days: tuple[int, ...]  # weekdays (Monday 0) on which it opens
    peaks: tuple[tuple[float, float], ...]  # (hour, weight) bumps of arrivals
    stay_median_minutes: float  # lognormal stay of a visitor
    stay_sigma: float
    stay_min_minutes: float
    stay_max_minutes: float
    popularity_sigma: float  # lognormal spread of venue popularity (heavy tail)
    workplace_share: float  # fraction of workers employed at this kind of venue
    favourite: tuple[float, float, float]  # preference as a favourite, per AGE_GROUPS
    explore_share: float  # share of one-off visits going to this kind
    day_factors: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)  # Monday..Sunday
    district_bias: str = "population"  # "population", "office" or "nightlife"
    work_start_hour: float | None = None  # None: shifts spread over the opening hours
    work_hours_median: float = 9.0
    arrival_base: float = 0.3  # flat share of arrivals across opening hours


_WEEKEND = (1.0, 1.0, 1.0, 1.0, 1.1, 1.5, 1.5)

# Why these shapes: restaurants dominate LeaveHomeSafe scans (dine-in required
# a scan), with lunch and dinner peaks; offices and schools are the routine
# anchors of weekdays; markets are a morning habit of older people; taxis and
# hospitals never close.  Popularity sigmas above ~1 give the heavy-tailed
# crowds seen in real check-in data (a few malls and chain restaurants take a
# large share of scans); schools and care homes are more uniform in size.
VENUE_TYPES: tuple[VenueType, ...] = (
    VenueType(
        "restaurant",
        0.17,
        7,
        23,
        DAILY,
        ((8, 0.6), (13, 2.0), (19.5, 2.0)),
        60,
        0.35,
        15,
        180,
        1.3,
        0.10,
        (0.30, 0.34, 0.30),
        0.30,
        _WEEKEND,
    ),
    VenueType(
        "bar",
        0.02,
        17,
        27,
        DAILY,
        ((22, 2.0),),
        100,
        0.45,
        20,
        300,
        1.2,
        0.005,
        (0.0, 0.05, 0.005),
        0.03,
        (0.7, 0.7, 0.8, 0.9, 1.5, 1.7, 1.0),
        district_bias="nightlife",
    ),
    VenueType(
        "gym",
        0.02,
        6.5,
        23,
        DAILY,
        ((7.5, 1.0), (19.5, 2.0)),
        75,
        0.3,
        30,
        180,
        1.0,
        0.005,
        (0.03, 0.06, 0.01),
        0.02,
    ),
    VenueType(
        "office",
        0.20,
        7,
        22,
        WEEKDAYS,
        ((10, 1.0), (15, 1.0)),
        45,
        0.5,
        10,
        180,
        1.4,
        0.55,
        (0.0, 0.0, 0.0),
        0.04,
        district_bias="office",
        work_start_hour=8.75,
        work_hours_median=9.5,
        arrival_base=0.2,
    ),
    VenueType(
        "school",
        0.015,
        7.5,
        17,
        WEEKDAYS,
        ((8, 1.0), (15.5, 1.5)),
        20,
        0.5,
        5,
        90,
        0.5,
        0.04,
        (0.0, 0.0, 0.0),
        0.01,
        work_start_hour=7.75,
        work_hours_median=8.5,
        arrival_base=0.1,
    ),
    VenueType(
        "mall",
        0.01,
        10,
        22,
        DAILY,
        ((14.5, 1.0), (20, 1.0)),
        90,
        0.5,
        15,
        300,
        1.3,
        0.05,
        (0.15, 0.10, 0.05),
        0.15,
        (1.0, 1.0, 1.0, 1.0, 1.2, 1.6, 1.6),
        arrival_base=0.5,
    ),
    VenueType(
        "market",
        0.007,
        6,
        14,
        DAILY,
        ((8.5, 2.0),),
        30,
        0.4,
        10,
        90,
        0.8,
        0.01,
        (0.02, 0.08, 0.18),
        0.04,
    ),
    VenueType(
        "supermarket",
        0.02,
        8,
        22,
        DAILY,
        ((11, 0.8), (18.5, 1.5)),
        25,
        0.4,
        5,
        75,
        1.0,
        0.03,
        (0.05, 0.10, 0.08),
        0.07,
        arrival_base=0.4,
    ),
    VenueType(
        "hospital",
        0.0007,
        5,
        29,
        DAILY,
        ((10, 1.5), (15, 1.0)),
        120,
        0.7,
        20,
        480,
        0.6,
        0.04,
        (0.01, 0.01, 0.05),
        0.04,
        arrival_base=0.15,
    ),
    VenueType(
        "clinic",
        0.04,
        9,
        20,
        (0, 1, 2, 3, 4, 5),
        ((10.5, 1.0), (18, 1.0)),
        40,
        0.4,
        10,
        120,
        0.8,
        0.03,
        (0.08, 0.05, 0.12),
        0.05,
    ),
    VenueType(
        "elderly_home",
        0.005,
        9,
        20,
        DAILY,
        ((15, 1.0),),
        60,
        0.4,
        15,
        180,
        0.5,
        0.015,
        (0.0, 0.01, 0.03),
        0.01,
    ),
    VenueType(
        "place_of_worship",
        0.008,
        7,
        21,
        DAILY,
        ((10, 1.5), (19.5, 0.7)),
        75,
        0.3,
        20,
        180,
        0.9,
        0.002,
        (0.03, 0.02, 0.06),
        0.02,
        (0.8, 0.8, 0.8, 0.8, 0.8, 1.0, 4.0),
        arrival_base=0.2,
    ),
    VenueType(
        "cinema",
        0.0008,
        11,
        25,
        DAILY,
        ((15, 1.0), (20.5, 1.5)),
        130,
        0.12,
        80,
        200,
        0.6,
        0.003,
        (0.06, 0.03, 0.02),
        0.03,
        (0.8, 0.8, 0.8, 0.9, 1.2, 1.8, 1.8),
    ),
    VenueType(
        "hotel",
        0.002,
        5,
        29,
        DAILY,
        ((12.5, 1.0), (19.5, 1.0)),
        90,
        0.7,
        15,
        480,
        1.0,
        0.02,
        (0.0, 0.01, 0.0),
        0.03,
        district_bias="nightlife",
    ),
    VenueType(
        "salon",
        0.04,
        10,
        21,
        DAILY,
        ((15, 1.0),),
        60,
        0.35,
        20,
        180,
        0.7,
        0.015,
        (0.05, 0.04, 0.03),
        0.02,
        arrival_base=0.5,
    ),
    VenueType(
        "taxi",
        0.08,
        5,
        29,
        DAILY,
        ((8.5, 1.0), (19, 1.2), (23.5, 1.0)),
        20,
        0.5,
        4,
        90,
        0.4,
        0.0,
        (0.0, 0.0, 0.0),
        0.0,
    ),
    VenueType(
        "residential_building",
        0.25,
        8,
        24,
        DAILY,
        ((20, 1.0),),
        120,
        0.6,
        20,
        360,
        0.9,
        0.005,
        (0.0, 0.0, 0.0),
        0.0,
    ),
    VenueType(
        "other",
        0.10,
        9,
        21,
        DAILY,
        ((16, 1.0),),
        30,
        0.6,
        5,
        180,
        1.0,
        0.07,
        (0.15, 0.08, 0.08),
        0.10,
        arrival_base=0.5,
    ),
)

VENUE_TYPE_NAMES: tuple[str, ...] = tuple(t.name for t in VENUE_TYPES)


def type_code(name: str) -> int:
    """The small integer standing for a venue kind inside the generator."""
    return VENUE_TYPE_NAMES.index(name)
