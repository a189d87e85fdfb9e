"""Benchmark: a newly confirmed case turns its 1,000 contacts' health codes red.

    python bench/red_contacts.py            # embedded default, and PostgreSQL if its binaries are found
    python bench/red_contacts.py --contacts 5000 --runs 5 --no-postgres

The requirement (issue 5): a confirmed case with 1,000 contacts has all their codes red
within 5 s. One residential care home (its visitors are close contacts under the shipped
policy, so red; a restaurant's would be exposed, amber); 1,000 visitors whose stays overlap
the case's by 15-45 minutes
(checked in one at a time, so in SQL, as the server stores check-ins), and 50 who came
the same day hours later (risky visits, amber). The case is registered as confirmed
through the service (``services.cases.register``, what ``POST /cases`` calls); the clock
runs from the call until the store holds a red code for every contact. Each run uses a
new care home, new people and a new case on the same store.

Prints one JSON line on stdout (with the machine), then a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

import _machine  # bench/_machine.py: Python puts the script's folder on the path
from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.domain import Visit, VisitSource
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from chaincut.store import Database, upgrade
from chaincut.store.tables_codes import health_codes
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # noon in Hong Kong
CASE_IN, CASE_OUT = NOW - timedelta(hours=3), NOW - timedelta(hours=2)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout (no table)")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[red_contacts] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _services(data_dir: Path, url: str | None) -> Services:
    settings = Settings(env="development", data_dir=data_dir, database_url=url)
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    return bootstrap(settings, clock=FixedClock(NOW))


def _setup(svc: Services, run: int, contacts: int) -> tuple[str, list[int]]:
    """A care home with the case, ``contacts`` overlapping visitors and 50 later ones; their ids."""
    venue = svc.venues.register(VenueDraft("elderly_home", f"Bench {run}", f"測試 {run}", ref=f"RB{run}"))
    assert venue.id is not None
    refs = [f"R{run}-P{i}" for i in range(contacts + 51)]
    ids = []
    for ref in refs:
        person = svc.people.register(PersonDraft(ref))
        assert person.id is not None
        ids.append(person.id)
    visits = [Visit(ids[0], venue.id, CASE_IN, CASE_OUT, VisitSource.QR, client_id=f"case-{run}")]
    for i, person_id in enumerate(ids[1 : contacts + 1]):
        entered = CASE_IN + timedelta(minutes=15 + i % 30)
        visits.append(
            Visit(
                person_id,
                venue.id,
                entered,
                entered + timedelta(minutes=45),
                VisitSource.QR,
                client_id=f"v{i}",
            )
        )
    for i, person_id in enumerate(ids[contacts + 1 :]):
        visits.append(
            Visit(person_id, venue.id, NOW - timedelta(minutes=30), NOW, VisitSource.QR, client_id=f"l{i}")
        )
    with svc.store.write() as uow:
        uow.visits.add_many(visits)
    return refs[0], ids[1 : contacts + 1]


def _red(svc: Services, ids: list[int]) -> int:
    with svc.store.read() as uow:
        query = select(func.count()).where(health_codes.c.person_id.in_(ids), health_codes.c.colour == "red")
        return int(uow.connection.execute(query).scalar_one())


def _measure(svc: Services, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    svc.tracing.warm_up()
    seconds = []
    for run in range(args.runs):
        case_person, contact_ids = _setup(svc, run, args.contacts)
        assert _red(svc, contact_ids) == 0
        draft = CaseDraft(f"CB-{run}", case_person, "local", onset_on=date(2026, 11, 20))
        start = time.perf_counter()
        svc.cases.register(draft, actor="bench")
        while _red(svc, contact_ids) < len(contact_ids):
            if time.perf_counter() - start > 60:
                raise SystemExit(f"{backend}: only {_red(svc, contact_ids)} red after 60 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        seconds.append(elapsed)
        _log(f"{backend} run {run}: {len(contact_ids):,} contacts red in {elapsed:.3f} s")
    return {
        "backend": backend,
        "contacts": args.contacts,
        "runs": args.runs,
        "seconds_each": [round(s, 3) for s in seconds],
        "seconds_median": round(statistics.median(seconds), 3),
        "seconds_max": round(max(seconds), 3),
    }


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaincut-red-")))
        svc = _services(work / "embedded", None)
        try:
            results.append(_measure(svc, "embedded", args))
        finally:
            svc.close()
        if not args.no_postgres:
            sys.path.insert(0, str(REPO / "tests"))
            from support.postgres import find_postgres_bin, running_postgres

            bin_dir = find_postgres_bin()
            if bin_dir is None:
                _log("no PostgreSQL binaries found: embedded only")
            else:
                server = stack.enter_context(running_postgres(work / "postgres", bin_dir=bin_dir))
                svc = _services(work / "pg-data", server.create_database("chaincut_red"))
                try:
                    results.append(_measure(svc, "postgres", args))
                finally:
                    svc.close()
    line = {"benchmark": "red_contacts", "target_seconds": 5, "results": results, **_machine.machine()}
    print(json.dumps(line), flush=True)
    if not args.json:
        for r in results:
            print(
                f"{r['backend']:>9}: {r['contacts']:,} contacts red in {r['seconds_median']} s median, "
                f"{r['seconds_max']} s worst of {r['runs']} (target < 5 s)",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
