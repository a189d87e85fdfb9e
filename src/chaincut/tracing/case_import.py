"""Bulk import of cases (``chaincut import cases FILE``), by the rules of registration.

Columns: ``ref``, ``person`` (a registered person's ref) and ``classification`` are
required; ``status`` (confirmed when absent), ``onset_on``, ``specimen_on``,
``reported_on`` (today when absent), ``isolated_at`` and ``linked_case`` (the ref of the case
this one was infected by or linked to: registered already, or earlier in the file, as
published lists put infectors first) are optional. Dates are local
calendar dates written ``YYYY-MM-DD`` (or Parquet dates); ``isolated_at`` is an instant
with a UTC offset or Unix seconds, as elsewhere in imports. Each row is checked as
``CaseRegistry.register`` checks a case; a ref already stored, or twice in the file,
is an error on its line. All-or-nothing unless told to skip bad rows.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.tracing.cases import CaseDraft, CaseProblem, check_case_fields
from chaincut.whereabouts.importing import ImportOptions, ImportReport
from chaincut.whereabouts.importing.outcome import ImportRun
from chaincut.whereabouts.importing.readers import RowError, read_rows
from chaincut.whereabouts.importing.timestamps import describe_instant_error, parse_instants

__all__ = ["CASE_COLUMNS", "import_cases", "parse_case_date"]

_REQUIRED = ["ref", "person", "classification"]
_OPTIONAL = ["status", "onset_on", "specimen_on", "reported_on", "isolated_at", "linked_case"]
CASE_COLUMNS = (*_REQUIRED, *_OPTIONAL)
_DATES = ("onset_on", "specimen_on", "reported_on")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BATCH_ROWS = 50_000


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_case_date(value: Any, field: str) -> tuple[date | None, CaseProblem | None]:
    """A local date written YYYY-MM-DD (or a Parquet date) in ``field``; None when blank."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value, None
    text = _text(value)
    if text is None:
        return None, None
    if isinstance(value, str) and _ISO_DATE.match(text):
        try:
            return date.fromisoformat(text), None
        except ValueError:
            pass
    return None, CaseProblem(field, f"expected a date as YYYY-MM-DD, got {text[:40]!r}")


def _column(columns: dict[str, pa.Array], name: str, n: int) -> list[Any]:
    return columns[name].to_pylist() if name in columns else [None] * n


class _Instants:
    """A column of instants (``isolated_at``) parsed once per batch."""

    def __init__(self, column: pa.Array | None, n: int) -> None:
        if column is None:
            self._text: list[Any] = [None] * n
            self._seconds, self._ok = np.zeros(n, np.int64), np.zeros(n, np.bool_)
        else:
            self._text = column.to_pylist()
            self._seconds, self._ok = parse_instants(column)

    def at(self, i: int) -> tuple[datetime | None, CaseProblem | None]:
        if _text(self._text[i]) is None:
            return None, None
        if self._ok[i]:
            try:
                return from_epoch(int(self._seconds[i])), None
            except (ValueError, OverflowError, OSError):  # Unix seconds past the year 9999
                return None, CaseProblem("isolated_at", "expected a time between the years 1 and 9999")
        return None, CaseProblem("isolated_at", describe_instant_error(str(self._text[i])))


def _draft(values: dict[str, list[Any]], i: int, isolated: _Instants) -> tuple[CaseDraft, list[CaseProblem]]:
    """The row as a draft, and the problems of values that do not even parse."""
    problems: list[CaseProblem] = []
    dates: dict[str, date | None] = {}
    for name in _DATES:
        dates[name], problem = parse_case_date(values[name][i], name)
        if problem:
            problems.append(problem)
    isolated_at, problem = isolated.at(i)
    if problem:
        problems.append(problem)
    draft = CaseDraft(
        ref=_text(values["ref"][i]) or "",
        person=_text(values["person"][i]) or "",
        classification=_text(values["classification"][i]) or "",
        status=_text(values["status"][i]) or CaseStatus.CONFIRMED.value,
        onset_on=dates["onset_on"],
        specimen_on=dates["specimen_on"],
        reported_on=dates["reported_on"],
        isolated_at=isolated_at,
    )
    return draft, problems


