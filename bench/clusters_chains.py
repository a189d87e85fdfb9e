"""Benchmark: clusters and chains of the fifth wave at its height, on the embedded store (SQLite).

    python bench/clusters_chains.py                       # 1,000,000 cases
    python bench/clusters_chains.py --cases 100000        # smaller
    python bench/clusters_chains.py --cases 100000 --profile   # cProfile of each step, on stderr
    python bench/clusters_chains.py --store /tmp/cc-1m    # keep the loaded store, reuse it next time

The requirement (issue 11): clusters and chains for 1,000,000 cases over 60 days (77,000 on the
peak day) with their contact evidence from a Hong Kong-scale city, in under 60 s and 8 GiB on
the embedded default; a cluster page (a cluster of 5,000 cases) in under 300 ms.

**The cases** are bench/epicurve.py's wave: a Gaussian wave peaking on day 35 (77,000 on the peak
day at a million), each reported 0-5 days after onset, a fifth with no onset, classified as in
the fifth wave; nine in ten isolated at noon of their report day (the others not yet: their
period runs to now). Each case has its own person.

**Their evidence** comes from a simpler generator than ``chaincut synth`` (which makes every
resident's check-ins: 140M visits, of which only the cases' matter here): a city of 150,000
venues (bench/synth.py's Hong Kong default; types in fifth-wave-like shares, 4% hospitals and
clinics, which link no cases; popularity falling as 1 / (rank + 1000)), and for each case:

* Poisson(4) stays at venues in its period (from local midnight 14 days before its day to its
  isolation), 30 minutes to 3 hours long, one in fifty never closed;
* a household: 95% of cases live in one of ``0.6 x cases`` households (about 1.6 cases each);
* encounters: ``0.3 x cases`` between two cases whose days are within 3 days of each other, inside
  both periods;
* tracer links (``linked_case``): 5% of cases, to a case whose day is 1 to 7 days earlier;
* the building list: ``cases / 25`` residential buildings and ``cases / 200`` non-residential
  ones (each also a venue), a quarter of the cases listed at their household's building and 3%
  at a non-residential one;
* beside them, half as many people who are not cases, with 2 stays each (rows the reads must
  skip).

**The planted cluster** (``--planted``, 5,000 cases): cases whose only evidence is one stay each
at one banquet hall (no household, encounter, link or listing), so inference makes exactly one
cluster of them; its ``detail`` is the cluster page (best of ``--runs``).

**Measured**, each step in a fresh child process after the store is loaded, so the peak RSS
(``VmHWM``) is the step's own: a run of clusters and chains as ``POST /analytics/clusters/refresh``
makes it (``refresh_clusters_and_chains``: one read, the clusters inferred and stored, the chains
inferred and each case's inferred infector stored; first run, then a second over the same store,
which must keep every id, checked here), ``ClusterService.detail`` of the largest cluster and of
the planted one, and, apart, ``ChainService.build`` (the chains alone, read included),
``ChainService.for_case`` and ``ChainService.overview(10)``. Prints one JSON line on stdout, a
summary on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import _machine
from chaincut.analytics.epicurve import CLASSIFICATIONS, NO_DAY, day_number
from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.domain import CaseClassification
from chaincut.domain.access import Principal
from chaincut.settings import Settings
from chaincut.store import Database, upgrade

FIRST = date(2022, 1, 15)
DAYS = 60
PEAK = 77_000
NOW = datetime(2022, 3, 20, 4, 0, tzinfo=UTC)
VENUES = 150_000
DAY_S, HOUR_S = 86_400, 3_600
PERIOD_DAYS = 14  # the policy's coarse_exposure_days_before_onset: a case's period begins then
SYSTEM = Principal.system("bench")
_CLASS_SHARES = {
    CaseClassification.IMPORTED: 0.01,
    CaseClassification.LOCAL: 0.30,
    CaseClassification.LINKED: 0.25,
    CaseClassification.UNLINKED: 0.40,
    CaseClassification.POSSIBLY_LOCAL: 0.02,
    CaseClassification.UNKNOWN: 0.02,
}
_VENUE_TYPES = {
    "restaurant": 0.30,
    "office": 0.15,
    "mall": 0.10,
    "supermarket": 0.10,
    "market": 0.08,
    "gym": 0.05,
    "salon": 0.05,
    "bar": 0.04,
    "school": 0.03,
    "cinema": 0.02,
    "place_of_worship": 0.02,
    "elderly_home": 0.02,
    "hospital": 0.02,
    "clinic": 0.02,
}


def _log(message: str) -> None:
    print(f"[clusters_chains] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _midnight(day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Epoch seconds of local midnight in Hong Kong (UTC+8 all year since 1979)."""
    out: npt.NDArray[np.int64] = day * DAY_S - 8 * HOUR_S
    return out


