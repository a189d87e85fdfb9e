"""Benchmark: the situation report of the fifth wave's peak, from a million-case store.

    python bench/situation_report.py                     # 1,000,000 cases, embedded default
    python bench/situation_report.py --cases 100000      # smaller

The requirement (issue 11): the situation report in under 30 s. The store is the one
``bench/epicurve.py`` builds (1,000,000 cases over 60 days, 77,000 on the peak day, a fifth
with no onset, 18 districts through 250,000 households; its generator and loader are reused),
plus the tracing the report counts: ``--exposures`` contact rows (one per person, case and
venue, as a trace stores them for health codes) from ``--traced`` cases traced over the last
week, and ``--orders`` orders issued over the same week.

Timed, each the best of ``--runs``, for the peak day (77,000 cases reported):

* ``assemble``: ``services.situation_reports.report(day)``: the three reads (case tallies,
  daily onset counts for R_t, tracing counts) and the pure analytics;
* ``html`` and ``pdf``: rendering the assembled report (matplotlib plots, Jinja2; fpdf2);
* ``total_html`` / ``total_pdf``: what ``chaincut report situation --out report.html|.pdf``
  costs past start-up: assemble then render.

Clusters are not in it: their provider is not wired yet (the report says "not computed").
Prints one JSON line on stdout (with the machine), then a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import insert

import _machine
import epicurve as epicurve_bench  # bench/epicurve.py: the million-case generator and loader
from chaincut.analytics.situation import ReportFormat
from chaincut.analytics.situation_render import render_situation_report, report_font
from chaincut.bootstrap import Services
from chaincut.store.tables import orders
from chaincut.store.tables_codes import code_case_traces, code_exposures

HK = ZoneInfo("Asia/Hong_Kong")
T = TypeVar("T")
DAY = epicurve_bench.FIRST + timedelta(days=35)  # the peak day of bench/epicurve.py's wave


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--traced", type=int, default=100_000, help="cases traced in the last week")
    parser.add_argument("--exposures", type=int, default=2_000_000, help="contact rows of those traces")
    parser.add_argument("--orders", type=int, default=500_000, help="orders issued in the last week")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[situation] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _best(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    times, results = [], []
    for _ in range(runs):
        start = time.perf_counter()
        results.append(work())
        times.append(time.perf_counter() - start)
    return min(times), results[-1]


def _seconds(day: date, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` instants spread over the week ending on ``day`` (local), as Unix seconds."""
    end = int(datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=HK).timestamp())
    return end - rng.integers(1, 7 * 86_400, n)


def _load_tracing(svc: Services, args: argparse.Namespace, rng: np.random.Generator) -> None:
    traced_cases = rng.choice(args.cases, size=min(args.traced, args.cases), replace=False) + 1
    traced_at = _seconds(DAY, rng, len(traced_cases))
    tiers = np.array(["close", "exposed", "risky_visit"])
    with svc.store.write() as uow:
        conn = uow.connection
        conn.execute(
            insert(code_case_traces),
            [
                {"case_id": int(c), "traced_at": int(t), "exposures": 0, "policy_version": "bench"}
                for c, t in zip(traced_cases, traced_at, strict=True)
            ],
        )
        for start in range(0, args.exposures, 200_000):
            n = min(200_000, args.exposures - start)
            which = rng.integers(0, len(traced_cases), n)
            people = rng.integers(1, args.cases + 1, n)
            tier = tiers[rng.choice(3, n, p=[0.3, 0.6, 0.1])]
            conn.execute(
                insert(code_exposures),
                [
                    {
                        "person_id": int(p),
                        "case_id": int(traced_cases[w]),
                        "tier": str(k),
                        "evidence": "venue",
                        "venue_ref": "V1",
                        "generation": 1,
                        "last_exposure_at": int(traced_at[w]) - 3_600,
                        "traced_at": int(traced_at[w]),
                    }
                    for w, p, k in zip(which, people, tier, strict=True)
                ],
            )
            _log(f"stored {start + n:,} exposures")
        issued = _seconds(DAY, rng, args.orders)
        kinds = np.where(rng.random(args.orders) < 0.35, "quarantine", "testing_notice")
        people = rng.integers(1, args.cases + 1, args.orders)
        for start in range(0, args.orders, 100_000):
            stop = min(start + 100_000, args.orders)
            conn.execute(
                insert(orders),
                [
                    {
                        "public_id": f"b{i:031d}",
                        "kind": str(kinds[i]),
                        "person_id": int(people[i]),
                        "case_id": None,
                        "tier": "close" if kinds[i] == "quarantine" else "exposed",
                        "starts_on": DAY,
                        "ends_on": DAY + timedelta(days=14),
                        "status": "issued",
                        "last_exposure_at": int(issued[i]),
                        "issued_at": int(issued[i]),
                        "issued_by": "bench",
                        "policy_version": "bench",
                        "updated_at": int(issued[i]),
                    }
                    for i in range(start, stop)
                ],
            )
        _log(f"stored {args.orders:,} orders")


