"""The epidemiologists' dashboard, ``/console/dashboard``: the epidemic curve with its trend, R_t
with its 95% band, the share of local cases with no known source, and the active clusters.

The same services as ``GET /analytics/epicurve``, ``/analytics/rt`` and ``/analytics/clusters``
over the last ``DAYS`` days: counts, and the active clusters' names and settings. No case or
person is named, so no purpose is asked, as for the situation report, which shows the same.
Charts are drawn server-side as SVG (``web/charts``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from chaincut.analytics.epicurve import Axis, Trend
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires
from chaincut.web.charts import DayAxis, nice_ceiling
from chaincut.web.i18n import N_, Language
from chaincut.web.pages import PageRoute, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

AnalyticsReader = Annotated[Caller, requires(Permission.ANALYTICS_READ)]
DAYS = 90
CLUSTERS_SHOWN = 10
_TRENDS = {
    Trend.GROWTH: N_("Growing: cases double every %(days)s days (95%% interval %(lo)s to %(hi)s)."),
    Trend.DECLINE: N_("Declining: cases halve every %(days)s days (95%% interval %(lo)s to %(hi)s)."),
    Trend.NO_CLEAR_TREND: N_("No clear growth or decline over the last days."),
    Trend.INSUFFICIENT_DATA: N_("Too few cases to say whether they grow or decline."),
}


@router.get("/console/dashboard")
def dashboard(request: Request, caller: AnalyticsReader) -> HTMLResponse:
    """The curve, R_t, the unlinked share and the active clusters, as of today."""
    services = caller.services
    words = localizer_for(request, caller)
    today = services.clock.now().astimezone(services.settings.zone).date()
    first = today - timedelta(days=DAYS - 1)
    # The curve and R_t each count every case in SQL: read side by side, on two connections (a
    # million cases: 0.16 s together against 0.24 s one after the other, bench/console_pages.py).
    with ThreadPoolExecutor(1, thread_name_prefix="dashboard-rt") as beside:
        estimating = beside.submit(services.reproduction.estimate, from_day=first, to_day=today)
        curve = services.epidemic_curves.curve(Axis.ONSET, first, today)
        rt = estimating.result()
    # The clusters the last run found active (a member reported within the policy's active_days):
    # read from the run's records, not recounted from a million members for the page.
    ran = services.clusters.ever_run()
    active, _ = services.clusters.listing(status="active", limit=CLUSTERS_SHOWN, settings_shown=2)
    caller.audit("analytics.dashboard", today.isoformat(), details={"days": DAYS})

    totals = [float(v) for v in curve.total]
    cases_axis = DayAxis(first, today, nice_ceiling(max(totals + list(curve.average), default=0)))
    by_end = {w.end: w for w in rt.windows}
    windows = [by_end.get(first + timedelta(days=i)) for i in range(DAYS)]
    mean = [w.posterior.mean if w and w.posterior else None for w in windows]
    low = [w.posterior.lo if w and w.posterior else None for w in windows]
    high = [w.posterior.hi if w and w.posterior else None for w in windows]
    rt_axis = DayAxis(first, today, nice_ceiling(max([h for h in high if h is not None] + [2.0])))
    shares = curve.unlinked.share()
    share_axis = DayAxis(first, today, 1.0)
    latest = next((w for w in reversed(windows) if w is not None and w.posterior is not None), None)
    growth = curve.growth
    numbers = {
        "days": words.number(round(growth.time_days, 1)) if growth.time_days else "",
        "lo": words.number(round(growth.time_ci95[0], 1)) if growth.time_ci95 else "",
        "hi": words.number(round(growth.time_ci95[1], 1)) if growth.time_ci95 else "",
    }
    chinese = words.language is Language.ZH_HANT
    clusters: list[dict[str, Any]] = [
        {
            "id": summary.id,
            "name": summary.name,
            "size": summary.size,
            "last_reported": summary.last_reported,
            "settings": [
                (s.name_zh or s.name_en) if chinese else (s.name_en or s.name_zh) for s in summary.settings
            ],
        }
        for summary, _ in active
    ]
    recent = slice(DAYS - 7, DAYS)
    return page(
        request,
        caller,
        "dashboard.html",
        first=first,
        today=today,
        cases={
            "axis": cases_axis,
            "bars": cases_axis.bars(totals),
            "average": cases_axis.line([float(v) for v in curve.average]),
            "week": int(sum(curve.total[recent])),
            "total": int(curve.total.sum()),
            "average_days": curve.average_days,
        },
        trend=words.gettext(_TRENDS[growth.trend]) % numbers,
        rt={
            "axis": rt_axis,
            "mean": rt_axis.line(mean),
            "band": rt_axis.band(low, high),
            "one": rt_axis.y(1.0),
            "latest": latest,
        },
        unlinked={
            "axis": share_axis,
            "line": share_axis.line(shares),
            "week_local": int(sum(curve.unlinked.local[recent])),
            "week_unlinked": int(sum(curve.unlinked.unlinked[recent])),
        },
        clusters=clusters,
        clusters_run=ran,
    )
