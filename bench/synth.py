"""Benchmark: generate a synthetic city and report wall time and peak memory.

    python bench/synth.py                      # Hong Kong scale: 7.5M people, 140M visits
    python bench/synth.py --people 50000 --venues 2000 --days 3 --checkins-per-day 60000

Prints one JSON line: the parameters, row counts, wall seconds and peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which Linux reports in KiB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from chaincut.whereabouts.synth import CityParameters, synthesize_city


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=7_500_000)
    parser.add_argument("--venues", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--checkins-per-day", type=int, default=10_000_000)
    parser.add_argument("--encounters-per-day", type=int, default=None)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--out", type=Path, default=Path("/tmp/synth-hk"))
    parser.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="end of the simulated window, ISO 8601 with offset (default: now, to the minute)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the generator once and print the measurement as JSON."""
    args = _arguments(argv)
    end = args.end or datetime.now(UTC).replace(second=0, microsecond=0)
    params = CityParameters(
        people=args.people,
        venues=args.venues,
        days=args.days,
        checkins_per_day=args.checkins_per_day,
        seed=args.seed,
        encounters_per_day=args.encounters_per_day,
    )
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=args.quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        summary = synthesize_city(params, args.out, end=end, progress=progress)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sizes = {name: path.stat().st_size for name, path in summary.files.items()}
    print(
        json.dumps(
            {
                "bench": "synth",
                "people": summary.people,
                "households": summary.households,
                "venues": summary.venues,
                "days": params.days,
                "checkins_per_day": params.checkins_per_day,
                "visits": summary.visits,
                "encounters": summary.encounters,
                "seed": params.seed,
                "end": end.isoformat(),
                "seconds": round(seconds, 1),
                "peak_rss_mib": round(peak_kib / 1024),
                "bytes_written": sum(sizes.values()),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
