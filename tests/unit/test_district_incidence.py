"""Cases per 100,000 by district: names as imports write them matched to the 18 districts, the
rest counted as not known; and the map's committed data file checked against its README."""

from __future__ import annotations

import json
import re
from datetime import date
from importlib.resources import files

import pytest

from chaincut.analytics.district_incidence import District, district_incidence, district_key

DAY = date(2026, 11, 20)
SHA_TIN = District("R", "Sha Tin", "沙田", 692_806)
CENTRAL = District("A", "Central and Western", "中西區", 235_953)
NORTH = District("N", "North", "北區", 309_631)


@pytest.mark.parametrize(
    ("written", "district"),
    [
        ("Central And Western", CENTRAL),  # HAD's boundary file
        ("Central & Western", CENTRAL),  # the Department of Health's building list
        ("central/western", CENTRAL),
        (" CENTRAL AND WESTERN DISTRICT ", CENTRAL),
        ("中西區", CENTRAL),
        ("中西", CENTRAL),
        ("Ｓｈａ　Ｔｉｎ", SHA_TIN),  # full-width letters and space
        ("Sha-Tin", SHA_TIN),
        ("沙田區", SHA_TIN),
        ("North District", NORTH),
        ("北區", NORTH),
    ],
)
def test_a_districts_name_as_imports_write_it_is_that_district(written: str, district: District) -> None:
    found = district_incidence([(written, 3)], [SHA_TIN, CENTRAL, NORTH], first=DAY, last=DAY)
    assert {r.district.code: r.cases for r in found.districts}[district.code] == 3
    assert found.not_known == 0
    assert district_key(written) == district_key(district.name_en) or district_key(written) == district_key(
        district.name_zh
    )


def test_no_district_and_names_no_district_has_are_counted_apart_most_first() -> None:
    counts = [
        (None, 2),
        ("", 1),
        ("  ", 1),
        ("Mongkok", 1),
        ("Tsim Sha Tsui", 4),
        ("Mongkok", 2),
        ("Sha Tin", 5),
    ]
    found = district_incidence(counts, [SHA_TIN, CENTRAL], first=DAY, last=DAY, no_report_date=7)
    assert found.no_district == 4
    assert found.unrecognised == (("Tsim Sha Tsui", 4), ("Mongkok", 3))
    assert (found.not_known, found.total, found.no_report_date) == (11, 16, 7)
    (sha_tin, central) = found.districts  # every district, in the order given, none or not
    assert (sha_tin.cases, central.cases) == (5, 0)
    assert sha_tin.per_100k == pytest.approx(5 / 692_806 * 100_000)  # 0.7217...
    assert central.per_100k == 0
    assert found.population == 692_806 + 235_953
    assert found.per_100k == pytest.approx(16 / (692_806 + 235_953) * 100_000)  # the unknown too


def test_two_districts_sharing_a_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share the name"):
        district_incidence([], [SHA_TIN, District("X", "Sha  Tin", "X", 1)], first=DAY, last=DAY)
    with pytest.raises(ValueError, match="population"):
        District("Z", "Nowhere", "無", 0)


def test_the_committed_map_holds_the_18_districts_with_their_census_populations() -> None:
    data = json.loads(files("chaincut.web").joinpath("geo", "hk_districts.json").read_text("utf-8"))
    districts = data["districts"]
    assert sorted(districts) == list("ABCDEFGHJKLMNPQRST")  # HAD's codes: no I, no O
    assert sum(d["population"] for d in districts.values()) == 7_411_945  # geo/README.md
    assert (districts["R"]["en"], districts["R"]["zh"], districts["R"]["population"]) == (
        "Sha Tin",
        "沙田",
        692_806,
    )
    names = [d["en"] for d in districts.values()] + [d["zh"] for d in districts.values()]
    assert len({district_key(n) for n in names}) == 36  # no two districts share a name
    width, height = data["width"], data["height"]
    for code, district in districts.items():
        path = district["path"]
        assert re.fullmatch(r"(M[\d.]+ [\d.]+l[-\d. ]+z)+", path), code
        for ring in re.findall(r"M([\d.]+) ([\d.]+)l([-\d. ]+)z", path):  # every point on the map
            x, y = float(ring[0]), float(ring[1])
            steps = [float(v) for v in re.findall(r"-?[\d.]+", ring[2])]
            for dx, dy in zip(steps[::2], steps[1::2], strict=True):
                x, y = x + dx, y + dy
                assert 0 <= x <= width and 0 <= y <= height, code
                assert (x * 2).is_integer() and (y * 2).is_integer(), code  # half a pixel
    inset = data["inset"]
    assert 0 < inset["x"] < inset["x"] + inset["width"] < width
    assert set("ABCEFGHJ") <= set(inset["districts"]) <= set(districts)
