"""Benchmark: transmission chains for a synthetic outbreak with a known tree.

    python bench/chains.py                    # 1,000,000 cases, about 3,000,000 evidence rows
    python bench/chains.py --cases 100000

The requirement (issue 11): clusters and chains for the fifth wave at its height (1,000,000
cases over about 60 days) in under 60 s and 8 GiB together. This measures the chains' share:
``infer_chains`` over columns (:class:`ChainCaseColumns`, :class:`EvidenceColumns`), as a store
would fill them from one query each.

The outbreak is a branching process, generation by generation: ``cases / 1000`` imported seeds
with onsets over the first week, each case infecting Poisson(R) others, R = 1000^(1/12) (about
1.78: twelve generations, about 56 days, reach the size), the serial interval drawn from a normal
with mean 4.7 days and sd 2.9 (the policy's), rounded to whole days, negatives kept. The first
``cases`` cases in generation order are kept, so every kept case's infector is kept. A fifth have
no onset (asymptomatic: placed on the report date, 0-5 days after onset). Each case's infectious
window runs from local midnight (Hong Kong, UTC+8) two days before its day to the end of the day
after its report (isolation). Evidence:

* every true infector-infectee pair gets one row (a household 35%, an encounter 15%, a shared
  venue stay 40%, a date-level exposure at a setting 10%), at a time within the infector's window
  and before the infectee's day when there is such a time (else at the window's start: such a
  true pair cannot be found, as in life);
* decoys: each case is together with Poisson(2) other cases whose day is near its own (a day
  drawn uniformly within ``--decoy-days`` (7) days of it, then a case of that day), at a random
  time from 7 days before its day to 2 days after, as a stay (70%), a date-level exposure (20%) or a household
  (10%): co-locations dense in time, the hard case for a ranking by serial interval;
* tracers confirmed 10% of the true infectors.

The data are generated in this process and written to a temporary ``.npz``; the inference runs
in a fresh child process, so its ``peak_rss_mib`` (``ru_maxrss``) is the inference's with its
input loaded, not the generator's. It prints one JSON line with the time (best of ``--runs``),
peak RSS, the machine, and how often the true infector is top-ranked (``top1``) against chance
(the mean of 1 / number of candidates). Beside it, the peer: WHO Go.Data's chains, the connected
components of the relationship list, here of every evidence row (``scipy.sparse.csgraph``), timed
in the same child after the runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

import _machine
from chaincut.analytics.chain_inputs import (
    ALWAYS_FROM,
    ALWAYS_UNTIL,
    NO_CASE,
    ChainCaseColumns,
    EvidenceColumns,
    EvidenceKind,
    SerialIntervalDensity,
)
from chaincut.analytics.chains import (
    infer_chains,
)
from chaincut.analytics.epicurve import CLASSIFICATIONS, NO_DAY, day_number
from chaincut.domain import CaseClassification

ZONE = ZoneInfo("Asia/Hong_Kong")
FIRST = date(2022, 1, 15)
TODAY = date(2022, 3, 20)
SI_MEAN, SI_SD = 4.7, 2.9
DAY_S, HOUR_S = 86_400, 3_600
KINDS = tuple(EvidenceKind)


def _log(message: str) -> None:
    print(f"[chains] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _midnight(day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Epoch seconds of local midnight in Hong Kong (UTC+8 all year since 1979)."""
    out: npt.NDArray[np.int64] = day * DAY_S - 8 * HOUR_S
    return out


