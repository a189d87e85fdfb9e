"""The synthetic city: schema, determinism, time window, hours, shapes, refs."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.errors import InvalidInput
from chaincut.whereabouts.synth import CityParameters, CitySummary, synthesize_city
from chaincut.whereabouts.synth.venue_types import VENUE_TYPES
from chaincut.whereabouts.synth.visits import schedule

# Friday 05:00 Hong Kong time: three whole service days (Tue, Wed, Thu) end here.
ALIGNED_END = datetime(2024, 3, 14, 21, 0, tzinfo=UTC)
SMALL = CityParameters(people=6_000, venues=1_000, days=3, checkins_per_day=8_000, seed=11)
HK = timedelta(hours=8)

HK_DISTRICTS = {
    "Central and Western",
    "Wan Chai",
    "Eastern",
    "Southern",
    "Yau Tsim Mong",
    "Sham Shui Po",
    "Kowloon City",
    "Wong Tai Sin",
    "Kwun Tong",
    "Kwai Tsing",
    "Tsuen Wan",
    "Tuen Mun",
    "Yuen Long",
    "North",
    "Tai Po",
    "Sha Tin",
    "Sai Kung",
    "Islands",
}
STRING = pa.string()
REF = pa.dictionary(pa.int32(), pa.string())


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> CitySummary:
    return synthesize_city(SMALL, tmp_path_factory.mktemp("city"), end=ALIGNED_END)


@pytest.fixture(scope="module")
def tables(city: CitySummary) -> dict[str, Any]:
    return {name: pq.read_table(path) for name, path in city.files.items()}


def _seconds(column: Any) -> np.ndarray:
    """Epoch seconds of a timestamp column, whatever unit Parquet stored it in."""
    return column.cast(pa.timestamp("s", tz="UTC")).cast(pa.int64()).to_numpy()


def _refs(column: Any) -> np.ndarray:
    return np.array(column.cast(STRING).to_pylist())


def hkid_is_valid(text: str) -> bool:
    """Independent check of a Hong Kong identity card number like ``A123456(3)``."""
    match = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(([0-9A])\)", text)
    if not match:
        return False
    letters, digits, check = match.groups()
    values = ([36] if len(letters) == 1 else []) + [ord(c) - ord("A") + 10 for c in letters]
    values += [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def test_hkid_checker_knows_published_example() -> None:
    assert hkid_is_valid("A123456(3)")
    assert not hkid_is_valid("A123456(7)")


def test_files_have_exactly_the_import_columns(city: CitySummary, tables: dict[str, Any]) -> None:
    expected = {
        "people": [
            ("ref", STRING),
            ("household", STRING),
            ("id_document", STRING),
            ("name", STRING),
            ("phone", STRING),
            ("address", STRING),
            ("district", STRING),
            ("age", pa.int16()),
        ],
        "households": [("ref", STRING), ("district", STRING), ("size", pa.int16()), ("home_venue", STRING)],
        "venues": [
            ("ref", STRING),
            ("type", STRING),
            ("name_en", STRING),
            ("name_zh", STRING),
            ("district", STRING),
            ("address", STRING),
            ("plate", STRING),
        ],
        "visits": [
            ("person", REF),
            ("venue", REF),
            ("entered_at", None),
            ("left_at", None),
            ("source", pa.dictionary(pa.int8(), STRING)),
        ],
        "encounters": [("person_a", REF), ("person_b", REF), ("start", None), ("end", None)],
    }
    assert set(city.files) == set(expected)
    for name, columns in expected.items():
        schema = tables[name].schema
        assert schema.names == [c for c, _ in columns], name
        for column, kind in columns:
            field = schema.field(column)
            if kind is None:  # Parquet keeps whole seconds as TIMESTAMP(MILLIS)
                assert pa.types.is_timestamp(field.type)
                assert field.type.tz == "UTC"
                assert np.all(
                    _seconds(tables[name][column]) * 1000 == tables[name][column].cast(pa.int64()).to_numpy()
                )
            else:
                assert field.type == kind, (name, column)
    assert city.people == tables["people"].num_rows == SMALL.people
    assert city.venues == tables["venues"].num_rows == SMALL.venues
    assert city.visits == tables["visits"].num_rows
    assert city.encounters == tables["encounters"].num_rows


def test_same_seed_same_bytes_other_seed_other_city(tmp_path: Path, city: CitySummary) -> None:
    again = synthesize_city(SMALL, tmp_path / "again", end=ALIGNED_END)
    for name, path in city.files.items():
        assert path.read_bytes() == again.files[name].read_bytes(), name
    other = synthesize_city(
        CityParameters(SMALL.people, SMALL.venues, SMALL.days, SMALL.checkins_per_day, seed=12),
        tmp_path / "other",
        end=ALIGNED_END,
    )
    for name in ("people", "venues", "visits", "encounters"):
        assert not pq.read_table(other.files[name]).equals(pq.read_table(city.files[name]))


def test_everything_happens_inside_the_window(tables: dict[str, Any]) -> None:
    end = int(ALIGNED_END.timestamp())
    start = end - SMALL.days * 86_400
    for name, begin, finish in (("visits", "entered_at", "left_at"), ("encounters", "start", "end")):
        entered = _seconds(tables[name][begin])
        left = _seconds(tables[name][finish])
        assert entered.min() >= start
        assert left.max() <= end
        assert np.all(left >= entered)


def test_window_ending_mid_afternoon_is_respected(tmp_path: Path) -> None:
    end = datetime(2024, 3, 13, 7, 13, 29, tzinfo=UTC)  # 15:13 in Hong Kong
    city = synthesize_city(CityParameters(2_000, 200, 2, 3_000, 5), tmp_path, end=end)
    visits = pq.read_table(city.files["visits"])
    entered, left = _seconds(visits["entered_at"]), _seconds(visits["left_at"])
    assert left.max() <= int(end.timestamp())
    assert entered.min() >= int(end.timestamp()) - 2 * 86_400
    assert city.visits == pytest.approx(2 * 3_000, rel=0.06)


def test_visits_per_day_match_the_target(tables: dict[str, Any]) -> None:
    entered = _seconds(tables["visits"]["entered_at"])
    end = int(ALIGNED_END.timestamp())
    per_day = np.histogram(entered, bins=np.arange(end - SMALL.days * 86_400, end + 1, 86_400))[0]
    assert np.all(np.abs(per_day - SMALL.checkins_per_day) <= 0.03 * SMALL.checkins_per_day)


def _service_clock(entered: np.ndarray, left: np.ndarray) -> tuple[Any, Any, Any]:
    """Hour of arrival and departure counted from midnight of the 05:00-05:00 day
    (so 02:00 after a night out is 26) and that day's weekday."""
    local = entered + 8 * 3600
    day_start = local - (local - 5 * 3600) % 86_400
    arrive = (local - day_start) / 3600 + 5
    leave = (left + 8 * 3600 - day_start) / 3600 + 5
    weekday = ((day_start // 86_400) + 3) % 7  # 1970-01-01 was a Thursday
    return arrive, leave, weekday


def test_visits_respect_opening_hours(tables: dict[str, Any]) -> None:
    visits, venues = tables["visits"], tables["venues"]
    kinds = np.array(venues["type"].to_pylist())
    venue_index = {ref: i for i, ref in enumerate(venues["ref"].to_pylist())}
    kind = kinds[[venue_index[r] for r in _refs(visits["venue"])]]
    arrive, leave, weekday = _service_clock(_seconds(visits["entered_at"]), _seconds(visits["left_at"]))
    # Hand-written expectations for two kinds, independent of the parameter table.
    bar = kind == "bar"
    assert bar.any()
    assert np.all((arrive[bar] >= 17) & (leave[bar] <= 27))
    school = kind == "school"
    assert school.any()
    assert np.all((arrive[school] >= 7.5) & (leave[school] <= 17))
    assert np.all(weekday[school] < 5)
    market = kind == "market"
    assert market.any()
    assert np.all(leave[market] <= 14)
    for profile in VENUE_TYPES:
        mine = kind == profile.name
        assert np.all(arrive[mine] >= profile.opens - 1e-9), profile.name
        assert np.all(leave[mine] <= profile.closes + 1e-9), profile.name
        assert np.all(np.isin(weekday[mine], profile.open_days)), profile.name


def test_nobody_is_in_two_places_at_once(tables: dict[str, Any]) -> None:
    visits = tables["visits"]
    person = visits["person"].combine_chunks().indices.to_numpy()
    entered, left = _seconds(visits["entered_at"]), _seconds(visits["left_at"])
    order = np.lexsort((entered, person))
    person, entered, left = person[order], entered[order], left[order]
    same = person[1:] == person[:-1]
    assert np.all(entered[1:][same] >= left[:-1][same])


def test_households_are_hong_kong_sized(tables: dict[str, Any]) -> None:
    sizes = tables["households"]["size"].to_numpy()
    assert sizes.min() >= 1
    assert sizes.max() <= 6
    assert 2.3 <= sizes.mean() <= 3.1
    assert sizes.sum() == SMALL.people
    members = defaultdict(int)
    for ref in tables["people"]["household"].to_pylist():
        members[ref] += 1
    assert [members[r] for r in tables["households"]["ref"].to_pylist()] == sizes.tolist()


def test_venue_popularity_is_heavy_tailed(tables: dict[str, Any]) -> None:
    venue = tables["visits"]["venue"].combine_chunks().indices.to_numpy()
    counts = np.sort(np.bincount(venue, minlength=SMALL.venues))[::-1]
    top = counts[: SMALL.venues // 100].sum() / counts.sum()
    assert top > 0.10  # a uniform city would give the top 1% about 1%


def test_people_look_like_hong_kong_residents(tables: dict[str, Any]) -> None:
    people = tables["people"]
    ids = people["id_document"].to_pylist()
    assert all(hkid_is_valid(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[569]\d{7}", p) for p in people["phone"].to_pylist())
    assert all(re.fullmatch(r"[A-Z]+ [A-Z][a-z]+( [A-Z][a-z]+)?", n) for n in people["name"].to_pylist())
    assert set(people["district"].to_pylist()) <= HK_DISTRICTS
    assert set(tables["venues"]["district"].to_pylist()) <= HK_DISTRICTS
    ages = people["age"].to_numpy()
    assert ages.min() >= 0
    assert ages.max() <= 100
    assert 0.1 < np.mean(ages >= 65) < 0.3


def test_venues_have_kinds_names_and_plates(tables: dict[str, Any]) -> None:
    venues = tables["venues"]
    kinds = venues["type"].to_pylist()
    assert set(kinds) == {t.name for t in VENUE_TYPES}
    assert all(re.search(r"[\u4e00-\u9fff]", n) for n in venues["name_zh"].to_pylist())
    for kind, plate in zip(kinds, venues["plate"].to_pylist(), strict=True):
        if kind == "taxi":
            assert plate is not None
            assert re.fullmatch(r"[A-Z]{2}\d{4}", plate)
        else:
            assert plate is None
    kind_of = dict(zip(venues["ref"].to_pylist(), kinds, strict=True))
    visits = tables["visits"]
    for venue, source in zip(_refs(visits["venue"]), visits["source"].to_pylist(), strict=True):
        assert source == ("taxi" if kind_of[venue] == "taxi" else "qr")


def test_every_ref_points_at_a_row(tables: dict[str, Any]) -> None:
    people = set(tables["people"]["ref"].to_pylist())
    venue_kind = dict(
        zip(tables["venues"]["ref"].to_pylist(), tables["venues"]["type"].to_pylist(), strict=True)
    )
    assert set(_refs(tables["visits"]["person"])) <= people
    assert set(_refs(tables["visits"]["venue"])) <= set(venue_kind)
    assert set(_refs(tables["encounters"]["person_a"])) <= people
    assert set(_refs(tables["encounters"]["person_b"])) <= people
    assert set(tables["people"]["household"].to_pylist()) == set(tables["households"]["ref"].to_pylist())
    homes = [h for h in tables["households"]["home_venue"].to_pylist() if h is not None]
    assert len(homes) > 0.8 * tables["households"].num_rows
    assert {venue_kind[h] for h in homes} == {"residential_building"}


def test_encounters_are_mostly_housemates_or_colleagues(tables: dict[str, Any]) -> None:
    household = dict(
        zip(tables["people"]["ref"].to_pylist(), tables["people"]["household"].to_pylist(), strict=True)
    )
    kind_of = dict(
        zip(tables["venues"]["ref"].to_pylist(), tables["venues"]["type"].to_pylist(), strict=True)
    )
    visits = tables["visits"]
    stays: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for person, venue, entered, left in zip(
        _refs(visits["person"]),
        _refs(visits["venue"]),
        _seconds(visits["entered_at"]),
        _seconds(visits["left_at"]),
        strict=True,
    ):
        stays[person].append((venue, int(entered), int(left)))

    encounters = tables["encounters"]
    a, b = _refs(encounters["person_a"]), _refs(encounters["person_b"])
    start, end = _seconds(encounters["start"]), _seconds(encounters["end"])
    assert np.all(a != b)
    housemates = colleagues = 0
    for p, q, s, e in zip(a, b, start, end, strict=True):
        if household[p] == household[q]:
            housemates += 1
            continue
        # Colleagues: both inside the same office or school throughout the encounter.
        p_places = {v for v, i, o in stays[p] if i <= s and e <= o}
        q_places = {v for v, i, o in stays[q] if i <= s and e <= o}
        if any(kind_of[v] in ("office", "school") for v in p_places & q_places):
            colleagues += 1
    total = len(a)
    assert total == pytest.approx(SMALL.days * SMALL.daily_encounters, rel=0.05)
    assert housemates / total > 0.4
    assert colleagues / total > 0.15
    assert (housemates + colleagues) / total > 0.75


def test_progress_reports_each_stage(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    synthesize_city(
        CityParameters(500, 100, 2, 600, 3),
        tmp_path,
        end=ALIGNED_END,
        progress=lambda s, d, t: calls.append((s, d, t)),
    )
    stages = [s for s, _, _ in calls]
    for stage in ("venues", "households", "people", "routines", "visits day 1/2", "encounters day 2/2"):
        assert stage in stages
    assert all(0 <= d <= t for _, d, t in calls)
    assert calls[-1][1] == calls[-1][2]


def test_parameters_and_end_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="venues"):
        CityParameters(people=100, venues=5, days=1, checkins_per_day=10, seed=1)
    with pytest.raises(InvalidInput, match="seed"):
        CityParameters(people=100, venues=50, days=1, checkins_per_day=10, seed=-1)
    with pytest.raises(InvalidInput, match="timezone"):
        synthesize_city(
            CityParameters(100, 50, 1, 10, 1), tmp_path, end=datetime(2024, 1, 1)
        )  # naive on purpose
    assert CityParameters(1_000, 50, 1, 10, 1).daily_encounters == 400
    assert CityParameters(1_000, 50, 1, 10, 1, encounters_per_day=7).daily_encounters == 7


def _reference_schedule(person: list[int], start: list[int], stay: list[int], gap: int) -> list[int]:
    ends: list[int] = []
    for i, (p, s, d) in enumerate(zip(person, start, stay, strict=True)):
        begin = s if i == 0 or person[i - 1] != p else max(s, ends[-1] + gap)
        ends.append(begin + d)
    return ends


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 86_000), st.integers(0, 20_000)), min_size=1, max_size=40
    ),
    st.integers(0, 900),
)
def test_schedule_matches_a_plain_loop(rows: list[tuple[int, int, int]], gap: int) -> None:
    rows.sort()
    person = [r[0] for r in rows]
    start = [r[1] for r in rows]
    stay = [r[2] for r in rows]
    ends = schedule(
        np.array(person, dtype=np.int32), np.array(start, dtype=np.int64), np.array(stay, dtype=np.int64), gap
    )
    assert ends.tolist() == _reference_schedule(person, start, stay, gap)
