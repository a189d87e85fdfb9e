"""Benchmark: trace a fifth-wave day's cases on a synthetic city, chaincut against DuckDB and PostgreSQL.

    python bench/trace.py --checkins 2000000 --cases 1000          # small
    python bench/trace.py --checkins 10000000 --cases 77000 --json
    python bench/trace.py --checkins 140000000 --cases 77000 --city /tmp/hk-city --no-postgres

The requirement: all of one day's 77,000 cases of a Hong Kong-scale city (7.5M people,
150k venues, 14 days of 10M check-ins) traced with evidence in under 60 s and 8 GiB on
the embedded default; a single case traced interactively with p99 under 100 ms; and
at least 10x faster than the fairest plain SQL on PostgreSQL, with the same contacts.

Steps: ``chaincut synth`` writes the city (people and venues scaled from the check-ins
at Hong Kong's ratio unless given); a fresh embedded store is migrated and filled
with ``chaincut import`` (people, venues, visits, encounters); M random people become
cases reported on the city's last day (onset 0-3 days before, a fifth of them with
only a specimen date; isolated at local noon of that day). Then, each in a fresh
child process so that its peak RSS is its own:

* batch: ``services.tracing.trace_reported_on(day)`` with a FixedClock at the end
  of that day, timed whole; contacts = distinct (case, contact) pairs;
* interactive: ``keep_resident()``, ``warm_up()`` (timed apart), then K
  ``trace_case`` calls on random cases, each with its first page of 100 contacts as
  JSON (what ``GET /cases/{ref}/contacts`` does), p50/p99;
* DuckDB (unless ``--no-duckdb``; ``pip install -e '.[bench]'``): the same SQL statement,
  word for word, over the store's own Parquet archive (people, venues, cases and the
  policy's rules handed over first, untimed), ``--duckdb-threads`` (all cores by default);
  timed: the pairs counted, then the pairs with their evidence rows fetched as Arrow (best
  of ``--duckdb-runs``); its pairs are compared with chaincut's, one by one;
* PostgreSQL (unless ``--no-postgres``): a throwaway server, the same ids loaded by
  binary COPY, btree indexes, ANALYZE, then one SQL statement counting the same pairs.

The SQL's parameters (the infectious window, the encounter threshold, each venue type's
minimum overlap and after-leave time) come from the same loaded policy as chaincut's.

Prints one JSON line on stdout, then a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import _machine  # bench/_machine.py: Python puts the script's folder on the path

REPO = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Asia/Hong_Kong")
HK_CHECKINS, HK_PEOPLE, HK_VENUES = 140_000_000, 7_500_000, 150_000


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkins", type=int, default=HK_CHECKINS, help="check-ins over all days")
    parser.add_argument("--cases", type=int, default=77_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--people", type=int, default=None, help="default: scaled from --checkins (HK ratio)")
    parser.add_argument("--venues", type=int, default=None, help="default: scaled from --checkins (HK ratio)")
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--city", type=Path, default=None, help="folder for the city; reused if it holds one")
    parser.add_argument("--work", type=Path, default=None, help="folder for the stores (default: temporary)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--duckdb-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--duckdb-runs", type=int, default=3, help="times to run DuckDB's SQL (best is kept)")
    parser.add_argument(
        "--chaincut-runs", type=int, default=3, help="batch traces in one process (the first and best kept)"
    )
    parser.add_argument("--interactive", type=int, default=200, help="single-case traces to time (0: none)")
    parser.add_argument(
        "--index",
        choices=["mapped", "memory"],
        default="mapped",
        help="the server's index: files mapped by every worker (two workers timed), or each its own",
    )
    parser.add_argument("--postgres-runs", type=int, default=1, help="times to run the SQL (best is kept)")
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plan (EXPLAIN ANALYZE)")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout (no table)")
    parser.add_argument(
        "--spark",
        default=None,
        metavar="MASTER",
        help="also trace the day as a Spark job on MASTER, e.g. local[2] (pip install -e '.[spark]')",
    )
    parser.add_argument(
        "--spark-driver-memory", default="6g", help="the driver's heap (in local mode, the executors')"
    )
    args = parser.parse_args(argv)
    if args.people is None:
        args.people = max(1000, round(args.checkins * HK_PEOPLE / HK_CHECKINS))
    if args.venues is None:
        args.venues = max(200, round(args.checkins * HK_VENUES / HK_CHECKINS))
    return args


def _log(message: str) -> None:
    print(f"[trace] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _chaincut(*args: str, env: dict[str, str] | None = None) -> None:
    exe = Path(sys.executable).with_name("chaincut")
    subprocess.run([str(exe), *args], check=True, env=env, stdout=subprocess.DEVNULL)


def _rss_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _resident_now() -> dict[str, int]:
    """This process's memory now (MiB): all of it, its own (anonymous), and mapped files it touched."""
    status = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return {key: round(int(status[key].split()[0]) / 1024) for key in ("VmRSS", "RssAnon", "RssFile")}


# ------------------------------------------------------------------- the city and the store


