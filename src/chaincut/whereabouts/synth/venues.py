"""The synthetic city's venues: kinds, districts, crowds, signboard names and addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from chaincut.whereabouts.synth import labels
from chaincut.whereabouts.synth.geography import DISTRICT_NAMES, DISTRICTS
from chaincut.whereabouts.synth.names import (
    SIGN_WORDS,
    STREET_STEMS,
    STREET_SUFFIXES,
    TYPE_SUFFIXES,
)
from chaincut.whereabouts.synth.venue_types import VENUE_TYPE_NAMES, VENUE_TYPES, type_code

__all__ = ["Venues", "build_venues", "venue_type_counts"]

_SHOPFRONT_TYPES = frozenset({"restaurant", "bar", "gym", "supermarket", "clinic", "salon", "other"})


@dataclass(frozen=True)
class Venues:
    """Every venue of the city: numpy columns for the simulation and the table to write."""

    types: npt.NDArray[np.int8]
    districts: npt.NDArray[np.int8]
    popularity: npt.NDArray[np.float64]  # relative crowd size within its kind
    table: Any  # pyarrow.Table with the venues.parquet columns

    @property
    def count(self) -> int:
        """Number of venues."""
        return int(self.types.shape[0])

    def of_type(self, name: str) -> npt.NDArray[np.int64]:
        """Indices of the venues of one kind."""
        found: npt.NDArray[np.int64] = np.flatnonzero(self.types == type_code(name))
        return found


def venue_type_counts(total: int) -> npt.NDArray[np.int64]:
    """How many venues of each kind a city of ``total`` venues has (at least one each)."""
    shares = np.array([t.share for t in VENUE_TYPES])
    shares = shares / shares.sum()
    spare = total - len(VENUE_TYPES)
    ideal = shares * spare
    counts = np.floor(ideal).astype(np.int64)
    remainder = spare - int(counts.sum())
    if remainder > 0:
        counts[np.argsort(counts - ideal, kind="stable")[:remainder]] += 1
    result: npt.NDArray[np.int64] = counts + 1
    return result


def _district_weights(bias: str) -> npt.NDArray[np.float64]:
    population = np.array([d.population_thousands for d in DISTRICTS], dtype=np.float64)
    if bias == "office":
        population = population * np.array([d.office_weight for d in DISTRICTS])
    elif bias == "nightlife":
        population = population * np.array([d.nightlife_weight for d in DISTRICTS])
    weights: npt.NDArray[np.float64] = population / population.sum()
    return weights


def build_venues(total: int, rng: np.random.Generator) -> Venues:
    """Draw ``total`` venues: kinds by share, districts by population, crowds heavy-tailed."""
    counts = venue_type_counts(total)
    types = rng.permutation(np.repeat(np.arange(len(VENUE_TYPES), dtype=np.int8), counts))
    districts = np.empty(total, dtype=np.int8)
    popularity = np.empty(total, dtype=np.float64)
    for code, kind in enumerate(VENUE_TYPES):
        members = np.flatnonzero(types == code)
        weights = _district_weights(kind.district_bias)
        districts[members] = rng.choice(len(DISTRICTS), size=members.size, p=weights)
        # Lognormal crowd sizes: a few venues of each kind draw most of its
        # visitors, as in real check-in logs.
        popularity[members] = rng.lognormal(0.0, kind.popularity_sigma, members.size)
    table = _venue_table(types, districts, rng)
    return Venues(types=types, districts=districts, popularity=popularity, table=table)


def _venue_table(
    types: npt.NDArray[np.int8], districts: npt.NDArray[np.int8], rng: np.random.Generator
) -> Any:
    total = int(types.shape[0])
    area_offsets = np.cumsum([0] + [len(d.areas) for d in DISTRICTS])
    area_counts = np.diff(area_offsets)
    area_en = [a[0] for d in DISTRICTS for a in d.areas]
    area_zh = [a[1] for d in DISTRICTS for a in d.areas]
    area = area_offsets[districts] + (rng.random(total) * area_counts[districts]).astype(np.int64)

    suffix_lists = [TYPE_SUFFIXES[name] for name in VENUE_TYPE_NAMES]
    suffix_offsets = np.cumsum([0] + [len(s) for s in suffix_lists])
    suffix_counts = np.diff(suffix_offsets)
    suffix = suffix_offsets[types] + (rng.random(total) * suffix_counts[types]).astype(np.int64)
    suffix_en = [s[1] for lst in suffix_lists for s in lst]
    suffix_zh = [s[0] for lst in suffix_lists for s in lst]
    word = rng.integers(0, len(SIGN_WORDS), total)

    name_en = labels.join(
        labels.pick(area_en, area),
        labels.pick([w[1] for w in SIGN_WORDS], word),
        labels.pick(suffix_en, suffix),
        separator=" ",
    )
    name_zh = labels.join(
        labels.pick(area_zh, area),
        labels.pick([w[0] for w in SIGN_WORDS], word),
        labels.pick(suffix_zh, suffix),
    )

    street = labels.join(
        pc.cast(pa.array(rng.integers(1, 400, total)), pa.string()),
        labels.pick(STREET_STEMS, rng.integers(0, len(STREET_STEMS), total)),
        labels.pick(STREET_SUFFIXES, rng.integers(0, len(STREET_SUFFIXES), total)),
        separator=" ",
    )
    regions = [d.region for d in DISTRICTS]
    address = labels.join(
        _unit_prefix(types, rng),
        street,
        labels.pick(area_en, area),
        labels.pick(regions, districts),
        separator=", ",
    )

    taxi = types == type_code("taxi")
    plate_array = pa.nulls(total, pa.string())
    n_taxis = int(taxi.sum())
    if n_taxis:
        codes = labels.unique_codes(rng, 23 * 23 * 9000, n_taxis)
        positions = np.cumsum(taxi) - 1
        taxi_plates = labels.plate_strings(codes)
        plate_array = pc.if_else(
            pa.array(taxi), taxi_plates.take(pa.array(np.where(taxi, positions, 0))), None
        )
        name_en = pc.if_else(pa.array(taxi), labels.join("Taxi", plate_array, separator=" "), name_en)
        name_zh = pc.if_else(pa.array(taxi), labels.join("的士 ", plate_array), name_zh)
        address = pc.if_else(pa.array(taxi), _taxi_area(districts, rng), address)

    width = labels.ref_width(total, 6)
    return pa.table(
        {
            "ref": labels.padded("V", np.arange(1, total + 1), width),
            "type": labels.pick(VENUE_TYPE_NAMES, types),
            "name_en": name_en,
            "name_zh": name_zh,
            "district": labels.pick(DISTRICT_NAMES, districts),
            "address": address,
            "plate": plate_array,
        }
    )


def _unit_prefix(types: npt.NDArray[np.int8], rng: np.random.Generator) -> Any:
    """``Shop 12, G/F`` for shopfronts, ``Room 1203, 12/F`` for offices, null otherwise."""
    total = int(types.shape[0])
    floor = rng.integers(2, 40, total)
    room = floor * 100 + rng.integers(1, 20, total)
    office = labels.join(
        labels.padded("Room ", room, 3),
        labels.join(pc.cast(pa.array(floor), pa.string()), "/F"),
        separator=", ",
    )
    shop = labels.join(labels.padded("Shop ", rng.integers(1, 60, total), 1), "G/F", separator=", ")
    shopfront_codes = [type_code(name) for name in sorted(_SHOPFRONT_TYPES)]
    is_shop = pa.array(np.isin(types, shopfront_codes))
    is_office = pa.array(types == type_code("office"))
    return pc.if_else(is_office, office, pc.if_else(is_shop, shop, None))


def _taxi_area(districts: npt.NDArray[np.int8], rng: np.random.Generator) -> Any:
    """Where a taxi may ply: red urban taxis, green New Territories ones, blue Lantau ones."""
    kinds = (
        "Urban taxi, plies all of Hong Kong",
        "New Territories taxi, plies the New Territories",
        "Lantau taxi, plies Lantau Island",
    )
    region = np.array([d.region for d in DISTRICTS])[districts]
    is_nt = (region == "New Territories") & (rng.random(districts.shape[0]) < 0.5)
    islands = districts == DISTRICT_NAMES.index("Islands")
    kind = np.where(islands, 2, np.where(is_nt, 1, 0))
    return labels.pick(kinds, kind)
