"""One simulated day of check-ins: shifts, lunches, favourite places, taxis.

Each day is drawn in three steps, all vectorised over the whole city:

1. *Routine*: workers and students who attend that day get a shift at their
   job or school; half the office workers step out to a nearby restaurant for
   lunch, which splits their office stay in two (how diligent LeaveHomeSafe
   users' records looked).
2. *Discretionary*: the rest of the day's check-in budget is spread over
   residents by their appetite for going out; each visit goes to a favourite
   place, a one-off place near home, a taxi, or a friend's building.
3. *Schedule*: each person's visits are put in order of preferred arrival and
   pushed later where they would overlap, so nobody is in two places at once;
   a visit pushed past closing time is cut short or dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chaincut.whereabouts.synth.clock import DayHours, ServiceDay
from chaincut.whereabouts.synth.geography import DISTRICTS, proximity_weights
from chaincut.whereabouts.synth.model import City
from chaincut.whereabouts.synth.routines import (
    FAVOURITES_PER_PERSON,
    ROLE_STUDENT,
    mixture_cumulative,
)
from chaincut.whereabouts.synth.sampling import weighted_draw
from chaincut.whereabouts.synth.venue_types import (
    SERVICE_DAY_START_HOUR,
    VENUE_TYPES,
    type_code,
)

__all__ = ["DayVisits", "VisitGenerator", "schedule"]

Ints = npt.NDArray[np.int64]
AnyInts = npt.NDArray[np.integer[Any]]

TRAVEL_GAP_SECONDS = 300
"""Minimum time between leaving one venue and entering the next (a short walk
or ride in a dense city)."""

# Attendance on a day the workplace is open: leave, sickness and working from
# home for office staff; six-day rotas for shop and restaurant staff.
_STUDENT_ATTENDANCE = 0.96
_FIXED_HOURS_ATTENDANCE = 0.92
_ROTA_ATTENDANCE = 0.80
_START_SPREAD_HOURS = {"office": 0.6, "school": 0.2}
_ROUTINE_CAP = 0.8  # routine shifts take at most this share of a day's check-ins
_LUNCH_OUT_SHARE = 0.55
_LUNCH_HOUR, _LUNCH_SPREAD_HOURS, _LUNCH_MINUTES = 12.75, 0.4, 55.0
# Where discretionary visits go: favourites, one-off places, taxis, friends' homes.
_CHANNELS = np.cumsum([0.70, 0.22, 0.05, 0.03])
# Favourites are not equal: the first is visited most.
_FAVOURITE_SLOTS = np.cumsum([0.30, 0.22, 0.16, 0.13, 0.11, 0.08][:FAVOURITES_PER_PERSON])
_BUSY_WORKER_FACTOR = 0.6  # a day at work leaves less time for going out
_MAX_OUTINGS_PER_DAY = 6
_EXPLORE_PROXIMITY = (6.0, 2.0)
_SOCIAL_PROXIMITY = (4.0, 3.0)


@dataclass(frozen=True)
class DayVisits:
    """The check-ins of one day, sorted by person then time (UTC epoch seconds)."""

    person: npt.NDArray[np.int32]
    venue: npt.NDArray[np.int32]
    entered: Ints
    left: Ints
    work: npt.NDArray[np.bool_]  # a shift at the person's own job or school

    def within(self, start: int, end: int) -> DayVisits:
        """The visits that started in [start, end), those still under way closed at ``end``.

        Closing at ``end`` is what an automatic check-out would record for
        people still inside when the data were taken.
        """
        keep = (self.entered >= start) & (self.entered < end)
        return DayVisits(
            person=self.person[keep],
            venue=self.venue[keep],
            entered=self.entered[keep],
            left=np.minimum(self.left[keep], end),
            work=self.work[keep],
        )


@dataclass
class _Draft:
    person: list[npt.NDArray[np.int32]]
    venue: list[npt.NDArray[np.int32]]
    start: list[Ints]
    stay: list[Ints]
    close: list[Ints]
    work: list[npt.NDArray[np.bool_]]

    def add(self, person: AnyInts, venue: AnyInts, start: Ints, stay: Ints, close: Ints, work: bool) -> None:
        self.person.append(person.astype(np.int32))
        self.venue.append(venue.astype(np.int32))
        self.start.append(start.astype(np.int64))
        self.stay.append(np.maximum(stay, 0).astype(np.int64))
        self.close.append(close.astype(np.int64))
        self.work.append(np.full(person.shape[0], work))


def schedule(person: npt.NDArray[np.int32], start: Ints, stay: Ints, gap: int = TRAVEL_GAP_SECONDS) -> Ints:
    """End times after pushing each person's visits later so none overlap.

    Rows must be sorted by person then preferred start.  The recurrence
    ``end[i] = max(start[i], end[i-1] + gap) + stay[i]`` unrolls to
    ``end[i] = C[i] + max(start[j] + stay[j] - C[j] for j <= i)`` with ``C`` the
    running sum of ``gap + stay`` within the person, which is a segmented
    running maximum: one pass, no Python loop over people.
    """
    if person.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    step = stay + gap
    running = np.cumsum(step)
    first = np.empty(person.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(person[1:], person[:-1], out=first[1:])
    before_group = np.where(first, running - step, 0)
    np.maximum.accumulate(before_group, out=before_group)
    within = running - before_group
    # Offsets by person keep the running maximum from leaking across people.
    lift = person.astype(np.int64) * (1 << 40)
    best = np.maximum.accumulate(start + stay - within + lift) - lift
    ends: Ints = within + best
    return ends


class VisitGenerator:
    """Draws each day's visits for one city, keeping per-weekday lookups warm."""

    def __init__(self, city: City, checkins_per_day: int) -> None:
        self.city = city
        self.target = checkins_per_day
        self.inflation = 1.02  # corrected each day by the share of visits that did not fit
        venues = city.venues
        taxis = venues.of_type("taxi")
        self._taxis = taxis
        self._taxi_cumulative = np.cumsum(venues.popularity[taxis])
        buildings = venues.of_type("residential_building")
        self._buildings = buildings
        social = proximity_weights(*_SOCIAL_PROXIMITY)
        shares = np.zeros(len(VENUE_TYPES))
        shares[type_code("residential_building")] = 1.0
        self._social = [
            mixture_cumulative(buildings, venues, social[d], shares) for d in range(len(DISTRICTS))
        ]
        appeal = np.array([t.explore_share for t in VENUE_TYPES])
        self._explore_candidates = np.flatnonzero(appeal[venues.types] > 0)
        self._explore: dict[int, list[npt.NDArray[np.float64]]] = {}

    def _explore_cumulative(self, hours: DayHours) -> list[npt.NDArray[np.float64]]:
        if hours.weekday not in self._explore:
            shares = np.array([t.explore_share for t in VENUE_TYPES]) * hours.day_factor
            shares = shares / shares.sum()
            proximity = proximity_weights(*_EXPLORE_PROXIMITY)
            self._explore[hours.weekday] = [
                mixture_cumulative(self._explore_candidates, self.city.venues, proximity[d], shares)
                for d in range(len(DISTRICTS))
            ]
        return self._explore[hours.weekday]

    def day(self, day: ServiceDay, rng: np.random.Generator) -> DayVisits:
        """All visits of one whole service day (see ``DayVisits.within`` for the window)."""
        hours = DayHours(day.weekday)
        draft = _Draft([], [], [], [], [], [])
        working = self._routine(hours, draft, rng)
        routine_count = sum(p.shape[0] for p in draft.person)
        budget = max(0, round(self.target * self.inflation) - routine_count)
        self._discretionary(hours, working, budget, draft, rng)

        person = np.concatenate(draft.person)
        start = np.concatenate(draft.start)
        order = np.argsort((person.astype(np.int64) << 17) | start)
        person, start = person[order], start[order]
        stay = np.concatenate(draft.stay)[order]
        close = np.concatenate(draft.close)[order]
        venue = np.concatenate(draft.venue)[order]
        work = np.concatenate(draft.work)[order]

        ends = schedule(person, start, stay)
        entered = ends - stay
        fits = entered + np.minimum(stay, TRAVEL_GAP_SECONDS) <= close
        if person.shape[0]:
            self.inflation = min(1.5, 1.0 / max(0.5, float(fits.mean())))
        return DayVisits(
            person=person[fits],
            venue=venue[fits],
            entered=entered[fits] + day.start,
            left=np.minimum(ends, close)[fits] + day.start,
            work=work[fits],
        )

    def _routine(self, hours: DayHours, draft: _Draft, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
        """Shifts at jobs and schools; returns who works or studies today."""
        city = self.city
        routines, venues = city.routines, city.venues
        holders = np.flatnonzero(routines.workplace >= 0)
        place = routines.workplace[holders]
        kind = venues.types[place]
        fixed = np.array([t.work_start_hour is not None for t in VENUE_TYPES])[kind]
        student = routines.role[holders] == ROLE_STUDENT
        attendance = np.where(
            student, _STUDENT_ATTENDANCE, np.where(fixed, _FIXED_HOURS_ATTENDANCE, _ROTA_ATTENDANCE)
        )
        attendance = attendance * hours.is_open[kind]
        lunches = routines.lunch_spots[holders, 0] >= 0
        expected = float(np.sum(attendance * (1 + 2 * _LUNCH_OUT_SHARE * lunches)))
        if expected > 0:
            attendance = attendance * min(1.0, _ROUTINE_CAP * self.target / expected)
        present = rng.random(holders.size) < attendance
        holders, place, kind, fixed, student = (
            holders[present],
            place[present],
            kind[present],
            fixed[present],
            student[present],
        )
        n = holders.size
        opens, closes = hours.opens[kind], hours.closes[kind]

        hours_median = np.array([t.work_hours_median for t in VENUE_TYPES])[kind]
        age = city.people.age[holders]
        school_day = np.select([age < 6, age < 12, age < 18], [3.5, 6.5, 7.5], default=6.0)
        hours_median = np.where(student, school_day, hours_median)
        length = (hours_median * 3600 * rng.lognormal(0.0, 0.1, n)).astype(np.int64)
        start_hour = np.array([t.work_start_hour or 0.0 for t in VENUE_TYPES])[kind]
        spread = np.array([_START_SPREAD_HOURS.get(t.name, 0.0) for t in VENUE_TYPES])[kind]
        fixed_start = start_hour - SERVICE_DAY_START_HOUR + spread * rng.standard_normal(n)
        rota_start = opens + rng.random(n) * np.maximum(0, closes - opens - length)
        start = np.where(fixed, fixed_start * 3600, rota_start).astype(np.int64)
        start = np.clip(start, opens, closes - 1800)
        end = np.minimum(start + length, closes)

        spots = city.routines.lunch_spots[holders]
        restaurant = type_code("restaurant")
        lunch = (spots[:, 0] >= 0) & (rng.random(n) < _LUNCH_OUT_SHARE)
        lunch &= bool(hours.is_open[restaurant])
        lunch_start = (
            (_LUNCH_HOUR - SERVICE_DAY_START_HOUR + _LUNCH_SPREAD_HOURS * rng.standard_normal(n)) * 3600
        ).astype(np.int64)
        lunch_stay = (np.clip(rng.lognormal(math.log(_LUNCH_MINUTES), 0.2, n), 25, 90) * 60).astype(np.int64)
        lunch_end = lunch_start + lunch_stay
        lunch &= lunch_start - TRAVEL_GAP_SECONDS >= start + 3600
        lunch &= lunch_end + TRAVEL_GAP_SECONDS + 3600 <= end
        lunch &= (lunch_start >= hours.opens[restaurant]) & (lunch_end <= hours.closes[restaurant])

        whole = ~lunch
        draft.add(holders[whole], place[whole], start[whole], (end - start)[whole], closes[whole], True)
        split = np.flatnonzero(lunch)
        spot = spots[split, rng.integers(0, spots.shape[1], split.size)]
        draft.add(
            holders[split],
            place[split],
            start[split],
            lunch_start[split] - TRAVEL_GAP_SECONDS - start[split],
            closes[split],
            True,
        )
        draft.add(
            holders[split],
            spot,
            lunch_start[split],
            lunch_stay[split],
            np.full(split.size, hours.closes[restaurant]),
            False,
        )
        afternoon = lunch_end[split] + TRAVEL_GAP_SECONDS
        draft.add(holders[split], place[split], afternoon, end[split] - afternoon, closes[split], True)
        working = np.zeros(city.people.count, dtype=bool)
        working[holders] = True
        return working

    def _discretionary(
        self,
        hours: DayHours,
        working: npt.NDArray[np.bool_],
        budget: int,
        draft: _Draft,
        rng: np.random.Generator,
    ) -> None:
        """Spread ``budget`` visits over residents and pick a venue and time for each."""
        city = self.city
        venues = city.venues
        appetite = city.routines.outings * np.where(working, _BUSY_WORKER_FACTOR, 1.0)
        total = float(appetite.sum())
        if budget == 0 or total <= 0:
            return
        counts = rng.poisson(appetite * (budget / total))
        counts = np.minimum(counts, _MAX_OUTINGS_PER_DAY)
        person = np.repeat(np.arange(city.people.count, dtype=np.int32), counts)
        m = person.size
        venue = np.empty(m, dtype=np.int32)
        channel = np.searchsorted(_CHANNELS, rng.random(m) * _CHANNELS[-1], side="right")

        favourite = np.flatnonzero(channel == 0)
        slot = weighted_draw(_FAVOURITE_SLOTS, favourite.size, rng)
        venue[favourite] = city.routines.favourites[person[favourite], slot]
        closed = ~hours.is_open[venues.types[venue[favourite]]]
        channel[favourite[closed]] = 1  # the favourite is shut today: go somewhere else

        home = city.people.district[person]
        explore = self._explore_cumulative(hours)
        for channel_code, lookups, pool in (
            (1, explore, self._explore_candidates),
            (3, self._social, self._buildings),
        ):
            chosen = channel == channel_code
            for district in range(len(DISTRICTS)):
                members = np.flatnonzero(chosen & (home == district))
                if members.size:
                    venue[members] = pool[weighted_draw(lookups[district], members.size, rng)]
        taxi = np.flatnonzero(channel == 2)
        venue[taxi] = self._taxis[weighted_draw(self._taxi_cumulative, taxi.size, rng)]

        kind = venues.types[venue]
        start = np.empty(m, dtype=np.int64)
        stay = np.empty(m, dtype=np.int64)
        for code in range(len(VENUE_TYPES)):
            members = np.flatnonzero(kind == code)
            if members.size:
                start[members] = hours.arrivals(code, members.size, rng)
                stay[members] = hours.stays(code, members.size, rng)
        draft.add(person, venue, start, stay, hours.closes[kind], False)
