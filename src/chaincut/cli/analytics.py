"""Commands for outbreak analytics (``chaincut analytics ...``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from chaincut.cli.console import console, err, print_json, services

__all__ = ["analytics_app"]

analytics_app = typer.Typer(
    help="Outbreak analytics: serial interval, epidemic curve, reproduction number.",
    no_args_is_help=True,
)


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
