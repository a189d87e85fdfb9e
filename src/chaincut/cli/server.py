"""Commands that run chaincut: the schema, the HTTP server, and the demo."""

from __future__ import annotations

import atexit
import gc
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from chaincut.bootstrap import Services, bootstrap
from chaincut.bootstrap import db_upgrade as upgrade_store
from chaincut.cli.console import console, err, services, step_progress
from chaincut.errors import ChaincutError
from chaincut.settings import Settings
from chaincut.store import Database, current_revision, head_revision, read_store_id

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["db_current", "db_upgrade", "demo", "serve", "worker_app"]

log = logging.getLogger("chaincut.maintenance")


def db_upgrade() -> None:
    """Create or upgrade the database schema to this version of chaincut, and bind the archive to it.

    The store's id (made by the first upgrade) is written into the database and, on
    the embedded default, into the Parquet archive's manifests: a database and an
    archive of two different stores are refused together.
    """
    try:
        done = upgrade_store(Settings())
    except ChaincutError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if done.before == done.reached:
        said = f"{done.backend} schema already at revision {done.reached}"
    else:
        said = f"{done.backend} schema upgraded from {done.before or 'empty'} to revision {done.reached}"
    console.print(f"{said}; store {done.store_id}", highlight=False, soft_wrap=True)
    if done.archive_duplicates:
        console.print(
            f"the archive held {done.archive_duplicates:,} visits and encounters twice: deleted",
            highlight=False,
            soft_wrap=True,
        )


def db_current() -> None:
    """Show the schema revision of the database and the one this chaincut needs."""
    settings = Settings()
    db = Database(settings.resolved_database_url())
    try:
        current, store_id = current_revision(db), read_store_id(db)
    finally:
        db.dispose()
    store = f"; store {store_id}" if store_id else ""
    console.print(
        f"{db.backend}: at {current or 'no schema'}; this chaincut needs {head_revision()}{store}",
        highlight=False,
        soft_wrap=True,
    )


def worker_app() -> FastAPI:
    """The app of one ``chaincut serve --workers N`` process; the parent runs the maintenance."""
    from chaincut.api import create_app

    wired = bootstrap(settle=True)  # a new policy file is put in force by the first to start
    atexit.register(wired.close)
    app = create_app(wired, schedule_maintenance=False, tracing_index=True)
    _freeze_heap()
    return app


def _freeze_heap() -> None:
    """Leave what start-up built out of the cyclic garbage collector's full collections.

    The modules, the app and the wiring are a few hundred thousand objects that live as
    long as the process. Scanning them in every full collection paused a worker for
    70-120 ms several times a minute under load, which was the tail of check-in latency
    (bench/checkin.py); frozen, a full collection only scans what came after.
    """
    gc.collect()
    gc.freeze()


class _Held:
    """The services the parent of ``serve --workers N`` runs its schedules on, following the
    policy in force as the workers do (``PolicyFollower``)."""

    def __init__(self, services: Services) -> None:
        self.services = services


def _maintain(held: _Held, stop: threading.Event) -> None:
    from chaincut.api.app import run_maintenance

    while True:
        # A policy activated in the console since decides what is purged and how codes read.
        svc = held.services.policy_follower.follow(held)
        try:
            run_maintenance(svc)
        except Exception:  # keep the schedule alive; the next run retries
            log.exception("maintenance run failed")
        if stop.wait(svc.settings.maintenance_interval_seconds):
            return


def _draw_ballots(held: _Held, stop: threading.Event) -> None:
    from chaincut.api.app import draw_due_ballots

    while True:
        svc = held.services.policy_follower.follow(held)
        try:
            draw_due_ballots(svc)
        except Exception:  # keep the schedule alive; the next run retries
            log.exception("ballot draw failed")
        if stop.wait(svc.settings.ballot_draw_interval_seconds):
            return


