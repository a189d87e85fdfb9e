"""Benchmark: the serial interval's bootstrap CI over many pairs, beside scipy.stats.bootstrap.

    python bench/serial_interval.py                          # 1,000,000 pairs, 10,000 resamples
    python bench/serial_interval.py --pairs 100000 --resamples 2000

Synthetic pairs (infector onsets over 60 days, intervals uniform on -3..14 whole days) in
one window. Times ``estimate_serial_interval`` (mean, sd, percentile bootstrap CI, the
normal fit), then the peer an epidemiologist would reach for: ``scipy.stats.bootstrap``
(percentile method, vectorised, in batches to bound memory) on the same intervals. Prints
one JSON line: pairs, resamples, seconds and the CI of each, and the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta

import numpy as np
from scipy import stats

from _machine import machine
from chaincut.analytics import OnsetPair, OnsetWindow, estimate_serial_interval

DAY0 = date(2020, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-scipy", action="store_true", help="time chaincut only")
    args = parser.parse_args()
    source = np.random.default_rng(args.seed)
    onsets = source.integers(0, 60, args.pairs)
    intervals = source.integers(-3, 15, args.pairs)
    pairs = [
        OnsetPair(DAY0 + timedelta(int(a)), DAY0 + timedelta(int(a) + int(b)))
        for a, b in zip(onsets, intervals, strict=True)
    ]
    window = OnsetWindow(DAY0, DAY0 + timedelta(59))
    started = time.perf_counter()
    (estimate,) = estimate_serial_interval(
        pairs, [window], rng=np.random.default_rng(args.seed), resamples=args.resamples
    )
    ours = time.perf_counter() - started
    out: dict[str, object] = {
        "pairs": args.pairs,
        "resamples": args.resamples,
        "chaincut_seconds": round(ours, 3),
        "chaincut_ci95": estimate.ci95,
    }
    if not args.skip_scipy:
        x = intervals.astype(np.float64)
        started = time.perf_counter()
        theirs = stats.bootstrap(
            (x,),
            np.mean,
            method="percentile",
            n_resamples=args.resamples,
            batch=max(1, 20_000_000 // args.pairs),
            rng=np.random.default_rng(args.seed),
        )
        out["scipy_bootstrap_seconds"] = round(time.perf_counter() - started, 3)
        out["scipy_ci95"] = (float(theirs.confidence_interval.low), float(theirs.confidence_interval.high))
    out["machine"] = machine()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