def _synthesize(args: argparse.Namespace, city: Path) -> None:
    if (city / "visits.parquet").exists():
        _log(f"reusing the city in {city}")
        return
    _log(
        f"synthesizing {args.people:,} people, {args.venues:,} venues, "
        f"{args.checkins:,} check-ins into {city}"
    )
    started = time.perf_counter()
    _chaincut(
        "synth", "--out", str(city), "--people", str(args.people), "--venues", str(args.venues),
        "--days", str(args.days), "--checkins-per-day", str(args.checkins // args.days),
        "--seed", str(args.seed), "--quiet",
    )  # fmt: skip
    _log(f"synthesized in {time.perf_counter() - started:.1f} s")


def _last_day(city: Path) -> date:
    """The local date on which the city's whereabouts end."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    end = pc.max(pq.read_table(city / "visits.parquet", columns=["left_at"])["left_at"]).as_py()
    return end.astimezone(ZONE).date()


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "CHAINCUT_ENV": "development", "CHAINCUT_DATA_DIR": str(data_dir)}


def _build_store(city: Path, data_dir: Path) -> dict[str, float]:
    """Migrate and import the city with the command line; seconds per step."""
    seconds = {}
    if (data_dir / "imported").exists():
        _log(f"reusing the store in {data_dir}")
        return json.loads((data_dir / "imported").read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _env(data_dir)
    _chaincut("db", "upgrade", env=env)
    for kind in ("people", "venues", "visits", "encounters"):
        started = time.perf_counter()
        _chaincut("import", kind, str(city / f"{kind}.parquet"), "--quiet", "--json", env=env)
        seconds[kind] = round(time.perf_counter() - started, 1)
        _log(f"imported {kind} in {seconds[kind]} s")
    (data_dir / "imported").write_text(json.dumps(seconds))
    return seconds


def _services(data_dir: str, at: datetime | None = None, *, batch: bool = False) -> Any:
    from chaincut.bootstrap import bootstrap
    from chaincut.clock import FixedClock
    from chaincut.runtime import tune_allocator
    from chaincut.settings import Settings
    from chaincut.tracing.service import load_engine_behind

    if batch:  # as `chaincut trace --reported-on` does (not the server)
        load_engine_behind()  # the compiled loops load while the store opens
        tune_allocator()
    clock = FixedClock(at) if at is not None else None
    return bootstrap(Settings(env="development", data_dir=Path(data_dir)), clock=clock)


def _register_cases(data_dir: str, count: int, day: date, seed: int) -> dict[str, Any]:
    """M distinct random people become cases reported on ``day``; stored directly."""
    import numpy as np

    from chaincut.domain import Case, CaseClassification, CaseStatus

    svc = _services(data_dir)
    try:
        rng = np.random.default_rng([seed, 77])
        with svc.store.read() as uow:
            ids = np.array(
                [i for (i,) in uow.connection.exec_driver_sql("SELECT id FROM people ORDER BY id")],
                dtype=np.int64,
            )
        chosen = rng.choice(ids, size=min(count, len(ids)), replace=False)
        back = rng.integers(0, 4, size=len(chosen))
        specimen_only = rng.random(len(chosen)) < 0.2
        noon = datetime.combine(day, dtime(12), tzinfo=ZONE)
        items = []
        drawn = zip(chosen.tolist(), back, specimen_only, strict=True)
        for i, (person, days_back, asymptomatic) in enumerate(drawn):
            onset = day - timedelta(days=int(days_back))
            items.append(
                Case(
                    ref=f"B{day:%y%m%d}-{i + 1:06d}",
                    person_id=int(person),
                    status=CaseStatus.CONFIRMED,
                    classification=CaseClassification.LOCAL,
                    reported_on=day,
                    onset_on=None if asymptomatic else onset,
                    specimen_on=onset if asymptomatic else None,
                    isolated_at=noon,
                    created_by="bench",
                    policy_version=svc.policy.version,
                )
            )
        # A rerun on the same store replaces the cases. Deleting them with foreign keys on
        # is quadratic in SQLite (cases.linked_case_id refers to cases and is not indexed).
        lite = sqlite3.connect(Path(data_dir) / "chaincut.sqlite3")
        lite.execute("PRAGMA foreign_keys = OFF")
        lite.execute("DELETE FROM cases")
        lite.commit()
        lite.close()
        started = time.perf_counter()
        with svc.store.write() as uow:
            for start in range(0, len(items), 5000):
                uow.cases.add_many(items[start : start + 5000], int(noon.timestamp()))
        return {"cases": len(items), "seconds": round(time.perf_counter() - started, 2)}
    finally:
        svc.close()


# ------------------------------------------------------------------- chaincut, timed


def _instrument() -> dict[str, float]:
    """Wrap the engine's phases and the sources' reads with timers (bench-only monkeypatching)."""
    import functools
    import threading

    from chaincut.tracing import archive_index, engine, service, store_sources
    from chaincut.tracing import trace as one_trace

    phases: dict[str, float] = {}
    adding = threading.Lock()  # chunks run on threads: the phases add up their time (not wall time)

    def timed(name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                with adding:
                    phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    for cls in (store_sources.ArchiveScanSource, store_sources.SqlSource, archive_index.IndexSnapshot):
        for method in ("visits_of", "visits_near", "encounters_of", "household_members"):
            setattr(cls, method, timed(f"{cls.__name__}.{method}", getattr(cls, method)))
    engine.VenueTimeIndex.__init__ = timed("VenueTimeIndex (sort candidates)", engine.VenueTimeIndex.__init__)
    for name in (
        "_exposures",
        "exposures_of",
        "_venue_evidence",
        "_encounter_evidence",
        "_household_evidence",
    ):
        if hasattr(engine, name):  # the engine's private names move; time those that exist
            setattr(engine, name, timed(f"engine.{name}", getattr(engine, name)))
    service.summarise = timed("summarise", service.summarise)
    engine.summarise = timed("summarise", engine.summarise)
    one_trace._contacts = timed("trace._contacts (domain objects)", one_trace._contacts)
    from chaincut.store.people import PeopleRepository
    from chaincut.store.venues import VenueRepository

    PeopleRepository.refs_for = timed("people.refs_for", PeopleRepository.refs_for)
    VenueRepository.get_many = timed("venues.get_many", VenueRepository.get_many)
    service.trace = timed("engine.trace (all)", service.trace)
    service.TracingService._rules = timed("rules", service.TracingService._rules)
    return phases


def _batch(data_dir: str, at: datetime, day: date, pairs_file: str, runs: int) -> dict[str, Any]:
    """``runs`` batch traces in this fresh process: the first loads the engine's compiled loops
    (from numba's cache) and touches its memory for the first time, as a command does; the
    best is what a process that traces again (a server) takes, as DuckDB's best of runs is."""
    import numpy as np

    phases = _instrument()
    svc = _services(data_dir, at, batch=True)
    try:
        with svc.store.read() as uow:  # the same query, in the same order, as trace_reported_on
            cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
        person_of_root = np.array([c.person_id for c in cases], dtype=np.int64)
        pairs: list[Any] = []
        generation_1 = 0

        def collect(evidence: Any, table: Any) -> None:  # (case person, contact) keys, for the SQL diff
            nonlocal generation_1
            pairs.append((person_of_root[table.root] << 32) | table.person)
            generation_1 += int((table.generation == 1).sum())

        times: list[float] = []
        first_phases: dict[str, float] = {}
        first_pairs = None
        runs_agree = True
        for run in range(max(runs, 1)):
            pairs.clear()
            generation_1 = 0
            started = time.perf_counter()
            batch = svc.tracing.trace_reported_on(day, keep_contacts=False, on_chunk=collect)
            times.append(time.perf_counter() - started)
            found = np.concatenate(pairs) if pairs else np.zeros(0, dtype=np.int64)
            if run == 0:
                np.save(pairs_file, found)
                first_phases = dict(phases)
                first_pairs = found
            else:  # every run finds the same pairs in the same order (chunks come in order of cases)
                runs_agree &= bool(np.array_equal(found, first_pairs))
        return {
            "seconds": round(min(times), 2),
            "first_seconds": round(times[0], 2),
            "runs": [round(t, 2) for t in times],
            "runs_agree": runs_agree,
            "contacts": batch.contact_count,
            "evidence": batch.evidence_count,
            "traced_cases": len(batch.case_refs),
            "generation_1": generation_1,
            "peak_rss_mib": _rss_mib(),
            "phases": {k: round(v, 2) for k, v in sorted(first_phases.items(), key=lambda kv: -kv[1])},
        }
    finally:
        svc.close()


def _java_children() -> list[int]:
    """The JVMs this process started (Spark's driver, which in local mode runs the executors)."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            if "java" in Path(f"/proc/{child}/comm").read_text():
                found.append(int(child))
    return found


def _peak_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def _spark(
    data_dir: str, at: datetime, day: date, pairs_file: str, master: str, memory: str, out: str
) -> dict[str, Any]:
    """The day traced as ``chaincut trace --engine spark`` traces it: the session started (timed
    apart), then the job, which writes the contacts; its pairs are compared with chaincut's."""
    import numpy as np
    import pyarrow.parquet as pq

    from chaincut.tracing.spark.job import spark_session, trace_on_spark

    svc = _services(data_dir, at, batch=True)
    try:
        started = time.perf_counter()
        spark = spark_session(master, {"spark.driver.memory": memory})
        session_seconds = time.perf_counter() - started
        with svc.store.read() as uow:
            cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
            people = uow.people.ref_index()
        started = time.perf_counter()
        result = trace_on_spark(spark, svc.tracing, svc.store, cases, out=out)
        seconds = time.perf_counter() - started
        jvm = _java_children()
        written = pq.read_table(out, columns=["case", "person"])
        ids = dict(zip(people["ref"].to_pylist(), people["id"].to_pylist(), strict=True))
        case_person = {c.ref: c.person_id for c in cases}
        found = np.array(
            [
                (case_person[c] << 32) | ids[p]
                for c, p in zip(written["case"].to_pylist(), written["person"].to_pylist(), strict=True)
            ],
            dtype=np.int64,
        )
        ours = np.load(pairs_file)
        spark.stop()
        return {
            "seconds": round(seconds, 2),
            "session_seconds": round(session_seconds, 2),
            "contacts": result.contact_count,
            "same_pairs": bool(np.array_equal(np.sort(found), np.sort(ours))),
            "master": master,
            "driver_memory": memory,
            "jvm_peak_rss_mib": max((_peak_mib(pid) for pid in jvm), default=None),
            "python_peak_rss_mib": _rss_mib(),
        }
    finally:
        svc.close()


def _interactive(data_dir: str, at: datetime, day: date, count: int, seed: int, index: str) -> dict[str, Any]:
    """A server worker: the archive held (``index``: ``mapped`` files or private ``memory``), then
    ``count`` single-case traces as a tracer's page asks them."""
    import numpy as np

    phases = _instrument()
    svc = _services(data_dir, at)
    try:
        with svc.store.read() as uow:
            cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
        refs = [c.ref for c in cases]
        svc.tracing.keep_resident(mapped=index == "mapped")
        started = time.perf_counter()
        svc.tracing.warm_up()
        warm = time.perf_counter() - started
        rss_resident = _rss_mib()
        held = svc.tracing._slot.index
        phases.clear()
        rng = np.random.default_rng([seed, 99])
        svc.tracing.trace_case(refs[0])  # first call after warm-up: caches
        latencies, found = [], 0
        zone = svc.settings.zone
        for i in rng.integers(0, len(refs), size=count):
            # What GET /cases/{ref}/contacts does: trace, then the first page (100) as JSON.
            started = time.perf_counter()
            trace = svc.tracing.trace_case(refs[int(i)])
            trace.to_json(zone, limit=100)
            latencies.append(time.perf_counter() - started)
            found += len(trace)
        ms = np.array(latencies) * 1000
        return {
            "warm_up_seconds": round(warm, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1),
            "mean_contacts": round(found / count, 1),
            "resident_rss_mib": rss_resident,
            "peak_rss_mib": _rss_mib(),
            "index": index,
            "segments_read": held.segments_read if held else None,
            "runs_mapped": held.runs_mapped if held else None,
            "memory_after_traces_mib": _resident_now(),
            "phases_ms_per_trace": {
                k: round(v * 1000 / (count + 1), 2) for k, v in sorted(phases.items(), key=lambda kv: -kv[1])
            },
        }
    finally:
        svc.close()


def _in_child(function: Any, *args: Any) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(function, args)
    return result


# ------------------------------------------------------------------- PostgreSQL

_SCHEMA = """
CREATE TABLE people (id bigint PRIMARY KEY, household_id bigint);
CREATE TABLE venues (id bigint PRIMARY KEY, venue_type text NOT NULL);
CREATE TABLE visits (person_id bigint NOT NULL, venue_id bigint NOT NULL,
                     entered_at bigint NOT NULL, left_at bigint NOT NULL);
CREATE TABLE encounters (person_a bigint NOT NULL, person_b bigint NOT NULL,
                         start_at bigint NOT NULL, end_at bigint NOT NULL);
CREATE TABLE cases (id bigint PRIMARY KEY, person_id bigint NOT NULL, reported_on date,
                    onset_on date, specimen_on date, isolated_at bigint);
CREATE TABLE rules (venue_type text PRIMARY KEY, min_overlap bigint NOT NULL, after_leave bigint NOT NULL);
"""

_INDEXES = """
CREATE INDEX ON visits (venue_id, entered_at);
CREATE INDEX ON visits (person_id, entered_at);
CREATE INDEX ON encounters (person_a, start_at);
CREATE INDEX ON encounters (person_b, start_at);
CREATE INDEX ON people (household_id);
CREATE INDEX ON cases (reported_on);
"""

# Every case reported on the day, its infectious window as chaincut's policy defines it
# (local midnight of onset - 2 days, or of specimen - 2 days, to isolation or now), its
# visits clipped to the window and extended by the venue type's after-leave, everyone
# at the venue whose stay overlaps that by the type's minimum, household members, and
# encounter partners with at least 15 minutes in the window.
_CONTACTS_SQL = """
WITH c AS (
    SELECT id AS case_id, person_id, w0, w1 FROM (
        SELECT id, person_id,
               extract(epoch FROM (CASE WHEN onset_on IS NOT NULL THEN onset_on - %(before_onset)s
                                        ELSE specimen_on - %(before_specimen)s END)::timestamp
                                  AT TIME ZONE %(zone)s)::bigint AS w0,
               least(coalesce(isolated_at, %(as_of)s), %(as_of)s) AS w1
        FROM cases WHERE reported_on = %(day)s
    ) w WHERE w0 <= w1
),
exposure AS (
    SELECT c.case_id, c.person_id AS case_person, v.venue_id,
           greatest(v.entered_at, c.w0) AS a,
           least(v.left_at, c.w1) + r.after_leave AS e,
           r.min_overlap
    FROM c
    JOIN visits v ON v.person_id = c.person_id AND v.entered_at <= c.w1 AND v.left_at >= c.w0
    JOIN venues ve ON ve.id = v.venue_id
    JOIN rules r ON r.venue_type = ve.venue_type
),
venue_contact AS (
    SELECT x.case_id, o.person_id AS contact, x.venue_id,
           greatest(o.entered_at, x.a) AS overlap_start, least(o.left_at, x.e) AS overlap_end
    FROM exposure x
    JOIN visits o ON o.venue_id = x.venue_id
                 AND o.entered_at <= x.e
                 AND o.entered_at >= x.a - %(longest_visit)s
    WHERE least(o.left_at, x.e) >= greatest(o.entered_at, x.a)
      AND least(o.left_at, x.e) - greatest(o.entered_at, x.a) >= x.min_overlap
      AND o.person_id <> x.case_person
),
household_contact AS (
    SELECT c.case_id, m.id AS contact
    FROM c JOIN people p ON p.id = c.person_id
    JOIN people m ON m.household_id = p.household_id AND m.id <> c.person_id
),
encounter_contact AS (
    SELECT case_id, other AS contact FROM (
        SELECT c.case_id, c.person_id, e.person_b AS other,
               least(e.end_at, c.w1) - greatest(e.start_at, c.w0) AS s
        FROM c JOIN encounters e ON e.person_a = c.person_id
             AND e.start_at <= c.w1 AND e.start_at >= c.w0 - %(longest_encounter)s AND e.end_at >= c.w0
        UNION ALL
        SELECT c.case_id, c.person_id, e.person_a,
               least(e.end_at, c.w1) - greatest(e.start_at, c.w0)
        FROM c JOIN encounters e ON e.person_b = c.person_id
             AND e.start_at <= c.w1 AND e.start_at >= c.w0 - %(longest_encounter)s AND e.end_at >= c.w0
    ) t WHERE other <> person_id
    GROUP BY case_id, other HAVING sum(s) >= %(encounter_seconds)s
),
pairs AS (
    SELECT case_id, contact FROM venue_contact
    UNION SELECT case_id, contact FROM household_contact
    UNION SELECT case_id, contact FROM encounter_contact
)
"""

# The evidence too: each venue contact's stay (venue, overlap), and the household and encounter
# contacts, as rows a tracer could read (chaincut's batch trace makes its evidence rows as well).
_EVIDENCE_SQL = """
SELECT case_id, contact, venue_id, overlap_start, overlap_end FROM venue_contact
UNION ALL SELECT case_id, contact, NULL, NULL, NULL FROM household_contact
UNION ALL SELECT case_id, contact, NULL, NULL, NULL FROM encounter_contact
"""


def _copy_ints(cur: Any, table: str, columns: list[str], batches: Any) -> int:
    """Binary COPY of int8 columns, the rows built with NumPy (no Python per row)."""
    import numpy as np

    n = len(columns)
    dtype = np.dtype([("count", ">i2")] + [x for i in range(n) for x in ((f"l{i}", ">i4"), (f"v{i}", ">i8"))])
    rows = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        for arrays in batches:
            out = np.empty(len(arrays[0]), dtype=dtype)
            out["count"] = n
            for i, values in enumerate(arrays):
                out[f"l{i}"] = 8
                out[f"v{i}"] = values
            copy.write(out.tobytes())
            rows += len(out)
        copy.write((-1).to_bytes(2, "big", signed=True))
    return rows


def _load_postgres(url: str, data_dir: Path) -> dict[str, Any]:
    """Load the embedded store's people, venues, cases and archive into PostgreSQL, same ids."""
    import numpy as np
    import psycopg
    import pyarrow.parquet as pq

    from chaincut.policy import load_policy
    from chaincut.store import ParquetArchive

    policy = load_policy(None)
    lite = sqlite3.connect(data_dir / "chaincut.sqlite3")
    archive = ParquetArchive(data_dir / "whereabouts")
    timings: dict[str, Any] = {}
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(_SCHEMA)
        started = time.perf_counter()
        people = np.array(
            lite.execute("SELECT id, coalesce(household_id, -1) FROM people").fetchall(), dtype=np.int64
        )
        with cur.copy("COPY people (id, household_id) FROM STDIN") as copy:
            for pid, hid in people.tolist():
                copy.write_row((pid, None if hid < 0 else hid))
        with cur.copy("COPY venues (id, venue_type) FROM STDIN") as copy:
            for row in lite.execute("SELECT id, venue_type FROM venues"):
                copy.write_row(row)
        with cur.copy(
            "COPY cases (id, person_id, reported_on, onset_on, specimen_on, isolated_at) FROM STDIN"
        ) as copy:
            for row in lite.execute(
                "SELECT id, person_id, reported_on, onset_on, specimen_on, isolated_at FROM cases"
            ):
                copy.write_row(row)
        with cur.copy("COPY rules (venue_type, min_overlap, after_leave) FROM STDIN") as copy:
            for name, kind in policy.venue_types.items():
                copy.write_row((name, kind.contact.min_overlap_seconds, kind.contact.after_leave_seconds))
        timings["load_people_venues_cases_seconds"] = round(time.perf_counter() - started, 1)

        def batches(kind: str, cols: list[str]) -> Any:
            for path in archive.paths(kind):  # type: ignore[arg-type]
                for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=cols):
                    yield [batch.column(c).to_numpy() for c in cols]

        started = time.perf_counter()
        visits = _copy_ints(
            cur, "visits", ["person_id", "venue_id", "entered_at", "left_at"],
            batches("visits", ["person_id", "venue_id", "entered_at", "left_at"]),
        )  # fmt: skip
        encounters = _copy_ints(
            cur, "encounters", ["person_a", "person_b", "start_at", "end_at"],
            batches("encounters", ["person_a", "person_b", "start_at", "end_at"]),
        )  # fmt: skip
        timings["copy_visits_encounters_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cur.execute(_INDEXES)
        timings["index_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        timings["analyze_seconds"] = round(time.perf_counter() - started, 1)
        timings.update(visits=visits, encounters=encounters)
    return timings


def _sql_parameters(day: date, as_of: int, longest_visit: int, longest_encounter: int) -> dict[str, Any]:
    """The SQL's parameters, from the same loaded policy as chaincut's engine."""
    from chaincut.policy import load_policy

    policy = load_policy(None)
    return {
        "day": day,
        "as_of": as_of,
        "zone": str(ZONE),
        "before_onset": policy.infectious_window.days_before_onset,
        "before_specimen": policy.infectious_window.days_before_specimen,
        "longest_visit": longest_visit,
        "longest_encounter": longest_encounter,
        "encounter_seconds": policy.encounters.cumulative_seconds,
    }


def _postgres_contacts(
    url: str, day: date, as_of: int, runs: int, explain: bool, pairs_file: str | None
) -> dict[str, Any]:
    import numpy as np
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT max(left_at - entered_at) FROM visits")
        longest_visit = int(cur.fetchone()[0] or 0)  # type: ignore[index]
        cur.execute("SELECT max(end_at - start_at) FROM encounters")
        longest_encounter = int(cur.fetchone()[0] or 0)  # type: ignore[index]
        params = _sql_parameters(day, as_of, longest_visit, longest_encounter)
        cur.execute("SHOW work_mem")
        work_mem = cur.fetchone()[0]  # type: ignore[index]
        count_sql = _CONTACTS_SQL + "SELECT count(*) FROM pairs"
        if explain:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + count_sql, params)
            print("\n".join(r[0] for r in cur.fetchall()), file=sys.stderr)
        best, contacts = float("inf"), -1
        for _ in range(runs):
            started = time.perf_counter()
            cur.execute(count_sql, params)
            contacts = int(cur.fetchone()[0])  # type: ignore[index]
            best = min(best, time.perf_counter() - started)
        out: dict[str, Any] = {
            "seconds": round(best, 2),
            "contacts": contacts,
            "longest_visit_seconds": longest_visit,
            "longest_encounter_seconds": longest_encounter,
            "work_mem": work_mem,
        }
        if pairs_file is not None:  # the two answers differ: which pairs?
            cur.execute(
                _CONTACTS_SQL + "SELECT c.person_id, p.contact FROM pairs p JOIN cases c ON c.id = p.case_id",
                params,
            )
            rows = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 2)
            theirs = np.unique((rows[:, 0] << 32) | rows[:, 1])
            ours = np.unique(np.load(pairs_file))
            only_pg, only_cc = np.setdiff1d(theirs, ours), np.setdiff1d(ours, theirs)
            out["only_postgres"] = len(only_pg)
            out["only_chaincut"] = len(only_cc)
            out["examples_only_postgres"] = [[int(k >> 32), int(k & 0xFFFFFFFF)] for k in only_pg[:5]]
            out["examples_only_chaincut"] = [[int(k >> 32), int(k & 0xFFFFFFFF)] for k in only_cc[:5]]
        return out


# ------------------------------------------------------------------- DuckDB


def _duckdb_contacts(
    data_dir: str, day: date, as_of: int, pairs_file: str, threads: int, runs: int
) -> dict[str, Any]:
    """The same SQL as PostgreSQL's, run by DuckDB over the store's own Parquet archive (visits and
    encounters read where chaincut keeps them; people, venues, cases and the policy's rules handed
    over from the embedded store first, untimed). Timed: the pairs (count), then the pairs with their
    evidence rows fetched as Arrow; best of ``runs`` each. The pairs are compared with chaincut's."""
    import re

    import duckdb
    import numpy as np
    import pyarrow as pa

    from chaincut.policy import load_policy
    from chaincut.store import ParquetArchive

    started = time.perf_counter()
    lite = sqlite3.connect(Path(data_dir) / "chaincut.sqlite3")
    archive = ParquetArchive(Path(data_dir) / "whereabouts")
    con = duckdb.connect(config={"threads": threads})

    def table(sql: str, names: list[str], types: list[Any]) -> pa.Table:
        rows = lite.execute(sql).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        return pa.table({n: pa.array(c, type=t) for n, c, t in zip(names, columns, types, strict=True)})

    def dates(values: Any) -> list[date | None]:
        return [None if v is None else date.fromisoformat(v) for v in values]

    people = table("SELECT id, household_id FROM people", ["id", "household_id"], [pa.int64(), pa.int64()])
    venues = table("SELECT id, venue_type FROM venues", ["id", "venue_type"], [pa.int64(), pa.string()])
    raw_cases = lite.execute(
        "SELECT id, person_id, reported_on, onset_on, specimen_on, isolated_at FROM cases"
    ).fetchall()
    ids, persons, reported, onset, specimen, isolated = (list(c) for c in zip(*raw_cases, strict=True))
    cases = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "person_id": pa.array(persons, pa.int64()),
            "reported_on": pa.array(dates(reported), pa.date32()),
            "onset_on": pa.array(dates(onset), pa.date32()),
            "specimen_on": pa.array(dates(specimen), pa.date32()),
            "isolated_at": pa.array(isolated, pa.int64()),
        }
    )
    policy = load_policy(None)
    rules = pa.table(
        {
            "venue_type": list(policy.venue_types),
            "min_overlap": [k.contact.min_overlap_seconds for k in policy.venue_types.values()],
            "after_leave": [k.contact.after_leave_seconds for k in policy.venue_types.values()],
        }
    )
    for name, arrow in (("people", people), ("venues", venues), ("cases", cases), ("rules", rules)):
        con.register(f"{name}_arrow", arrow)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
    for kind, columns in (
        ("visits", "person_id, venue_id, entered_at, left_at"),
        ("encounters", "person_a, person_b, start_at, end_at"),
    ):
        paths = [str(p) for p in archive.paths(kind)]  # type: ignore[arg-type]
        con.execute(f"CREATE VIEW {kind} AS SELECT {columns} FROM read_parquet({paths!r})")
    longest_visit = int(con.sql("SELECT max(left_at - entered_at) FROM visits").fetchall()[0][0] or 0)
    longest_encounter = int(con.sql("SELECT max(end_at - start_at) FROM encounters").fetchall()[0][0] or 0)
    params = _sql_parameters(day, as_of, longest_visit, longest_encounter)
    setup_seconds = time.perf_counter() - started
    # PostgreSQL's statement, word for word: only its %(name)s parameters written as DuckDB's $name.
    sql = re.sub(r"%\((\w+)\)s", r"$\1", _CONTACTS_SQL)

    def timed(fetch: Any) -> tuple[list[float], Any]:
        times, result = [], None
        for _ in range(max(runs, 1)):
            started = time.perf_counter()
            result = fetch()
            times.append(time.perf_counter() - started)
        return times, result

    pairs_times, counted = timed(
        lambda: int(con.sql(sql + "SELECT count(*) FROM pairs", params=params).fetchall()[0][0])
    )
    evidence_times, evidence = timed(lambda: con.sql(sql + _EVIDENCE_SQL, params=params).to_arrow_table())
    rows = con.sql(
        sql + "SELECT c.person_id, p.contact FROM pairs p JOIN cases c ON c.id = p.case_id", params=params
    ).fetchnumpy()
    theirs = np.unique((rows["person_id"].astype(np.int64) << 32) | rows["contact"].astype(np.int64))
    ours = np.unique(np.load(pairs_file))
    return {
        "seconds": round(min(pairs_times), 2),
        "first_seconds": round(pairs_times[0], 2),  # its first query in a fresh process
        "evidence_seconds": round(min(evidence_times), 2),
        "runs": [round(t, 2) for t in pairs_times],
        "contacts": counted,
        "evidence_rows": evidence.num_rows,
        "same_pairs": bool(np.array_equal(theirs, ours)),
        "only_duckdb": len(np.setdiff1d(theirs, ours)),
        "only_chaincut": len(np.setdiff1d(ours, theirs)),
        "threads": threads,
        "version": duckdb.__version__,
        "setup_seconds": round(setup_seconds, 2),
        "peak_rss_mib": _rss_mib(),
    }