def _run_server(host: str, port: int, *, guide: str | None = None, workers: int = 1) -> None:
    import uvicorn

    from chaincut.api import create_app

    with services(settle=True) as svc:
        # The address posters, enrolment codes and kiosks open: refuse to serve without it, now,
        # rather than answer each poster with an error (production needs CHAINCUT_PUBLIC_URL, https).
        svc.settings.public_base()
        if guide:
            console.print(guide, highlight=False, soft_wrap=True)
        if workers == 1:
            app = create_app(svc, tracing_index=True)
            _freeze_heap()
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                loop="uvloop",
                http="httptools",
            )
            uvicorn.Server(config).run()
            return
        # Each worker process wires its own services and shares the listening socket;
        # this parent supervises them and runs the scheduled maintenance, once.
        stop = threading.Event()
        held = _Held(svc)
        maintenance = threading.Thread(target=_maintain, args=(held, stop), name="maintenance", daemon=True)
        maintenance.start()
        ballot = threading.Thread(target=_draw_ballots, args=(held, stop), name="ballot", daemon=True)
        ballot.start()
        try:
            uvicorn.run(
                f"{__name__}:worker_app",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                loop="uvloop",
                http="httptools",
            )
        finally:
            stop.set()
            maintenance.join(timeout=30)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="server processes, to use several CPU cores (on PostgreSQL each keeps up to 32 connections)",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    _run_server(
        host, port, workers=workers, guide=f"chaincut serving on http://{host}:{port} (docs at /docs)"
    )


_DEMO_CASE = "C-DEMO"


def _demo_case(svc: Services) -> str:
    """Register a demo case (once): the resident with the most visits in the last two days."""
    import numpy as np
    import pyarrow.compute as pc

    from chaincut.tracing.cases import CaseDraft

    with svc.store.read() as uow:
        if uow.cases.get_by_ref(_DEMO_CASE) is not None or svc.store.archive is None:
            return _DEMO_CASE
    now = svc.clock.now()
    recent = svc.store.archive.read("visits", pc.field("entered_at") >= int(now.timestamp()) - 2 * 86400)
    people = recent["person_id"].to_numpy()
    if not len(people):
        return _DEMO_CASE
    values, counts = np.unique(people, return_counts=True)
    with svc.store.read() as uow:
        person = uow.people.get(int(values[np.argmax(counts)]))
    if person is not None:
        onset = (now - timedelta(days=1)).astimezone(svc.settings.zone).date()
        svc.cases.register(CaseDraft(_DEMO_CASE, person.ref, "unlinked", onset_on=onset), actor="demo")
    return _DEMO_CASE


_DEMO_ACCOUNTS = {
    "demo-tracer": ("tracer",),
    "demo-supervisor": ("supervisor", "venue_operator"),
    "demo-admin": ("administrator",),
    "demo-policy-editor": ("policy_editor",),
}


def _demo_accounts(svc: Services, demo_case: str) -> dict[str, str]:
    """Demo staff accounts (once), their passwords kept beside the data, readable by the owner only.

    The tracer is assigned the demo case, so they may trace it for a stated purpose.
    """
    import os
    import secrets

    from chaincut.access.audit import event_for
    from chaincut.domain.access import Principal, parse_roles
    from chaincut.domain.audit import AuditFlag

    path = Path(svc.settings.data_dir) / "demo-accounts.json"
    saved: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if set(_DEMO_ACCOUNTS) <= set(saved):
        return saved
    # A demo made by an earlier version lacks the accounts added since: add only those.
    passwords = {name: saved.get(name) or secrets.token_urlsafe(12) for name in _DEMO_ACCOUNTS}
    who = Principal.system("demo")
    for name, roles in _DEMO_ACCOUNTS.items():
        if name not in saved:
            svc.accounts.add(name, passwords[name], parse_roles(",".join(roles)), who)
    with svc.store.write() as uow:
        case = uow.cases.get_by_ref(demo_case)
        tracer = uow.staff.get_by_username("demo-tracer")
        if not saved and case is not None and case.id is not None and tracer is not None:
            uow.assignments.assign(case.id, tracer.id, at=int(svc.clock.now().timestamp()), by=who.name)
            assigned = event_for(
                who,
                "cases.assign",
                "cases",
                record=demo_case,
                flags=(AuditFlag.PERMISSION_CHANGE,),
                details={"assign": "demo-tracer"},
                subject_person_id=case.person_id,
            )
            svc.audit.record_in(uow, assigned)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(passwords, out)
    return passwords


DEMO_VENUE = "V-DEMO-CAFE"


def _demo_venue(svc: Services) -> None:
    """A café the demo supervisor (a venue operator too) registered (once): its page in the console
    offers its poster and kiosks."""
    from chaincut.errors import NotFound
    from chaincut.venues.registry import VenueDraft

    try:
        svc.venues.get(DEMO_VENUE)
        return
    except NotFound:
        pass
    with svc.store.read() as uow:
        operator = uow.staff.get_by_username("demo-supervisor")
    draft = VenueDraft(
        ref=DEMO_VENUE,
        venue_type="restaurant",
        name_en="Demo Café",
        name_zh="示範咖啡室",
        district="Wan Chai",
        address="1 Demo Road, Wan Chai",
    )
    svc.venues.register(draft, operator_id=operator.id if operator else None)


