"""Benchmark: bulk import of visits from Parquet into a fresh store, and its rate.

    python bench/import_visits.py              # 1M people, 20k venues, 7 days x 2M check-ins: ~14M visits
    python bench/import_visits.py --people 100000 --venues 5000 --days 2 --checkins-per-day 500000
    python bench/import_visits.py --postgres   # the embedded default, then a throwaway PostgreSQL

The requirement: at least 500,000 visits/s from Parquet into the embedded default.

A synthetic city (``chaincut.whereabouts.synth``) is written as Parquet, then, for
each backend, an empty store is migrated and filled with the city's people and
venues (timed on their own: they are validated row by row and their personal
fields sealed), and ``import_visits`` of visits.parquet is timed. Each step runs in
a fresh child process so that the peak RSS reported is the visit import's own
(``ru_maxrss`` of that process, Linux KiB); a PostgreSQL server's own memory is not
in it. The clock is the real one: the city ends now, within the retention window.

Prints one JSON line per backend on stdout, for example
``{"bench": "import_visits", "backend": "sqlite+parquet", "visits": 13737246,
"duplicates": 0, "seconds": 10.9, "cpu_seconds": 11.8, "visits_per_second": 1258499,
"peak_rss_mib": 700, ...}`` with the people import's rate alongside; progress goes to
stderr. ``visits`` counts the rows stored and ``duplicates`` those skipped because
their natural key was already stored or came earlier in the file; the rate counts both.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _machine  # bench/_machine.py: Python puts the script's folder on the path

REPO = Path(__file__).resolve().parents[1]


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--venues", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--checkins-per-day", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument(
        "--city",
        type=Path,
        default=None,
        help="folder for the synthetic city; reused when it already holds one (default: a temporary folder)",
    )
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL server")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded default")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[import_visits] {message}", file=sys.stderr, flush=True)


def _synthesize(args: argparse.Namespace, city: Path) -> int:
    """Write the city unless ``city`` already holds one; the number of visits."""
    import pyarrow.parquet as pq

    from chaincut.whereabouts.synth import CityParameters, synthesize_city

    visits = city / "visits.parquet"
    if visits.exists():
        _log(f"reusing the city in {city}")
        return int(pq.ParquetFile(visits).metadata.num_rows)
    params = CityParameters(
        people=args.people,
        venues=args.venues,
        days=args.days,
        checkins_per_day=args.checkins_per_day,
        seed=args.seed,
    )
    _log(f"synthesizing {params} into {city}")
    started = time.perf_counter()
    summary = synthesize_city(params, city, end=datetime.now(UTC).replace(second=0, microsecond=0))
    _log(f"synthesized {summary.visits:,} visits in {time.perf_counter() - started:.1f} s")
    return summary.visits


# ------------------------------------------------------------ child processes


def _services(data_dir: str, database_url: str | None) -> Any:
    from chaincut.bootstrap import bootstrap
    from chaincut.settings import Settings

    return bootstrap(Settings(env="development", data_dir=Path(data_dir), database_url=database_url))


def _prepare(data_dir: str, database_url: str | None, city: str) -> dict[str, Any]:
    """Migrate an empty store and import the city's people and venues, timed."""
    from chaincut.settings import Settings
    from chaincut.store import Database, upgrade
    from chaincut.whereabouts.importing import ImportOptions, import_people, import_venues

    settings = Settings(env="development", data_dir=Path(data_dir), database_url=database_url)
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    svc = _services(data_dir, database_url)
    try:
        started = time.perf_counter()
        people = import_people(
            svc.store, svc.hasher, svc.clock, Path(city) / "people.parquet", ImportOptions()
        )
        people_seconds = time.perf_counter() - started
        started = time.perf_counter()
        venues = import_venues(
            svc.store, svc.policy, svc.clock, Path(city) / "venues.parquet", ImportOptions()
        )
        venues_seconds = time.perf_counter() - started
    finally:
        svc.close()
    return {
        "people": people.stored,
        "people_seconds": round(people_seconds, 2),
        "people_per_second": round(people.stored / people_seconds),
        "venues": venues.stored,
        "venues_seconds": round(venues_seconds, 2),
    }


def _import_visits(data_dir: str, database_url: str | None, city: str) -> dict[str, Any]:
    """Time one import of visits.parquet; the peak RSS of this process."""
    from chaincut.whereabouts.importing import ImportOptions, import_visits

    svc = _services(data_dir, database_url)
    try:
        backend = "sqlite+parquet" if svc.store.archive is not None else svc.db.backend
        started, cpu_started = time.perf_counter(), time.process_time()
        report = import_visits(
            svc.store, svc.policy, svc.clock, Path(city) / "visits.parquet", ImportOptions()
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        stored = svc.store.counts().visits
    finally:
        svc.close()
    if report.rejected or stored != report.stored:
        raise RuntimeError(f"visits: {report.rejected} rejected, {stored} counted, {report.stored} stored")
    return {
        "backend": backend,
        "visits": report.stored,
        "duplicates": report.duplicates,
        "seconds": round(seconds, 2),
        # CPU seconds of the import (all its threads): steadier than the wall clock on a shared machine.
        "cpu_seconds": round(cpu_seconds, 2),
        "visits_per_second": round(report.read / seconds),  # rows taken in, duplicates skipped included
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _in_child(function: Any, *args: Any) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(function, args)
    return result


def _measure(label: str, data_dir: Path, database_url: str | None, city: Path) -> dict[str, Any]:
    _log(f"{label}: importing people and venues")
    prepared = _in_child(_prepare, str(data_dir), database_url, str(city))
    _log(
        f"{label}: {prepared['people']:,} people in {prepared['people_seconds']} s, "
        f"{prepared['venues']:,} venues; importing visits"
    )
    measured = _in_child(_import_visits, str(data_dir), database_url, str(city))
    return {"bench": "import_visits", **measured, **prepared}


def main(argv: list[str]) -> int:
    """Synthesize once, then measure each backend and print its JSON line."""
    args = _arguments(argv)
    machine = _machine.machine()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaincut-bench-")))
        city = args.city or work / "city"
        visits = _synthesize(args, city)
        size = (city / "visits.parquet").stat().st_size
        extra = {"visits_file_mib": round(size / 2**20), "visits_in_file": visits, **machine}
        if not args.no_embedded:
            print(json.dumps({**_measure("embedded", work / "embedded", None, city), **extra}), flush=True)
        if args.postgres:
            sys.path.insert(0, str(REPO / "tests"))
            from support.postgres import find_postgres_bin, running_postgres

            _log("starting a throwaway PostgreSQL server")
            server = stack.enter_context(running_postgres(work / "postgres", bin_dir=find_postgres_bin()))
            url = server.create_database("chaincut_bench")
            print(
                json.dumps({**_measure("postgres", work / "postgres-data", url, city), **extra}), flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
