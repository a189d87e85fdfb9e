"""Commands over the store's data: import, status, purge, close-visits, synth."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from chaincut.access.audit import event_for
from chaincut.bootstrap import Services
from chaincut.cli.console import byte_progress, console, err, print_json, services, step_progress
from chaincut.cli.users import operator
from chaincut.errors import ImportRejected
from chaincut.tracing.case_import import import_cases
from chaincut.tracing.link_import import import_links
from chaincut.whereabouts import importing

__all__ = ["close_visits", "import_file", "purge", "status", "synth"]


class ImportKind(enum.StrEnum):
    people = "people"
    venues = "venues"
    visits = "visits"
    encounters = "encounters"
    cases = "cases"
    links = "links"
    hk_cases = "hk-cases"
    hk_buildings = "hk-buildings"
    hk_clusters = "hk-clusters"


class OnError(enum.StrEnum):
    abort = "abort"
    skip = "skip"


def import_file(
    kind: Annotated[ImportKind, typer.Argument(help="what the file holds")],
    file: Annotated[Path, typer.Argument(help="a CSV, JSON Lines or Parquet file")],
    on_error: Annotated[
        OnError, typer.Option(help="abort: store nothing if any row is bad; skip: store good rows")
    ] = OnError.abort,
    rejects: Annotated[
        Path | None, typer.Option(help="with --on-error skip: write each rejected row and why here")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Import people, venues, visits, encounters, cases, links (who infected whom), or Hong Kong's data."""
    if rejects is not None and on_error is OnError.abort:
        raise typer.BadParameter("--rejects needs --on-error skip", param_hint="--rejects")
    with services() as svc:
        try:
            with byte_progress(f"importing {kind.value}", quiet=quiet) as progress:
                options = importing.ImportOptions(
                    on_error=on_error.value, rejects=rejects, progress=progress, actor=operator().name
                )
                report = _run_import(svc, kind, file, options)
            svc.audit.record(
                event_for(
                    operator(),
                    "import",
                    kind.value,
                    record=file.name[:200],
                    details={
                        "stored": report.stored,
                        "rejected": report.rejected,
                        "duplicates": report.duplicates,
                        "import_id": report.import_id,
                    },
                )
            )
        except (ImportRejected, importing.ImportFileError) as exc:
            # str() of a file error names the file and line, which .message leaves out; soft
            # wrap keeps the error on one line however narrow the terminal (or a log file) is.
            text = exc.message if isinstance(exc, ImportRejected) else str(exc)
            err.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)
            for problem in exc.errors[1:10] if isinstance(exc, ImportRejected) else ():
                err.print(f"  {problem.render()}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
    if json_output:
        print_json(report.__dict__)
        return
    line = f"{kind.value}: read {report.read:,}, stored {report.stored:,}"
    if report.already_present:
        line += f", already present {report.already_present:,}"
    if report.clipped:
        line += f", clipped to the longest believable stay {report.clipped:,}"
    if report.duplicates:
        line += f", duplicates skipped {report.duplicates:,}"
    if report.rejected:
        line += f", rejected {report.rejected:,}"
        if report.rejects_path:
            line += f" (see {report.rejects_path})"
    if report.import_id is not None:
        line += f"; import {report.import_id}"
    console.print(line, highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"  {note}", highlight=False, soft_wrap=True)


def _run_import(
    svc: Services, kind: ImportKind, file: Path, options: importing.ImportOptions
) -> importing.ImportReport:
    store, policy, clock = svc.store, svc.policy, svc.clock
    if kind is ImportKind.people:
        return importing.import_people(store, svc.hasher, clock, file, options)
    if kind is ImportKind.venues:
        return importing.import_venues(store, policy, clock, file, options)
    if kind is ImportKind.visits:
        return importing.import_visits(store, policy, clock, file, options)
    if kind is ImportKind.encounters:
        return importing.import_encounters(store, policy, clock, file, options)
    if kind is ImportKind.cases:
        return import_cases(store, policy, clock, svc.settings.zone, file, options, actor="cli-import")
    if kind is ImportKind.links:
        return import_links(store, file, options)
    if kind is ImportKind.hk_cases:
        return importing.import_hk_cases(store, clock, file, options)
    if kind is ImportKind.hk_buildings:
        return importing.import_hk_buildings(store, clock, file, options)
    return importing.import_hk_clusters(store, clock, file, options)


def status(
    json_output: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False,
) -> None:
    """How many people, venues, visits, encounters and cases are stored."""
    with services() as svc:
        counts = svc.store.counts()
        backend = svc.db.backend
    if json_output:
        print_json(counts.__dict__)
        return
    console.print(f"store: {backend}")
    for name, value in counts.__dict__.items():
        console.print(f"  {name:<11} {value:>14,}")


def purge(
    json_output: Annotated[bool, typer.Option("--json", help="print the purges as JSON")] = False,
) -> None:
    """Delete visits and encounters older than the policy's retention, and record the purge."""
    with services() as svc:
        records = svc.purge_expired()
        zone = svc.settings.zone
    if json_output:
        print_json([r.__dict__ for r in records])
        return
    for r in records:
        console.print(
            f"purged {r.deleted:,} {r.kind} that ended before "
            f"{r.cutoff.astimezone(zone):%Y-%m-%d %H:%M %Z} "
            f"(policy {r.policy_version})",
            highlight=False,
        )


def close_visits() -> None:
    """Close visits nobody checked out of once their venue type's default stay has passed."""
    with services() as svc:
        closed = svc.checkins.close_stale_visits()
    console.print(closed.describe(), highlight=False)


def synth(
    out: Annotated[Path, typer.Option(help="folder for the Parquet files")],
    people: Annotated[int, typer.Option(min=10, help="residents")] = 50_000,
    venues: Annotated[int, typer.Option(min=10, help="venues")] = 2_000,
    days: Annotated[int, typer.Option(min=1, max=31, help="days of check-ins")] = 14,
    checkins_per_day: Annotated[int, typer.Option(min=1, help="check-ins per day")] = 65_000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same city")] = 1,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Write a synthetic city (people, households, venues, visits, encounters) as Parquet."""
    from chaincut.whereabouts.synth import CityParameters, synthesize_city

    params = CityParameters(
        people=people, venues=venues, days=days, checkins_per_day=checkins_per_day, seed=seed
    )
    with step_progress(quiet=quiet) as progress:
        summary = synthesize_city(params, out, end=datetime.now(UTC), progress=progress)
    console.print(
        f"wrote {summary.people:,} people, {summary.households:,} households, "
        f"{summary.venues:,} venues, {summary.visits:,} visits, {summary.encounters:,} encounters "
        f"to {out}",
        highlight=False,
    )
