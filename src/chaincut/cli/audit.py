"""Commands for the audit log: verify the chain, and reports per staff member, person or flag."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.cli.console import console, err, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.audit import AuditRecord

__all__ = ["report", "verify"]


def verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the audit log's hash chain; exit status 1, naming where it breaks, if it was tampered with.

    The chain must still hold the head anchored in CHAINCUT_DATA_DIR/audit-anchor.json by the
    last successful check; an intact chain moves the anchor on to its current head.
    """
    with services() as wired:
        result = wired.audit.verify()
        if result.intact:
            wired.audit.anchor()
    if as_json:
        print_json(
            {
                "intact": result.intact,
                "checked": result.checked,
                "last_seq": result.last_seq,
                "breaks": [{"seq": b.seq, "problem": b.problem} for b in result.breaks],
            }
        )
    elif result.intact:
        console.print(f"audit log intact: {result.checked:,} entries, up to #{result.last_seq:,}")
    else:
        err.print(f"[red]audit log broken[/red] after checking {result.checked:,} entries:")
        for b in result.breaks:
            err.print(f"  at #{b.seq}: {b.problem}", highlight=False)
    if not result.intact:
        raise typer.Exit(1)


def _row(r: AuditRecord) -> dict[str, object]:
    e = r.event
    return {
        "seq": r.seq,
        "at": r.at.isoformat(),
        "actor": e.actor,
        "roles": e.roles,
        "action": e.action,
        "resource": e.resource,
        "record": e.record,
        "purpose": e.purpose,
        "outcome": e.outcome,
        "flags": list(e.flags),
        "details": dict(e.details),
    }


def report(
    staff: Annotated[str | None, typer.Option(help="a staff member's username")] = None,
    person: Annotated[str | None, typer.Option(help="a person's ref: every access to their data")] = None,
    flag: Annotated[
        str | None, typer.Option(help="e.g. manual_status_change, personal_export, denied")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Audit entries about one staff member, one person, or with one flag."""
    if sum(x is not None for x in (staff, person, flag)) != 1:
        raise typer.BadParameter("give exactly one of --staff, --person or --flag")
    with services() as wired:
        if staff is not None:
            found = wired.audit.by_actor(f"staff:{staff}", limit=limit)
        elif person is not None:
            found = wired.audit.about_person(person, limit=limit)
        else:
            assert flag is not None
            found = wired.audit.flagged(flag, limit=limit)
        wired.audit.record(event_for(operator(), "audit.read", "audit", record=staff or person or flag or ""))
    if as_json:
        print_json([_row(r) for r in found])
        return
    table = Table("#", "at (UTC)", "who", "action", "record", "purpose", "outcome", "flags")
    for r in found:
        e = r.event
        table.add_row(
            str(r.seq),
            r.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.record,
            e.purpose,
            e.outcome,
            ",".join(e.flags),
        )
    console.print(table)
