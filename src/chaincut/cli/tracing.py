"""``chaincut trace``: a case's contacts, a person's over a window, or a whole day's cases."""

from __future__ import annotations

import enum
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.bootstrap import Services
from chaincut.cli.console import console, print_json, services, step_progress
from chaincut.cli.users import operator
from chaincut.domain.access import Permission
from chaincut.errors import NotFound
from chaincut.policy import load_policy
from chaincut.runtime import tune_allocator
from chaincut.store import Store
from chaincut.tracing.columns import ContactTable, EvidenceTable
from chaincut.tracing.service import Trace, TracingService, load_engine_behind

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
    purpose: Annotated[
        str, typer.Option(help="why you trace: recorded in the audit log with your name")
    ] = "contact tracing from the command line",
) -> None:
    """Find contacts, with the evidence for each, under the active policy (audited)."""
    chosen = [x for x in (case, person, reported_on) if x is not None]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --case, --person or --reported-on")
    as_json = json_output or output_format is OutputFormat.json
    load_engine_behind()  # the engine's compiled loops load while the store opens
    with services() as svc:
        zone = svc.settings.zone
        _audit(svc, case=case, person=person, reported_on=reported_on, purpose=purpose)
        if reported_on is not None:
            tune_allocator()  # a day's trace allocates many large arrays: keep freed memory for reuse
            _batch(svc.tracing, svc.store, reported_on.date(), out, as_json)
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


def _audit(
    svc: Services, *, case: str | None, person: str | None, reported_on: datetime | None, purpose: str
) -> None:
    """Record the trace in the audit log before anything is read (CLI callers are operators)."""
    who = operator()
    try:
        if case is not None:
            svc.records.case(who, case, action=Permission.WHEREABOUTS_READ, purpose=purpose)
        elif person is not None:
            svc.records.person(who, person, action=Permission.WHEREABOUTS_READ, purpose=purpose)
    except NotFound:
        what = f"case {case!r}" if case is not None else f"person {person!r}"
        raise NotFound(f"no {what}", field="case" if case is not None else "person") from None
    if case is not None or person is not None:
        return
    assert reported_on is not None
    day = reported_on.date().isoformat()
    svc.audit.record(
        event_for(who, Permission.WHEREABOUTS_READ, "cases", record=f"reported_on={day}", purpose=purpose)
    )


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


def _batch(tracing: TracingService, store: Store, day: date, out: Path | None, as_json: bool) -> None:
    writer: _ContactsWriter | None = None
    if out is not None:
        with store.read() as uow:  # the same cases, in the same order, as trace_reported_on
            cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
        writer = _ContactsWriter(store, [c.ref for c in cases], out)
    started = time.perf_counter()
    try:
        with step_progress(quiet=as_json) as progress:
            batch = tracing.trace_reported_on(
                day,
                keep_contacts=False,
                on_chunk=None if writer is None else writer.write,
                on_progress=progress,
            )
    finally:
        if writer is not None:
            writer.close()
    summary: dict[str, object] = {
        "reported_on": day.isoformat(),
        "cases": len(batch.case_refs),
        "contacts": batch.contact_count,
        "evidence": batch.evidence_count,
        "close": batch.close,
        "exposed": batch.exposed,
        "seconds": round(time.perf_counter() - started, 2),
        "policy_version": batch.policy_version,
    }
    if out is not None:
        summary["out"] = str(out)
    if as_json:
        print_json(summary)
    else:
        console.print(summary)


class _ContactsWriter:
    """Writes each chunk's contacts to one Parquet file, with the case's and person's refs."""

    def __init__(self, store: Store, case_refs: list[str], path: Path) -> None:
        with store.read() as uow:
            index = uow.people.ref_index().sort_by("id")
        self._case_refs = pa.array(case_refs, pa.string())
        self._ids = index["id"].to_numpy()
        self._refs = index["ref"]
        self._path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, evidence: EvidenceTable, contacts: ContactTable) -> None:
        del evidence  # the contacts carry what a list needs; the evidence stays in the trace
        person = self._refs.take(pa.array(np.searchsorted(self._ids, contacts.person)))
        via = self._refs.take(pa.array(np.searchsorted(self._ids, contacts.via)))
        table = pa.table(
            {
                "case": self._case_refs.take(pa.array(contacts.root)),
                "person": person,
                "tier": pa.array(np.where(contacts.tier == 2, "close", "exposed")),
                "generation": contacts.generation,
                "minutes": np.round(contacts.seconds / 60, 2),
                "via": via,
                "first_exposure": pa.array(contacts.first_start * 1000, pa.timestamp("ms", tz="UTC")),
                "last_exposure": pa.array(contacts.last_end * 1000, pa.timestamp("ms", tz="UTC")),
            }
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