# ------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    machine = _machine.machine()
    with ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaincut-trace-")))
        city = args.city or work / "city"
        _synthesize(args, city)
        day = _last_day(city)
        at = datetime.combine(day, dtime(23, 59, 59), tzinfo=ZONE)
        data_dir = work / "embedded"
        imports = _build_store(city, data_dir)
        registered = _in_child(_register_cases, str(data_dir), args.cases, day, args.seed)
        _log(f"registered {registered['cases']:,} cases reported on {day} in {registered['seconds']} s")

        pairs_file = str(work / "chaincut-pairs.npy")
        _log("chaincut: tracing the day's cases (batch)")
        batch = _in_child(_batch, str(data_dir), at, day, pairs_file, args.chaincut_runs)
        _log(
            f"chaincut: {batch['contacts']:,} contacts in {batch['seconds']} s (runs {batch['runs']}, "
            f"the same pairs each: {batch['runs_agree']}), peak {batch['peak_rss_mib']} MiB"
        )
        _log(f"chaincut phases (s): {batch['phases']}")
        interactive: dict[str, Any] = {}
        if args.interactive:
            _log(f"chaincut: {args.interactive} single-case traces, resident")
            if args.index == "mapped":  # the first worker writes the index's files, from scratch
                for kind in ("visits", "encounters"):
                    shutil.rmtree(data_dir / "whereabouts" / ".derived" / kind, ignore_errors=True)
            interactive = _in_child(
                _interactive, str(data_dir), at, day, args.interactive, args.seed, args.index
            )
            if args.index == "mapped":  # a second worker maps what the first wrote
                _log(f"chaincut interactive, the first worker: {interactive}")
                interactive = {
                    **_in_child(
                        _interactive, str(data_dir), at, day, args.interactive, args.seed, args.index
                    ),
                    "first_worker": interactive,
                }
            _log(f"chaincut interactive: {interactive}")

        spark: dict[str, Any] = {}
        if args.spark:
            _log(f"Spark: the day as a Spark job on {args.spark} (driver memory {args.spark_driver_memory})")
            spark = _in_child(
                _spark,
                str(data_dir),
                at,
                day,
                pairs_file,
                args.spark,
                args.spark_driver_memory,
                str(work / "spark-contacts.parquet"),
            )
            _log(f"Spark: {spark}")

        duck: dict[str, Any] = {}
        if not args.no_duckdb:
            _log(f"DuckDB: the same SQL over the store's Parquet archive ({args.duckdb_threads} threads)")
            as_of = int(at.timestamp())
            duck = _in_child(
                _duckdb_contacts, str(data_dir), day, as_of, pairs_file, args.duckdb_threads, args.duckdb_runs
            )
            _log(f"DuckDB: {duck}")

        pg: dict[str, Any] = {}
        if not args.no_postgres:
            sys.path.insert(0, str(REPO / "tests"))
            from support.postgres import find_postgres_bin, running_postgres

            _log("starting a throwaway PostgreSQL server and loading the same data")
            server = stack.enter_context(running_postgres(work / "postgres", bin_dir=find_postgres_bin()))
            url = server.create_database("chaincut_trace")
            pg["load"] = _load_postgres(url, data_dir)
            _log(f"postgres loaded: {pg['load']}")
            as_of = int(at.timestamp())
            pg.update(_postgres_contacts(url, day, as_of, args.postgres_runs, args.explain, None))
            _log(f"postgres: {pg['contacts']:,} contacts in {pg['seconds']} s")
            if pg["contacts"] != batch["contacts"]:
                _log("the counts differ: comparing the pairs")
                pg["diff"] = _postgres_contacts(url, day, as_of, 1, False, pairs_file)
                _log(f"difference: {pg['diff']}")

        result = {
            "chaincut_seconds": batch["seconds"],
            "postgres_seconds": pg.get("seconds"),
            "contacts": batch["contacts"],
            "postgres_contacts": pg.get("contacts"),
            "ratio": round(pg["seconds"] / batch["seconds"], 1) if pg else None,
            "duckdb_seconds": duck.get("seconds"),
            "duckdb_evidence_seconds": duck.get("evidence_seconds"),
            "duckdb_contacts": duck.get("contacts"),
            "duckdb_same_pairs": duck.get("same_pairs"),
            # Best of runs in one process each (--chaincut-runs, --duckdb-runs); and first against first.
            "chaincut_over_duckdb": round(batch["seconds"] / duck["seconds"], 2) if duck else None,
            "chaincut_first_seconds": batch["first_seconds"],
            "chaincut_runs": batch["runs"],
            "chaincut_runs_agree": batch["runs_agree"],
            "duckdb_first_seconds": duck.get("first_seconds"),
            "chaincut_over_duckdb_first": (
                round(batch["first_seconds"] / duck["first_seconds"], 2) if duck else None
            ),
            "chaincut_over_duckdb_with_evidence": (
                round(batch["seconds"] / duck["evidence_seconds"], 2) if duck else None
            ),
            "chaincut_peak_rss_mib": batch["peak_rss_mib"],
            "spark_seconds": spark.get("seconds"),
            "spark_over_chaincut": round(spark["seconds"] / batch["seconds"], 1) if spark else None,
            "spark_same_pairs": spark.get("same_pairs"),
            "spark": spark,
            "interactive_p50_ms": interactive.get("p50_ms"),
            "interactive_p99_ms": interactive.get("p99_ms"),
            "resident_load_seconds": interactive.get("warm_up_seconds"),
            "checkins": args.checkins,
            "cases": registered["cases"],
            "people": args.people,
            "venues": args.venues,
            "evidence": batch["evidence"],
            "chaincut_phases": batch["phases"],
            "interactive": interactive,
            "postgres": pg,
            "duckdb": duck,
            "imports_seconds": imports,
            "day": day.isoformat(),
            **machine,
        }
        print(json.dumps(result), flush=True)
        if not args.json:
            _table(result)
    return 0


