"""Commands for outbreak analytics (``chaincut analytics ...``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.analytics import AnalyticsRead, Axis, EpidemicCurve
from chaincut.analytics.pairs_file import read_pairs_file
from chaincut.analytics.reads import epicurve_read, rt_read, serial_interval_read
from chaincut.analytics.serial_interval import WINDOWS_EXPECTED, parse_onset_windows
from chaincut.analytics.serial_interval_service import SerialIntervalReport, serial_interval_report
from chaincut.bootstrap import Services
from chaincut.cli.console import console, err, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission
from chaincut.errors import ChaincutError

__all__ = ["analytics_app", "epicurve", "epicurve_json", "rt", "serial_interval"]

analytics_app = typer.Typer(
    help="Outbreak analytics: serial interval, epidemic curve, reproduction number.",
    no_args_is_help=True,
)

_PURPOSE_HELP = "why you read these analytics: recorded in the audit log with your name"
_PURPOSE = "outbreak analytics from the command line"


def _audit(svc: Services, read: AnalyticsRead, purpose: str) -> None:
    """Record one analytics read (``analytics.read``) against the operator, as the API records it."""
    svc.audit.record(
        event_for(
            operator(),
            Permission.ANALYTICS_READ,
            read.resource,
            record=read.record,
            purpose=" ".join(purpose.split()),
            details=read.parameters,
        )
    )


def _fail(exc: ChaincutError) -> typer.Exit:
    field = f" ({exc.field})" if exc.field and not exc.message.startswith(exc.field) else ""
    err.print(f"[red]error:[/red] {escape(exc.message + field)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


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
        typer.Option(help=f"windows of infector onset, both ends included: {WINDOWS_EXPECTED}"),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="seed of the bootstrap's random generator")] = 0,
    resamples: Annotated[
        int, typer.Option(min=100, max=1_000_000, help="bootstrap resamples per window")
    ] = 10_000,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object: windows, left_out")] = False,
    purpose: Annotated[str, typer.Option(help=_PURPOSE_HELP)] = _PURPOSE,
) -> None:
    """The serial interval (infectee minus infector onset, days; negatives kept) by window of infector onset.

    Mean, sd, a percentile bootstrap 95% CI of the mean, and maximum-likelihood fits: a
    normal (intervals can be negative), plus gamma and lognormal where all are positive.
    Reading the store's links is audited (``analytics.read``); a file is not the store's.
    """
    try:
        chosen = None if windows is None else parse_onset_windows(windows, field="--windows")
        read = None if pairs_csv is None else read_pairs_file(pairs_csv)
    except ChaincutError as exc:
        raise _fail(exc) from exc
    if read is None:
        with services() as svc:
            report = svc.serial_intervals.from_store(chosen, seed=seed, resamples=resamples)
            _audit(svc, serial_interval_read(report), purpose)
    else:
        report = serial_interval_report(
            read.pairs,
            chosen,
            source=f"file ({read.layout} layout)",
            left_out=read.left_out_unknown_onset,
            left_out_why="pairs with an 'unknown' onset",
            seed=seed,
            resamples=resamples,
        )
    if json_output:
        print_json(report.as_dict())
        return
    _serial_interval_table(report)


def _serial_interval_table(report: SerialIntervalReport) -> None:
    table = Table(title=f"Serial interval (days) from {report.pairs:,} pairs, {report.source}")
    for column in ("from", "to", "n", "mean", "sd", "95% CI", "fit", "note"):
        table.add_column(column)
    for e in report.estimates:
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
    console.print(
        f"left out: {report.left_out} ({report.left_out_why}); outside every window: {report.outside_windows}"
    )


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
    purpose: Annotated[str, typer.Option(help=_PURPOSE_HELP)] = _PURPOSE,
    serial_interval: Annotated[
        str,
        typer.Option(
            help="policy: the policy's serial interval; links: the mean and sd of the store's confirmed links"
        ),
    ] = "policy",
) -> None:
    """The time-varying reproduction number R_t by onset date (Cori et al. 2013, as EpiEstim).

    Imported cases infect but are not infected locally; every other classification is local.
    Windows with too few cases say "insufficient data" and why. Audited (``analytics.read``).
    """
    from_day, to_day = _day("--from", from_text), _day("--to", to_text)
    with services() as svc:
        report = svc.reproduction.estimate(from_day=from_day, to_day=to_day, serial_interval=serial_interval)
        _audit(svc, rt_read(report), purpose)
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


def epicurve_json(curve: EpidemicCurve) -> dict[str, Any]:
    """The curve as ``--json`` prints it (and ``GET /analytics/epicurve`` answers): ``curve.as_dict()``."""
    return curve.as_dict()


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
    purpose: Annotated[str, typer.Option(help=_PURPOSE_HELP)] = _PURPOSE,
) -> None:
    """Daily cases by onset or report date, by classification and district, and the trend (audited)."""
    first, last = _date(from_, "--from"), _date(to, "--to")
    with services() as svc:
        curve = svc.epidemic_curves.curve(by, first, last)
        _audit(svc, epicurve_read(curve), purpose)
    if as_json:
        print_json(curve.as_dict())
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
