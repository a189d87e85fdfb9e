"""The synthetic city's residents: households, ages, names, identity cards, phones, homes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from chaincut.whereabouts.synth import labels
from chaincut.whereabouts.synth.geography import DISTRICT_NAMES, DISTRICTS
from chaincut.whereabouts.synth.names import GIVEN_SYLLABLES, SURNAMES, VILLAGE_STEMS
from chaincut.whereabouts.synth.venues import Venues

__all__ = [
    "HOUSEHOLD_SIZE_SHARES",
    "Households",
    "People",
    "build_households",
    "build_people",
    "household_tables",
    "people_tables",
]

HOUSEHOLD_SIZE_SHARES = (0.197, 0.283, 0.243, 0.185, 0.066, 0.026)
"""Share of households with 1..6 members: the 2021 Population Census
distribution (6+ folded into 6), which gives Hong Kong's mean of about 2.7."""

_PHONE_SHARED_BELOW_AGE = 12  # young children are reached on a parent's phone
_CHUNK = 1_000_000


@dataclass(frozen=True)
class Households:
    """Households of the city; members of household h are people start[h] .. start[h]+size[h]."""

    size: npt.NDArray[np.int16]
    start: npt.NDArray[np.int64]
    district: npt.NDArray[np.int8]
    home_venue: npt.NDArray[np.int32]  # residential_building venue index, -1 for none
    surname: npt.NDArray[np.int16]

    @property
    def count(self) -> int:
        """Number of households."""
        return int(self.size.shape[0])


@dataclass(frozen=True)
class People:
    """Residents in household order, as numpy columns."""

    household: npt.NDArray[np.int32]
    position: npt.NDArray[np.int8]  # 0 is the household's first adult
    age: npt.NDArray[np.int16]
    district: npt.NDArray[np.int8]

    @property
    def count(self) -> int:
        """Number of residents."""
        return int(self.age.shape[0])


def build_households(people: int, venues: Venues, rng: np.random.Generator) -> Households:
    """Split ``people`` residents into census-shaped households and give each a home."""
    shares = np.array(HOUSEHOLD_SIZE_SHARES) / sum(HOUSEHOLD_SIZE_SHARES)
    mean = float(np.dot(shares, np.arange(1, 7)))
    sizes = rng.choice(np.arange(1, 7, dtype=np.int16), size=int(people / mean * 1.1) + 10, p=shares)
    ends = np.cumsum(sizes, dtype=np.int64)
    count = int(np.searchsorted(ends, people)) + 1
    sizes = sizes[:count].copy()
    sizes[-1] -= ends[count - 1] - people
    start = np.concatenate(([0], np.cumsum(sizes[:-1], dtype=np.int64)))

    population = np.array([d.population_thousands for d in DISTRICTS], dtype=np.float64)
    district: npt.NDArray[np.int8] = rng.choice(
        len(DISTRICTS), size=count, p=population / population.sum()
    ).astype(np.int8)

    home = np.full(count, -1, dtype=np.int32)
    buildings = venues.of_type("residential_building")
    village_share = np.array([d.village_share for d in DISTRICTS])
    in_village = rng.random(count) < village_share[district]
    for code in range(len(DISTRICTS)):
        local = buildings[venues.districts[buildings] == code]
        members = np.flatnonzero((district == code) & ~in_village)
        if local.size == 0 or members.size == 0:
            continue
        # Big estates house more families: homes follow building popularity.
        weights = np.cumsum(venues.popularity[local])
        picks = np.searchsorted(weights, rng.random(members.size) * weights[-1])
        home[members] = local[np.minimum(picks, local.size - 1)]

    surname_weights = np.array([w for _, w in SURNAMES])
    surname = rng.choice(len(SURNAMES), size=count, p=surname_weights / surname_weights.sum())
    return Households(
        size=sizes,
        start=start,
        district=district,
        home_venue=home,
        surname=surname.astype(np.int16),
    )


def build_people(households: Households, rng: np.random.Generator) -> People:
    """Residents with ages that make sense inside their household.

    The first member is an adult (older when living alone: a large share of
    one-person households in Hong Kong are elderly); the second is a spouse,
    or in a quarter of two-person households a grown child; further members
    are children; the last member of a five- or six-person household is a
    grandparent.  The result has roughly Hong Kong's age pyramid (about a
    fifth over 65, about a tenth under 15).
    """
    sizes = households.size.astype(np.int64)
    total = int(sizes.sum())
    household = np.repeat(np.arange(households.count, dtype=np.int32), sizes)
    position = (np.arange(total) - households.start[household]).astype(np.int8)
    size = sizes[household]

    alone_elderly = rng.random(households.count) < 0.45
    head_age = np.where(
        households.size == 1,
        np.where(
            alone_elderly,
            rng.uniform(65, 95, households.count),
            rng.uniform(22, 65, households.count),
        ),
        np.clip(rng.normal(55, 14, households.count), 24, 92),
    )
    head = head_age[household]
    n = total
    spouse = np.clip(head + rng.normal(-2, 4, n), 20, 98)
    grown_child = np.clip(head - rng.uniform(24, 36, n), 18, None)
    child = head - rng.uniform(24, 42, n)
    child = np.where(child < 0, rng.uniform(0, 4, n), child)
    grandparent = np.clip(head + rng.uniform(22, 32, n), 60, 100)

    age = np.where(position == 0, head, child)
    second_is_child = (size == 2) & (rng.random(n) < 0.25) & (head >= 45)
    age = np.where(position == 1, np.where(second_is_child, grown_child, spouse), age)
    age = np.where((size >= 5) & (position == size - 1), grandparent, age)
    return People(
        household=household,
        position=position,
        age=age.astype(np.int16),
        district=households.district[household],
    )


