"""Commands for cases: add, list, show, isolate.

Dates are local calendar dates (YYYY-MM-DD). A time typed without a UTC offset is
read in the local zone (CHAINCUT_LOCAL_TIMEZONE), as a tracer at the desk means it.
Each command acts as the operator (``CHAINCUT_STAFF``, else the OS user; recorded and
audited as ``cli:<name>``) and appends an audit entry, as the API does for its callers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.bootstrap import Services
from chaincut.cli.console import console, print_json, services
from chaincut.cli.users import operator
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.domain.access import Permission, Principal
from chaincut.tracing.cases import CaseDraft, CaseRecord

__all__ = ["add", "isolate", "list_cases", "show"]

_CLASSIFICATIONS = ", ".join(c.value for c in CaseClassification)
_STATUSES = ", ".join(s.value for s in CaseStatus)


def _audit(
    svc: Services, acting: Principal, action: Permission, record: str, case: Case | None = None
) -> None:
    svc.audit.record(
        event_for(
            acting, action, "cases", record=record, subject_person_id=None if case is None else case.person_id
        )
    )


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}", param_hint=option) from None


def _instant(value: str | None, option: str, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"expected a time like 2026-11-19T18:00 or 2026-11-19T18:00+08:00, got {value!r}",
            param_hint=option,
        ) from None
    return at.replace(tzinfo=zone) if at.tzinfo is None else at


def _local(at: datetime | None, zone: ZoneInfo) -> str | None:
    return None if at is None else at.astimezone(zone).isoformat()


def record_json(record: CaseRecord, zone: ZoneInfo) -> dict[str, Any]:
    """A case as ``--json`` prints it: local times with their offsets."""
    case, window = record.case, record.window
    return {
        "ref": case.ref,
        "person": record.person_ref,
        "status": case.status.value,
        "classification": case.classification.value,
        "onset_on": case.onset_on,
        "specimen_on": case.specimen_on,
        "reported_on": case.reported_on,
        "isolated_at": _local(case.isolated_at, zone),
        "linked_case": record.linked_case_ref,
        "window": {
            "start": _local(window.start, zone),
            "end": _local(window.end, zone),
            "ongoing": window.ongoing,
            "policy_version": window.policy_version,
        },
        "policy_version": case.policy_version,
        "created_at": _local(case.created_at, zone),
        "created_by": case.created_by,
    }


def _print_record(record: CaseRecord, zone: ZoneInfo) -> None:
    case, window = record.case, record.window

    def when(at: datetime) -> str:
        return f"{at.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    def day(value: date | None) -> str:
        return value.isoformat() if value else "-"

    console.print(
        f"case {case.ref}: {case.status.value}, {case.classification.value}; person {record.person_ref}"
        + (f"; linked to {record.linked_case_ref}" if record.linked_case_ref else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  onset {day(case.onset_on)}, specimen {day(case.specimen_on)}, reported {day(case.reported_on)}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  isolated {when(case.isolated_at)}" if case.isolated_at else "  not isolated",
        highlight=False,
        soft_wrap=True,
    )
    end = "now (not isolated)" if window.ongoing else when(window.end)
    console.print(
        f"  infectious window {when(window.start)} to {end} (policy {window.policy_version})",
        highlight=False,
        soft_wrap=True,
    )
    if case.created_by:
        console.print(
            f"  registered by {case.created_by} under policy {case.policy_version or '-'}",
            highlight=False,
            soft_wrap=True,
        )


def add(
    ref: Annotated[str, typer.Option(help="the authority's case number")],
    person: Annotated[str, typer.Option(help="the registered person's ref")],
    classification: Annotated[str, typer.Option(help=f"one of {_CLASSIFICATIONS}")],
    status: Annotated[str, typer.Option(help=f"one of {_STATUSES}")] = CaseStatus.CONFIRMED.value,
    onset: Annotated[str | None, typer.Option(help="symptom onset date, YYYY-MM-DD")] = None,
    specimen: Annotated[str | None, typer.Option(help="positive specimen date, YYYY-MM-DD")] = None,
    reported: Annotated[str | None, typer.Option(help="report date (default today)")] = None,
    isolated_at: Annotated[str | None, typer.Option(help="when the case was isolated")] = None,
    linked_case: Annotated[str | None, typer.Option(help="ref of the case this one is linked to")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the case as JSON")] = False,
) -> None:
    """Register a confirmed, probable or suspected case."""
    onset_on, specimen_on = _date(onset, "--onset"), _date(specimen, "--specimen")
    reported_on = _date(reported, "--reported")
    with services() as svc:
        registry = svc.cases
        draft = CaseDraft(
            ref=ref,
            person=person,
            classification=classification,
            status=status,
            onset_on=onset_on,
            specimen_on=specimen_on,
            reported_on=reported_on,
            isolated_at=_instant(isolated_at, "--isolated-at", registry.zone),
            linked_case=linked_case,
        )
        acting = operator()
        case = registry.register(draft, acting.name)
        _audit(svc, acting, Permission.CASES_CREATE, case.ref, case)
        record = registry.describe([case])[0]
        zone = registry.zone
    if json_output:
        print_json(record_json(record, zone))
    else:
        _print_record(record, zone)


def list_cases(
    status: Annotated[str | None, typer.Option(help=f"one of {_STATUSES}")] = None,
    classification: Annotated[str | None, typer.Option(help=f"one of {_CLASSIFICATIONS}")] = None,
    reported_from: Annotated[str | None, typer.Option(help="first report date, YYYY-MM-DD")] = None,
    reported_to: Annotated[str | None, typer.Option(help="last report date, YYYY-MM-DD")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="print {data, count} as JSON")] = False,
) -> None:
    """List cases, latest reports first."""
    since, until = _date(reported_from, "--reported-from"), _date(reported_to, "--reported-to")
    with services() as svc:
        registry = svc.cases
        cases, count = registry.list(
            status=status,
            classification=classification,
            reported_from=since,
            reported_to=until,
            offset=offset,
            limit=limit,
        )
        records = registry.describe(cases)
        zone = registry.zone
        filters = (
            ("status", status),
            ("classification", classification),
            ("reported_from", since),
            ("reported_to", until),
        )
        listed = ",".join(f"{k}={v}" for k, v in filters if v is not None)
        _audit(svc, operator(), Permission.CASES_READ, listed)
    if json_output:
        print_json({"data": [record_json(r, zone) for r in records], "count": count})
        return
    table = Table(title=f"{count:,} cases")
    for column in ("ref", "person", "status", "classification", "onset", "specimen", "reported", "isolated"):
        table.add_column(column)
    for r in records:
        c = r.case
        table.add_row(
            c.ref,
            r.person_ref,
            c.status.value,
            c.classification.value,
            c.onset_on.isoformat() if c.onset_on else "",
            c.specimen_on.isoformat() if c.specimen_on else "",
            c.reported_on.isoformat() if c.reported_on else "",
            f"{c.isolated_at.astimezone(zone):%Y-%m-%d %H:%M}" if c.isolated_at else "",
        )
    console.print(table)


def show(
    ref: Annotated[str, typer.Argument(help="the case's ref")],
    json_output: Annotated[bool, typer.Option("--json", help="print the case as JSON")] = False,
) -> None:
    """Show a case and its infectious window under the policy."""
    with services() as svc:
        registry = svc.cases
        case = registry.get(ref)
        _audit(svc, operator(), Permission.CASES_READ, ref, case)
        record = registry.describe([case])[0]
        zone = registry.zone
    if json_output:
        print_json(record_json(record, zone))
    else:
        _print_record(record, zone)


def isolate(
    ref: Annotated[str, typer.Argument(help="the case's ref")],
    at: Annotated[str, typer.Option(help="when the case was isolated")],
    json_output: Annotated[bool, typer.Option("--json", help="print the case as JSON")] = False,
) -> None:
    """Record when a case was isolated, which closes its infectious window."""
    with services() as svc:
        registry = svc.cases
        when = _instant(at, "--at", registry.zone)
        assert when is not None
        acting = operator()
        case = registry.set_isolation(ref, when, acting.name)
        _audit(svc, acting, Permission.CASES_CREATE, ref, case)
        record = registry.describe([case])[0]
        zone = registry.zone
    if json_output:
        print_json(record_json(record, zone))
    else:
        _print_record(record, zone)
