"""Benchmark: the epidemic curve of the fifth wave at its height, pure and from the store.

    python bench/epicurve.py                              # 1,000,000 cases, embedded and PostgreSQL
    python bench/epicurve.py --cases 100000 --no-postgres # smaller, embedded only

The requirement (issue 11): the epidemic curve and R_t for a million cases in under 1 s.
1,000,000 cases over 60 days, 77,000 on the peak day (a Gaussian wave, peak on day 35),
each reported 0-5 days after onset, a fifth with no onset (asymptomatic), in 18 districts
through 250,000 households (a twentieth of the people with no household: unknown district).

Measured, best of ``--runs``:

* pure: ``epidemic_curve`` over the million cases as columns (one entry per case), and over
  the store's aggregate (one entry per group), each with its growth fit; beside it the peer
  a user would write, a ``collections.Counter`` over the cases' (day, classification,
  district) tuples, which gives the counts only;
* store: ``uow.case_tallies.by_day()`` (one GROUP BY joining cases, people and households)
  and ``EpidemicCurves.curve`` end to end (read, then compute), on the embedded default
  (SQLite) and, unless ``--no-postgres``, on a throwaway PostgreSQL server from the local
  binaries.

Prints one JSON line on stdout, then a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import insert

import _machine
from chaincut.analytics import Axis, CaseColumns, CaseTally, epidemic_curve
from chaincut.analytics.epicurve import CLASSIFICATIONS, NO_DAY, STATUSES, day_number
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.settings import Settings
from chaincut.store import Database, upgrade
from chaincut.store.tables import cases, households, people

REPO = Path(__file__).resolve().parent.parent
FIRST = date(2022, 1, 15)
DAYS = 60
PEAK = 77_000
NOW = datetime(2022, 3, 20, 4, 0, tzinfo=UTC)
_CLASS_SHARES = {  # fifth-wave-like: nearly all local, most without a known source
    CaseClassification.IMPORTED: 0.01,
    CaseClassification.LOCAL: 0.30,
    CaseClassification.LINKED: 0.25,
    CaseClassification.UNLINKED: 0.40,
    CaseClassification.POSSIBLY_LOCAL: 0.02,
    CaseClassification.UNKNOWN: 0.02,
}


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[epicurve] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _wave(total: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Reports per day: a Gaussian wave with ``total`` cases whose peak day holds PEAK * total / 1e6."""
    sd = (total / (PEAK * total / 1_000_000)) / np.sqrt(2 * np.pi)
    shape = np.exp(-0.5 * ((np.arange(DAYS) - 35) / sd) ** 2)
    return rng.multinomial(total, shape / shape.sum()).astype(np.int64)


def _columns(total: int, rng: np.random.Generator) -> tuple[CaseColumns, npt.NDArray[np.int64]]:
    per_day = _wave(total, rng)
    reported = day_number(FIRST) + np.repeat(np.arange(DAYS, dtype=np.int64), per_day)
    onset = reported - rng.integers(0, 6, total)
    onset[rng.random(total) < 0.2] = NO_DAY
    shares = np.array([_CLASS_SHARES[c] for c in CLASSIFICATIONS])
    classification = rng.choice(len(CLASSIFICATIONS), total, p=shares / shares.sum()).astype(np.int8)
    status = np.full(total, STATUSES.index(CaseStatus.CONFIRMED), dtype=np.int8)
    household = rng.integers(0, 250_000, total)
    household[rng.random(total) < 0.05] = -1
    district = np.where(household < 0, -1, household % 18).astype(np.int32)
    columns = CaseColumns(
        onset=onset,
        reported=reported,
        classification=classification,
        status=status,
        district=district,
        count=np.ones(total, dtype=np.int64),
        districts=tuple(f"District {i:02d}" for i in range(18)),
    )
    return columns, household


