"""Benchmark: the staff console's pages at the fifth wave's height, on the embedded store.

    cd bench && ../.venv/bin/python console_pages.py --store /tmp/cc-1m          # 1,000,000 cases
    cd bench && ../.venv/bin/python console_pages.py --store /tmp/cc-100k --cases 100000

The requirement (issue 13): on a store with 1,000,000 cases, every page's server time has p95
under 300 ms, and the case list pages by keyset. The store is clusters_chains.py's (its cases,
their stays, households, encounters, tracer links and the building list; built and refreshed by
it when ``--store`` holds none yet). Added here, once: a tracer with 200 of the latest cases, a
supervisor who is also an epidemiologist and an administrator, and orders for the contacts of
20 of the tracer's cases (so the follow-up worklist and the person pages have rows). The largest
cluster of that store holds nearly every case (the wave's giant component): its page is a
glimpse (its first 2,000 cases and the chains among them); the planted one has 5,000.

Each page is fetched ``--runs`` times through the app (FastAPI's TestClient: the whole server
path, with no network), signed in through the forms as a browser is, with the purposes stated;
the time of each request is measured around it. Prints one JSON line on stdout (p50, p95 and
max per page, in ms), a table on stderr. There is no peer here: no other system serves these
pages; PostgreSQL's and DuckDB's side of the work are measured by the benches of the services
underneath (trace.py, clusters_chains.py, epicurve.py, rt.py).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

import _machine
from chaincut.api import create_app
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain.access import Principal, Role
from chaincut.policy import default_policy_text
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import upgrade
from chaincut.store.tables import case_assignments, cases
from clusters_chains import NOW

PASSWORD = "bench-console-password-1"  # noqa: S105 - a benchmark store's throwaway accounts
TRACER, SUPERVISOR = "bench-tracer", "bench-supervisor"
BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prepare(svc: Services) -> None:
    """The bench's staff, assignments and orders (each once: kept in the store)."""
    who = Principal.system("bench")
    with svc.store.read() as uow:
        tracer = uow.staff.get_by_username(TRACER)
    if tracer is None:
        tracer = svc.accounts.add(TRACER, PASSWORD, frozenset({Role.TRACER}), who)
        roles = frozenset({Role.SUPERVISOR, Role.EPIDEMIOLOGIST, Role.ADMINISTRATOR})
        svc.accounts.add(SUPERVISOR, PASSWORD, roles, who)
    assert tracer.id is not None
    with svc.store.write() as uow:
        mine = uow.connection.execute(
            select(case_assignments.c.case_id).where(case_assignments.c.staff_id == tracer.id).limit(1)
        ).first()
        if mine is None:
            # The latest cases with an onset date (registration requires one, or a specimen date;
            # the bench's bulk-loaded wave has a fifth without).
            latest = uow.connection.execute(
                select(cases.c.id).where(cases.c.onset_on.is_not(None)).order_by(cases.c.id.desc()).limit(200)
            )
            for (case_id,) in list(latest):
                uow.assignments.assign(int(case_id), tracer.id, at=to_epoch(NOW), by="staff:bench")
        assigned = uow.connection.execute(
            select(cases.c.ref)
            .join(case_assignments, case_assignments.c.case_id == cases.c.id)
            .where(case_assignments.c.staff_id == tracer.id, cases.c.onset_on.is_not(None))
            .order_by(cases.c.id.desc())
            .limit(20)
        )
        refs = [str(r) for (r,) in assigned]
    if svc.follow_ups.worklist(tracer.id, limit=1).rows:
        return
    for ref in refs:
        trace = svc.tracing.trace_case(ref)
        svc.orders.issue_for_contacts(trace.contacts, trace.case_id, "staff:bench")