def _parts(svc: Services, runs: int) -> dict[str, float]:
    """The assembly's three reads, timed apart: where its time goes."""
    start = int(datetime.combine(DAY, clock_time(), tzinfo=HK).timestamp())

    def tallies() -> object:
        with svc.store.read() as uow:
            return uow.case_tallies.by_day()

    def tracing() -> object:
        with svc.store.read() as uow:
            return uow.tracing_activity.between(start, start + 86_400)

    return {
        "case_tallies_seconds": round(_best(runs, tallies)[0], 3),
        "rt_seconds": round(_best(runs, lambda: svc.reproduction.estimate(to_day=DAY))[0], 3),
        "tracing_counts_seconds": round(_best(runs, tracing)[0], 3),
    }


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    rng = np.random.default_rng(args.seed)
    columns, household = epicurve_bench._columns(args.cases, rng)
    with tempfile.TemporaryDirectory(prefix="chaincut-situation-") as work:
        assert epicurve_bench.NOW.astimezone(HK).date() > DAY  # the clock is after the report's day
        svc = epicurve_bench._services(Path(work) / "embedded", None)
        try:
            start = time.perf_counter()
            epicurve_bench._load(svc, columns, household)
            _load_tracing(svc, args, rng)
            load = time.perf_counter() - start
            _log(f"loaded in {load:.0f} s")
            assemble, report = _best(args.runs, lambda: svc.situation_reports.report(DAY))
            parts = _parts(svc, args.runs)
            _log(f"assembled in {assemble:.2f} s; its reads: {parts}")
            font = report_font(report)
            html, html_body = _best(
                args.runs,
                lambda: render_situation_report(report, ReportFormat.HTML, font),
            )
            pdf, pdf_body = _best(
                args.runs,
                lambda: render_situation_report(report, ReportFormat.PDF, font),
            )
            headline = report.headline
            tracing = report.tracing
        finally:
            svc.close()
    line: dict[str, Any] = {
        "benchmark": "situation_report",
        "backend": "embedded",
        "cases": args.cases,
        "day": DAY.isoformat(),
        "new_cases_on_day": headline.new_total,
        "cumulative": headline.cumulative,
        "exposure_rows": args.exposures,
        "contacts_on_day": tracing.contacts,
        "orders": args.orders,
        "load_seconds": round(load, 1),
        "assemble_seconds": round(assemble, 3),
        "assemble_reads": parts,
        "html_seconds": round(html, 3),
        "pdf_seconds": round(pdf, 3),
        "total_html_seconds": round(assemble + html, 3),
        "total_pdf_seconds": round(assemble + pdf, 3),
        "html_bytes": len(html_body),
        "pdf_bytes": len(pdf_body),
        "target_seconds": 30,
        "runs": args.runs,
        **_machine.machine(),
    }
    print(json.dumps(line), flush=True)
    print(
        f"{args.cases:,} cases: assemble {assemble:.2f} s, HTML {html:.2f} s, PDF {pdf:.2f} s "
        f"(report as HTML {assemble + html:.2f} s, as PDF {assemble + pdf:.2f} s; target 30 s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
