"""Benchmark: single-case traces while an import and purges change the archive under them.

    python bench/trace_under_change.py                                   # 10M check-ins, ~6 min
    python bench/trace_under_change.py --checkins 2000000 --work /tmp/tuc-2m   # small, ~2 min
    # the code before, on the same city and store (bench/README.md):
    git archive 1fd1ba9 src | tar -x -C /tmp/chaincut-before
    PYTHONPATH=/tmp/chaincut-before/src python bench/trace_under_change.py --work /tmp/tuc

What a server does: it holds the embedded archive in memory for tracing
(``CHAINCUT_TRACING_INDEX=memory``) and traces single cases for tracers, while its
maintenance thread purges expired whereabouts (every 300 s; here every
``--purge-every`` seconds, the cut-off moving ``--purge-step-hours`` each time, so
that each purge rewrites the oldest segment) and an operator imports a day of visits
with ``chaincut import visits`` in another process.

Steps: ``chaincut synth`` writes the city (people and venues scaled from the
check-ins at Hong Kong's ratio, as in ``bench/trace.py``); its last 24 hours of
visits are held back; a store is migrated and filled with ``chaincut import``
(people, venues, the other visits, encounters) and ``--cases`` random people become
cases isolated six hours before the city ends (onset 0-3 days before). That store is
kept (``--work``) and copied afresh for each run. Then in a fresh child process, like a server's:

* ``keep_resident()`` and ``warm_up()``, timed, with the process's RSS before and
  after and, where the code reports it, the index's own bytes per visit;
* **quiet**: ``trace_case`` on random cases, each with its first page of 100
  contacts as JSON (what ``GET /cases/{ref}/contacts`` does), for ``--quiet-seconds``;
* **under change**: the same traces, while ``chaincut import visits`` of the held-back
  day runs in a separate process and ``purge_expired`` runs ``--purges`` times on a
  thread of the tracing process (as the server's maintenance does), its clock
  starting where the retention cut-off falls two hours into the city's first day.

Latency p50/p99/max for each phase, the slowest traces, when the import and each
purge ran, how often the code read the archive into memory (whole loads before; one
segment at a time now) and the peak RSS of each phase. One JSON line on stdout, a
table on stderr; progress with Rich.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import _machine  # bench/_machine.py: Python puts the script's folder on the path

ZONE = ZoneInfo("Asia/Hong_Kong")
HK_CHECKINS, HK_PEOPLE, HK_VENUES = 140_000_000, 7_500_000, 150_000
err = Console(stderr=True)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkins", type=int, default=10_000_000, help="check-ins over all days")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--work", type=Path, default=None, help="folder for the city and the store (kept)")
    parser.add_argument("--quiet-seconds", type=float, default=30.0)
    parser.add_argument("--purges", type=int, default=6)
    parser.add_argument("--purge-every", type=float, default=15.0, help="seconds between purges")
    parser.add_argument(
        "--purge-step-hours", type=float, default=6.0, help="how far each purge's cut-off moves"
    )
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout (no table)")
    args = parser.parse_args(argv)
    args.people = max(1000, round(args.checkins * HK_PEOPLE / HK_CHECKINS))
    args.venues = max(200, round(args.checkins * HK_VENUES / HK_CHECKINS))
    return args


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "CHAINCUT_ENV": "development", "CHAINCUT_DATA_DIR": str(data_dir)}


def _chaincut(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``chaincut ARGS`` from the code this script runs on (PYTHONPATH chooses it)."""
    code = "import sys; from chaincut.cli import main; sys.argv[0] = 'chaincut'; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL)


def _run(*args: str, env: dict[str, str] | None = None) -> None:
    if _chaincut(*args, env=env).wait() != 0:
        raise RuntimeError(f"chaincut {' '.join(args[:2])} failed")


# ------------------------------------------------------------------- the city and the store