def _demo_orders(svc: Services, demo_case: str) -> None:
    """Orders for the demo case's contacts (once), and yesterday's follow-up of the first few under
    quarantine, so the follow-up worklist has people to call today and a day already done."""
    from chaincut.domain import OrderKind

    with svc.store.read() as uow:
        case = uow.cases.get_by_ref(demo_case)
    if case is None or svc.orders.list(case_ref=demo_case, limit=1)[1]:
        return
    trace = svc.tracing.trace_case(demo_case)
    svc.orders.issue_for_contacts(trace.contacts, trace.case_id, "demo")
    yesterday = (svc.clock.now() - timedelta(days=1)).astimezone(svc.settings.zone).date()
    entries, _ = svc.orders.list(case_ref=demo_case, kind=OrderKind.QUARANTINE, limit=3)
    for entry in entries:
        if entry.order.starts_on <= yesterday:
            svc.follow_ups.record(entry.person_ref, yesterday, [], None, "demo: well at home", "demo")


_DEMO_CLUSTER = 5


def _demo_cluster(svc: Services, demo_case: str) -> None:
    """A few of the demo case's contacts at one venue fell ill (once): cases linked to it, and the
    clusters and chains inferred, so the cluster pages, the dashboard and the district map show
    an outbreak rather than one case."""
    from collections import Counter

    from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
    from chaincut.domain.access import Principal
    from chaincut.tracing.cases import CaseDraft

    with svc.store.read() as uow:
        if uow.cases.get_by_ref(demo_case) is None or uow.cases.get_by_ref(f"{demo_case}-1") is not None:
            return
    trace = svc.tracing.trace_case(demo_case)
    at_venues = [(c, e.venue_id) for c in trace.contacts for e in c.evidence if e.venue_id is not None]
    venues = trace.venues(v for _, v in at_venues)
    # A setting where cases met (not a clinic or a hospital, where they were taken or tested).
    linking = Counter(
        v for _, v in at_venues if venues[v].venue_type not in svc.policy.clusters.non_linking_kinds
    )
    if not linking:
        return
    venue = linking.most_common(1)[0][0]
    chosen = list({c.person_id: c for c, v in at_venues if v == venue}.values())[:_DEMO_CLUSTER]
    refs = trace.refs(c.person_id for c in chosen)
    today = svc.clock.now().astimezone(svc.settings.zone).date()
    for i, contact in enumerate(chosen, start=1):
        draft = CaseDraft(
            f"{demo_case}-{i}",
            refs[contact.person_id],
            "linked",
            onset_on=today - timedelta(days=i % 2),
            linked_case=demo_case,
        )
        svc.cases.register(draft, actor="demo")
    refresh_clusters_and_chains(svc.clusters, svc.chains, Principal.system("demo"))


