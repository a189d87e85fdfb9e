"""Who goes where by habit: jobs, schools, lunch spots and favourite places.

Routines are drawn once per city; each simulated day then draws most visits
from them, which is what makes synthetic contact chains look like real ones
(the same co-workers, the same cha chaan teng, the same wet market).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chaincut.whereabouts.synth.geography import DISTRICTS, proximity_weights
from chaincut.whereabouts.synth.population import People
from chaincut.whereabouts.synth.sampling import weighted_draw
from chaincut.whereabouts.synth.venue_types import VENUE_TYPES, type_code
from chaincut.whereabouts.synth.venues import Venues

__all__ = [
    "FAVOURITES_PER_PERSON",
    "LUNCH_SPOTS_PER_WORKER",
    "Routines",
    "age_groups",
    "build_routines",
    "mixture_cumulative",
]

FAVOURITES_PER_PERSON = 6
LUNCH_SPOTS_PER_WORKER = 2

# Labour-force participation by age band (lower bound of the band, share
# working): shaped like Hong Kong's, where about half the population works.
_WORK_BY_AGE = (
    (0, 0.0),
    (15, 0.02),
    (18, 0.40),
    (25, 0.85),
    (30, 0.82),
    (50, 0.72),
    (60, 0.45),
    (65, 0.18),
    (70, 0.04),
)
# Everyone 3-17 is at a kindergarten or school; some 18-22s are at college.
_SCHOOL_AGES = (3, 18)
_COLLEGE_AGES = (18, 23)
_COLLEGE_SHARE = 0.45

# Distance decay (km) and home-district boost per kind of trip: children
# attend a school close to home; commutes cross the city; favourites sit in
# or next to the home district; lunch is a short walk from the office.
_SCHOOL_PROXIMITY = (2.0, 4.0)
_WORK_PROXIMITY = (10.0, 1.5)
_FAVOURITE_PROXIMITY = (3.0, 3.0)
_LUNCH_PROXIMITY = (1.5, 4.0)

ROLE_NONE, ROLE_WORKER, ROLE_STUDENT = 0, 1, 2


@dataclass(frozen=True)
class Routines:
    """Each resident's habitual places and appetite for going out."""

    role: npt.NDArray[np.int8]  # ROLE_NONE, ROLE_WORKER or ROLE_STUDENT
    workplace: npt.NDArray[np.int32]  # venue of the job or school, -1 for none
    lunch_spots: npt.NDArray[np.int32]  # (people, LUNCH_SPOTS_PER_WORKER), -1 unless office
    favourites: npt.NDArray[np.int32]  # (people, FAVOURITES_PER_PERSON) venue indices
    outings: npt.NDArray[np.float32]  # relative rate of discretionary visits


def age_groups(age: npt.NDArray[np.int16]) -> npt.NDArray[np.int8]:
    """0 child (under 18), 1 adult (18-64), 2 elderly (65 and over)."""
    groups: npt.NDArray[np.int8] = ((age >= 18).astype(np.int8) + (age >= 65)).astype(np.int8)
    return groups