def household_tables(
    households: Households, venues: Venues, rng: np.random.Generator
) -> Iterator[tuple[Any, Any]]:
    """Chunks of (households table, household address strings) ready to write."""
    venue_refs = venues.table.column("ref").combine_chunks()
    building_name = venues.table.column("name_en").combine_chunks()
    building_address = venues.table.column("address").combine_chunks()
    width = labels.ref_width(households.count, 7)
    area_offsets = np.cumsum([0] + [len(d.areas) for d in DISTRICTS])
    area_counts = np.diff(area_offsets)
    area_en = [a[0] for d in DISTRICTS for a in d.areas]
    regions = [d.region for d in DISTRICTS]
    for begin in range(0, households.count, _CHUNK):
        stop = min(begin + _CHUNK, households.count)
        n = stop - begin
        home = households.home_venue[begin:stop]
        district = households.district[begin:stop]
        home_index = pa.array(home, mask=home < 0)
        floor = rng.integers(1, 45, n)
        flat = labels.join(
            labels.padded("Flat ", rng.integers(1, 25, n), 1),
            labels.pick("ABCDEFGH", rng.integers(0, 8, n)),
        )
        in_building = labels.join(
            flat,
            labels.join(labels.padded("", floor, 1), "/F"),
            building_name.take(home_index),
            building_address.take(home_index),
            separator=", ",
        )
        area = area_offsets[district] + (rng.random(n) * area_counts[district]).astype(np.int64)
        village = labels.join(
            labels.padded("House ", rng.integers(1, 200, n), 1),
            labels.join(
                labels.pick(VILLAGE_STEMS, rng.integers(0, len(VILLAGE_STEMS), n)),
                "Village",
                separator=" ",
            ),
            labels.pick(area_en, area),
            labels.pick(regions, district),
            separator=", ",
        )
        addresses = pc.if_else(pa.array(home >= 0), in_building, village)
        table = pa.table(
            {
                "ref": labels.padded("H", np.arange(begin + 1, stop + 1), width),
                "district": labels.pick(DISTRICT_NAMES, district),
                "size": pa.array(households.size[begin:stop], pa.int16()),
                "home_venue": venue_refs.take(home_index),
            }
        )
        yield table, addresses


def people_tables(
    people: People,
    households: Households,
    addresses: Any,
    rng: np.random.Generator,
) -> Iterator[Any]:
    """Chunks of the people table: refs, names, identity cards, phones, addresses."""
    total = people.count
    # Identity cards are unique; cities far beyond Hong Kong's size spill
    # into two-letter prefixes (21 single letters + 26 x 26 pairs).
    single_letter_space = len(labels.HKID_SINGLE_LETTERS) * 1_000_000
    hkid_space = single_letter_space if total <= single_letter_space // 2 else 697 * 1_000_000
    hkid = labels.unique_codes(rng, hkid_space, total)
    # Mobile numbers are unique while the 30 million number space allows.
    if total <= 20_000_000:
        phone = labels.unique_codes(rng, 30_000_000, total)
    else:
        phone = rng.integers(0, 30_000_000, total)
    head = households.start[people.household]
    phone = np.where(people.age < _PHONE_SHARED_BELOW_AGE, phone[head], phone)

    # Children take the household's (father's) surname; spouses keep their
    # own, as married women in Hong Kong usually do on their identity card.
    weights = np.array([w for _, w in SURNAMES])
    own_surname = rng.choice(len(SURNAMES), size=total, p=weights / weights.sum())
    keeps_own = (people.position == 1) & (people.age >= 18)
    surname = np.where(keeps_own, own_surname, households.surname[people.household])
    first = rng.integers(0, len(GIVEN_SYLLABLES), total)
    second = rng.integers(0, len(GIVEN_SYLLABLES), total)
    one_syllable = rng.random(total) < 0.1

    surnames = [s for s, _ in SURNAMES]
    person_width = labels.ref_width(total, 7)
    household_width = labels.ref_width(households.count, 7)
    for begin in range(0, total, _CHUNK):
        stop = min(begin + _CHUNK, total)
        part = slice(begin, stop)
        second_part = pa.array(np.where(one_syllable[part], -1, second[part]), mask=one_syllable[part])
        syllables = pa.array(list(GIVEN_SYLLABLES), pa.string())
        name = labels.join(
            labels.pick(surnames, surname[part]),
            labels.pick(GIVEN_SYLLABLES, first[part]),
            syllables.take(second_part),
            separator=" ",
        )
        household = people.household[part]
        yield pa.table(
            {
                "ref": labels.padded("P", np.arange(begin + 1, stop + 1), person_width),
                "household": labels.padded("H", household.astype(np.int64) + 1, household_width),
                "id_document": labels.hkid_strings(hkid[part]),
                "name": name,
                "phone": labels.phone_strings(phone[part]),
                "address": addresses.take(pa.array(household)),
                "district": labels.pick(DISTRICT_NAMES, people.district[part]),
                "age": pa.array(people.age[part], pa.int16()),
            }
        )
