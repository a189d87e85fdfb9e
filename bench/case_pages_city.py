"""Benchmark: a tracer's case pages against the Hong Kong-scale city (140M check-ins).

    .venv/bin/python bench/trace.py --checkins 140000000 --cases 77000 --no-postgres \\
        --city /tmp/city-140m --work /tmp/w140m                 # builds the city and its store
    cd bench && ../.venv/bin/python case_pages_city.py --store /tmp/w140m/embedded

The requirement (issue 13): every console page's server time has p95 under 300 ms at the fifth
wave's height. ``console_pages.py`` times every page on a million cases with 4M stays; the pages
that trace (a case's page, its contacts swapped by htmx, its orders' preview) depend on the
whereabouts instead, so they are timed here on the store ``trace.py`` builds: 7.5M people,
150,000 venues, 140M check-ins over 14 days and a fifth-wave day's 77,000 cases.

As ``chaincut serve`` does, the archive is held in memory (``keep_resident``, ``warm_up``: its
load time and the process's RSS are reported). A tracer is assigned ``--cases`` cases drawn at
random (and one more, whose pages are fetched first, untimed); for each, the purpose is stated
(untimed), then each page is fetched once through the
app (FastAPI's TestClient, signed in through the forms). Each fetch traces the case afresh, as
the page does. The clock is the end of the cases' day, as for ``trace.py``'s interactive traces.
Prints one JSON line on stdout (p50, p95 and max per page, in ms), a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

import _machine
from chaincut.api import create_app
from chaincut.bootstrap import bootstrap
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain.access import Principal, Role
from chaincut.settings import Settings
from console_pages import BROWSER, PASSWORD, _sign_in, _state

TRACER = "city-tracer"
ZONE = ZoneInfo("Asia/Hong_Kong")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, required=True, help="trace.py's embedded store (WORK/embedded)")
    parser.add_argument("--cases", type=int, default=40, help="cases whose pages are fetched")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    settings = Settings(env="development", data_dir=args.store)
    probe = bootstrap(settings)
    with probe.store.read() as uow:
        (day,) = uow.connection.exec_driver_sql("SELECT max(reported_on) FROM cases").one()
        refs = [r for (r,) in uow.connection.exec_driver_sql("SELECT ref FROM cases ORDER BY ref")]
    probe.close()
    day = datetime.fromisoformat(str(day)).date()
    at = datetime.combine(day, dtime(23, 59, 59), tzinfo=ZONE)
    # The first case's pages are fetched once untimed: the process's first trace and page fill caches.
    warm_case, *chosen = random.Random(args.seed).sample(refs, args.cases + 1)
    svc = bootstrap(settings, clock=FixedClock(at), settle=True)
    try:
        with svc.store.read() as uow:
            tracer = uow.staff.get_by_username(TRACER)
        if tracer is None:
            tracer = svc.accounts.add(TRACER, PASSWORD, frozenset({Role.TRACER}), Principal.system("bench"))
        with svc.store.write() as uow:
            ids = uow.cases.ids_for([warm_case, *chosen])
            for ref in (warm_case, *chosen):
                uow.assignments.assign(ids[ref], tracer.id, at=to_epoch(at), by="bench")
        _log(f"{len(refs):,} cases reported up to {day}; loading the archive into memory")
        svc.tracing.keep_resident()
        started = time.perf_counter()
        svc.tracing.warm_up()
        loaded = round(time.perf_counter() - started, 1)
        _log(f"archive in memory in {loaded} s, RSS {_rss_mib():,} MiB")
        app = create_app(svc, schedule_maintenance=False)
        pages: dict[str, list[float]] = {"case page": [], "case contacts (htmx)": [], "order preview": []}
        with TestClient(app, base_url="https://testserver") as client:
            _sign_in(client, TRACER)
            warm = f"/console/cases/{warm_case}"
            _state(client, warm, f"{warm}/purpose", warm)
            for path in (warm, f"{warm}?tier=exposed&order=longest", f"{warm}/orders"):
                client.get(path, headers=BROWSER)
            for ref in chosen:
                _state(
                    client, f"/console/cases/{ref}", f"/console/cases/{ref}/purpose", f"/console/cases/{ref}"
                )
                for name, path in (
                    ("case page", f"/console/cases/{ref}"),
                    ("case contacts (htmx)", f"/console/cases/{ref}?tier=exposed&order=longest"),
                    ("order preview", f"/console/cases/{ref}/orders"),
                ):
                    headers = {**BROWSER, "HX-Request": "true"} if "htmx" in name else BROWSER
                    start = time.perf_counter()
                    response = client.get(path, headers=headers)
                    pages[name].append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
        measured = {}
        for name, ms in pages.items():
            ms.sort()
            p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
            measured[name] = {
                "p50": round(statistics.median(ms), 1),
                "p95": round(p95, 1),
                "max": round(ms[-1], 1),
            }
            _log(f"{name:24} {measured[name]}")
        counts = svc.store.counts()
    finally:
        svc.close()
    print(
        json.dumps(
            {
                "bench": "case_pages_city",
                "machine": _machine.machine(),
                "store": {"people": counts.people, "visits": counts.visits, "cases": counts.cases},
                "cases_fetched": args.cases,
                "warm_up_seconds": loaded,
                "peak_rss_mib": _rss_mib(),
                "pages_ms": measured,
                "p95_over_300ms": sorted(n for n, m in measured.items() if m["p95"] > 300),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
