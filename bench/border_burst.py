"""Benchmark: a burst of border bookings against a day's quota, on PostgreSQL and the embedded default.

    python bench/border_burst.py                         # PostgreSQL: 300,000 requests for 60,000 seats
    python bench/border_burst.py --backend both          # and the same burst on the embedded default
    python bench/border_burst.py --requests 30000 --seats 6000 --residents 3000   # a small one

The January 2023 reopening in miniature: the booking site opens and far more
people ask than there are seats. For each backend: a fresh store in a temporary
directory (PostgreSQL: a throwaway server from tests/support/postgres.py), a
policy written next to it from the default one with the checkpoints' slots
scaled so one day holds ``--seats`` travellers, ``chaincut db upgrade``,
``--residents`` people (``chaincut synth`` + ``chaincut import people``) each with
a resident app token, then ``chaincut serve --workers N`` on a free loopback port.

The burst: ``--requests`` bookings for tomorrow (local), each by resident
``i % residents`` for a document of its own (a resident books for up to
``requests / residents`` people, at most the per-app rate limit in all, so no
request is rate-limited), at a checkpoint and slot drawn in proportion to their
quotas, with 0-3 companions (70/15/10/5 %), each listed by a document of their
own (every traveller of the burst is distinct), and a share ``--retries`` of them a
retry of the same resident's previous request (same ``request_id``). A separate
process (bench/_burst_client.py) sends them over ``--connections`` keep-alive
connections as fast as they are answered.

Reported per backend (one JSON line, then a table): requests/s, bookings accepted,
retries answered with the first booking, refusals by reason, p50/p99/p99.9
latency, errors (transport failures and 5xx: must be 0), the CPU of server,
database, client and the rest of the machine. Then the store is checked: no slot
holds more than its quota (zero oversold), each slot's count equals the travellers
of its live bookings and their live traveller rows, the bookings stored are exactly the distinct ids answered
201 (zero lost, none extra), every retry got an id that exists, every refusal was
``slot_full``, the seats are all taken when demand exceeds supply, one audit entry
per booking, and the audit chain verifies. Exit status 1 when a check fails, and
also when PostgreSQL missed 2,000 requests/s (with ``--strict``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from _machine import machine
from _serve import (
    BIN,
    ROOT,
    chaincut,
    credentials,
    database,
    environ,
    environment,
    free_port,
    server,
    wait_until_quiet,
)

CLIENT = Path(__file__).resolve().with_name("_burst_client.py")
TARGET_RATE = 2000.0  # requests/s on PostgreSQL (issue 5)
COMPANIONS = ((0, 0.70), (1, 0.15), (2, 0.10), (3, 0.05))  # share of bookings with n companions
REFUSALS_EXPECTED = frozenset({"slot_full"})

err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["embedded", "postgres", "both"], default="postgres")
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--seats", type=int, default=60_000, help="travellers all slots of the day take")
    parser.add_argument("--residents", type=int, default=30_000, help="residents' apps sending the requests")
    parser.add_argument("--retries", type=float, default=0.02, help="share of requests that are retries")
    parser.add_argument("--connections", type=int, default=256, help="concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="server processes (chaincut serve --workers)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    parser.add_argument(
        "--wait-quiet", type=float, default=60.0, help="wait this long at most for an idle machine"
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when PostgreSQL misses 2,000/s")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy each server worker during the burst; raw stacks into this directory",
    )
    parser.add_argument("--keep-logs", action="store_true", help="print the server's log at the end")
    args = parser.parse_args(argv)
    if not (1 <= args.requests <= 5_000_000 and 1 <= args.seats <= 10_000_000):
        parser.error("--requests must be in [1, 5M], --seats in [1, 10M]")
    if not (1 <= args.residents <= args.requests and 0 <= args.retries < 1):
        parser.error("--residents must be in [1, --requests], --retries in [0, 1)")
    if not (1 <= args.connections <= 2048 and 1 <= args.workers <= 64):
        parser.error("--connections must be in [1, 2048], --workers in [1, 64]")
    return args


def burst_policy(seats: int) -> tuple[str, dict[tuple[str, str], int]]:
    """The default policy with every slot's quota scaled so one day's slots hold ``seats`` travellers.

    Returns the TOML text and the quotas by (checkpoint, slot). Rounding is settled on the
    largest slot so the total is exact.
    """
    text = (ROOT / "src" / "chaincut" / "policy" / "default.toml").read_text(encoding="utf-8")
    points = tomllib.loads(text)["border"]["checkpoints"]
    quotas = {(p, s): q for p, point in points.items() for s, q in point["slots"].items()}
    total = sum(quotas.values())
    scaled = {key: q * seats // total for key, q in quotas.items()}
    largest = max(scaled, key=lambda k: scaled[k])
    scaled[largest] += seats - sum(scaled.values())
    lines, section = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
        elif section and section.startswith("border.checkpoints.") and section.endswith(".slots"):
            name, _, _value = stripped.partition("=")
            key = (section.split(".")[2], name.strip())
            if key in scaled:
                line = f"{name.strip()} = {scaled[key]}"
        elif section == "policy" and stripped.startswith("version"):
            line = 'version = "bench-border-burst"'
        lines.append(line)
    return "\n".join(lines) + "\n", scaled


def burst_requests(args: argparse.Namespace, quotas: dict[tuple[str, str], int], day: str) -> list[list[Any]]:
    """Every request of the burst, in sending order.

    Each is [resident, request_id, document, day, checkpoint, slot, companions' documents].
    """
    rng = random.Random(args.seed)
    keys = list(quotas)
    weights = [quotas[k] for k in keys]
    sizes, shares = zip(*COMPANIONS, strict=True)
    out: list[list[Any]] = []
    for i in range(args.requests):
        resident, k = i % args.residents, i // args.residents
        if k > 0 and rng.random() < args.retries:
            out.append(list(out[i - args.residents]))  # the same app retrying its previous request
            continue
        checkpoint, slot = rng.choices(keys, weights)[0]
        document = f"X{resident:07d}{k:03d}"
        companions = [f"{document}C{j}" for j in range(rng.choices(sizes, shares)[0])]
        out.append([resident, f"b{resident}-{k}", document, day, checkpoint, slot, companions])
    return out


def _run_client(config: dict[str, Any], tmp: Path, total: int, label: str) -> dict[str, Any]:
    path = tmp / "burst.json"
    config.update(out=str(tmp / "burst-out.json"), progress=str(tmp / "burst-progress"))
    path.write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(CLIENT), str(path)], stderr=subprocess.PIPE, text=True)
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}/s"),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("burst", total=total, rate="-")
        while proc.poll() is None:
            time.sleep(0.5)
            try:
                done = int(Path(config["progress"]).read_text(encoding="utf-8") or 0)
            except (OSError, ValueError):
                continue
            progress.update(task, completed=done, rate=f"{done / max(time.monotonic() - started, 1e-9):,.0f}")
        progress.update(task, completed=int(Path(config["progress"]).read_text(encoding="utf-8") or 0))
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"the burst client failed ({proc.returncode}):\n{stderr}")
    loaded: dict[str, Any] = json.loads(Path(config["out"]).read_text(encoding="utf-8"))
    return loaded


@contextlib.contextmanager
def _profiled(server_pid: int, out: Path | None, backend: str) -> Iterator[None]:
    """``py-spy record`` (100 Hz, raw stacks) on each worker process of the server, for the block."""
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    workers = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _parent(p) == server_pid and b"spawn_main" in _cmdline(p)
    ] or [server_pid]
    spies = [
        subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "-p",
                str(pid),
                "-r",
                "100",
                "-f",
                "raw",
                "--nonblocking",
                "-o",
                str(out / f"{backend}-worker-{n}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, pid in enumerate(workers)
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _tally(raw: dict[str, Any]) -> dict[str, Any]:
    """What the answers say: accepted, retries answered, refusals by reason, errors."""
    status: list[int] = raw.pop("status")
    outcomes: list[str | None] = raw.pop("outcomes")
    done_at: list[float] = raw.pop("done_at")
    created = [o for s, o in zip(status, outcomes, strict=True) if s == 201]
    replayed = [o for s, o in zip(status, outcomes, strict=True) if s == 200]
    refusals = Counter(str(o) for s, o in zip(status, outcomes, strict=True) if 400 <= s < 500)
    # While seats remain, requests take the booking path; after the last seat, the "full" one.
    filled_at = max((t for s, t in zip(status, done_at, strict=True) if s == 201), default=0.0)
    until_filled = sum(1 for t in done_at if t <= filled_at)
    return {
        **raw,
        "filled_seconds": round(filled_at, 2),
        "rate_until_filled": round(until_filled / filled_at, 1) if filled_at > 0 else None,
        "status_counts": {str(k): v for k, v in sorted(Counter(status).items())},
        "accepted": len(created),
        "replayed": len(replayed),
        "refusals": dict(refusals.most_common()),
        "errors": sum(1 for s in status if s == 0 or s >= 500),
        "_created": created,
        "_replayed": replayed,
    }


def verify_store(
    env: dict[str, str], day: str, tally: dict[str, Any], seats: int, demand: int
) -> dict[str, Any]:
    """Check the store against the answers: nothing oversold, nothing lost, the seats filled."""
    from sqlalchemy import text

    from chaincut.bootstrap import bootstrap

    checks: dict[str, Any] = {}
    with environ(env):
        services = bootstrap()
        try:
            with services.store.read() as uow:
                conn = uow.connection
                slots = conn.execute(
                    text("SELECT checkpoint, slot, quota, booked FROM border_slots WHERE day = :d"),
                    {"d": day},
                ).all()
                live = conn.execute(
                    text(
                        "SELECT checkpoint, slot, count(*), sum(1 + companions) FROM border_bookings "
                        "WHERE day = :d AND status = 'booked' GROUP BY checkpoint, slot"
                    ),
                    {"d": day},
                ).all()
                rows = conn.execute(
                    text(
                        "SELECT b.checkpoint, b.slot, count(*) FROM border_booking_travellers t "
                        "JOIN border_bookings b ON b.id = t.booking_id "
                        "WHERE t.day = :d AND t.live GROUP BY b.checkpoint, b.slot"
                    ),
                    {"d": day},
                ).all()
                stored = {
                    r[0]
                    for r in conn.execute(
                        text("SELECT public_id FROM border_bookings WHERE day = :d"), {"d": day}
                    )
                }
                audited = conn.execute(
                    text(
                        "SELECT count(*) FROM audit_log "
                        "WHERE resource = 'border/bookings' AND action = 'border.book'"
                    )
                ).scalar_one()
            chain = services.audit.verify()
        finally:
            services.close()
    travellers = {(r[0], r[1]): int(r[3]) for r in live}
    traveller_rows = {(r[0], r[1]): int(r[2]) for r in rows}
    created: list[str] = tally["_created"]
    oversold = [f"{c}/{s}: {b} > {q}" for c, s, q, b in slots if b > q]
    mismatched = [
        f"{c}/{s}: {b} != {travellers.get((c, s), 0)}"
        for c, s, _q, b in slots
        if b != travellers.get((c, s), 0)
    ]
    rows_mismatched = [
        f"{c}/{s}: {b} != {traveller_rows.get((c, s), 0)} traveller rows"
        for c, s, _q, b in slots
        if b != traveller_rows.get((c, s), 0)
    ]
    filled = sum(int(r[3]) for r in slots)
    unexpected = {k: v for k, v in tally["refusals"].items() if k not in REFUSALS_EXPECTED}
    checks.update(
        slots=len(slots),
        seats_filled=filled,
        oversold=oversold,
        slot_count_mismatch=mismatched,
        traveller_rows_mismatch=rows_mismatched,
        bookings_stored=len(stored),
        lost=len(set(created) - stored),
        duplicate_201_ids=len(created) - len(set(created)),
        extra_stored=len(stored - set(created)),
        replayed_unknown=len(set(tally["_replayed"]) - stored),
        unexpected_refusals=unexpected,
        audit_entries=audited,
        audit_chain_breaks=len(chain.breaks),
    )
    checks["ok"] = (
        not oversold
        and not mismatched
        and not rows_mismatched
        and checks["lost"] == 0
        and checks["duplicate_201_ids"] == 0
        and checks["extra_stored"] == 0
        and checks["replayed_unknown"] == 0
        and not unexpected
        and tally["errors"] == 0
        and (filled == seats or demand < seats)
        and audited == len(created)
        and not chain.breaks
    )
    return checks


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """A fresh store on ``backend``, served; the burst; the answers tallied and checked against the store."""
    with tempfile.TemporaryDirectory(prefix=f"chaincut-burst-{backend}-") as tmp_name:
        tmp = Path(tmp_name)
        with database(backend, tmp) as (url, db_pids):
            env = environment(tmp / "data", url)
            policy_text, quotas = burst_policy(args.seats)
            (tmp / "policy.toml").write_text(policy_text, encoding="utf-8")
            env["CHAINCUT_POLICY_FILE"] = str(tmp / "policy.toml")
            err.print(f"[{backend}] preparing the store: {args.residents:,} residents", highlight=False)
            chaincut(env, "db", "upgrade")
            city = tmp / "city"
            chaincut(
                env, "synth", "--people", str(args.residents), "--venues", "20", "--days", "1",
                "--checkins-per-day", "10", "--seed", str(args.seed), "--out", str(city), "--quiet",
            )  # fmt: skip
            chaincut(env, "import", "people", str(city / "people.parquet"), "--quiet")
            people = pq.read_table(city / "people.parquet", columns=["ref"]).column("ref").to_pylist()
            started = time.monotonic()
            tokens = credentials(env, people)
            err.print(
                f"[{backend}] {len(tokens):,} app tokens in {time.monotonic() - started:.0f} s",
                highlight=False,
            )
            day = (datetime.now(ZoneInfo("Asia/Hong_Kong")).date() + timedelta(days=1)).isoformat()
            requests = burst_requests(args, quotas, day)
            demand = sum(1 + len(r[6]) for r in requests)
            port = free_port()
            with server(env, port, args.workers, tmp / "server.log") as served:
                busy_before = wait_until_quiet(args.wait_quiet)
                config = {
                    "port": port,
                    "connections": args.connections,
                    "tokens": tokens,
                    "requests": requests,
                    "timeout": args.timeout,
                    "server_pids": [served.pid],
                    "db_pids": db_pids,
                }
                with _profiled(served.pid, args.profile, backend):
                    raw = _run_client(config, tmp, len(requests), f"[{backend}] burst")
            if args.keep_logs:
                err.print((tmp / "server.log").read_text(), highlight=False, markup=False)
            tally = _tally(raw)
            checks = verify_store(env, day, tally, args.seats, demand)
    result = {
        "bench": "border_burst",
        "backend": backend,
        "workers": args.workers,
        "seats": args.seats,
        "residents": args.residents,
        "demand_travellers": demand,
        "busy_before": busy_before,
        **{k: v for k, v in tally.items() if not k.startswith("_")},
        "checks": checks,
        "machine": machine(),
    }
    return result


def _summary(results: list[dict[str, Any]]) -> Table:
    """One column per backend, one row per measure (narrow enough for a terminal)."""
    table = Table(
        title=f"Border booking burst on {results[0]['machine']['cpus']} cores "
        f"(target ≥{TARGET_RATE:,.0f} requests/s on PostgreSQL)"
    )
    table.add_column("")
    for r in results:
        table.add_column(r["backend"], justify="right")

    def refusals(r: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in r["refusals"].items()) or "none"

    rows: list[tuple[str, Any]] = [
        ("requests", lambda r: f"{r['requests']:,} in {r['seconds']:,.1f} s"),
        ("requests/s", lambda r: f"{r['rate']:,.0f}"),
        ("last seat taken after", lambda r: f"{r['filled_seconds']:,.1f} s"),
        ("requests/s until then", lambda r: f"{r['rate_until_filled'] or 0:,.0f}"),
        ("bookings accepted (201)", lambda r: f"{r['accepted']:,}"),
        ("retries answered (200)", lambda r: f"{r['replayed']:,}"),
        ("refusals", refusals),
        ("errors (5xx, none)", lambda r: f"{r['errors']:,}"),
        ("p50 / p99 / p99.9 ms", lambda r: f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['p999_ms']:.0f}"),
        ("seats filled", lambda r: f"{r['checks']['seats_filled']:,} of {r['seats']:,}"),
        ("oversold slots", lambda r: str(len(r["checks"]["oversold"]))),
        ("lost bookings", lambda r: str(r["checks"]["lost"])),
        ("cores: server / db", lambda r: f"{r['server_cpu']:.2f} / {r['db_cpu']:.2f}"),
        ("cores: client / others", lambda r: f"{r['loadgen_cpu']:.2f} / {r['other_cpu']:.2f}"),
        ("store checks", lambda r: "ok" if r["checks"]["ok"] else "[red]FAILED[/red]"),
    ]
    for label, show in rows:
        table.add_row(label, *(show(r) for r in results))
    return table


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    print(json.dumps({"machine": machine()}), flush=True)
    backends = ["postgres", "embedded"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        result = bench_backend(backend, args)
        print(json.dumps(result), flush=True)
        results.append(result)
    err.print(_summary(results))
    failed = [r for r in results if not r["checks"]["ok"]]
    for r in failed:
        err.print(f"[red]{r['backend']}: the store check failed[/red]: {json.dumps(r['checks'])}")
    slow = [r for r in results if r["backend"] == "postgres" and r["rate"] < TARGET_RATE]
    return 1 if failed or (args.strict and slow) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