def _table(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def shown(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        return f"{value:,}" if isinstance(value, int) else str(value)

    duck = r["duckdb"]
    table = Table(title=f"{r['checkins']:,} check-ins, {r['cases']:,} cases")
    for column in ("", "chaincut", "DuckDB", "PostgreSQL"):
        table.add_column(column, justify="right")
    table.add_row(
        "contacts", shown(r["contacts"]), shown(r["duckdb_contacts"]), shown(r["postgres_contacts"])
    )
    table.add_row("same pairs as chaincut", "", shown(r["duckdb_same_pairs"]), "")
    table.add_row(
        "batch seconds (best)",
        str(r["chaincut_seconds"]),
        shown(r["duckdb_seconds"]),
        shown(r["postgres_seconds"]),
    )
    table.add_row(
        "... first run in a fresh process",
        str(r["chaincut_first_seconds"]),
        shown(r["duckdb_first_seconds"]),
        "",
    )
    table.add_row(
        "... with the evidence rows", str(r["chaincut_seconds"]), shown(r["duckdb_evidence_seconds"]), ""
    )
    table.add_row("peak RSS MiB", str(r["chaincut_peak_rss_mib"]), shown(duck.get("peak_rss_mib")), "-")
    if r["interactive_p99_ms"] is not None:
        p50, p99 = r["interactive_p50_ms"], r["interactive_p99_ms"]
        table.add_row("single case p50 / p99 ms", f"{p50} / {p99}", "-", "-")
        table.add_row("resident load s", str(r["resident_load_seconds"]), "-", "-")
    table.add_row(
        "chaincut's time / theirs", "", shown(r["chaincut_over_duckdb"]),
        shown(round(1 / r["ratio"], 3) if r["ratio"] else None),
    )  # fmt: skip
    table.add_row("... first runs", "", shown(r["chaincut_over_duckdb_first"]), "")
    Console(stderr=True).print(table)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
