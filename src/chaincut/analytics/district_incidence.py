"""Cases per 100,000 residents in each of Hong Kong's districts over a span of report dates.

A case's district is its household's, kept with the case as a name (``cases.district``): the
synthetic city and imports write the census's English names ("Central and Western"), the Home
Affairs Department's boundary file writes "Central And Western", the Department of Health's
building list "Central & Western", and a household may carry a Chinese name ("中西區", "灣仔").
:func:`district_key` makes them one: Unicode NFKC, case folded, "&" and "/" read as "and", a
trailing "District" or "區" and everything but letters and digits left out. A case with no
district, or one whose name is none of the districts', is counted as "district not known" (with
the names, so they can be put right), never dropped.

The rate is the span's confirmed and probable cases over the district's resident population
(the 2021 Population Census) times 100,000: a cumulative incidence over the span, so rates over
spans of different lengths do not compare.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

__all__ = ["District", "DistrictIncidence", "DistrictRate", "district_incidence", "district_key"]

PER = 100_000
_SUFFIX = re.compile(r"(district|區)$")
_NOT_WORD = re.compile(r"[\W_]+")


def district_key(name: str) -> str:
    """The name as compared with the districts' names (see the module's docstring)."""
    folded = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ").replace("/", " and ")
    return _SUFFIX.sub("", _NOT_WORD.sub("", folded))


@dataclass(frozen=True)
class District:
    """One of the districts on the map: its code (HAD's ``地區號碼``), names and census population."""

    code: str
    name_en: str
    name_zh: str
    population: int

    def __post_init__(self) -> None:
        if self.population <= 0:
            raise ValueError(f"district {self.code}: population {self.population}, expected more than 0")


@dataclass(frozen=True)
class DistrictRate:
    """A district's cases in the span and their rate per 100,000 residents."""

    district: District
    cases: int

    @property
    def per_100k(self) -> float:
        return self.cases * PER / self.district.population


@dataclass(frozen=True)
class DistrictIncidence:
    """Each district's cases and rate over the span, and the cases no district holds."""

    first: date
    last: date
    districts: tuple[DistrictRate, ...]  # every district, in the order given
    no_district: int  # cases whose household has no district (or who have no household)
    unrecognised: tuple[tuple[str, int], ...]  # names that are no district's, most cases first
    no_report_date: int  # confirmed and probable cases with no report date: in no span

    @property
    def not_known(self) -> int:
        """Cases in the span whose district is not known: none, or a name no district has."""
        return self.no_district + sum(n for _, n in self.unrecognised)

    @property
    def total(self) -> int:
        """Every confirmed and probable case reported in the span."""
        return sum(r.cases for r in self.districts) + self.not_known

    @property
    def population(self) -> int:
        """The residents of every district."""
        return sum(r.district.population for r in self.districts)

    @property
    def per_100k(self) -> float:
        """Every case in the span, those whose district is not known too, per 100,000 residents."""
        return self.total * PER / self.population if self.districts else 0.0


def district_incidence(
    counts: Iterable[tuple[str | None, int]],
    districts: Sequence[District],
    *,
    first: date,
    last: date,
    no_report_date: int = 0,
) -> DistrictIncidence:
    """Cases by district name (None: unknown) matched to ``districts`` and over their populations."""
    by_key: dict[str, District] = {}
    for district in districts:
        for own in (district.name_en, district.name_zh):
            other = by_key.setdefault(district_key(own), district)
            if other is not district:
                raise ValueError(f"districts {other.code} and {district.code} share the name {own!r}")
    cases = {d.code: 0 for d in districts}
    no_district = 0
    unrecognised: dict[str, int] = {}
    for name, n in counts:
        found = by_key.get(district_key(name)) if name and name.strip() else None
        if found is not None:
            cases[found.code] += n
        elif name and name.strip():
            unrecognised[name] = unrecognised.get(name, 0) + n
        else:
            no_district += n
    return DistrictIncidence(
        first=first,
        last=last,
        districts=tuple(DistrictRate(d, cases[d.code]) for d in districts),
        no_district=no_district,
        unrecognised=tuple(sorted(unrecognised.items(), key=lambda item: (-item[1], item[0]))),
        no_report_date=no_report_date,
    )
