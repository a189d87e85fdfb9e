"""``chaincut trace``: a case's contacts, a person's over a window, or a whole day's cases."""

from __future__ import annotations

import enum
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

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
from chaincut.tracing.batch_files import BatchFiles
from chaincut.tracing.service import Trace, TracingService, load_engine_behind

__all__ = ["trace"]


class Engine(enum.StrEnum):
    embedded = "embedded"
    spark = "spark"


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
        str | None,
        typer.Option(
            help="with --reported-on: write the contacts to this Parquet file (Spark: folder or URI)"
        ),
    ] = None,
    evidence_out: Annotated[
        str | None,
        typer.Option("--evidence-out", help="with --reported-on: write every piece of evidence here too"),
    ] = None,
    engine: Annotated[
        Engine, typer.Option(help="with --reported-on: trace here, or as a Spark job (chaincut[spark])")
    ] = Engine.embedded,
    master: Annotated[
        str | None,
        typer.Option(help="with --engine spark: local[2], spark://host:7077, yarn... (default: local[*])"),
    ] = None,
    archive: Annotated[
        str | None,
        typer.Option(
            help="with --engine spark: the store's archive where executors read it (s3a://, hdfs://)"
        ),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option("--spark-conf", help="with --engine spark: a Spark setting KEY=VALUE (repeatable)"),
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
    spark = _spark_options(engine, reported_on, out, master, archive, spark_conf)
    if evidence_out is not None and out is None:
        raise typer.BadParameter("--evidence-out needs --out", param_hint="--evidence-out")
    if spark is None:
        load_engine_behind()  # the engine's compiled loops load while the store opens
    with services() as svc:
        zone = svc.settings.zone
        if spark is not None:
            from chaincut.tracing.spark import require_spark

            require_spark()  # before anything is read: say what to install
        _audit(svc, case=case, person=person, reported_on=reported_on, purpose=purpose)
        if reported_on is not None and spark is not None:
            assert out is not None
            _on_spark(svc, reported_on.date(), spark, out, evidence_out, as_json)
            return
        if reported_on is not None:
            tune_allocator()  # a day's trace allocates many large arrays: keep freed memory for reuse
            contacts_to = None if out is None else Path(out)
            evidence_to = None if evidence_out is None else Path(evidence_out)
            _batch(svc.tracing, svc.store, reported_on.date(), contacts_to, evidence_to, as_json)
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


@dataclass(frozen=True)
class _SparkOptions:
    master: str | None
    archive: str | None
    settings: dict[str, str]


def _spark_options(
    engine: Engine,
    reported_on: datetime | None,
    out: str | None,
    master: str | None,
    archive: str | None,
    spark_conf: list[str] | None,
) -> _SparkOptions | None:
    """The Spark job's options (None: the embedded engine), checked against each other."""
    if engine is Engine.embedded:
        for name, value in (("--master", master), ("--archive", archive), ("--spark-conf", spark_conf)):
            if value:
                raise typer.BadParameter("only with --engine spark", param_hint=name)
        return None
    if reported_on is None:
        raise typer.BadParameter(
            "--engine spark traces a day's cases: give --reported-on", param_hint="--engine"
        )
    if out is None:
        raise typer.BadParameter(
            "--engine spark writes the contacts to a file: give --out", param_hint="--out"
        )
    settings: dict[str, str] = {}
    for item in spark_conf or []:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--spark-conf")
        settings[key.strip()] = value
    return _SparkOptions(master, archive, settings)


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


def _batch(
    tracing: TracingService,
    store: Store,
    day: date,
    out: Path | None,
    evidence_out: Path | None,
    as_json: bool,
) -> None:
    started = time.perf_counter()
    with store.read() as uow:  # the same cases, in the same order, as trace_reported_on
        cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
    files = (
        nullcontext(None)
        if out is None
        else BatchFiles(store, [c.ref for c in cases], tracing.rules(), out, evidence_out)
    )
    with files as writer, step_progress(quiet=as_json) as progress:
        batch = tracing.trace_cases(
            cases,
            keep_contacts=False,
            on_chunk=None if writer is None else writer.write,
            on_progress=progress,
        )
    summary: dict[str, object] = {
        "reported_on": day.isoformat(),
        "engine": Engine.embedded.value,
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
    if evidence_out is not None:
        summary["evidence_out"] = str(evidence_out)
    _print_summary(summary, as_json)


def _on_spark(
    svc: Services,
    day: date,
    options: _SparkOptions,
    out: str,
    evidence_out: str | None,
    as_json: bool,
) -> None:
    from chaincut.tracing.spark.job import spark_session, trace_on_spark

    started = time.perf_counter()
    with svc.store.read() as uow:
        cases, _ = uow.cases.list(reported_from=day, reported_to=day, limit=10**9)
    with step_progress(quiet=as_json) as progress:
        progress(_STARTING, 0, 1)
        spark = spark_session(options.master, options.settings)
        progress(_STARTING, 1, 1)
        result = trace_on_spark(
            spark,
            svc.tracing,
            svc.store,
            cases,
            out=out,
            evidence_out=evidence_out,
            archive=options.archive,
            on_progress=progress,
        )
    summary: dict[str, object] = {
        "reported_on": day.isoformat(),
        "engine": Engine.spark.value,
        "master": spark.sparkContext.master,
        "cases": len(result.case_refs),
        "contacts": result.contact_count,
        "close": result.close,
        "exposed": result.exposed,
        "seconds": round(time.perf_counter() - started, 2),
        "policy_version": result.policy_version,
        "out": result.out,
    }
    if result.evidence_out is not None:
        summary["evidence"] = result.evidence_count
        summary["evidence_out"] = result.evidence_out
    _print_summary(summary, as_json)


_STARTING = "starting Spark"


def _print_summary(summary: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(summary)
    else:
        console.print(summary)
