"""The FastAPI application factory, and the server's scheduled maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chaincut import __version__, web
from chaincut.api.errors import install_error_handlers
from chaincut.api.headers import SECURITY_HEADERS, SecurityHeaders
from chaincut.api.routers import (
    analytics,
    auth,
    border,
    cases,
    checkins,
    clearances,
    clusters,
    code_keys,
    codes,
    follow_ups,
    orders,
    people,
    presence,
    reports,
    signed_codes,
    staff,
    status,
    subjects,
    tracing,
    venues,
)
from chaincut.bootstrap import HoldsServices, Services
from chaincut.domain.access import Principal, PrincipalKind
from chaincut.guards import check_every_route_guarded
from chaincut.web.errors import install_page_errors

__all__ = ["create_app", "draw_due_ballots", "run_maintenance"]

log = logging.getLogger("chaincut.maintenance")


def run_maintenance(services: Services) -> list[str]:
    """Close visits nobody checked out of, purge what retention no longer allows, sweep health
    codes (trace cases a bulk import left, recompute codes whose reasons may have changed), and
    check the audit log, anchoring its head outside the database when it is intact.

    Each step runs on its own: one that fails is logged with its error and the others still
    run (a store the closing step cannot handle must not stop retention's purges). Returns
    the steps that failed; the next run tries them again.
    """
    failed = []
    for name, step in _MAINTENANCE_STEPS:
        try:
            done = step(services)
        except Exception:
            log.exception("maintenance: %s failed; the other steps still run, and the next run retries", name)
            failed.append(name)
            continue
        if done:
            log.info("maintenance: %s", done)
    return failed


def _close_stale(services: Services) -> str:
    return services.checkins.close_stale_visits().describe()


def _purge(services: Services) -> str:
    purged = services.purge_expired()
    return "purged " + ", ".join(f"{p.deleted} {p.kind}" for p in purged)


def _refresh_codes(services: Services) -> str:
    return f"recomputed {services.codes.refresh()} health codes"


def _verify_audit(services: Services) -> str:
    if services.store.audit_key is None:
        return ""
    report = services.audit.verify()
    if not report.intact:
        # The anchor stays at the last head verified, so the break stays visible.
        log.error(
            "maintenance: the audit log is broken: %s",
            "; ".join(f"#{b.seq}: {b.problem}" for b in report.breaks),
        )
        return ""
    services.audit.anchor()
    return "the audit log is intact; its head is anchored"


_MAINTENANCE_STEPS: tuple[tuple[str, Callable[[Services], str]], ...] = (
    ("closing stale visits", _close_stale),
    ("purging expired records", _purge),
    ("refreshing health codes", _refresh_codes),
    ("checking the audit log", _verify_audit),
)


# The server's timer draws ballots in its own name, as "system:policy" records a policy in force.
_BALLOT_TIMER = Principal(PrincipalKind.SYSTEM, "system:ballot", via="timer")


def draw_due_ballots(services: Services) -> None:
    """Commit the seeds of the days about to open for entries, and draw every border ballot whose draw
    time has passed (none twice); each commitment and draw is audited."""
    committed = services.draws.commit_ahead(_BALLOT_TIMER)
    if committed:
        log.info("ballot: committed seeds for %s", ", ".join(str(d) for d in committed))
    drawn = services.draws.draw_due(_BALLOT_TIMER)
    if drawn:
        log.info("ballot: drew %s", ", ".join(f"{d.day} ({len(d.won)} won)" for d in drawn))


async def _ballot_loop(state: HoldsServices, interval: float) -> None:
    while True:
        try:
            services = await asyncio.to_thread(state.services.policy_follower.follow, state)
            await asyncio.to_thread(draw_due_ballots, services)
        except Exception:  # keep the schedule alive; the next run retries
            log.exception("ballot draw failed")
        await asyncio.sleep(interval)


def _warm_up(services: Services) -> None:
    try:
        services.tracing.warm_up()
        log.info("tracing index loaded")
    except Exception:  # the first trace loads it instead
        log.exception("loading the tracing index failed")


async def _maintenance_loop(state: HoldsServices, interval: float) -> None:
    # Each run reads the services afresh: a policy activated since decides what it purges.
    while True:
        try:
            services = await asyncio.to_thread(state.services.policy_follower.follow, state)
            await asyncio.to_thread(run_maintenance, services)
        except Exception:  # keep the schedule alive; the next run retries
            log.exception("maintenance run failed")
        await asyncio.sleep(interval)


def create_app(
    services: Services,
    *,
    schedule_maintenance: bool = True,
    tracing_index: bool = False,
    schedule_ballot: bool | None = None,
) -> FastAPI:
    """The API over ``services``; with ``schedule_maintenance`` it runs retention on a timer.

    With ``schedule_ballot`` (by default as ``schedule_maintenance``) it draws border ballots
    when due, every CHAINCUT_BALLOT_DRAW_INTERVAL_SECONDS.

    With ``tracing_index`` (a long-running server) the whereabouts archive is held in
    memory for tracing, loaded in the background at start-up (CHAINCUT_TRACING_INDEX).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if tracing_index and services.settings.tracing_index != "scan":
            services.tracing.keep_resident(mapped=services.settings.tracing_index == "mapped")
            threading.Thread(target=_warm_up, args=(services,), name="tracing-index", daemon=True).start()
        if schedule_maintenance:
            interval = services.settings.maintenance_interval_seconds
            tasks.append(asyncio.create_task(_maintenance_loop(_app.state, interval)))
        if schedule_maintenance if schedule_ballot is None else schedule_ballot:
            every = services.settings.ballot_draw_interval_seconds
            tasks.append(asyncio.create_task(_ballot_loop(_app.state, every)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="chaincut",
        version=__version__,
        summary="Contact tracing and border reopening for public-health authorities",
        lifespan=lifespan,
        # chaincut configures no OpenTelemetry exporter: without this FastAPI looks for one on
        # every request (a few per cent of a booking's CPU, bench/border_burst.py), and its logs
        # would record exception messages, which must never carry personal data.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.services = services
    install_error_handlers(app)
    install_page_errors(app, SECURITY_HEADERS)
    # Requests are matched against the routes in this order, one by one: the hot paths (check-ins,
    # border bookings when they open) come first (bench/border_burst.py: matching past fifty
    # routes was a tenth of a booking's CPU).
    for router in (status.router, checkins.router, border.router, people.router, venues.router):
        app.include_router(router)
    app.include_router(people.enrolment_router)
    app.include_router(cases.router)
    app.include_router(orders.router)
    app.include_router(follow_ups.router)
    app.include_router(tracing.router)
    app.include_router(reports.router)
    app.include_router(auth.router)
    app.include_router(staff.router)
    app.include_router(subjects.router)
    app.include_router(clearances.router)
    app.include_router(code_keys.router)
    app.include_router(signed_codes.router)
    app.include_router(codes.router)
    app.include_router(analytics.router)
    app.include_router(clusters.router)
    app.include_router(presence.router)
    app.include_router(web.router)
    app.add_middleware(SecurityHeaders)
    check_every_route_guarded(app)
    return app
