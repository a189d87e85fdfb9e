"""Commands for health codes: refresh (the sweep for time-based changes) and show one person's code.

Each command acts as the operator (``CHAINCUT_STAFF``, else the OS user; audited as
``cli:<name>``). ``refresh`` also traces confirmed and probable cases that were never
traced for codes (a bulk ``chaincut import cases`` leaves them to it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.cli.console import console, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission
from chaincut.domain.health_codes import HealthCode

__all__ = ["refresh", "show"]

_RESIDENT_FROM = 20  # untraced cases above which the sweep holds the archive in memory


def _at(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return None if moment is None else moment.astimezone(zone).isoformat()


def _json(code: HealthCode, zone: ZoneInfo) -> dict[str, object]:
    def at(moment: datetime | None) -> str | None:
        return _at(moment, zone)

    return {
        "colour": code.colour,
        "reasons": [
            {"rule": r.rule, "colour": r.colour, "text": r.text, "until": at(r.until)} for r in code.reasons
        ],
        "until": at(code.until),
        "computed_at": at(code.computed_at),
        "policy_version": code.policy_version,
        "overridden": code.overridden,
    }


def refresh(
    everyone: Annotated[bool, typer.Option("--all", help="recompute every person's code")] = False,
    person: Annotated[str | None, typer.Option(help="recompute this person's code (their ref)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Recompute health codes: those whose reasons may have changed by now (default), everyone, or one."""
    if everyone and person is not None:
        raise typer.BadParameter("give --all or --person, not both", param_hint="--person")
    with services() as svc:
        if person is None and len(svc.codes.untraced_cases()) > _RESIDENT_FROM:
            # Many cases to trace (a bulk import): load the archive into memory once rather
            # than stream it for every case.
            svc.tracing.keep_resident(mapped=svc.settings.tracing_index == "mapped")
            svc.tracing.warm_up()
        if person is not None:
            svc.codes.refresh(person_ref=person)
            done = 1
        else:
            progress = Progress(
                TextColumn("recomputing codes"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=quiet,
            )
            with progress:
                task = progress.add_task("codes", total=None)

                def advance(finished: int, total: int) -> None:
                    progress.update(task, completed=finished, total=total)

                done = svc.codes.refresh(everyone=everyone, on_progress=advance)
        svc.audit.record(
            event_for(
                operator(),
                Permission.STATUS_CHANGE,
                "health_codes",
                record=person or ("all" if everyone else "due"),
                details={"recomputed": done},
            )
        )
    console.print(f"{done:,} codes recomputed")


def show(
    person: Annotated[str, typer.Option(help="the person's ref")],
    purpose: Annotated[str, typer.Option(help="why you read this person's code (audited)")] = "",
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a person's current health code with its reasons (recomputed first if due)."""
    with services() as svc:
        code = svc.codes.current(person)
        svc.audit.record(
            event_for(
                operator(),
                Permission.CODES_READ,
                "health_codes",
                record=person,
                purpose=purpose,
                subject_person_id=code.person_id,
            )
        )
        zone = svc.settings.zone
    if json_output:
        print_json(_json(code, zone))
        return
    table = Table(title=f"{person}: {code.colour}" + (" (overridden)" if code.overridden else ""))
    for column in ("rule", "colour", "reason", "until"):
        table.add_column(column)
    for r in code.reasons:
        table.add_row(r.rule, r.colour, r.text, _at(r.until, zone) or "")
    console.print(table)
    console.print(f"until {_at(code.until, zone) or '(a change of facts)'}; policy {code.policy_version}")