def _prepare(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The city, the held-back day, and a filled store in ``work/store``; reused when there."""
    done = work / "prepared.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    city, store = work / "city", work / "store"
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task(f"synthesizing {args.checkins:,} check-ins, {args.people:,} people")
        _run(
            "synth", "--out", str(city), "--people", str(args.people), "--venues", str(args.venues),
            "--days", str(args.days), "--checkins-per-day", str(args.checkins // args.days),
            "--seed", str(args.seed), "--quiet",
        )  # fmt: skip
        progress.update(task, description="holding back the last 24 hours of visits")
        visits = pq.read_table(city / "visits.parquet")
        end = pc.max(visits["left_at"]).as_py()
        first = pc.min(visits["entered_at"]).as_py()
        split = pa.scalar(end - timedelta(days=1), type=visits["entered_at"].type)
        held = visits.filter(pc.greater_equal(visits["entered_at"], split))
        pq.write_table(visits.filter(pc.less(visits["entered_at"], split)), city / "visits-before.parquet")
        pq.write_table(held, city / "visits-held.parquet")
        held_rows, total_rows = held.num_rows, visits.num_rows
        del visits, held
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        env = _env(store)
        _run("db", "upgrade", env=env)
        for kind, file in (
            ("people", "people"),
            ("venues", "venues"),
            ("visits", "visits-before"),
            ("encounters", "encounters"),
        ):
            progress.update(task, description=f"importing {kind}")
            _run("import", kind, str(city / f"{file}.parquet"), "--quiet", env=env)
        progress.update(task, description=f"registering {args.cases:,} cases")
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(_register_cases, (str(store), args.cases, end - timedelta(hours=6), args.seed))
    prepared = {
        "isolated_at": (end - timedelta(hours=6)).isoformat(),
        "first_entry": first.isoformat(),
        "visits": total_rows,
        "held_back": held_rows,
    }
    done.write_text(json.dumps(prepared))
    return prepared


def _services(data_dir: str) -> Any:
    from chaincut.bootstrap import bootstrap
    from chaincut.settings import Settings

    return bootstrap(Settings(env="development", data_dir=Path(data_dir)))


def _register_cases(data_dir: str, count: int, isolated: datetime, seed: int) -> None:
    import numpy as np

    from chaincut.domain import Case, CaseClassification, CaseStatus

    svc = _services(data_dir)
    try:
        rng = np.random.default_rng([seed, 77])
        with svc.store.read() as uow:
            ids = [i for (i,) in uow.connection.exec_driver_sql("SELECT id FROM people ORDER BY id")]
        chosen = rng.choice(np.array(ids, dtype=np.int64), size=min(count, len(ids)), replace=False)
        day = isolated.astimezone(ZONE).date()
        cases = [
            Case(
                ref=f"U{i + 1:06d}",
                person_id=int(person),
                status=CaseStatus.CONFIRMED,
                classification=CaseClassification.LOCAL,
                reported_on=day,
                onset_on=day - timedelta(days=int(back)),
                isolated_at=isolated,
                created_by="bench",
                policy_version=svc.policy.version,
            )
            for i, (person, back) in enumerate(
                zip(chosen.tolist(), rng.integers(0, 4, len(chosen)), strict=True)
            )
        ]
        with svc.store.write() as uow:
            uow.cases.add_many(cases, int(isolated.timestamp()))
    finally:
        svc.close()


# ------------------------------------------------------------------- the measurement (child process)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Peak:
    """The highest RSS seen by sampling every 50 ms, reset per phase."""

    def __init__(self) -> None:
        self.peak = _rss_mib()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, _rss_mib())
            time.sleep(0.05)

    def take(self) -> float:
        peak, self.peak = max(self.peak, _rss_mib()), _rss_mib()
        return round(peak)


def _count_loads() -> list[dict[str, Any]]:
    """Wrap whatever reads the archive into memory, recording each read (bench-only patching)."""
    import functools

    from chaincut.tracing import store_sources

    loads: list[dict[str, Any]] = []

    def timed(what: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                took = time.perf_counter() - started
                loads.append(
                    {"what": what, "thread": threading.current_thread().name, "seconds": round(took, 3)}
                )

        return wrapper

    if hasattr(store_sources, "ArchiveIndex"):  # before: the whole archive, in the trace that noticed
        cls = store_sources.ArchiveIndex
        cls.__init__ = timed("whole archive", cls.__init__)
    else:
        from chaincut.tracing.archive_index import ResidentIndex

        ResidentIndex._run = timed("one segment (read or compacted)", ResidentIndex._run)  # type: ignore[method-assign]
    return loads


def _index_bytes(svc: Any) -> dict[str, Any]:
    """The index's arrays: from the code's own report, or (before) the arrays it holds."""
    import numpy as np

    tracing = svc.tracing
    if hasattr(tracing, "index_size"):
        size = tracing.index_size()
        return {
            "visits": size.visits,
            "visit_bytes": size.visit_bytes,
            "encounters": size.encounters,
            "encounter_bytes": size.encounter_bytes,
            "bytes_per_visit": round(size.visit_bytes / max(size.visits, 1), 1),
        }
    index = tracing._index
    arrays = {k: v for k, v in vars(index).items() if isinstance(v, np.ndarray)}
    visit_bytes = sum(
        v.nbytes
        for k, v in arrays.items()
        if k in {"_keys", "_person", "_stay", "_person_order", "_person_sorted", "_longest"}
    )
    visits = len(index)
    return {
        "visits": visits,
        "visit_bytes": visit_bytes,
        "bytes_per_visit": round(visit_bytes / max(visits, 1), 1),
        "encounter_bytes": sum(v.nbytes for v in arrays.values())
        - visit_bytes
        + sum(getattr(index._encounters, f).nbytes for f in ("person_a", "person_b", "start", "end")),
    }


def _trace_loop(
    svc: Any, refs: list[str], rng: Any, until: Any, progress: Progress, task: Any
) -> list[tuple[float, float]]:
    """(start, seconds) of each trace with its first page as JSON, until ``until()``."""
    zone = svc.settings.zone
    out = []
    while not until():
        ref = refs[int(rng.integers(0, len(refs)))]
        started = time.perf_counter()
        svc.tracing.trace_case(ref).to_json(zone, limit=100)
        out.append((started, time.perf_counter() - started))
        progress.update(task, advance=1)
    return out


def _summary(latencies: list[tuple[float, float]], origin: float) -> dict[str, Any]:
    import numpy as np

    ms = np.array([s for _, s in latencies]) * 1000
    slowest = sorted(latencies, key=lambda x: -x[1])[:5]
    return {
        "traces": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
        "over_1s": int((ms > 1000).sum()),
        "slowest": [{"at_s": round(t - origin, 1), "ms": round(s * 1000, 1)} for t, s in slowest],
    }


def _change(
    svc: Any,
    data_dir: Path,
    held: str,
    purge_clock: Any,
    args: dict[str, Any],
    origin: float,
    events: list[dict[str, Any]],
    finished: threading.Event,
) -> None:
    """An operator's import in another process, and purges on this thread, as the server's maintenance."""
    from chaincut.whereabouts.retention import purge_expired

    def note(what: str, started: float | None = None) -> None:
        at = time.perf_counter() if started is None else started
        event: dict[str, Any] = {"what": what, "at_s": round(at - origin, 1)}
        if started is not None:
            event["seconds"] = round(time.perf_counter() - started, 1)
        events.append(event)

    try:
        importer = _chaincut("import", "visits", held, "--quiet", env=_env(data_dir))
        note("import started")
        imported = False
        for n in range(args["purges"]):
            time.sleep(max(0.0, origin + (n + 1) * args["purge_every"] - time.perf_counter()))
            started = time.perf_counter()
            visits, encounters, *_ = purge_expired(svc.store, svc.policy, purge_clock)
            note(f"purge {n + 1}: {visits.deleted:,} visits, {encounters.deleted:,} encounters", started)
            purge_clock.advance(timedelta(hours=args["purge_step_hours"]))
            if not imported and importer.poll() is not None:
                imported = True
                note("import done (noticed)")
        returncode = importer.wait()
        if not imported:
            note("import done" if returncode == 0 else "import FAILED")
        time.sleep(args["purge_every"])  # traces go on a while after the last change
    finally:
        finished.set()


def _measure(data_dir: str, held: str, first_entry: str, args: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from chaincut.clock import FixedClock

    loads = _count_loads()
    svc = _services(data_dir)
    peak = _Peak()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} traces"),
        TimeElapsedColumn(),
    )
    try:
        with svc.store.read() as uow:
            cases, _ = uow.cases.list(limit=10**9)
        refs = [c.ref for c in cases]
        rng = np.random.default_rng([args["seed"], 5])
        rss_before = _rss_mib()
        svc.tracing.keep_resident()
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("loading the index (warm_up)", total=None)
            started = time.perf_counter()
            svc.tracing.warm_up()
            warm = time.perf_counter() - started
            rss_resident = _rss_mib()
            index = _index_bytes(svc)
            svc.tracing.trace_case(refs[0])  # caches (rules, venue types)
            warm_peak = peak.take()
            loads.clear()

            progress.reset(task, description="quiet: traces only")
            quiet_origin = time.perf_counter()
            stop_quiet = quiet_origin + args["quiet_seconds"]
            quiet = _trace_loop(svc, refs, rng, lambda: time.perf_counter() >= stop_quiet, progress, task)
            quiet_peak = peak.take()
            quiet_load = round(os.getloadavg()[0], 2)

            progress.reset(task, description="under change: import and purges beside the traces")
            events: list[dict[str, Any]] = []
            finished = threading.Event()
            origin = time.perf_counter()
            purge_clock = FixedClock(
                datetime.fromisoformat(first_entry)
                + timedelta(hours=2)
                + timedelta(days=svc.policy.retention.visits_days)
            )

            changer = threading.Thread(
                target=_change,
                args=(svc, Path(data_dir), held, purge_clock, args, origin, events, finished),
                name="maintenance",
            )
            changer.start()
            during = _trace_loop(svc, refs, rng, finished.is_set, progress, task)
            changer.join()
            change_peak = peak.take()
            change_load = round(os.getloadavg()[0], 2)
        return {
            "warm_up_seconds": round(warm, 2),
            "rss_before_mib": round(rss_before),
            "rss_resident_mib": round(rss_resident),
            "rss_peak_warm_up_mib": warm_peak,
            "rss_peak_quiet_mib": quiet_peak,
            "rss_peak_change_mib": change_peak,
            "rss_after_mib": round(_rss_mib()),
            "index": index,
            "quiet": _summary(quiet, quiet_origin) | {"load_average": quiet_load},
            "under_change": _summary(during, origin) | {"load_average": change_load},
            "events": events,
            "loads_under_change": loads,
            "cases": len(refs),
        }
    finally:
        svc.close()


# ------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    work = args.work or Path(f"/tmp/chaincut-trace-under-change-{args.checkins}")
    work.mkdir(parents=True, exist_ok=True)
    prepared = _prepare(args, work)
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(work / "store", run)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            measured = pool.apply(
                _measure,
                (
                    str(run),
                    str(work / "city" / "visits-held.parquet"),
                    prepared["first_entry"],
                    vars(args) | {"work": None},
                ),
            )
    finally:
        shutil.rmtree(run, ignore_errors=True)
    lite = sqlite3.connect(work / "store" / "chaincut.sqlite3")
    people = lite.execute("SELECT count(*) FROM people").fetchone()[0]
    lite.close()
    result = {
        "bench": "trace_under_change",
        "code": os.environ.get("PYTHONPATH") or "this checkout",
        "checkins": args.checkins,
        "people": people,
        "visits_in_city": prepared["visits"],
        "held_back_visits": prepared["held_back"],
        "purges": args.purges,
        "purge_every_s": args.purge_every,
        "purge_step_hours": args.purge_step_hours,
        **measured,
        **_machine.machine(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result), flush=True)
    if not args.json:
        _table(result)
    return 0


def _table(r: dict[str, Any]) -> None:
    table = Table(title=f"single-case traces, {r['checkins']:,} check-ins ({r['code']})")
    for column in ("", "quiet", "import + purges beside"):
        table.add_column(column, justify="right")
    q, c = r["quiet"], r["under_change"]
    table.add_row("traces", f"{q['traces']:,}", f"{c['traces']:,}")
    table.add_row("p50 / p99 ms", f"{q['p50_ms']} / {q['p99_ms']}", f"{c['p50_ms']} / {c['p99_ms']}")
    table.add_row("max ms", str(q["max_ms"]), str(c["max_ms"]))
    table.add_row("peak RSS MiB", str(r["rss_peak_quiet_mib"]), str(r["rss_peak_change_mib"]))
    table.add_row("archive reads into memory", "-", str(len(r["loads_under_change"])))
    err.print(table)
    err.print(
        f"warm-up {r['warm_up_seconds']} s; RSS {r['rss_before_mib']} -> {r['rss_resident_mib']} MiB; "
        f"index {r['index'].get('bytes_per_visit')} bytes a visit"
    )
    for event in r["events"]:
        err.print(f"  {event}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
