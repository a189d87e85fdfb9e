"""Benchmark: the authority serves a day's decentralised check-in warnings to 1,000 phones at once.

    cd bench && ../.venv/bin/python presence_warnings.py                     # 10,000 warnings
    cd bench && ../.venv/bin/python presence_warnings.py --phones 300 --workers 1

The requirement (issue 15): the server publishes 10,000 warnings and serves them to 1,000 phones
fetching at once (loopback), with p99 under 200 ms.

The store (embedded, made first and not timed) holds ``--warnings`` published warnings at as many
server-based venues, each a case's stay of 30 to 120 minutes, so one to three traces each (about
22,000 for 10,000 warnings), made and published by ``PresenceAuthority``'s own code (the traces are
built by the protocol and stored through the repository in batches, not one review at a time).

Then ``chaincut serve`` (the production server: uvloop, httptools; ``--workers``) answers:

- ``burst``: ``--phones`` phones, each on its own connection, ask at the same moment for the
  warnings published in the last hour (``GET /presence/warnings?since=``: one signed page of up to
  1,000 traces). The phones are h2load's (nghttp2's load generator, written in C; ``apt-get
  install nghttp2-client``), so that the generator, on the same two cores, takes little from the
  server; each phone's latency runs from the burst's first request to the last byte of its page
  (a phone whose connection waited behind the others counts the wait). ``--client python`` uses
  an asyncio generator instead, whose own cost dominates at 1,000 connections.
- ``catch_up``: one phone that was off for the day downloads every page, one after the other.

Pages are fixed blocks, signed once and kept in memory, so every phone asking for the same block
gets the same bytes. The first request of each block (which makes it) is sent before the burst:
a cold page is reported on its own. There is no peer: CrowdNotifier's own backend is a Java
service not on this machine.

With ``--proxy`` the same bursts then go, in the same run, through nginx in front of the same
server, with the site ``chaincut proxy-config --no-tls`` writes (as behind a load balancer ending
TLS; a production site ends TLS itself): the page is cached by nginx, as by any CDN or proxy in
front of a public service. Needs nginx (``scripts/install-system-deps`` installs it).

Prints one JSON line on stdout, a table on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import _machine
import _serve
from chaincut.domain.access import Principal
from chaincut.people import PersonDraft
from chaincut.presence.protocol import server_traces
from chaincut.tracing.case_checks import CaseDraft
from chaincut.venues.registry import VenueDraft

PAGE = 1000
SYSTEM = Principal.system("bench")


def _build(env: dict[str, str], warnings: int, seed: int, err: Console) -> int:
    """The store with ``warnings`` published warnings; the number of traces."""
    from chaincut.bootstrap import bootstrap
    from chaincut.clock import to_epoch
    from chaincut.domain.ids import new_public_id

    rng = random.Random(seed)
    with _serve.environ(env):
        _serve.chaincut(env, "db", "upgrade")
        services = bootstrap()
        try:
            now = services.clock.now()
            services.people.register(PersonDraft(ref="P-CASE"))
            case = services.cases.register(
                CaseDraft(ref="C1", person="P-CASE", classification="local", onset_on=now.date()), "bench"
            )
            master = services.presence.keys().master_secret
            traces = 0
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("warned venues", total=warnings)
                batch: list[tuple[int, bytes, int, int, list[tuple[int, bytes]]]] = []
                for n in range(warnings):
                    made = services.presence.register_venue(
                        VenueDraft("restaurant", f"Venue {n}", f"場所 {n}", ref=f"V{n}"), "server"
                    )
                    start = to_epoch(now - timedelta(hours=rng.uniform(1, 72)))
                    end = start + 60 * rng.randint(30, 120)
                    hours = server_traces(made.entry_payload, master, start, end, "Get tested today.")
                    assert made.venue.id is not None
                    batch.append(
                        (
                            made.venue.id,
                            made.entry_payload,
                            start,
                            end,
                            [(h.start_of_interval, h.trace) for h in hours],
                        )
                    )
                    traces += len(hours)
                    if len(batch) == 500 or n == warnings - 1:
                        with services.store.write() as uow:
                            for venue_id, _payload, begin, finish, hourly in batch:
                                warning_id = uow.presence.add_warning(
                                    new_public_id(),
                                    venue_id=venue_id,
                                    case_id=case.id or 0,
                                    start_time=begin,
                                    end_time=finish,
                                    message="Get tested today.",
                                    proposed_by="bench:tracer",
                                    at=to_epoch(now),
                                    expires_at=finish + 10 * 86_400,
                                    traces=hourly,
                                )
                                uow.presence.review(
                                    warning_id,
                                    "published",
                                    by="bench:supervisor",
                                    at=to_epoch(now),
                                    reason="bench",
                                )
                        batch = []
                    progress.advance(task)
            return traces
        finally:
            services.close()


async def _get(port: int, path: str) -> tuple[float, int]:
    """One phone: a connection, one GET, the whole body; (seconds, bytes)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(_serve.HOST, port, limit=1 << 22)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {_serve.HOST}\r\nAccept: application/json\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"GET {path}: {head[:200]!r}")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
        return time.perf_counter() - started, len(body)
    finally:
        writer.close()


