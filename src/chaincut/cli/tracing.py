"""``chaincut trace``: a case's contacts, a person's over a window, or a whole day's cases."""

from __future__ import annotations

import enum
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.table import Table

from chaincut.cli.console import console, print_json, services
from chaincut.policy import load_policy
from chaincut.tracing.service import Trace

__all__ = ["trace"]


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


def _aware(value: datetime | None, option: str, zone: object) -> datetime:
    if value is None:
        raise typer.BadParameter("needed with --person", param_hint=option)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)  # type: ignore[arg-type]


def trace(
    case: Annotated[str | None, typer.Option("--case", help="a case's reference")] = None,
    person: Annotated[str | None, typer.Option("--person", help="a person's reference")] = None,
    start: Annotated[
        datetime | None, typer.Option("--from", help="window start (local time unless an offset is given)")
    ] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="window end")] = None,
    reported_on: Annotated[
        datetime | None,
        typer.Option("--reported-on", formats=["%Y-%m-%d"], help="trace every case reported that day"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="with --reported-on: write contacts to this Parquet file")
    ] = None,
    compare_policy: Annotated[
        Path | None, typer.Option("--compare-policy", help="with --case: show what this policy would change")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """Find contacts, with the evidence for each, under the active policy."""
    chosen = [x for x in (case, person, reported_on) if x is not None]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --case, --person or --reported-on")
    as_json = json_output or output_format is OutputFormat.json
    with services() as svc:
        zone = svc.settings.zone
        if reported_on is not None:
            _batch(svc.tracing, reported_on.date(), out, as_json)
            return
        if compare_policy is not None:
            if case is None:
                raise typer.BadParameter("--compare-policy needs --case")
            changes = svc.tracing.compare(case, load_policy(compare_policy))
            rows = [
                {
                    "person": c.person_ref,
                    "before": c.before.value if c.before else None,
                    "after": c.after.value if c.after else None,
                    "minutes_before": c.minutes_before,
                    "minutes_after": c.minutes_after,
                }
                for c in changes
            ]
            if as_json:
                print_json({"case": case, "changes": rows})
            else:
                table = Table(title=f"{len(rows)} contacts change under {compare_policy}")
                for column in ("person", "before", "after", "minutes before", "minutes after"):
                    table.add_column(column)
                for r in rows:
                    table.add_row(*(str(v if v is not None else "-") for v in r.values()))
                console.print(table)
            return
        if case is not None:
            result = svc.tracing.trace_case(case)
        else:
            assert person is not None
            result = svc.tracing.trace_person(
                person, _aware(start, "--from", zone), _aware(end, "--to", zone)
            )
        if as_json:
            print_json(result.to_json(zone))
        else:
            _table(result, zone)


def _table(result: Trace, zone: object) -> None:
    doc = result.to_json(zone)  # type: ignore[arg-type]
    window = doc["window"]
    title = f"{doc['count']} contacts of {doc['case'] or doc['index_person']}"
    if window:
        title += f", window {window['start']} to {window['end']}"
    table = Table(title=title, caption=f"policy {doc['policy']['version']} ({doc['policy']['digest']})")
    for column in ("person", "tier", "gen", "minutes", "evidence"):
        table.add_column(column)
    for c in doc["contacts"]:
        evidence = "; ".join(
            f"{e['kind']} {e.get('venue') or ''} {e['minutes']} min ({e['rule']})".replace("  ", " ")
            for e in c["evidence"]
        )
        table.add_row(c["person"], c["tier"], str(c["generation"]), f"{c['minutes']:.1f}", evidence)
    console.print(table)


def _batch(tracing: object, day: date, out: Path | None, as_json: bool) -> None:
    from chaincut.tracing.service import TracingService

    assert isinstance(tracing, TracingService)
    started = time.perf_counter()
    with console.status(f"tracing every case reported on {day.isoformat()}"):
        batch = tracing.trace_reported_on(day)
    seconds = time.perf_counter() - started
    contacts = batch.contacts
    summary = {
        "reported_on": day.isoformat(),
        "cases": len(batch.case_refs),
        "contacts": len(contacts),
        "evidence": len(batch.evidence),
        "close": int((contacts.tier == 2).sum()),
        "exposed": int((contacts.tier == 1).sum()),
        "seconds": round(seconds, 2),
        "policy_version": batch.policy_version,
    }
    if out is not None:
        refs = pa.array(batch.case_refs, pa.string())
        table = pa.table(
            {
                "case": refs.take(pa.array(contacts.root)),
                "person_id": contacts.person,
                "tier": pa.array(contacts.tier).cast(pa.int8()),
                "generation": contacts.generation,
                "seconds": contacts.seconds,
                "first_exposure": contacts.first_start,
                "last_exposure": contacts.last_end,
            }
        )
        pq.write_table(table, out, compression="zstd")
        summary["out"] = str(out)
    if as_json:
        print_json(summary)
    else:
        console.print(summary)
