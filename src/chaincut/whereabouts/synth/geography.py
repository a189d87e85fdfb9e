"""The synthetic city's map: Hong Kong's 18 districts, their people and distances.

Populations are the 2021 Population Census district totals (Census and
Statistics Department, thousands of residents); centroids are approximate
district centres (WGS84).  Distances are straight-line kilometres between
centroids, which is all the travel model needs: it only has to prefer places
near home, not route anyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DISTRICTS",
    "DISTRICT_NAMES",
    "District",
    "distance_km",
    "proximity_weights",
]


@dataclass(frozen=True)
class District:
    """One of Hong Kong's 18 districts as the synthetic city sees it."""

    name: str
    name_zh: str
    region: str
    population_thousands: int
    latitude: float
    longitude: float
    areas: tuple[tuple[str, str], ...]  # (English, Traditional Chinese) neighbourhoods
    office_weight: float = 1.0  # how many offices it holds relative to its population
    nightlife_weight: float = 1.0
    village_share: float = 0.01  # households in village houses rather than buildings


DISTRICTS: tuple[District, ...] = (
    District(
        "Central and Western",
        "中西區",
        "Hong Kong Island",
        235,
        22.282,
        114.150,
        (
            ("Central", "中環"),
            ("Sheung Wan", "上環"),
            ("Sai Ying Pun", "西營盤"),
            ("Kennedy Town", "堅尼地城"),
        ),
        office_weight=6.0,
        nightlife_weight=5.0,
    ),
    District(
        "Wan Chai",
        "灣仔",
        "Hong Kong Island",
        167,
        22.276,
        114.182,
        (("Wan Chai", "灣仔"), ("Causeway Bay", "銅鑼灣"), ("Happy Valley", "跑馬地")),
        office_weight=5.0,
        nightlife_weight=4.0,
    ),
    District(
        "Eastern",
        "東區",
        "Hong Kong Island",
        529,
        22.283,
        114.225,
        (
            ("North Point", "北角"),
            ("Quarry Bay", "鰂魚涌"),
            ("Shau Kei Wan", "筲箕灣"),
            ("Chai Wan", "柴灣"),
        ),
        office_weight=1.5,
    ),
    District(
        "Southern",
        "南區",
        "Hong Kong Island",
        263,
        22.246,
        114.165,
        (
            ("Aberdeen", "香港仔"),
            ("Ap Lei Chau", "鴨脷洲"),
            ("Stanley", "赤柱"),
            ("Pok Fu Lam", "薄扶林"),
        ),
    ),
    District(
        "Yau Tsim Mong",
        "油尖旺",
        "Kowloon",
        311,
        22.311,
        114.171,
        (
            ("Mong Kok", "旺角"),
            ("Tsim Sha Tsui", "尖沙咀"),
            ("Yau Ma Tei", "油麻地"),
            ("Jordan", "佐敦"),
        ),
        office_weight=4.0,
        nightlife_weight=3.0,
    ),
    District(
        "Sham Shui Po",
        "深水埗",
        "Kowloon",
        431,
        22.331,
        114.160,
        (
            ("Sham Shui Po", "深水埗"),
            ("Cheung Sha Wan", "長沙灣"),
            ("Shek Kip Mei", "石硤尾"),
            ("Lai Chi Kok", "荔枝角"),
        ),
        office_weight=1.2,
    ),
    District(
        "Kowloon City",
        "九龍城",
        "Kowloon",
        410,
        22.320,
        114.190,
        (
            ("Kowloon City", "九龍城"),
            ("Hung Hom", "紅磡"),
            ("To Kwa Wan", "土瓜灣"),
            ("Ho Man Tin", "何文田"),
        ),
    ),
    District(
        "Wong Tai Sin",
        "黃大仙",
        "Kowloon",
        406,
        22.342,
        114.196,
        (
            ("Wong Tai Sin", "黃大仙"),
            ("Diamond Hill", "鑽石山"),
            ("Tsz Wan Shan", "慈雲山"),
            ("San Po Kong", "新蒲崗"),
        ),
        office_weight=0.6,
    ),
    District(
        "Kwun Tong",
        "觀塘",
        "Kowloon",
        673,
        22.312,
        114.226,
        (
            ("Kwun Tong", "觀塘"),
            ("Ngau Tau Kok", "牛頭角"),
            ("Lam Tin", "藍田"),
            ("Kowloon Bay", "九龍灣"),
        ),
        office_weight=2.0,
    ),
    District(
        "Kwai Tsing",
        "葵青",
        "New Territories",
        495,
        22.354,
        114.112,
        (("Kwai Chung", "葵涌"), ("Tsing Yi", "青衣"), ("Kwai Fong", "葵芳")),
        office_weight=1.0,
    ),
    District(
        "Tsuen Wan",
        "荃灣",
        "New Territories",
        320,
        22.372,
        114.115,
        (("Tsuen Wan", "荃灣"), ("Ma Wan", "馬灣"), ("Sham Tseng", "深井")),
        office_weight=1.0,
    ),
    District(
        "Tuen Mun",
        "屯門",
        "New Territories",
        506,
        22.391,
        113.977,
        (("Tuen Mun", "屯門"), ("Siu Hong", "兆康"), ("Tai Hing", "大興")),
        office_weight=0.5,
        village_share=0.08,
    ),
    District(
        "Yuen Long",
        "元朗",
        "New Territories",
        668,
        22.445,
        114.022,
        (("Yuen Long", "元朗"), ("Tin Shui Wai", "天水圍"), ("Kam Tin", "錦田")),
        office_weight=0.5,
        village_share=0.15,
    ),
    District(
        "North",
        "北區",
        "New Territories",
        310,
        22.496,
        114.128,
        (("Sheung Shui", "上水"), ("Fanling", "粉嶺"), ("Sha Tau Kok", "沙頭角")),
        office_weight=0.4,
        village_share=0.15,
    ),
    District(
        "Tai Po",
        "大埔",
        "New Territories",
        316,
        22.451,
        114.164,
        (("Tai Po", "大埔"), ("Tai Wo", "太和"), ("Lam Tsuen", "林村")),
        office_weight=0.5,
        village_share=0.12,
    ),
    District(
        "Sha Tin",
        "沙田",
        "New Territories",
        692,
        22.383,
        114.188,
        (("Sha Tin", "沙田"), ("Tai Wai", "大圍"), ("Ma On Shan", "馬鞍山"), ("Fo Tan", "火炭")),
        office_weight=0.8,
        village_share=0.03,
    ),
    District(
        "Sai Kung",
        "西貢",
        "New Territories",
        489,
        22.317,
        114.264,
        (("Tseung Kwan O", "將軍澳"), ("Sai Kung", "西貢"), ("Hang Hau", "坑口")),
        office_weight=0.5,
        village_share=0.08,
    ),
    District(
        "Islands",
        "離島",
        "New Territories",
        186,
        22.289,
        113.941,
        (
            ("Tung Chung", "東涌"),
            ("Cheung Chau", "長洲"),
            ("Mui Wo", "梅窩"),
            ("Discovery Bay", "愉景灣"),
        ),
        office_weight=0.4,
        village_share=0.12,
    ),
)

DISTRICT_NAMES: tuple[str, ...] = tuple(d.name for d in DISTRICTS)

_KM_PER_DEGREE_LATITUDE = 111.0


def distance_km() -> npt.NDArray[np.float64]:
    """Straight-line distances between district centres, an 18 x 18 matrix in km."""
    lat = np.array([d.latitude for d in DISTRICTS])
    lon = np.array([d.longitude for d in DISTRICTS])
    km_per_degree_longitude = _KM_PER_DEGREE_LATITUDE * math.cos(math.radians(22.3))
    dy = (lat[:, None] - lat[None, :]) * _KM_PER_DEGREE_LATITUDE
    dx = (lon[:, None] - lon[None, :]) * km_per_degree_longitude
    result: npt.NDArray[np.float64] = np.hypot(dx, dy)
    return result


def proximity_weights(scale_km: float, home_boost: float) -> npt.NDArray[np.float64]:
    """How strongly someone living in district i is drawn to places in district j.

    An exponential distance decay (a gravity model, the usual choice for
    short urban trips) with an extra factor for the home district itself, so
    that most routine places end up in or next to where people live.
    """
    weights = np.exp(-distance_km() / scale_km)
    weights[np.diag_indices_from(weights)] *= home_boost
    return weights