async def _python_burst(port: int, path: str, phones: int) -> list[float]:
    results = await asyncio.gather(*(_get(port, path) for _ in range(phones)))
    return [seconds for seconds, _ in results]


def _h2load_burst(port: int, path: str, phones: int) -> list[float]:
    """``phones`` connections at once from h2load (nghttp2's load generator, in C), one GET each;
    each phone's latency runs from the burst's first request to the last byte of its answer, so
    a phone whose connection waited behind the others counts that wait."""
    with tempfile.TemporaryDirectory(prefix="h2load-") as tmp:
        log = Path(tmp) / "requests.tsv"
        url = f"http://{_serve.HOST}:{port}{path}"
        ran = subprocess.run(
            ["h2load", "--h1", "-n", str(phones), "-c", str(phones), "-t", "1", "--log-file", str(log), url],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        # Each line: the request's start (microseconds since the epoch), its status, its duration.
        rows = [[int(v) for v in line.split()[:3]] for line in log.read_text().splitlines() if line.strip()]
    if len(rows) != phones or any(status != 200 for _, status, _ in rows):
        raise RuntimeError(f"h2load: not every phone got its page: {ran.stdout[-500:]}")
    first = min(start for start, _, _ in rows)
    return [(start + took - first) / 1e6 for start, _, took in rows]


def _burst(port: int, path: str, phones: int, client: str) -> list[float]:
    if client == "h2load":
        return _h2load_burst(port, path, phones)
    return asyncio.run(_python_burst(port, path, phones))


def _through_nginx(upstream: int, path: str, args: argparse.Namespace, directory: Path) -> dict[str, object]:
    """The same bursts through nginx in front of the server (the ``--no-tls`` site), the page
    cached by the first request."""
    from chaincut.cli.proxy import NginxSite, nginx_site

    _serve.add_tests_to_path()
    from support.nginx import running_nginx

    port = _serve.free_port()
    site = NginxSite(
        _serve.HOST,
        upstream=f"{_serve.HOST}:{upstream}",
        cache_dir=str(directory / "cache"),
        error_log=str(directory / "errors.log"),
        http_port=port,
    )
    with running_nginx(nginx_site(site), directory, [port], workers=args.workers):
        cold, _ = asyncio.run(_get(port, path))  # nginx asks chaincut once, and keeps the page
        _serve.wait_until_quiet(20)
        rounds = [_burst(port, path, args.phones, args.client) for _ in range(args.rounds)]
    every = [s for r in rounds for s in r]
    return {
        "nginx_workers": args.workers,
        "cold_page_ms": round(cold * 1000, 1),
        "burst_p50_ms": round(statistics.median(every) * 1000, 1),
        "burst_p99_ms": round(_percentile(every, 0.99) * 1000, 1),
        "burst_max_ms": round(max(every) * 1000, 1),
        "burst_p99_ms_by_round": [round(_percentile(r, 0.99) * 1000, 1) for r in rounds],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warnings", type=int, default=10_000)
    parser.add_argument("--phones", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="bursts; the report gives each and all")
    parser.add_argument("--page", type=int, default=PAGE, help="traces a page holds at most")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--proxy", action="store_true", help="also through nginx, in front of the server")
    parser.add_argument(
        "--client",
        choices=["h2load", "python"],
        default="h2load" if shutil.which("h2load") else "python",
        help="the phones: h2load (C, apt-get install nghttp2-client; the default when installed) or asyncio",
    )
    args = parser.parse_args()
    err = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="presence-bench-") as tmp:
        env = _serve.environment(Path(tmp) / "data", None)
        build_started = time.perf_counter()
        traces = _build(env, args.warnings, args.seed, err)
        build_seconds = time.perf_counter() - build_started
        port = _serve.free_port()
        with _serve.server(env, port, args.workers, Path(tmp) / "server.log"):
            first = _serve.get_json(port, f"/presence/warnings?since=0&limit={args.page}")
            assert first["data"], "no published trace"
            # A phone that checked an hour ago holds everything but the last hour's traces.
            hour_ago = f"/presence/warnings?since={traces - traces // 24}&limit={args.page}"
            # Each worker makes and keeps its own pages: ask for them before measuring.
            cold, page_bytes = asyncio.run(_get(port, hour_ago))
            for _ in range(4 * args.workers):
                asyncio.run(_get(port, hour_ago))
            _serve.wait_until_quiet(20)
            rounds = [_burst(port, hour_ago, args.phones, args.client) for _ in range(args.rounds)]
            every = [s for r in rounds for s in r]
            proxied = _through_nginx(port, hour_ago, args, Path(tmp) / "nginx") if args.proxy else None

            started, since, pages = time.perf_counter(), 0, 0
            while True:
                page = _serve.get_json(port, f"/presence/warnings?since={since}&limit={args.page}")
                pages += 1
                if not page["more"]:
                    break
                since = page["next"]
            catch_up_seconds = time.perf_counter() - started
    result = {
        "bench": "presence_warnings",
        "warnings": args.warnings,
        "traces": traces,
        "page_traces": args.page,
        "page_bytes": page_bytes,
        "phones": args.phones,
        "client": args.client,
        "workers": args.workers,
        "burst_p50_ms": round(statistics.median(every) * 1000, 1),
        "burst_p99_ms": round(_percentile(every, 0.99) * 1000, 1),
        "burst_max_ms": round(max(every) * 1000, 1),
        "burst_p99_ms_by_round": [round(_percentile(r, 0.99) * 1000, 1) for r in rounds],
        "cold_page_ms": round(cold * 1000, 1),
        "through_nginx": proxied,
        "catch_up_pages": pages,
        "catch_up_seconds": round(catch_up_seconds, 2),
        "build_seconds": round(build_seconds, 1),
        "machine": _machine.machine(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result))
    table = Table(
        title=f"{args.phones:,} phones fetch the last hour's warnings at once ({traces:,} traces published)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("page", f"{args.page:,} traces, {page_bytes / 1024:,.0f} KiB")
    table.add_row(
        "burst latency p50 / p99 / max, ms",
        f"{result['burst_p50_ms']} / {result['burst_p99_ms']} / {result['burst_max_ms']}",
    )
    table.add_row("p99 by round, ms", ", ".join(map(str, result["burst_p99_ms_by_round"])))
    if proxied is not None:
        table.add_row(
            "through nginx: p50 / p99 / max, ms",
            f"{proxied['burst_p50_ms']} / {proxied['burst_p99_ms']} / {proxied['burst_max_ms']}",
        )
        table.add_row(
            "through nginx: p99 by round, ms", ", ".join(map(str, proxied["burst_p99_ms_by_round"]))
        )
    table.add_row("a page made cold, ms", str(result["cold_page_ms"]))
    table.add_row("one phone catching up on the day", f"{pages} pages in {catch_up_seconds:.2f} s")
    err.print(table)


if __name__ == "__main__":
    main()
