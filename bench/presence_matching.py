"""Benchmark: a phone matches one day of decentralised check-in warnings against its own check-ins.

    cd bench && ../.venv/bin/python presence_matching.py                       # 10,000 warned venues
    cd bench && ../.venv/bin/python presence_matching.py --warnings 2000 --days 14

The requirement (issue 15): a phone matches one day of warnings (10,000 venues warned, as at the peak
of LeaveHomeSafe's risk notices) against 14 days of its own check-ins in under 1 s in Python, with
the pairings per second measured and the limit stated.

The world, made once and not timed:

- The authority publishes, in one day, a warning for each of ``--warnings`` venues: a case's stay of
  30 to 120 minutes, starting between 08:00 and 22:00 Hong Kong time on one of the last
  ``--infectious-days`` days (the cases reported that day were infectious from 2 days before onset,
  and reported about 2 days after it: the default policy's window). Each warning is one trace per hour
  its window touches, as ``PresenceAuthority`` publishes it (server-based keys: the traces are the same
  bytes as a basic venue's, and cost the same to match).
- The phone holds ``--days`` days of its own check-ins, 3 to 5 a day at venues of its own (a regular
  few and new ones), 20 to 150 minutes each, kept as ``chaincut.presence.client`` keeps them: one IBE
  ciphertext per hour. ``--exposed`` of its visits were at warned venues, during the case's stay.

Timed: ``match_visits`` over every trace, as the client does after downloading a day's pages, in
the two ways a phone keeps its visits:

- at basic venues, only the ciphertexts: a trace is tried on the records of the hour the page names
  whose visit overlaps the case's window, one pairing per try (trial decryption);
- at server-based venues, the hours' identities too (as the specification's server-based clients
  keep them): a trace is looked up by its identity, and only a hit is decrypted.

Also reported: the tries without the page's hour (a trace from elsewhere names only its window),
the tries of every trace on every record priced at the measured pairings per second, and the limit:
the tries one core makes in a second. Prints one JSON line on stdout, a table on stderr.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import _machine
import _serve
from chaincut.presence import ibe
from chaincut.presence.client import PublishedTrace, StoredVisit, keep_visit, match_visits
from chaincut.presence.messages import Trace
from chaincut.presence.protocol import (
    INTERVAL_SECONDS,
    affected_hours,
    read_entry_code,
    server_traces,
    setup_server_location,
)

HKT = ZoneInfo("Asia/Hong_Kong")
MESSAGE = "A person with COVID-19 was here. Get tested today."


def _venue(mpk: bytes, n: int, now: datetime) -> bytes:
    return setup_server_location(
        mpk, f"Venue {n}", "Hong Kong", now - timedelta(days=60), now + timedelta(days=300)
    )


def _daytime(rng: random.Random, day: datetime, latest_hour: int = 22) -> datetime:
    local = day.astimezone(HKT).replace(hour=8, minute=0, second=0, microsecond=0)
    return (local + timedelta(minutes=rng.randrange((latest_hour - 8) * 60))).astimezone(UTC)


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def pairings_per_second(visits: list[StoredVisit], traces: list[PublishedTrace], tries: int) -> float:
    """Trial decryptions that fail (another venue's key), as the phone's misses do."""
    pairs = [(t, r) for t in traces[:tries] for r in list(visits[0].records.values())[:1]]
    decoded = [(Trace.decode(t.trace), r) for t, r in pairs]
    keys = [(t.identity, ibe.g1_from_bytes(t.secret_key_for_identity), r) for t, r in decoded]
    start = time.perf_counter()
    for identity, key, record in keys:
        ibe.decrypt(identity, key, record)
    return len(keys) / (time.perf_counter() - start)


def _in_browser(
    visits: list[StoredVisit],
    traces: list[PublishedTrace],
    tries: Callable[..., int],
    share: float,
) -> dict[str, object]:
    """The same matching in headless Chromium (presence.js's matchTraces, as the residents' page runs
    it), on the page ``chaincut serve`` sends for ``/app`` (its CSP, the vendored mcl and tweetnacl)."""
    from playwright.sync_api import sync_playwright

    def as_js(kept: list[StoredVisit], identities: bool) -> list[dict[str, object]]:
        return [
            {
                "id": str(n),
                "arrival": v.arrival,
                "departure": v.departure,
                "records": {str(h): base64.b64encode(c.to_bytes()).decode() for h, c in v.records.items()},
                "identities": {str(h): i.hex() for h, i in v.identities.items()}
                if identities and v.identities
                else None,
            }
            for n, v in enumerate(kept)
        ]

    def items(among: list[PublishedTrace]) -> list[dict[str, object]]:
        return [{"seq": t.seq, "hour": t.hour, "trace": base64.b64encode(t.trace).decode()} for t in among]

    subset = traces[: max(1, int(len(traces) * share))]
    with tempfile.TemporaryDirectory(prefix="presence-matching-") as tmp:
        env = _serve.environment(Path(tmp) / "data", None)
        _serve.chaincut(env, "db", "upgrade")
        port = _serve.free_port()
        with _serve.server(env, port, 1, Path(tmp) / "serve.log"), sync_playwright() as playwright:
            executable = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
            chromium = playwright.chromium.launch(executable_path=executable, headless=True)
            page = chromium.new_page()
            page.goto(f"http://{_serve.HOST}:{port}/app")
            page.evaluate(_LOAD_PRESENCE)
            by_identity = page.evaluate(_MATCH, [as_js(visits, True), items(traces)])
            trial = page.evaluate(_MATCH, [as_js(visits, False), items(subset)])
            chromium.close()
    trial_tries = tries(True, subset)
    rate = trial_tries / trial["seconds"] if trial["seconds"] else 0.0
    return {
        "match_by_identity_seconds": round(by_identity["seconds"], 3),
        "found_by_identity": by_identity["found"],
        "trial_traces": len(subset),
        "trial_tries": trial_tries,
        "trial_seconds": round(trial["seconds"], 2),
        "tries_per_second": round(rate, 1),
        "trial_all_seconds_extrapolated": round(tries(True) / rate, 1) if rate else None,
    }


# Load the vendored scripts and presence.js in the page (evaluate runs outside its CSP).
_LOAD_PRESENCE = """async () => {
    for (const src of ["/static/vendor/mcl.js", "/static/vendor/nacl-fast.min.js"]) {
        await new Promise((ok, fail) => {
            const script = document.createElement("script");
            script.src = src;
            script.onload = ok;
            script.onerror = fail;
            document.head.append(script);
        });
    }
    window.presence = await import("/static/presence.js");
    await window.presence.initPairing();
}"""
_MATCH = """async ([visits, items]) => {
    const bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const kept = visits.map((v) => ({
        ...v,
        records: Object.fromEntries(Object.entries(v.records).map(([h, r]) => [h, bytes(r)])),
    }));
    const page = items.map((i) => ({ seq: i.seq, hour: i.hour, trace: bytes(i.trace) }));
    const started = performance.now();
    const found = await window.presence.matchTraces(kept, page);
    return { seconds: (performance.now() - started) / 1000, found: found.length };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warnings", type=int, default=10_000, help="venues warned in the day")
    parser.add_argument("--days", type=int, default=14, help="days of the phone's own check-ins")
    parser.add_argument("--infectious-days", type=int, default=4, help="days the warned windows fall in")
    parser.add_argument("--exposed", type=int, default=3, help="the phone's visits at warned venues")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--browser", action="store_true", help="also match in headless Chromium")
    parser.add_argument(
        "--browser-share",
        type=float,
        default=0.1,
        help="the share of the traces the browser tries by trial decryption (the rest is extrapolated)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    err = Console(stderr=True)
    now = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    mpk, msk = ibe.generate_keys()
    master_public, master_secret = mpk.serialize(), msk.serialize()

    visits: list[StoredVisit] = []
    traces: list[PublishedTrace] = []
    with Progress(console=err, transient=True) as progress:
        own = [_venue(master_public, -n, now) for n in range(1, 13)]  # a phone's regular places
        task = progress.add_task("the phone's check-ins", total=args.days)
        stays: list[tuple[int, int]] = []
        visited: dict[int, bytes] = {}
        for back in range(args.days):
            day = now - timedelta(days=back)
            for _ in range(rng.randint(3, 5)):
                arrival = _daytime(rng, day, 21)
                departure = arrival + timedelta(minutes=rng.randint(20, 150))
                if departure > now:
                    continue
                payload = (
                    rng.choice(own) if rng.random() < 0.7 else _venue(master_public, 10**6 + len(stays), now)
                )
                venue = read_entry_code(payload)
                start, end = _seconds(arrival), _seconds(departure)
                visits.append(keep_visit(venue, start, end, server_based=True))
                visited[id(visits[-1])] = payload  # the bench knows where; the phone keeps no trace of it
                stays.append((start, end))
            progress.advance(task)

        # The warned venues: --exposed of them are where the phone was during a case's stay; the rest
        # are others'.
        recent = [v for v in visits if v.arrival >= _seconds(now - timedelta(days=args.infectious_days))]
        exposed = rng.sample(recent, min(args.exposed, len(recent)))
        task = progress.add_task("the day's warnings", total=args.warnings)
        seq = 0
        for n in range(args.warnings):
            if n < len(exposed):
                visit = exposed[n]
                payload = visited[id(visit)]
                start = visit.arrival + 300  # the case arrived five minutes after the phone's owner
                end = start + 3600
            else:
                payload = _venue(master_public, n, now)
                day = now - timedelta(days=rng.randrange(args.infectious_days))
                begin = _daytime(rng, day)
                start = _seconds(begin)
                end = start + 60 * rng.randint(30, 120)
                if end > _seconds(now):
                    start, end = start - 86_400, end - 86_400
            for hour in server_traces(payload, master_secret, start, end, MESSAGE):
                seq += 1
                traces.append(PublishedTrace(seq, hour.start_of_interval, hour.trace))
            progress.advance(task)
    rng.shuffle(traces)
    records = sum(len(v.records) for v in visits)

    def tries(with_hour: bool, among: list[PublishedTrace] | None = None) -> int:
        by_hour: dict[int, list[StoredVisit]] = {}
        for visit in visits:
            for hour in visit.records:
                by_hour.setdefault(hour, []).append(visit)
        count = 0
        for published in traces if among is None else among:
            trace = Trace.decode(published.trace)
            hours = (
                [published.hour]
                if with_hour
                else [h * INTERVAL_SECONDS for h in affected_hours(trace.start_time, trace.end_time)]
            )
            for hour in hours:
                count += sum(
                    1
                    for v in by_hour.get(hour, ())
                    if v.arrival < trace.end_time and v.departure > trace.start_time
                )
        return count

    tried, tried_without_hour = tries(True), tries(False)
    rate = pairings_per_second(visits, traces, 2000)
    # Basic venues: the phone keeps only the ciphertexts, and tries. Server-based: it kept the
    # identities too, and looks each trace up.
    private = [StoredVisit(v.arrival, v.departure, v.records) for v in visits]

    def timed(kept: list[StoredVisit], runs: int) -> tuple[float, list[float], int]:
        timings, found = [], []
        for _ in range(runs):
            start_at = time.perf_counter()
            found = match_visits(kept, traces)
            timings.append(time.perf_counter() - start_at)
        return min(timings), timings, len(found)

    best, timings, found_private = timed(private, 3)
    best_lookup, timings_lookup, found_lookup = timed(visits, 5)
    every_pair = len(traces) * records
    browser = _in_browser(visits, traces, tries, args.browser_share) if args.browser else None
    result = {
        "bench": "presence_matching",
        "warnings": args.warnings,
        "traces": len(traces),
        "phone_days": args.days,
        "phone_visits": len(visits),
        "phone_records": records,
        "exposures_found": found_private,
        "exposures_found_by_identity": found_lookup,
        "exposures_expected": len(exposed),
        "tries": tried,
        "tries_without_hour": tried_without_hour,
        "tries_every_pair": every_pair,
        "match_seconds": round(best, 3),
        "match_seconds_runs": [round(t, 3) for t in timings],
        "match_by_identity_seconds": round(best_lookup, 4),
        "match_by_identity_seconds_runs": [round(t, 4) for t in timings_lookup],
        "pairings_per_second": round(rate),
        "every_pair_seconds_at_that_rate": round(every_pair / rate, 1),
        "limit_tries_in_1s": round(rate),
        "browser": browser,
        "machine": _machine.machine(),
    }
    print(json.dumps(result))
    table = Table(
        title=f"{args.warnings:,} warned venues ({len(traces):,} traces) against {len(visits)} visits "
        f"({records} hourly records) over {args.days} days"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("exposures found / expected", f"{found_private} / {len(exposed)}")
    table.add_row("trial decryptions (hour and overlap known)", f"{tried:,}")
    table.add_row("... without the page's hour (window only)", f"{tried_without_hour:,}")
    table.add_row("... every trace on every record", f"{every_pair:,}")
    table.add_row("basic venues: match by trial decryption, seconds (best of 3)", f"{best:.3f}")
    table.add_row("server-based venues: match by identity, seconds (best of 5)", f"{best_lookup:.4f}")
    table.add_row("pairings per second (one core)", f"{rate:,.0f}")
    table.add_row("every trace on every record, seconds", f"{every_pair / rate:,.0f}")
    if browser is not None:
        b = browser
        table.add_row("Chromium, server-based: match by identity, s", f"{b['match_by_identity_seconds']:.3f}")
        table.add_row(
            f"Chromium, basic: trial decryption of {b['trial_traces']:,} traces",
            f"{b['trial_tries']:,} tries, {b['trial_seconds']:.1f} s ({b['tries_per_second']:.0f}/s)",
        )
        table.add_row(
            "Chromium, basic: every trace (extrapolated), s", f"{b['trial_all_seconds_extrapolated']}"
        )
    err.print(table)
    if not found_private == found_lookup == len(exposed):
        sys.exit(f"found {found_private} and {found_lookup} exposures, expected {len(exposed)}")


if __name__ == "__main__":
    main()