def outbreak(total: int, rng: np.random.Generator, decoy_days: int = 7) -> dict[str, npt.NDArray[Any]]:
    """A branching process of ``total`` cases and its evidence, as arrays (see the docstring)."""
    seeds = max(1, total // 1000)
    r = 1000.0 ** (1 / 12)
    parent_parts = [np.full(seeds, NO_CASE, dtype=np.int64)]
    onset_parts = [day_number(FIRST) + rng.integers(0, 7, seeds)]
    size, current = seeds, np.arange(seeds, dtype=np.int64)
    current_onset = onset_parts[0]
    while size < total:
        offspring = rng.poisson(r, len(current))
        parents = np.repeat(current, offspring)
        onsets = np.repeat(current_onset, offspring) + np.rint(
            rng.normal(SI_MEAN, SI_SD, len(parents))
        ).astype(np.int64)
        if not len(parents):
            parents = current[:1]
            onsets = current_onset[:1] + 5
        parent_parts.append(parents)
        onset_parts.append(onsets)
        current = np.arange(size, size + len(parents), dtype=np.int64)
        current_onset = onsets
        size += len(parents)
    parent = np.concatenate(parent_parts)[:total]
    onset = np.concatenate(onset_parts)[:total]
    reported = onset + rng.integers(0, 6, total)
    no_onset = rng.random(total) < 0.2
    day = np.where(no_onset, reported, onset)
    classification = np.where(
        parent == NO_CASE,
        CLASSIFICATIONS.index(CaseClassification.IMPORTED),
        rng.choice(
            [CLASSIFICATIONS.index(c) for c in (CaseClassification.LOCAL, CaseClassification.LINKED)], total
        ),
    ).astype(np.int8)
    window_start = _midnight(day - 2)
    window_end = _midnight(reported + 2) - 1
    confirmed = np.where((parent != NO_CASE) & (rng.random(total) < 0.1), parent, NO_CASE)

    # True pairs: one row each, inside the infector's window and before the infectee's day.
    child = np.flatnonzero(parent != NO_CASE)
    infector = parent[child]
    lo = window_start[infector]
    hi = np.minimum(window_end[infector], _midnight(day[child]) - HOUR_S)
    span = np.maximum(hi - lo, 0)
    t_true = lo + (rng.random(len(child)) * span).astype(np.int64)
    true_kind = rng.choice(
        [KINDS.index(k) for k in EvidenceKind], len(child), p=[0.40, 0.35, 0.15, 0.10]
    ).astype(np.int8)

    # Decoys: cases whose day is within a week of the case's, at a random time around its day.
    by_day = np.argsort(day, kind="stable")
    first_day = int(day.min())
    day_start = np.searchsorted(day[by_day], np.arange(first_day, int(day.max()) + 2))
    per_case = rng.poisson(2.0, total)
    a_decoy = np.repeat(np.arange(total, dtype=np.int64), per_case)
    target = (
        np.clip(
            day[a_decoy] + rng.integers(-decoy_days, decoy_days + 1, len(a_decoy)), first_day, int(day.max())
        )
        - first_day
    )
    lo_at, hi_at = day_start[target], day_start[target + 1]
    near = lo_at + (rng.random(len(a_decoy)) * (hi_at - lo_at)).astype(np.int64)
    b_decoy = by_day[np.minimum(near, total - 1)]
    t_decoy = _midnight(day[a_decoy] - 7) + (rng.random(len(a_decoy)) * 9 * DAY_S).astype(np.int64)
    decoy_kind = rng.choice(
        [KINDS.index(k) for k in (EvidenceKind.STAY, EvidenceKind.SHARED_DAYS, EvidenceKind.HOUSEHOLD)],
        len(a_decoy),
        p=[0.7, 0.2, 0.1],
    ).astype(np.int8)

    a = np.concatenate((infector, a_decoy))
    b = np.concatenate((child, b_decoy))
    t = np.concatenate((t_true, t_decoy))
    kind = np.concatenate((true_kind, decoy_kind))
    rows = len(a)
    a_start = t - (rng.random(rows) * 2 * HOUR_S).astype(np.int64)
    a_end = t + (rng.random(rows) * 2 * HOUR_S).astype(np.int64) + 60
    b_start = t - (rng.random(rows) * 2 * HOUR_S).astype(np.int64)
    b_end = t + (rng.random(rows) * 2 * HOUR_S).astype(np.int64) + 60
    encounter = kind == KINDS.index(EvidenceKind.ENCOUNTER)
    b_start = np.where(encounter, a_start, b_start)
    b_end = np.where(encounter, a_end, b_end)
    days_of = kind == KINDS.index(EvidenceKind.SHARED_DAYS)
    first = _midnight((t + 8 * HOUR_S) // DAY_S)
    a_start = np.where(days_of, first, a_start)
    a_end = np.where(days_of, first + 2 * DAY_S - 1, a_end)
    b_start = np.where(days_of, a_start, b_start)
    b_end = np.where(days_of, a_end, b_end)
    household = kind == KINDS.index(EvidenceKind.HOUSEHOLD)
    a_start = np.where(household, ALWAYS_FROM, a_start)
    b_start = np.where(household, ALWAYS_FROM, b_start)
    a_end = np.where(household, ALWAYS_UNTIL, a_end)
    b_end = np.where(household, ALWAYS_UNTIL, b_end)
    setting = np.where(
        (kind == KINDS.index(EvidenceKind.STAY)) | days_of, rng.integers(0, 20_000, rows), -1
    ).astype(np.int32)
    return {
        "parent": parent,
        "onset": np.where(no_onset, NO_DAY, onset),
        "reported": reported,
        "classification": classification,
        "confirmed": confirmed,
        "window_start": window_start,
        "window_end": window_end,
        "a": a,
        "b": b,
        "kind": kind,
        "setting": setting,
        "a_start": a_start,
        "a_end": a_end,
        "b_start": b_start,
        "b_end": b_end,
    }


def _columns(data: dict[str, npt.NDArray[Any]]) -> tuple[ChainCaseColumns, EvidenceColumns]:
    n = len(data["parent"])
    cases = ChainCaseColumns(
        key=np.arange(n, dtype=np.int64),
        refs=tuple(f"C{i}" for i in range(n)),
        onset=data["onset"],
        reported=data["reported"],
        classification=data["classification"],
        infector=data["confirmed"],
        window_start=data["window_start"],
        window_end=data["window_end"],
    )
    evidence = EvidenceColumns(
        a=data["a"],
        b=data["b"],
        kind=data["kind"],
        setting=data["setting"],
        a_start=data["a_start"],
        a_end=data["a_end"],
        b_start=data["b_start"],
        b_end=data["b_end"],
        settings=tuple(f"V{i}" for i in range(20_000)),
    )
    return cases, evidence


def _child(path: Path, runs: int) -> None:
    """Load the outbreak, infer the chains ``runs`` times; print the measurements as JSON."""
    with np.load(path) as loaded:
        data = {k: loaded[k] for k in loaded.files}
    cases, evidence = _columns(data)
    density = SerialIntervalDensity.normal(SI_MEAN, SI_SD)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = infer_chains(cases, evidence, density, zone=ZONE, today=TODAY, active_days=28)
        times.append(time.perf_counter() - start)
    peak_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    # The peer: WHO Go.Data's chains, connected components of every relationship (here every
    # evidence row), with scipy's sparse graph routines.
    n = len(data["parent"])
    start = time.perf_counter()
    inside = (data["a"] != data["b"]) & (data["a"] < n) & (data["b"] < n)
    graph = sparse.coo_matrix(
        (np.ones(int(inside.sum()), dtype=np.int8), (data["a"][inside], data["b"][inside])), shape=(n, n)
    ).tocsr()
    components, label = csgraph.connected_components(graph, directed=False)
    peer_seconds = time.perf_counter() - start
    parent, confirmed = data["parent"], data["confirmed"]
    scored = (parent != NO_CASE) & (confirmed == NO_CASE)
    counts = np.diff(result.candidate_start)
    top = np.where(
        counts > 0, result.candidate[np.minimum(result.candidate_start[:-1], len(result.candidate) - 1)], -1
    )
    ranked = scored & (counts > 0)
    print(
        json.dumps(
            {
                "seconds": round(min(times), 2),
                "seconds_all": [round(s, 2) for s in times],
                "peer_components_seconds": round(peer_seconds, 2),
                "peer_components": int(components),
                "peer_largest_component": int(np.bincount(label).max()),
                "peak_rss_mib": peak_rss_mib,
                "candidates": len(result.candidate),
                "chains": result.chains,
                "largest_chain": int(result.chain_size[0]) if result.chains else 0,
                "deepest_generation": int(result.generation.max()) if len(result.generation) else 0,
                "cycles_broken": len(result.cycles_broken),
                "unused_evidence": result.unused_evidence,
                "left_out": len(result.left_out),
                "scored_cases": int(scored.sum()),
                "with_candidates": int(ranked.sum()),
                "top1": round(float((top[ranked] == parent[ranked]).mean()), 3),
                "chance": round(float((1.0 / counts[ranked]).mean()), 3),
                "infector_right": round(float((result.infector[scored] == parent[scored]).mean()), 3),
            }
        ),
        flush=True,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--decoy-days", type=int, default=7, help="decoys' days within this many of the case's"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.runs)
        return
    start = time.perf_counter()
    data = outbreak(args.cases, np.random.default_rng(args.seed), args.decoy_days)
    days = int(data["reported"].max() - data["reported"].min() + 1)
    peak = int(np.bincount(data["reported"] - data["reported"].min()).max())
    rows = len(data["a"])
    _log(
        f"{args.cases:,} cases over {days} days ({peak:,} on the peak day), "
        f"{len(data['a']):,} evidence rows, generated in {time.perf_counter() - start:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="chaincut-chains-") as work:
        path = Path(work) / "outbreak.npz"
        np.savez(path, **data)  # type: ignore[arg-type]  # the stub reads the arrays as allow_pickle
        del data
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(path), "--runs", str(args.runs)],
            check=True,
            capture_output=True,
            text=True,
        )
    measured = json.loads(done.stdout)
    line = {
        "benchmark": "chains",
        "cases": args.cases,
        "days": days,
        "peak_day_cases": peak,
        "evidence_rows": rows,
        "density": "normal, mean 4.7 d, sd 2.9 d",
        "decoy_days": args.decoy_days,
        "target": "clusters + chains under 60 s and 8 GiB at 1,000,000 cases",
        **measured,
        **_machine.machine(),
    }
    print(json.dumps(line), flush=True)
    _log(
        f"infer_chains: {measured['seconds']} s, peak RSS {measured['peak_rss_mib']} MiB; true infector "
        f"top-ranked for {measured['top1']:.1%} of ranked cases (chance {measured['chance']:.1%})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