def _wave(total: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Reports per day: bench/epicurve.py's Gaussian wave (peak day holds PEAK per million)."""
    sd = (total / (PEAK * total / 1_000_000)) / np.sqrt(2 * np.pi)
    shape = np.exp(-0.5 * ((np.arange(DAYS) - 35) / sd) ** 2)
    return rng.multinomial(total, shape / shape.sum()).astype(np.int64)


def _near(
    day: npt.NDArray[np.int64], who: npt.NDArray[np.int64], lo: int, hi: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """For each case in ``who``, a random case whose day is ``lo`` to ``hi`` days from its own."""
    by_day = np.argsort(day, kind="stable")
    first, last = int(day.min()), int(day.max())
    day_start = np.searchsorted(day[by_day], np.arange(first, last + 2))
    target = np.clip(day[who] + rng.integers(lo, hi + 1, len(who)), first, last) - first
    start, stop = day_start[target], day_start[target + 1]
    pick = start + (rng.random(len(who)) * (stop - start)).astype(np.int64)
    out: npt.NDArray[np.int64] = by_day[np.minimum(pick, len(day) - 1)].astype(np.int64)
    return out


def city(total: int, planted: int, rng: np.random.Generator) -> dict[str, npt.NDArray[Any]]:
    """The cases and their evidence as arrays (see the module's docstring). Case i is person i + 1."""
    per_day = _wave(total, rng)
    reported = day_number(FIRST) + np.repeat(np.arange(DAYS, dtype=np.int64), per_day)
    onset = reported - rng.integers(0, 6, total)
    onset[rng.random(total) < 0.2] = NO_DAY
    day = np.where(onset == NO_DAY, reported, onset)
    shares = np.array([_CLASS_SHARES[c] for c in CLASSIFICATIONS])
    classification = rng.choice(len(CLASSIFICATIONS), total, p=shares / shares.sum()).astype(np.int8)
    now = int(NOW.timestamp())
    isolated = np.where(rng.random(total) < 0.9, _midnight(reported) + 12 * HOUR_S, -1)
    opens = _midnight(day - PERIOD_DAYS)
    closes = np.where(isolated >= 0, isolated, now)
    is_planted = np.zeros(total, dtype=np.bool_)
    is_planted[rng.choice(total, planted, replace=False)] = True
    free = np.flatnonzero(~is_planted)

    # Stays: Poisson(4) per case at venues 1.. by popularity; the planted cases one each at venue 0.
    rank_weight = 1.0 / (np.arange(VENUES - 1) + 1000.0)
    popularity = rng.permutation(rank_weight / rank_weight.sum())
    who = np.repeat(free, rng.poisson(4.0, len(free)))
    venue = 1 + rng.choice(VENUES - 1, len(who), p=popularity)
    hall = np.flatnonzero(is_planted)
    who = np.concatenate((who, hall))
    venue = np.concatenate((venue, np.zeros(len(hall), dtype=np.int64)))
    span = closes[who] - opens[who] - 3 * HOUR_S
    entered = opens[who] + (rng.random(len(who)) * span).astype(np.int64)
    left = entered + rng.integers(30 * 60, 3 * HOUR_S, len(who))
    left[rng.random(len(who)) < 0.02] = -1
    # Not cases: half as many people, two stays each anywhere in the wave.
    others = total // 2
    bg_who = total + np.repeat(np.arange(others, dtype=np.int64), 2)
    bg_entered = _midnight(np.full(len(bg_who), day_number(FIRST) - PERIOD_DAYS)) + (
        rng.random(len(bg_who)) * (DAYS + PERIOD_DAYS) * DAY_S
    ).astype(np.int64)
    bg_venue = 1 + rng.choice(VENUES - 1, len(bg_who), p=popularity)

    # Households: 95% of the free cases in 0.6 x cases households.
    households = max(1, int(0.6 * total))
    household = np.full(total, -1, dtype=np.int64)
    housed = free[rng.random(len(free)) < 0.95]
    household[housed] = rng.integers(0, households, len(housed))

    # Encounters between free cases whose days are within 3 days, inside both periods.
    a = free[rng.integers(0, len(free), int(0.3 * total))]
    b = _near(day, a, -3, 3, rng)
    ok = (a != b) & ~is_planted[b]
    a, b = a[ok], b[ok]
    lo, hi = np.maximum(opens[a], opens[b]), np.minimum(closes[a], closes[b]) - HOUR_S
    ok = hi > lo
    a, b, lo, hi = a[ok], b[ok], lo[ok], hi[ok]
    met_start = lo + (rng.random(len(a)) * (hi - lo)).astype(np.int64)
    met_end = met_start + rng.integers(15 * 60, HOUR_S, len(a))
    pa, pb = np.minimum(a, b), np.maximum(a, b)
    met = np.unique(np.stack((pa, met_start, pb, met_end), axis=1), axis=0)

    # Tracer links: 5% of free cases, to a free case 1 to 7 days earlier.
    linked = np.full(total, -1, dtype=np.int64)
    chosen = free[rng.random(len(free)) < 0.05]
    to = _near(day, chosen, -7, -1, rng)
    ok = (to != chosen) & ~is_planted[to]
    linked[chosen[ok]] = to[ok]

    # The building list: residential buildings by household, non-residential ones at venues.
    residential = max(1, total // 25)
    visited = max(1, total // 200)
    building_venue = 1 + rng.choice(VENUES - 1, visited, replace=False)
    listed_home = free[(household[free] >= 0) & (rng.random(len(free)) < 0.25 / 0.95)]
    listed_away = free[rng.random(len(free)) < 0.03]
    building_case = np.unique(
        np.stack(
            (
                np.concatenate(
                    (
                        household[listed_home] % residential,
                        residential + rng.integers(0, visited, len(listed_away)),
                    )
                ),
                np.concatenate((listed_home, listed_away)),
            ),
            axis=1,
        ),
        axis=0,
    )
    venue_type = rng.choice(len(_VENUE_TYPES), VENUES, p=np.array(list(_VENUE_TYPES.values())))
    venue_type[0] = list(_VENUE_TYPES).index("restaurant")
    return {
        "reported": reported,
        "onset": onset,
        "day": day,
        "classification": classification,
        "isolated": isolated,
        "household": household,
        "linked": linked,
        "planted": np.flatnonzero(is_planted),
        "stay_person": np.concatenate((who, bg_who)),
        "stay_venue": np.concatenate((venue, bg_venue)),
        "stay_entered": np.concatenate((entered, bg_entered)),
        "stay_left": np.concatenate((left, bg_entered + HOUR_S)),
        "met": met,
        "venue_type": venue_type,
        "building_venue": building_venue,
        "building_case": building_case,
        "sizes": np.array([households, others, residential, visited]),
    }


def _iso(days: npt.NDArray[np.int64]) -> list[str | None]:
    epoch = date(1970, 1, 1)
    return [None if d == NO_DAY else (epoch + timedelta(days=int(d))).isoformat() for d in days.tolist()]


def _insert(db: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]], label: str) -> None:
    start = time.perf_counter()
    n = 0
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 200_000:
            db.executemany(sql, batch)
            n += len(batch)
            batch = []
    db.executemany(sql, batch)
    n += len(batch)
    _log(f"loaded {n:,} {label} in {time.perf_counter() - start:.1f} s")


def load(path: Path, data: dict[str, npt.NDArray[Any]]) -> None:
    """Write the city into the migrated SQLite store at ``path`` with the driver's executemany."""
    households, others, residential, visited = (int(x) for x in data["sizes"])
    total = len(data["reported"])
    venue_names = list(_VENUE_TYPES)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    db.execute("BEGIN")
    _insert(
        db,
        "INSERT INTO households (id, ref, district) VALUES (?, ?, ?)",
        ((h + 1, f"H{h}", f"District {h % 18:02d}") for h in range(households)),
        "households",
    )
    household = data["household"].tolist()
    _insert(
        db,
        "INSERT INTO people (id, ref, public_id, household_id, created_at) VALUES (?, ?, ?, ?, 0)",
        (
            (
                i + 1,
                f"P{i}",
                f"B{i:012d}",
                (household[i] + 1 if household[i] >= 0 else None) if i < total else None,
            )
            for i in range(total + others)
        ),
        "people",
    )
    types = data["venue_type"].tolist()
    _insert(
        db,
        "INSERT INTO venues (id, ref, public_id, venue_type, name_en, name_zh, district, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        (
            (
                v + 1,
                f"V{v}",
                f"Q{v:012d}",
                venue_names[types[v]],
                f"Venue {v}",
                f"場所{v}",
                f"District {v % 18:02d}",
            )
            for v in range(VENUES)
        ),
        "venues",
    )
    classes = [c.value for c in CLASSIFICATIONS]
    onset, reported = _iso(data["onset"]), _iso(data["reported"])
    cls, isolated = data["classification"].tolist(), data["isolated"].tolist()
    _insert(
        db,
        "INSERT INTO cases (id, ref, person_id, status, classification, reported_on, onset_on, created_at,"
        " isolated_at) VALUES (?, ?, ?, 'confirmed', ?, ?, ?, 0, ?)",
        (
            (
                i + 1,
                f"C{i}",
                i + 1,
                classes[cls[i]],
                reported[i],
                onset[i],
                isolated[i] if isolated[i] >= 0 else None,
            )
            for i in range(total)
        ),
        "cases",
    )
    linked = data["linked"]
    who = np.flatnonzero(linked >= 0)
    _insert(
        db,
        "UPDATE cases SET linked_case_id = ? WHERE id = ?",
        zip((linked[who] + 1).tolist(), (who + 1).tolist(), strict=True),
        "tracer links",
    )
    order = np.lexsort((data["stay_entered"], data["stay_person"]))
    _insert(
        db,
        "INSERT INTO visits (person_id, venue_id, entered_at, left_at, left_inferred, source, clipped)"
        " VALUES (?, ?, ?, ?, 0, 3, 0)",
        (
            (p + 1, v + 1, e, x if x >= 0 else None)
            for p, v, e, x in zip(
                data["stay_person"][order].tolist(),
                data["stay_venue"][order].tolist(),
                data["stay_entered"][order].tolist(),
                data["stay_left"][order].tolist(),
                strict=True,
            )
        ),
        "visits",
    )
    _insert(
        db,
        "INSERT INTO encounters (person_a, start_at, person_b, end_at) VALUES (?, ?, ?, ?)",
        ((a + 1, s, b + 1, e) for a, s, b, e in data["met"].tolist()),
        "encounters",
    )
    venue_of = data["building_venue"].tolist()
    _insert(
        db,
        "INSERT INTO buildings (id, ref, district, name_en, residential, venue_id) VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                k + 1,
                f"B{k}",
                f"District {k % 18:02d}",
                f"Building {k}"
                if k < residential
                else f"Venue {venue_of[k - residential]} (non-residential)",
                1 if k < residential else 0,
                None if k < residential else venue_of[k - residential] + 1,
            )
            for k in range(residential + visited)
        ),
        "buildings",
    )
    _insert(
        db,
        "INSERT INTO building_cases (building_id, case_ref) VALUES (?, ?)",
        ((k + 1, f"C{c}") for k, c in data["building_case"].tolist()),
        "building-list links",
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def _services(data_dir: Path) -> Services:
    return bootstrap(Settings(env="development", data_dir=data_dir), clock=FixedClock(NOW))


def _peak_rss_mib() -> int:
    """This process's peak RSS: VmHWM, which starts afresh at exec (``ru_maxrss`` would count the
    parent's memory at the fork that started this child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _child(op: str, data_dir: Path, runs: int, profile: bool, extra: str) -> None:
    """Run one step on the store; print its seconds (best of ``runs`` for reads) and peak RSS as JSON."""
    svc = _services(data_dir)
    result: dict[str, Any] = {}

    def step() -> Any:
        if op == "refresh":
            return refresh_clusters_and_chains(svc.clusters, svc.chains, SYSTEM)
        if op == "detail":
            return svc.clusters.detail(int(extra))
        if op == "build":
            return svc.chains.build()
        if op == "for_case":
            return svc.chains.for_case(extra)
        if op == "overview":
            return svc.chains.overview(10)
        raise ValueError(op)

    profiler = cProfile.Profile() if profile else None
    times = []
    out: Any = None
    for _ in range(runs):
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        out = step()
        if profiler is not None:
            profiler.disable()
        times.append(time.perf_counter() - start)
    result["seconds"] = round(min(times), 3)
    result["seconds_all"] = [round(t, 3) for t in times]
    result["peak_rss_mib"] = _peak_rss_mib()
    if op == "refresh":
        run = out.clusters
        result |= {
            "clusters": run.clusters,
            "created": run.created,
            "merged": len(run.merged),
            "dissolved": len(run.dissolved),
            "left_out": run.left_out,
            "inferred_infectors": out.inferred_infectors,
        }
        found, _ = svc.clusters.page(limit=1)
        result["largest"] = {"id": found[0].id, "size": found[0].size} if found else None
    elif op == "detail":
        result |= {
            "members": out.summary.size,
            "evidence": len(out.evidence),
            "settings": len(out.summary.settings),
        }
    elif op == "build":
        result |= {
            "chains": out.chains,
            "largest_chain": int(out.chain_size[0]) if out.chains else 0,
            "candidates": len(out.candidate),
            "evidence_rows": len(out.evidence.a),
            "with_infector": int((out.infector >= 0).sum()),
        }
    elif op == "for_case":
        result |= {"candidates": len(out.candidates.candidates), "chain_size": out.chain.size}
    elif op == "overview":
        result |= {"chains": out.chains}
    svc.close()
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        print(text.getvalue(), file=sys.stderr)
    print(json.dumps(result), flush=True)


def _run_child(op: str, data_dir: Path, runs: int, profile: bool, extra: str = "") -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", op, "--data-dir", str(data_dir), "--runs", str(runs)]
    argv += ["--extra", extra] + (["--profile"] if profile else [])
    done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    _log(f"{op}{' ' + extra if extra else ''}: {measured}")
    return measured


def _memberships(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, str, int]]]:
    db = sqlite3.connect(path)
    try:
        members = db.execute(
            "SELECT case_id, cluster_id FROM inferred_cluster_members ORDER BY case_id"
        ).fetchall()
        clusters = db.execute("SELECT id, status, size FROM inferred_clusters ORDER BY id").fetchall()
    finally:
        db.close()
    return members, clusters


def _reset(path: Path) -> None:
    """Forget the clusters of an earlier run, so the first refresh is a first run."""
    db = sqlite3.connect(path, isolation_level=None)
    for table in (
        "inferred_cluster_evidence",
        "inferred_cluster_settings",
        "inferred_cluster_members",
        "cluster_decisions",
        "inferred_clusters",
        "inferred_infectors",
    ):
        db.execute(f"DELETE FROM {table}")
    db.close()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--planted", type=int, default=5_000, help="cases in the planted cluster")
    parser.add_argument("--runs", type=int, default=5, help="runs of the cluster page (best of)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--store", type=Path, help="keep the loaded store here (reused when present)")
    parser.add_argument("--profile", action="store_true", help="cProfile each step (stderr)")
    parser.add_argument(
        "--only",
        help="steps to run, comma-separated: refresh, detail, chains (refresh1: the first run only;"
        " build: the chains' build only)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _timed(label: str, work: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = work()
    _log(f"{label} in {time.perf_counter() - start:.1f} s")
    return out


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    if args.child:
        _child(args.child, args.data_dir, args.runs, args.profile, args.extra)
        return
    steps = set((args.only or "refresh,detail,chains").split(","))
    with tempfile.TemporaryDirectory(prefix="chaincut-clusters-chains-") as work:
        data_dir = args.store or Path(work) / "store"
        db_path = data_dir / "chaincut.sqlite3"
        data = _timed("generated", lambda: city(args.cases, args.planted, np.random.default_rng(args.seed)))
        numbers = {
            "cases": args.cases,
            "peak_day_cases": int(np.bincount(data["reported"] - data["reported"].min()).max()),
            "venues": VENUES,
            "case_stays": int((data["stay_person"] < args.cases).sum()),
            "other_stays": int((data["stay_person"] >= args.cases).sum()),
            "households": int(data["sizes"][0]),
            "cases_in_households": int((data["household"] >= 0).sum()),
            "encounters": len(data["met"]),
            "tracer_links": int((data["linked"] >= 0).sum()),
            "buildings": int(data["sizes"][2] + data["sizes"][3]),
            "building_list_links": len(data["building_case"]),
            "planted_cluster": args.planted,
        }
        _log(f"the city: {numbers}")
        if not db_path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            db = Database(f"sqlite:///{db_path}")
            upgrade(db)
            db.dispose()
            start = time.perf_counter()
            load(db_path, data)
            _log(f"loaded the store in {time.perf_counter() - start:.1f} s")
        else:
            db = Database(f"sqlite:///{db_path}")
            upgrade(db)  # a store kept by an earlier version of this bench
            db.dispose()
            _log(f"reusing the store at {data_dir}")
        planted_ref = f"C{int(data['planted'][0])}"
        some_case = f"C{int(np.argsort(data['day'], kind='stable')[int(0.7 * args.cases)])}"
        del data
        measured: dict[str, Any] = {}
        if "refresh" in steps or "refresh1" in steps:
            _reset(db_path)
            measured["refresh_first"] = _run_child("refresh", data_dir, 1, args.profile)
        if "refresh" in steps:
            before = _memberships(db_path)
            measured["refresh_second"] = _run_child("refresh", data_dir, 1, args.profile)
            after = _memberships(db_path)
            kept = before == after
            measured["refresh_second"]["every_id_kept"] = kept
            if not kept:
                _log("the second run changed clusters' ids or members")
        if "detail" in steps:
            svc = _services(data_dir)
            try:
                largest = svc.clusters.page(limit=1)[0][0].id
                planted_id = svc.clusters.clusters_of([planted_ref])[planted_ref]
            finally:
                svc.close()
            measured["detail_largest"] = _run_child("detail", data_dir, 1, args.profile, str(largest))
            measured["detail_planted"] = _run_child(
                "detail", data_dir, args.runs, args.profile, str(planted_id)
            )
        if "chains" in steps or "build" in steps:
            measured["chains_build"] = _run_child("build", data_dir, 1, args.profile)
        if "chains" in steps:
            measured["chains_for_case"] = _run_child("for_case", data_dir, 1, args.profile, some_case)
            measured["chains_overview"] = _run_child("overview", data_dir, 1, args.profile)
    line = {
        "benchmark": "clusters_chains",
        "backend": "embedded (SQLite)",
        **numbers,
        "target": "clusters + chains under 60 s and 8 GiB; a 5,000-case cluster page under 300 ms",
        **measured,
        **_machine.machine(),
    }
    print(json.dumps(line), flush=True)
    if "refresh_first" in measured:
        first = measured["refresh_first"]
        rss = first["peak_rss_mib"]
        _log(f"clusters and chains, first run: {first['seconds']:.1f} s, peak RSS {rss:,} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
