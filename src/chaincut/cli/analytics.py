"""Commands for outbreak analytics (``chaincut analytics ...``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.analytics import Axis, EpidemicCurve, Growth
from chaincut.cli.console import console, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission

__all__ = ["analytics_app", "epicurve", "epicurve_json"]

analytics_app = typer.Typer(
    help="Outbreak analytics: serial interval, epidemic curve, reproduction number.",
    no_args_is_help=True,
)

_TABLE_DAYS = 14  # the rows a terminal shows; --json gives every day


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}", param_hint=option) from None


def _growth_json(growth: Growth) -> dict[str, Any]:
    return {
        "from": growth.first.isoformat(),
        "to": growth.last.isoformat(),
        "cases": growth.cases,
        "trend": growth.trend.value,
        "rate_per_day": growth.rate_per_day,
        "rate_ci95": None if growth.rate_ci95 is None else list(growth.rate_ci95),
        "time_kind": {"growth": "doubling", "decline": "halving"}.get(growth.trend.value),
        "time_days": growth.time_days if growth.time_ci95 is not None else None,
        "time_ci95": None if growth.time_ci95 is None else list(growth.time_ci95),
        "time_ci95_unbounded": growth.rate_ci95 is not None and growth.time_ci95 is None,
        "dispersion": growth.dispersion,
        "summary": growth.summary(),
    }


def epicurve_json(curve: EpidemicCurve) -> dict[str, Any]:
    """The curve as ``--json`` prints it: one entry per day in every list."""
    return {
        "axis": curve.axis.value,
        "from": curve.first.isoformat(),
        "to": curve.last.isoformat(),
        "days": [d.isoformat() for d in curve.days],
        "total": curve.total.tolist(),
        "by_classification": {c.value: counts.tolist() for c, counts in curve.by_classification.items()},
        "by_district": [
            {"district": name, "counts": counts.tolist()}
            for name, counts in sorted(curve.by_district.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ],
        "average_days": curve.average_days,
        "average": [round(float(v), 6) for v in curve.average],
        "counted": curve.counted,
        "before": curve.before,
        "after": curve.after,
        "undated": curve.undated,
        "no_onset": {"total": curve.no_onset_total, "by_report_date": curve.no_onset.tolist()},
        "suspected_not_counted": curve.suspected,
        "unlinked_share": {
            "date": "report",
            "local": curve.unlinked.local.tolist(),
            "unlinked": curve.unlinked.unlinked.tolist(),
            "share": curve.unlinked.share(),
        },
        "growth": _growth_json(curve.growth),
    }


def epicurve(
    from_: Annotated[
        str | None, typer.Option("--from", help="first day, YYYY-MM-DD (default: the first case's)")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="last day, YYYY-MM-DD (default: the last case's)")
    ] = None,
    by: Annotated[
        Axis, typer.Option("--by", help="place each case by its onset or its report date")
    ] = Axis.ONSET,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object with every day")] = False,
) -> None:
    """Daily cases by onset or report date, by classification and district, and the trend."""
    first, last = _date(from_, "--from"), _date(to, "--to")
    with services() as svc:
        curve = svc.epidemic_curves.curve(by, first, last)
        svc.audit.record(
            event_for(
                operator(),
                Permission.CASES_READ,
                "analytics.epicurve",
                record=f"{curve.axis.value}:{curve.first.isoformat()}..{curve.last.isoformat()}",
            )
        )
    if as_json:
        print_json(epicurve_json(curve))
        return
    table = Table(title=f"Cases by {curve.axis.value} date (last {_TABLE_DAYS} days shown)")
    shown = [c for c, counts in curve.by_classification.items() if counts.any()]
    for column in (
        "day",
        "cases",
        f"{curve.average_days}-day avg",
        *(c.value for c in shown),
        "unlinked share",
    ):
        table.add_column(column, justify="left" if column == "day" else "right")
    share = curve.unlinked.share()
    for i in range(max(0, len(curve.total) - _TABLE_DAYS), len(curve.total)):
        table.add_row(
            curve.days[i].isoformat(),
            f"{int(curve.total[i]):,}",
            f"{float(curve.average[i]):,.1f}",
            *(f"{int(curve.by_classification[c][i]):,}" for c in shown),
            "-" if share[i] is None else f"{share[i]:.0%}",
        )
    console.print(table)
    console.print(curve.growth.summary(), highlight=False, soft_wrap=True)
    apart = f"no onset date: {curve.no_onset_total:,}"
    if curve.axis is Axis.REPORT:
        apart += f"; no report date: {curve.undated:,}"
    outside = curve.before + curve.after
    console.print(
        f"{apart}; outside the days: {outside:,}; suspected (not counted): {curve.suspected:,}",
        highlight=False,
        soft_wrap=True,
    )


analytics_app.command("epicurve")(epicurve)