def demo(
    people: Annotated[int, typer.Option(min=100, help="residents of the demo district")] = 50_000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="start the server")] = True,
) -> None:
    """Build a small district on the embedded store, load it, and serve it with a short guide."""
    from chaincut.whereabouts import importing
    from chaincut.whereabouts.synth import CityParameters, synthesize_city

    settings = Settings()
    try:
        upgrade_store(settings)
    except ChaincutError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    city_dir = Path(settings.data_dir) / "demo-city"
    with services() as svc:
        if svc.store.counts().people:
            console.print(f"the store in {settings.data_dir} already holds data; loading skipped")
        else:
            params = CityParameters(
                people=people,
                venues=max(50, people // 25),
                days=14,
                checkins_per_day=int(people * 1.3),
                seed=2026,
            )
            with step_progress() as progress:
                summary = synthesize_city(params, city_dir, end=svc.clock.now(), progress=progress)
            options = importing.ImportOptions()
            files = summary.files
            store, policy, clock = svc.store, svc.policy, svc.clock
            reports = [
                importing.import_people(store, svc.hasher, clock, files["people"], options),
                importing.import_venues(store, policy, clock, files["venues"], options),
                importing.import_visits(store, policy, clock, files["visits"], options),
                importing.import_encounters(store, policy, clock, files["encounters"], options),
            ]
            for report in reports:
                console.print(f"loaded {report.stored:,} {report.kind}", highlight=False)
        demo_case = _demo_case(svc)
        passwords = _demo_accounts(svc, demo_case)
        _demo_venue(svc)
        _demo_orders(svc, demo_case)
        _demo_cluster(svc, demo_case)
        counts = svc.store.counts()
        venues, _ = svc.venues.list(venue_type="restaurant", district=None, offset=0, limit=1)
        with svc.store.read() as uow:
            person = uow.people.get(1)
        example_venue = venues[0].ref if venues else "V000001"
        example_person = person.ref if person else "P0000001"
        from chaincut.domain.access import Principal

        resident = svc.accounts.issue_resident_token(example_person, Principal.system("demo")).secret
        poster_address = svc.venues.checkin_address(svc.venues.get(example_venue)) if venues else ""
        if not svc.code_keys.list_keys():
            svc.code_keys.init(Principal.system("demo"))  # the authority's code-signing keys
    base = f"http://{host}:{port}"

    def sign_in(username: str) -> str:
        body = json.dumps({"username": username, "password": passwords[username]})
        post = f"curl -s -X POST {base}/auth/token -H 'content-type: application/json'"
        return f"{post} -d '{body}' | cut -d'\"' -f4"

    tracer_in, supervisor_in = sign_in("demo-tracer"), sign_in("demo-supervisor")
    guide = f"""
[bold]chaincut demo[/bold]: {counts.people:,} people, {counts.venues:,} venues, {counts.visits:,} visits, \
{counts.encounters:,} encounters in {settings.data_dir}

Demo staff (passwords in {settings.data_dir}/demo-accounts.json): demo-tracer {passwords["demo-tracer"]}, \
demo-supervisor {passwords["demo-supervisor"]}, demo-admin {passwords["demo-admin"]}, \
demo-policy-editor {passwords["demo-policy-editor"]}
Open {base}/ and sign in: as demo-tracer, "My cases" holds the demo case (open it: its timeline,
contacts with evidence) and "Follow-ups" its contacts to call today; as demo-supervisor,
"The team's cases" shows the tracers' load and the cases to assign; as demo-policy-editor,
"The policy" shows each value with its source, and a new version's diff and what it would change
(demo-supervisor approves its activation). Or try, in another terminal:
  open {base}/docs                                   the API, with every endpoint to try
  SUP=$({supervisor_in})
  curl -H "Authorization: Bearer $SUP" {base}/status                         what the store holds
  curl -H "Authorization: Bearer $SUP" -o poster.png {base}/venues/{example_venue}/poster.png   a QR poster
  QR=$(curl -s -H "Authorization: Bearer $SUP" {base}/venues/{example_venue}/token | cut -d'"' -f4)
  curl -X POST {base}/checkins -H 'Authorization: Bearer {resident}' -H 'content-type: application/json' \\
       -d '{{"client_id": "demo-1", "token": "'$QR'"}}'           a check-in by {example_person}'s app
  chaincut trace --case {demo_case} --format table       the contacts of a demo case, with evidence
  TR=$({tracer_in})
  curl -H "Authorization: Bearer $TR" -H 'X-Chaincut-Purpose: tracing the demo case' \\
       '{base}/cases/{demo_case}/contacts?limit=5'   the same over the API, for the assigned tracer
  curl -H 'Authorization: Bearer {resident}' {base}/me/code        {example_person}'s health code and why
  curl -H 'Authorization: Bearer {resident}' -o code.png {base}/me/code/signed.png   signed, as a QR
  chaincut verify --local --image code.png           verified offline against the authority's keys
  chaincut audit report --staff demo-tracer          who read what, and why; chaincut audit verify
Residents' app, in a phone's browser (nothing to install): {base}/app
  chaincut people enrol --person {example_person}     a one-time code and its QR for that resident's phone
  {poster_address}
      what {example_venue}'s poster opens: check in with one tap
  (phones on your network reach this machine once CHAINCUT_PUBLIC_URL names an address they can open)
Venue operators (demo-supervisor is one, of {DEMO_VENUE}): {base}/console/venues registers a venue, prints
its poster and sets up an entrance kiosk ({base}/kiosk).
Press Ctrl+C to stop.
"""
    if not serve_after:
        console.print(guide, highlight=False, soft_wrap=True)
        return
    err.print(f"serving on {base} at {datetime.now(UTC):%H:%M:%S} UTC", highlight=False)
    _run_server(host, port, guide=guide)