def mixture_cumulative(
    candidates: npt.NDArray[np.int64],
    venues: Venues,
    proximity_row: npt.NDArray[np.float64],
    type_shares: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Cumulative weights over ``candidates`` for someone in one district.

    Each kind of venue gets its share of draws (``type_shares``); within a
    kind, venues are weighted by popularity times closeness to the district.
    """
    types = venues.types[candidates]
    raw = venues.popularity[candidates] * proximity_row[venues.districts[candidates]]
    per_type = np.bincount(types, weights=raw, minlength=len(VENUE_TYPES))
    scale = np.divide(type_shares, per_type, out=np.zeros_like(type_shares), where=per_type > 0)
    cumulative: npt.NDArray[np.float64] = np.cumsum(raw * scale[types])
    return cumulative


def _draw_near(
    origin: npt.NDArray[np.int8],
    candidates: npt.NDArray[np.int64],
    venues: Venues,
    proximity: npt.NDArray[np.float64],
    type_shares: npt.NDArray[np.float64],
    per_person: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int32]:
    """``per_person`` venues for each origin district, drawn near it."""
    result = np.empty((origin.shape[0], per_person), dtype=np.int32)
    for district in range(len(DISTRICTS)):
        members = np.flatnonzero(origin == district)
        if members.size == 0:
            continue
        cumulative = mixture_cumulative(candidates, venues, proximity[district], type_shares)
        picks = weighted_draw(cumulative, (members.size, per_person), rng)
        result[members] = candidates[picks]
    return result


def build_routines(people: People, venues: Venues, rng: np.random.Generator) -> Routines:
    """Give every resident a role, a job or school where relevant, and favourite places."""
    n = people.count
    age = people.age
    bands = np.array([lo for lo, _ in _WORK_BY_AGE])
    work_share = np.array([share for _, share in _WORK_BY_AGE])
    works = rng.random(n) < work_share[np.searchsorted(bands, age, side="right") - 1]
    in_school = (age >= _SCHOOL_AGES[0]) & (age < _SCHOOL_AGES[1])
    in_college = (age >= _COLLEGE_AGES[0]) & (age < _COLLEGE_AGES[1]) & ~works
    in_college &= rng.random(n) < _COLLEGE_SHARE
    studies = (in_school & ~works) | in_college
    role = np.where(works, ROLE_WORKER, np.where(studies, ROLE_STUDENT, ROLE_NONE))
    role = role.astype(np.int8)

    workplace = np.full(n, -1, dtype=np.int32)
    all_venues = np.arange(venues.count, dtype=np.int64)
    job_shares = np.array([t.workplace_share for t in VENUE_TYPES])
    job_venues = all_venues[job_shares[venues.types] > 0]
    workers = np.flatnonzero(works)
    workplace[workers] = _draw_near(
        people.district[workers],
        job_venues,
        venues,
        proximity_weights(*_WORK_PROXIMITY),
        job_shares / job_shares.sum(),
        1,
        rng,
    )[:, 0]
    school_share = np.zeros(len(VENUE_TYPES))
    school_share[type_code("school")] = 1.0
    students = np.flatnonzero(studies)
    workplace[students] = _draw_near(
        people.district[students],
        venues.of_type("school"),
        venues,
        proximity_weights(*_SCHOOL_PROXIMITY),
        school_share,
        1,
        rng,
    )[:, 0]

    lunch_spots = np.full((n, LUNCH_SPOTS_PER_WORKER), -1, dtype=np.int32)
    office_workers = workers[venues.types[workplace[workers]] == type_code("office")]
    restaurant_share = np.zeros(len(VENUE_TYPES))
    restaurant_share[type_code("restaurant")] = 1.0
    lunch_spots[office_workers] = _draw_near(
        venues.districts[workplace[office_workers]],
        venues.of_type("restaurant"),
        venues,
        proximity_weights(*_LUNCH_PROXIMITY),
        restaurant_share,
        LUNCH_SPOTS_PER_WORKER,
        rng,
    )

    favourites = np.empty((n, FAVOURITES_PER_PERSON), dtype=np.int32)
    groups = age_groups(age)
    preferences = np.array([t.favourite for t in VENUE_TYPES])  # (types, groups)
    candidates = all_venues[preferences.sum(axis=1)[venues.types] > 0]
    proximity = proximity_weights(*_FAVOURITE_PROXIMITY)
    for group in range(preferences.shape[1]):
        members = np.flatnonzero(groups == group)
        shares = preferences[:, group] / preferences[:, group].sum()
        favourites[members] = _draw_near(
            people.district[members],
            candidates,
            venues,
            proximity,
            shares,
            FAVOURITES_PER_PERSON,
            rng,
        )

    # Appetite for going out: gamma-distributed (some people check in far
    # more than others), lower for young children and the very old.
    age_factor = np.select([age < 12, age < 18, age < 80], [0.3, 0.7, 1.0], default=0.5)
    outings = (rng.gamma(2.0, 0.5, n) * age_factor).astype(np.float32)
    return Routines(
        role=role,
        workplace=workplace,
        lunch_spots=lunch_spots,
        favourites=favourites,
        outings=outings,
    )
