"""Benchmark: the epidemic curve and R_t for a fifth-wave million cases.

    python bench/rt.py                  # 1,000,000 cases over 60 days, 77,000 on the peak day
    python bench/rt.py --runs 9 --no-store

The requirement (issue 11): the epidemic curve and R_t for a million cases in under a second.
Cases get an onset day from a bell-shaped wave over 60 days scaled so that the peak day has
77,000 (seeded numpy Generator); 1% imported, 2% without an onset date, 1% suspected.

Three things are timed, each the median of ``--runs``:

- ``compute``: from one onset day and imported flag per case (numpy arrays) to the daily curve
  (``np.bincount``) and every R_t window (``chaincut.analytics.estimate_rt``);
- ``store_read``: ``uow.incidence.daily_onset_counts()`` on the embedded default holding the
  million cases (inserted in bulk by SQL), the GROUP BY in the database;
- ``service``: ``services.reproduction.estimate()``, what ``chaincut analytics rt`` calls: the read,
  the curve and R_t;

beside the peer a user would pick for the read: the same GROUP BY in plain SQL on the same
SQLite file through Python's ``sqlite3`` (DuckDB is not installed; EpiEstim needs R, which is
not installed either, so R_t has no peer here).

Prints one JSON line on stdout (with the machine), then a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import _machine  # bench/_machine.py: Python puts the script's folder on the path
from chaincut.analytics import estimate_rt
from chaincut.bootstrap import bootstrap
from chaincut.policy import load_policy
from chaincut.settings import Settings
from chaincut.store import Database, upgrade

FIRST_DAY = date(2022, 1, 15)
PLAIN_SQL = (
    "SELECT onset_on, classification = 'imported', status, count(*) FROM cases "
    "GROUP BY onset_on, classification = 'imported', status ORDER BY onset_on"
)


def wave(cases: int, days: int, peak: int) -> np.ndarray:
    """Cases per day on a bell-shaped wave: ``peak`` on the middle day, ``cases`` in all."""
    sigma = cases / (peak * np.sqrt(2 * np.pi))
    shape = np.exp(-0.5 * ((np.arange(days) - days / 2) / sigma) ** 2)
    counts = np.floor(shape / shape.max() * peak).astype(np.int64)
    counts[days // 2] = peak
    short = cases - int(counts.sum())
    # Spread what rounding left (or took) over the days around the peak, never above it.
    order = np.argsort(-shape)
    i = 1
    while short != 0:
        day = order[i % days]
        step = 1 if short > 0 else -1
        if (step < 0 and counts[day] > 0) or (step > 0 and counts[day] < peak):
            counts[day] += step
            short -= step
        i += 1
    return counts


def cases_of(rng: np.random.Generator, per_day: np.ndarray) -> dict[str, np.ndarray]:
    onset = np.repeat(np.arange(per_day.size, dtype=np.int32), per_day)
    rng.shuffle(onset)
    n = onset.size
    draw = rng.random(n)
    return {
        "onset": onset,
        "imported": rng.random(n) < 0.01,
        "no_onset": draw < 0.02,
        "suspected": (draw >= 0.02) & (draw < 0.03),
    }


def median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compute(c: dict[str, np.ndarray], days: int) -> Any:
    counted = ~c["no_onset"] & ~c["suspected"]
    imported = c["imported"] & counted
    local = ~c["imported"] & counted
    curve_local = np.bincount(c["onset"][local], minlength=days)
    curve_imported = np.bincount(c["onset"][imported], minlength=days)
    return estimate_rt(FIRST_DAY, curve_local, curve_imported, load_policy(None).reproduction_number)


def fill_store(path: Path, c: dict[str, np.ndarray]) -> float:
    """Insert the cases (and a person for each) in bulk by SQL; the seconds it took."""
    start = time.perf_counter()
    n = c["onset"].size
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany(
            "INSERT INTO people (id, ref, public_id, created_at) VALUES (?, ?, ?, 0)",
            ((i + 1, f"B{i}", f"b{i:031d}") for i in range(n)),
        )
        days = [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(int(c["onset"].max()) + 1)]
        onset, imported = c["onset"].tolist(), c["imported"].tolist()
        no_onset, suspected = c["no_onset"].tolist(), c["suspected"].tolist()
        conn.executemany(
            "INSERT INTO cases (ref, person_id, status, classification, onset_on, created_at) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            (
                (
                    f"BC{i}",
                    i + 1,
                    "suspected" if suspected[i] else "confirmed",
                    "imported" if imported[i] else ("local", "linked", "unlinked")[i % 3],
                    None if no_onset[i] else days[onset[i]],
                )
                for i in range(n)
            ),
        )
    conn.close()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--peak", type=int, default=77_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-store", action="store_true", help="time the computation only")
    args = parser.parse_args()

    per_day = wave(args.cases, args.days, args.peak)
    c = cases_of(np.random.default_rng(args.seed), per_day)
    compute(c, args.days)  # warm up imports and scipy
    compute_s, windows = median_seconds(lambda: compute(c, args.days), args.runs)
    assert isinstance(windows, tuple)
    out: dict[str, Any] = {
        "bench": "rt",
        "cases": args.cases,
        "days": args.days,
        "peak_day_cases": int(per_day.max()),
        "windows": len(windows),
        "windows_reported": sum(1 for w in windows if w.posterior is not None),
        "compute_s": round(compute_s, 4),
        "runs": args.runs,
        "machine": _machine.machine(),
    }
    if not args.no_store:
        with tempfile.TemporaryDirectory(prefix="chaincut-rt-") as tmp:
            settings = Settings(env="development", data_dir=Path(tmp) / "data")
            db = Database(settings.resolved_database_url())
            upgrade(db)
            db.dispose()
            sqlite_file = Path(settings.resolved_database_url().removeprefix("sqlite:///"))
            out["store_fill_s"] = round(fill_store(sqlite_file, c), 1)
            services = bootstrap(settings)
            try:

                def read() -> object:
                    with services.store.read() as uow:
                        return uow.incidence.daily_onset_counts()

                read()
                out["store_read_s"], rows = median_seconds(read, args.runs)
                assert isinstance(rows, list)
                out["store_read_rows"] = len(rows)
                out["service_s"], report = median_seconds(services.reproduction.estimate, args.runs)
                out["service_no_onset"] = getattr(report, "no_onset", None)
            finally:
                services.close()
            peer = sqlite3.connect(sqlite_file)
            try:
                out["peer_plain_sqlite_group_by_s"], peer_rows = median_seconds(
                    lambda: peer.execute(PLAIN_SQL).fetchall(), args.runs
                )
                assert isinstance(peer_rows, list)
                assert len(peer_rows) == out["store_read_rows"]
            finally:
                peer.close()
    for key in ("compute_s", "store_read_s", "service_s", "peer_plain_sqlite_group_by_s"):
        if key in out:
            out[key] = round(float(out[key]), 4)
    print(json.dumps(out))
    print(
        f"{args.cases:,} cases over {args.days} days (peak {out['peak_day_cases']:,}): curve + R_t "
        f"{compute_s * 1000:.1f} ms"
        + (
            f"; store read {out['store_read_s'] * 1000:.0f} ms (plain sqlite3 GROUP BY "
            f"{out['peer_plain_sqlite_group_by_s'] * 1000:.0f} ms); "
            f"whole service {out['service_s'] * 1000:.0f} ms"
            if "store_read_s" in out
            else ""
        ),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
