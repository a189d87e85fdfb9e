"""Benchmark: stream a contact list of 1,000,000 synthetic rows to CSV and to XLSX.

    python bench/export_contacts.py                    # 1,000,000 rows, both formats
    python bench/export_contacts.py --rows 100000 --format csv

Each format runs in a fresh child process, so its peak RSS (``resource.getrusage``,
``ru_maxrss``) is its own. The rows are generated lazily, as a database cursor
would hand them over, so a flat peak RSS shows the writer holds no more than a
few rows. Prints one JSON line: rows, and for each format seconds, rows/s,
output size and peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from chaincut.tracing.exports import ContactRow, iter_contacts_csv, write_contacts_xlsx

ZONE = ZoneInfo("Asia/Hong_Kong")
START = datetime(2026, 11, 1, tzinfo=UTC)
NAMES = ["陳大文", "李小明", "Chan Tai Man", "Zoë O'Brien", "黃美玲"]
VENUES = ["金龍酒家 Golden Dragon", "海港城 Harbour City", "茶餐廳 Cha Chaan Teng"]


def synthetic_rows(count: int) -> Iterator[ContactRow]:
    for i in range(count):
        first = START + timedelta(minutes=7 * i % 40_000)
        minutes = 15 + i % 120
        yield ContactRow(
            case_ref=f"C{i // 1000:06d}",
            person_ref=f"P{i:08d}",
            name=NAMES[i % len(NAMES)],
            tier="close" if i % 3 else "exposed",
            generation=1 + (i % 7 == 0),
            minutes=float(minutes),
            first_exposure=first,
            last_exposure=first + timedelta(minutes=minutes),
            evidence=f"venue {VENUES[i % len(VENUES)]} (restaurant, {minutes} min)",
            policy_version="2026.1",
        )


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def run_one(fmt: str, rows: int, folder: Path) -> dict[str, float | int]:
    out = folder / f"contacts.{fmt}"
    started = time.perf_counter()
    if fmt == "csv":
        with out.open("wb") as f:
            for chunk in iter_contacts_csv(synthetic_rows(rows), ZONE):
                f.write(chunk)
    else:
        write_contacts_xlsx(synthetic_rows(rows), out, ZONE)
    seconds = time.perf_counter() - started
    result = {
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "size_mib": round(out.stat().st_size / 2**20, 1),
        "peak_rss_mib": _peak_rss_mib(),
    }
    out.unlink()
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "xlsx", "both"], default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(run_one(args.format, args.rows, Path(folder))))
        return 0
    formats = ["csv", "xlsx"] if args.format == "both" else [args.format]
    report: dict[str, object] = {"rows": args.rows, "python": sys.version.split()[0], "cpus": os.cpu_count()}
    for fmt in formats:
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--rows", str(args.rows), "--format", fmt],
            check=True,
            capture_output=True,
            text=True,
        )
        report[fmt] = json.loads(child.stdout)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