def _link_problems(ref: str, linked: str, stored: dict[str, int], earlier: set[str]) -> list[CaseProblem]:
    """Why a row's ``linked_case`` cannot be stored (none when it can)."""
    if linked == ref:
        return [CaseProblem("linked_case", "a case cannot be linked to itself")]
    if linked not in stored and linked not in earlier:
        return [
            CaseProblem(
                "linked_case",
                f"no case {linked[:40]!r} is registered or comes earlier in the file",
            )
        ]
    return []


def import_cases(
    store: Store,
    policy: Policy,
    clock: Clock,
    zone: ZoneInfo,
    path: Path,
    options: ImportOptions,
    *,
    actor: str = "import",
) -> ImportReport:
    """Load a cases file; ``actor`` is recorded as the creator of every case stored."""
    now = clock.now()
    created_at = to_epoch(now)
    today = now.astimezone(zone).date()
    seen: set[str] = set()
    with ImportRun("cases", path, options) as run, store.write() as uow:
        for batch in read_rows(
            path, required=_REQUIRED, optional=_OPTIONAL, batch_rows=_BATCH_ROWS, broken=run.broken
        ):
            n = batch.num_rows
            values = {name: _column(batch.columns, name, n) for name in CASE_COLUMNS if name != "isolated_at"}
            isolated = _Instants(batch.columns.get("isolated_at"), n)
            refs = [_text(r) for r in values["ref"]]
            persons = [_text(p) for p in values["person"]]
            stored_refs = set(uow.cases.ids_for([r for r in refs if r]))
            linked_refs = [_text(r) for r in values["linked_case"]]
            stored_links = uow.cases.ids_for(sorted({r for r in linked_refs if r}))
            links: list[tuple[str, str]] = []  # (case, linked case) of the cases stored from this batch
            person_ids = uow.people.ids_for_refs(sorted({p for p in persons if p}))
            ready: list[Case] = []
            for i in range(n):
                draft, problems = _draft(values, i, isolated)
                if not problems:
                    problems = check_case_fields(draft, policy, zone, now)
                if not problems and draft.person not in person_ids:
                    problems = [CaseProblem("person", "unknown person reference")]
                if not problems and draft.ref in seen:
                    problems = [CaseProblem("ref", "appears twice in this file")]
                if not problems and draft.ref in stored_refs:
                    problems = [CaseProblem("ref", "a case with this ref is already registered")]
                linked = linked_refs[i]
                if not problems and linked is not None:
                    problems = _link_problems(draft.ref, linked, stored_links, seen)
                if problems:
                    first = problems[0]
                    run.triage(RowError(int(batch.lines[i]), first.field, first.message, batch.raw_text(i)))
                    continue
                seen.add(draft.ref)
                if linked is not None:
                    links.append((draft.ref, linked))
                ready.append(
                    Case(
                        ref=draft.ref,
                        person_id=person_ids[draft.person],
                        status=CaseStatus(draft.status),
                        classification=CaseClassification(draft.classification),
                        reported_on=draft.reported_on or today,
                        onset_on=draft.onset_on,
                        specimen_on=draft.specimen_on,
                        isolated_at=draft.isolated_at,
                        created_by=actor,
                        policy_version=policy.version,
                    )
                )
            uow.cases.add_many(ready, created_at)
            if links:
                ids = uow.cases.ids_for(sorted({ref for link in links for ref in link}))
                uow.cases.set_links([(ids[case], ids[linked]) for case, linked in links])
            run.read(n, batch.bytes_read)
            run.report.stored += len(ready)
        run.triage.raise_if_any()
    return run.report
