"""Commands for outbreak analytics (``chaincut analytics ...``)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.analytics import Axis, EpidemicCurve, Growth
from chaincut.analytics.pairs_file import read_pairs_file
from chaincut.analytics.serial_interval import (
    OnsetPair,
    OnsetWindow,
    estimate_serial_interval,
    pairs_with_onsets,
)
from chaincut.cli.console import console, err, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission
from chaincut.errors import ChaincutError, InvalidInput

__all__ = ["analytics_app", "epicurve", "epicurve_json", "rt", "serial_interval"]

analytics_app = typer.Typer(
    help="Outbreak analytics: serial interval, epidemic curve, reproduction number.",
    no_args_is_help=True,
)

_WINDOW = re.compile(r"(\d{4}-\d{2}-\d{2}):(\d{4}-\d{2}-\d{2})")
_WINDOWS_EXPECTED = (
    "comma-separated FROM:TO ranges of ISO dates, e.g. 2020-01-09:2020-01-22,2020-01-23:2020-01-29"
)


def _parse_windows(text: str) -> list[OnsetWindow]:
    """``--windows`` as inclusive ranges of infector onset; refuses bad text naming the option."""
    windows = []
    for part in text.split(","):
        match = _WINDOW.fullmatch(part.strip())
        if match is None:
            raise InvalidInput(
                f"--windows: expected {_WINDOWS_EXPECTED}; got {part.strip()!r}", field="--windows"
            )
        try:
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        except ValueError as exc:
            raise InvalidInput(
                f"--windows: {part.strip()!r}: {exc}; expected real calendar dates", field="--windows"
            ) from exc
        if last < first:
            raise InvalidInput(
                f"--windows: {part.strip()!r} ends before it starts; expected FROM on or before TO",
                field="--windows",
            )
        windows.append(OnsetWindow(first, last))
    return windows


def _fail(exc: ChaincutError) -> typer.Exit:
    field = f" ({exc.field})" if exc.field and not exc.message.startswith(exc.field) else ""
    err.print(f"[red]error:[/red] {exc.message}{field}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _store_pairs() -> tuple[list[OnsetPair], int]:
    """The store's confirmed links (a case's ``linked_case``: its infector) as onset pairs; audited."""
    with services() as svc:
        with svc.store.read() as uow:
            links = uow.cases.linked_onsets()
        pairs, left_out = pairs_with_onsets(links)
        svc.audit.record(
            event_for(
                operator(),
                Permission.CASES_READ,
                "serial_interval",
                record="linked cases",
                details={"pairs": len(pairs), "left_out_no_onset": left_out},
            )
        )
    return pairs, left_out


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def serial_interval(
    pairs_csv: Annotated[
        Path | None,
        typer.Argument(
            help="pairs CSV: columns infector_onset, infectee_onset (ISO dates), or Ali et al.'s "
            "infector_onsetDate, infectee_onsetDate (yyyy/mm/dd, 'unknown' left out and counted); "
            "without it, the store's confirmed links",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    windows: Annotated[
        str | None,
        typer.Option(help=f"windows of infector onset, both ends included: {_WINDOWS_EXPECTED}"),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="seed of the bootstrap's random generator")] = 0,
    resamples: Annotated[
        int, typer.Option(min=100, max=1_000_000, help="bootstrap resamples per window")
    ] = 10_000,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object: windows, left_out")] = False,
) -> None:
    """The serial interval (infectee minus infector onset, days; negatives kept) by window of infector onset.

    Mean, sd, a percentile bootstrap 95% CI of the mean, and maximum-likelihood fits: a
    normal (intervals can be negative), plus gamma and lognormal where all are positive.
    """
    try:
        chosen = None if windows is None else _parse_windows(windows)
        if pairs_csv is not None:
            read = read_pairs_file(pairs_csv)
            pairs, left_out = list(read.pairs), read.left_out_unknown_onset
            source = f"file ({read.layout} layout)"
            left_out_why = "pairs with an 'unknown' onset"
        else:
            pairs, left_out = [], 0
            source = "store"
            left_out_why = "linked cases where either case has no onset date"
    except ChaincutError as exc:
        raise _fail(exc) from exc
    if pairs_csv is None:
        pairs, left_out = _store_pairs()
    if chosen is None:
        onsets = [p.infector_onset for p in pairs]
        chosen = [OnsetWindow(min(onsets), max(onsets))] if onsets else []
    estimates = estimate_serial_interval(pairs, chosen, rng=np.random.default_rng(seed), resamples=resamples)
    outside = sum(1 for p in pairs if not any(w.holds(p.infector_onset) for w in chosen))
    if json_output:
        body: dict[str, object] = {
            "windows": [e.as_dict() for e in estimates],
            "source": source,
            "pairs": len(pairs),
            "left_out": {"count": left_out, "why": left_out_why},
            "outside_windows": outside,
            "seed": seed,
            "resamples": resamples,
        }
        if not chosen:
            body["note"] = "no pairs with both onsets: no window to estimate"
        print_json(body)
        return
    table = Table(title=f"Serial interval (days) from {len(pairs):,} pairs, {source}")
    for column in ("from", "to", "n", "mean", "sd", "95% CI", "fit", "note"):
        table.add_column(column)
    for e in estimates:
        best = e.fit
        fit = (
            "" if best is None else f"{best.family} " + ", ".join(f"{k}={v:.2f}" for k, v in best.parameters)
        )
        ci = "" if e.ci95 is None else f"{e.ci95[0]:.2f} to {e.ci95[1]:.2f}"
        table.add_row(
            str(e.window.first),
            str(e.window.last),
            str(e.n),
            _number(e.mean),
            _number(e.sd),
            ci,
            fit,
            e.note or "",
        )
    console.print(table)
    console.print(f"left out: {left_out} ({left_out_why}); outside every window: {outside}")


analytics_app.command("serial-interval")(serial_interval)


def _day(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        err.print(f"[red]error:[/red] {option}: expected a date YYYY-MM-DD, got {text!r}", highlight=False)
        raise typer.Exit(2) from None


def rt(
    from_text: Annotated[
        str | None, typer.Option("--from", help="first window end to show (YYYY-MM-DD)")
    ] = None,
    to_text: Annotated[str | None, typer.Option("--to", help="last window end to show (YYYY-MM-DD)")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="one JSON object: parameters, left-out cases and windows")
    ] = False,
) -> None:
    """The time-varying reproduction number R_t by onset date (Cori et al. 2013, as EpiEstim).

    Imported cases infect but are not infected locally; every other classification is local.
    Windows with too few cases say "insufficient data" and why.
    """
    from_day, to_day = _day("--from", from_text), _day("--to", to_text)
    with services() as svc:
        report = svc.reproduction.estimate(from_day=from_day, to_day=to_day)
    if json_output:
        print_json(report.as_dict())
        return
    r = report.rules
    table = Table(
        title=f"R_t, {r.window_days}-day windows, serial interval {r.serial_interval_mean_days:g} "
        f"(sd {r.serial_interval_sd_days:g}) days, policy {report.policy_version}"
    )
    for column in ("window", "local", "imported", "R_t", "95% CrI", "CV"):
        table.add_column(column)
    for w in report.windows:
        span = f"{w.start.isoformat()} to {w.end.isoformat()}"
        if w.posterior is None:
            table.add_row(span, str(w.local_cases), str(w.imported_cases), "insufficient data", w.reason, "")
        else:
            p = w.posterior
            table.add_row(
                span,
                str(w.local_cases),
                str(w.imported_cases),
                f"{p.mean:.2f}",
                f"{p.lo:.2f}-{p.hi:.2f}",
                f"{p.cv:.2f}",
            )
    console.print(table)
    console.print(
        f"left out: {report.no_onset:,} confirmed or probable case(s) with no onset date; "
        f"{report.suspected:,} suspected case(s)",
        highlight=False,
    )


analytics_app.command("rt")(rt)


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