def _sign_in(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = _TOKEN.search(page.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def _state(client: TestClient, form_path: str, action: str, next_path: str) -> None:
    page = client.get(form_path, headers=BROWSER)
    token = _TOKEN.search(page.text)
    assert token is not None
    client.post(
        action,
        data={"purpose": "benchmark of the console", "next": next_path, "csrf_token": token.group(1)},
        headers=BROWSER,
    )


def _policy_draft(svc: Services) -> int:
    """A version of the policy awaiting activation (made once): a week's quarantine, diners close."""
    for version in svc.policy_changes.versions():
        if version.source == "console" and version.status == "draft":
            return version.id
    text = (
        default_policy_text()
        .replace('version = "2026.11-default"', 'version = "bench-draft"', 1)
        .replace("quarantine_days = 14", "quarantine_days = 7", 1)
        .replace('after_leave_minutes = 30\ntier = "exposed"', 'after_leave_minutes = 30\ntier = "close"', 1)
    )
    return svc.policy_changes.upload(Principal.system("bench"), text).id


def _time(client: TestClient, path: str, runs: int) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path, headers=BROWSER)
        seconds.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code)
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"p50": round(statistics.median(ms), 1), "p95": round(p95, 1), "max": round(ms[-1], 1)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--store", type=Path, required=True, help="a store of clusters_chains.py (built if absent)"
    )
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases, when the store is built here")
    parser.add_argument("--runs", type=int, default=20, help="requests per page")
    args = parser.parse_args(argv)
    if not (args.store / "chaincut.sqlite3").exists():
        _log(f"building the store at {args.store} (clusters_chains.py, then one refresh)")
        subprocess.run(
            [
                sys.executable,
                "clusters_chains.py",
                "--cases",
                str(args.cases),
                "--store",
                str(args.store),
                "--only",
                "refresh1",
            ],
            check=True,
        )
    db = Database(f"sqlite:///{args.store / 'chaincut.sqlite3'}")
    upgrade(db)
    db.dispose()
    # As a server starts: its policy file is recorded in force (the policy pages show it).
    svc = bootstrap(Settings(env="development", data_dir=args.store), clock=FixedClock(NOW), settle=True)
    try:
        _prepare(svc)
        with svc.store.read() as uow:
            tracer = uow.staff.get_by_username(TRACER)
            assert tracer is not None
        worklist = svc.follow_ups.worklist(tracer.id, limit=1)
        person = worklist.rows[0].person_ref
        case = worklist.rows[0].orders[0].case_ref
        listed, _ = svc.clusters.listing(limit=1000, settings_shown=0)
        largest = listed[0][0].id
        # The planted cluster of clusters_chains.py (5,000 cases at one banquet hall), else the median.
        planted = min(listed, key=lambda row: abs(row[0].size - 5_000))[0].id
        draft = _policy_draft(svc)
        measured: dict[str, dict[str, float]] = {}
        app = create_app(svc, schedule_maintenance=False)
        with TestClient(app, base_url="https://testserver") as client:
            _sign_in(client, TRACER)
            _state(
                client, f"/console/cases/{case}", f"/console/cases/{case}/purpose", f"/console/cases/{case}"
            )
            _state(client, f"/console/people/{person}", f"/console/people/{person}/purpose", "")
            _state(client, "/console/follow-ups", "/console/follow-ups/purpose", "")
            for name, path in (
                ("my cases", "/console/cases"),
                ("case page", f"/console/cases/{case}"),
                ("case contacts (htmx)", f"/console/cases/{case}?tier=exposed&order=longest"),
                ("order preview", f"/console/cases/{case}/orders"),
                ("person page", f"/console/people/{person}"),
                ("follow-up worklist", "/console/follow-ups"),
            ):
                measured[name] = _time(client, path, args.runs)
                _log(f"{name:24} {measured[name]}")
        with TestClient(app, base_url="https://testserver") as client:
            _sign_in(client, SUPERVISOR)
            _state(client, "/console/clusters", "/console/clusters/purpose", "/console/clusters")
            for name, path in (
                ("team", "/console/team"),
                ("approvals", "/console/approvals"),
                ("tracing indicators", "/console/indicators"),
                ("clusters", "/console/clusters"),
                ("cluster of 5,000", f"/console/clusters/{planted}"),
                ("largest cluster (glimpse)", f"/console/clusters/{largest}"),
                ("dashboard", "/console/dashboard"),
                ("district map", "/console/districts"),
                ("district map, 90 days", "/console/districts?days=90"),
                ("policy in force", "/console/policy"),
                ("policy version (its diff)", f"/console/policy/versions/{draft}"),
                ("what it changes (5 cases)", f"/console/policy/versions/{draft}?impact=show&latest=5"),
                ("what it changes (50 cases)", f"/console/policy/versions/{draft}?impact=show&latest=50"),
                ("audit search", f"/console/audit?by=staff&value={TRACER}"),
                ("staff", "/console/staff"),
                ("keys", "/console/keys"),
                ("purges", "/console/purges"),
            ):
                measured[name] = _time(client, path, args.runs)
                _log(f"{name:24} {measured[name]}")
        counts = svc.store.counts()
    finally:
        svc.close()
    over = sorted(name for name, m in measured.items() if m["p95"] > 300)
    _log(f"p95 over 300 ms: {', '.join(over) or 'none'}")
    print(
        json.dumps(
            {
                "bench": "console_pages",
                "machine": _machine.machine(),
                "store": {"people": counts.people, "visits": counts.visits, "cases": counts.cases},
                "runs": args.runs,
                "pages_ms": measured,
                "p95_over_300ms": over,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