def _best(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def _curve(columns: CaseColumns) -> object:
    return epidemic_curve(
        columns,
        axis=Axis.ONSET,
        first=FIRST,
        last=FIRST + timedelta(days=DAYS - 1),
        average_days=7,
        growth_days=14,
    )


def _peer(columns: CaseColumns) -> object:
    """What a user would write without chaincut: count (day, classification, district) tuples."""
    return Counter(
        zip(columns.onset.tolist(), columns.classification.tolist(), columns.district.tolist(), strict=True)
    )


def _load(svc: Services, columns: CaseColumns, household: npt.NDArray[np.int64]) -> None:
    total = len(columns.count)
    with svc.store.write() as uow:
        conn = uow.connection
        conn.execute(
            insert(households),
            [{"id": h + 1, "ref": f"H{h}", "district": columns.districts[h % 18]} for h in range(250_000)],
        )
        for start in range(0, total, 100_000):
            stop = min(start + 100_000, total)
            conn.execute(
                insert(people),
                [
                    {
                        "id": i + 1,
                        "ref": f"P{i}",
                        "public_id": f"B{i:012d}",
                        "household_id": None if household[i] < 0 else int(household[i]) + 1,
                        "created_at": 0,
                    }
                    for i in range(start, stop)
                ],
            )
            conn.execute(
                insert(cases),
                [
                    {
                        "ref": f"C{i}",
                        "person_id": i + 1,
                        "status": "confirmed",
                        "classification": CLASSIFICATIONS[int(columns.classification[i])].value,
                        "reported_on": date(1970, 1, 1) + timedelta(days=int(columns.reported[i])),
                        "onset_on": None
                        if columns.onset[i] == NO_DAY
                        else date(1970, 1, 1) + timedelta(days=int(columns.onset[i])),
                        "specimen_on": None,
                        "created_at": 0,
                        # as CaseRepository stores it: the person's household's district
                        "district": None if household[i] < 0 else columns.districts[int(household[i]) % 18],
                    }
                    for i in range(start, stop)
                ],
            )
            _log(f"stored {stop:,} cases")


def _measure(
    svc: Services, backend: str, columns: CaseColumns, household: npt.NDArray[np.int64], runs: int
) -> dict[str, Any]:
    start = time.perf_counter()
    _load(svc, columns, household)
    load = time.perf_counter() - start

    def read() -> object:
        with svc.store.read() as uow:
            return uow.case_tallies.by_day()

    rows = read()
    assert isinstance(rows, list)
    assert sum(r.cases for r in rows) == len(columns.count)
    read_s = _best(runs, read)
    whole = _best(
        runs, lambda: svc.epidemic_curves.curve(Axis.ONSET, FIRST, FIRST + timedelta(days=DAYS - 1))
    )
    return {
        "backend": backend,
        "load_seconds": round(load, 1),
        "groups": len(rows),
        "read_seconds": round(read_s, 3),
        "curve_from_store_seconds": round(whole, 3),
    }


def _services(data_dir: Path, url: str | None) -> Services:
    settings = Settings(env="development", data_dir=data_dir, database_url=url)
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    return bootstrap(settings, clock=FixedClock(NOW))


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    rng = np.random.default_rng(args.seed)
    columns, household = _columns(args.cases, rng)
    peak = int(np.bincount(columns.reported - columns.reported.min()).max())
    _log(f"{args.cases:,} cases over {DAYS} days, {peak:,} reported on the peak day")
    grouped = CaseColumns.from_tallies(
        CaseTally(
            None if o == NO_DAY else date(1970, 1, 1) + timedelta(days=o),
            date(1970, 1, 1) + timedelta(days=r),
            CLASSIFICATIONS[c],
            CaseStatus.CONFIRMED,
            None if d < 0 else columns.districts[d],
            n,
        )
        for (o, r, c, d), n in Counter(
            zip(
                columns.onset.tolist(),
                columns.reported.tolist(),
                columns.classification.tolist(),
                columns.district.tolist(),
                strict=True,
            )
        ).items()
    )
    pure = {
        "per_case_seconds": round(_best(args.runs, lambda: _curve(columns)), 4),
        "groups": len(grouped.count),
        "aggregated_seconds": round(_best(args.runs, lambda: _curve(grouped)), 4),
        "peer_counter_seconds": round(_best(max(1, args.runs // 2), lambda: _peer(columns)), 3),
    }
    _log(f"pure: {pure}")
    stores: list[dict[str, Any]] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaincut-epicurve-")))
        svc = _services(work / "embedded", None)
        try:
            stores.append(_measure(svc, "embedded", columns, household, args.runs))
        finally:
            svc.close()
        _log(f"store: {stores[-1]}")
        if not args.no_postgres:
            sys.path.insert(0, str(REPO / "tests"))
            from support.postgres import find_postgres_bin, running_postgres

            bin_dir = find_postgres_bin()
            if bin_dir is None:
                _log("no PostgreSQL binaries found: embedded only")
            else:
                server = stack.enter_context(running_postgres(work / "postgres", bin_dir=bin_dir))
                svc = _services(work / "pg-data", server.create_database("chaincut_epicurve"))
                try:
                    stores.append(_measure(svc, "postgres", columns, household, args.runs))
                finally:
                    svc.close()
                _log(f"store: {stores[-1]}")
    line = {
        "benchmark": "epicurve",
        "cases": args.cases,
        "days": DAYS,
        "peak_day_cases": peak,
        "target_seconds": 1,
        "pure": pure,
        "stores": stores,
        **_machine.machine(),
    }
    print(json.dumps(line), flush=True)
    if not args.json:
        print(
            f"pure: {pure['per_case_seconds']} s per case, {pure['aggregated_seconds']} s over "
            f"{pure['groups']:,} groups (Counter peer {pure['peer_counter_seconds']} s)",
            file=sys.stderr,
        )
        for s in stores:
            print(
                f"{s['backend']:>9}: GROUP BY read {s['read_seconds']} s ({s['groups']:,} groups), "
                f"curve from the store {s['curve_from_store_seconds']} s",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
