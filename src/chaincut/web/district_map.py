"""The epidemiologists' district map, ``/console/districts``: Hong Kong's 18 districts shaded by
confirmed and probable cases per 100,000 residents over the last 7, 28 or 90 days by report date,
with a table of every district (and the cases whose district is not known) below it.

Counts only, as the dashboard: no case or person is named, so no purpose is asked; the read is
audited. The map is drawn server-side as inline SVG from ``geo/hk_districts.json`` (the Home
Affairs Department's boundaries, reduced by ``scripts/districts-svg``; see ``geo/README.md``),
each district shaded by a CSS class (``shade-0`` to ``shade-5``): no script, no style attribute.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from chaincut.analytics.district_incidence import District, DistrictIncidence, DistrictRate
from chaincut.domain.access import Permission
from chaincut.errors import InvalidInput
from chaincut.guards import Caller, requires
from chaincut.web.charts import nice_ceiling
from chaincut.web.i18n import Language, Localizer
from chaincut.web.pages import PageRoute, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

AnalyticsReader = Annotated[Caller, requires(Permission.ANALYTICS_READ)]
SPANS = (7, 28, 90)  # days the page offers, ending today
DEFAULT_SPAN = 28
SHADES = 5  # classes of rate above zero (shade-1 to shade-5); shade-0 is no case
UNRECOGNISED_SHOWN = 10


@dataclass(frozen=True)
class _Map:
    """The districts as the map draws them: the drawing's size, each district's outline, and the
    inset (Kowloon and the north of Hong Kong Island, enlarged): its box and the districts in it."""

    width: int
    height: int
    districts: tuple[District, ...]
    paths: dict[str, str]
    inset: tuple[float, float, float, float]  # x, y, width, height in the map's pixels
    inset_districts: frozenset[str]


@cache
def _map() -> _Map:
    """``geo/hk_districts.json``, read once (when the page is first asked for)."""
    data = json.loads(files("chaincut.web").joinpath("geo", "hk_districts.json").read_text("utf-8"))
    entries = data["districts"]
    return _Map(
        width=int(data["width"]),
        height=int(data["height"]),
        districts=tuple(
            District(code, entry["en"], entry["zh"], int(entry["population"]))
            for code, entry in entries.items()
        ),
        paths={code: str(entry["path"]) for code, entry in entries.items()},
        inset=(
            float(data["inset"]["x"]),
            float(data["inset"]["y"]),
            float(data["inset"]["width"]),
            float(data["inset"]["height"]),
        ),
        inset_districts=frozenset(data["inset"]["districts"]),
    )


def _span(days: str | None) -> int:
    if days is None or days == "":
        return DEFAULT_SPAN
    if days not in {str(span) for span in SPANS}:
        raise InvalidInput(f"days: expected one of {', '.join(map(str, SPANS))}", field="days")
    return int(days)


def _step(rates: Sequence[float]) -> float | None:
    """The width of each shade's band of rates: a round number, SHADES of them covering the
    highest rate (None when no district has a case)."""
    highest = max(rates, default=0.0)
    return nice_ceiling(highest / SHADES) if highest > 0 else None


def _shade(rate: float, step: float | None) -> int:
    if rate <= 0 or step is None:
        return 0
    # A rate on a band's upper edge belongs to that band (allowing for the float's last digit).
    return max(1, min(SHADES, math.ceil(rate / step - 1e-9)))


def _rate(words: Localizer, rate: float) -> str:
    """A rate as the page shows it: one decimal, two below 1 (so a single case never shows as 0)."""
    return words.number(round(rate, 1 if rate >= 1 or rate == 0 else 2))


def _rows(incidence: DistrictIncidence, words: Localizer, step: float | None) -> list[dict[str, Any]]:
    chinese = words.language is Language.ZH_HANT

    def name(rate: DistrictRate) -> str:
        return rate.district.name_zh if chinese else rate.district.name_en

    ordered = sorted(incidence.districts, key=lambda r: (-r.per_100k, name(r)))
    return [
        {
            "code": r.district.code,
            "name": name(r),
            "cases": r.cases,
            "population": r.district.population,
            "rate": _rate(words, r.per_100k),
            "shade": _shade(r.per_100k, step),
        }
        for r in ordered
    ]


@router.get("/console/districts")
def district_map(
    request: Request,
    caller: AnalyticsReader,
    days: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """Each district's cases per 100,000 over the last ``days`` days (7, 28 or 90; 28 unless asked)."""
    span = _span(days)
    services = caller.services
    words = localizer_for(request, caller)
    drawing = _map()
    today = services.clock.now().astimezone(services.settings.zone).date()
    first = today - timedelta(days=span - 1)
    incidence = services.epidemic_curves.by_district(drawing.districts, first, today)
    caller.audit("analytics.districts", today.isoformat(), details={"days": span})

    step = _step([r.per_100k for r in incidence.districts])
    rows = _rows(incidence, words, step)
    by_code = {row["code"]: row for row in rows}
    shapes = [{**by_code[d.code], "path": drawing.paths[d.code]} for d in drawing.districts]
    legend = [
        {
            "shade": k,
            "low": words.number(round((k - 1) * step, 6)),
            "high": words.number(round(k * step, 6)),
        }
        for k in range(1, SHADES + 1)
        if step is not None
    ]
    return page(
        request,
        caller,
        "district_map.html",
        days=span,
        spans=SPANS,
        first=first,
        today=today,
        drawing={
            "width": drawing.width,
            "height": drawing.height,
            "districts": shapes,
            "inset": dict(zip(("x", "y", "width", "height"), drawing.inset, strict=True)),
            "inset_districts": [s for s in shapes if s["code"] in drawing.inset_districts],
        },
        legend=legend,
        rows=rows,
        total=incidence.total,
        population=incidence.population,
        overall_rate=_rate(words, incidence.per_100k),
        not_known=incidence.not_known,
        no_district=incidence.no_district,
        unrecognised=incidence.unrecognised[:UNRECOGNISED_SHOWN],
        unrecognised_more=max(0, len(incidence.unrecognised) - UNRECOGNISED_SHOWN),
        no_report_date=incidence.no_report_date,
    )
