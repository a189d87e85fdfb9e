"""Bulk import of transmission links (``chaincut import links FILE``): who infected whom.

Columns: ``infector`` and ``infectee`` (refs of registered cases) are required;
``infector_onset`` and ``infectee_onset`` (``YYYY-MM-DD`` local dates, or Parquet
dates) are optional. Each row links the infectee to its infector, as a tracer's
confirmed link does (``Case.linked_case_id``), for published pairs such as a health
authority's or a paper's. A row is refused, naming the column, when a case is not
registered, a case would infect itself or its own infector (a loop), the infectee is
already linked to another case or listed twice with different infectors, or an onset
differs from the one registered. An onset given for a case registered without one is
stored with the link (the report says how many). A link already stored counts as
already present. All-or-nothing unless told to skip bad rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from chaincut.store import Store, UnitOfWork
from chaincut.tracing.case_import import parse_case_date
from chaincut.whereabouts.importing import ImportOptions, ImportReport
from chaincut.whereabouts.importing.outcome import ImportRun
from chaincut.whereabouts.importing.readers import RowError, read_rows

__all__ = ["LINK_COLUMNS", "import_links"]

_REQUIRED = ["infector", "infectee"]
_OPTIONAL = ["infector_onset", "infectee_onset"]
LINK_COLUMNS = (*_REQUIRED, *_OPTIONAL)
_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class _Registered:
    id: int
    linked_id: int | None
    onset_on: date | None


class _Links:
    """The links as they will stand: those stored, and those this file sets (by case id)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._set: dict[int, int] = {}

    def infector_of(self, case_id: int) -> int | None:
        if case_id in self._set:
            return self._set[case_id]
        case = self._uow.cases.get(case_id)
        return None if case is None else case.linked_case_id

    def makes_loop(self, infectee: int, infector: int) -> bool:
        """Whether the infectee is among the infector's infectors (or is the infector)."""
        seen: set[int] = set()
        current: int | None = infector
        while current is not None and current not in seen:
            if current == infectee:
                return True
            seen.add(current)
            current = self.infector_of(current)
        return False

    def add(self, infectee: int, infector: int) -> None:
        self._set[infectee] = infector


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _row_problem(
    values: dict[str, list[Any]],
    i: int,
    registered: dict[str, _Registered],
    links: _Links,
    onsets: dict[int, date],
) -> tuple[str, str] | None:
    """The first problem of row ``i`` as (column, message), or None."""
    refs: dict[str, str] = {}
    for column in _REQUIRED:
        ref = _text(values[column][i])
        if ref is None:
            return column, "expected a case ref"
        if ref not in registered:
            return column, f"no case {ref[:40]!r} is registered"
        refs[column] = ref
    infector, infectee = registered[refs["infector"]], registered[refs["infectee"]]
    if infector.id == infectee.id:
        return "infector", "a case cannot infect itself"
    for column, case in (("infector_onset", infector), ("infectee_onset", infectee)):
        given, problem = parse_case_date(values[column][i], column)
        if problem is not None:
            return problem.field, problem.message
        held = case.onset_on or onsets.get(case.id)
        if given is not None and held is not None and given != held:
            return column, f"the case's onset is {held.isoformat()}, not {given.isoformat()}"
    current = links.infector_of(infectee.id)
    if current is not None and current != infector.id:
        return "infectee", "this case is already linked to another case"
    if current is None and links.makes_loop(infectee.id, infector.id):
        return "infectee", "this case is among its infector's infectors: the link would make a loop"
    return None


def import_links(store: Store, path: Path, options: ImportOptions) -> ImportReport:
    """Load a links file; see the module's docstring for the rules."""
    with ImportRun("links", path, options) as run, store.write() as uow:
        links = _Links(uow)
        onsets: dict[int, date] = {}  # onsets this file gives cases registered without one
        for batch in read_rows(
            path, required=_REQUIRED, optional=_OPTIONAL, batch_rows=_BATCH_ROWS, broken=run.broken
        ):
            n = batch.num_rows
            values = {
                name: batch.columns[name].to_pylist() if name in batch.columns else [None] * n
                for name in LINK_COLUMNS
            }
            refs = sorted({r for name in _REQUIRED for r in map(_text, values[name]) if r is not None})
            registered = {
                ref: _Registered(case.id, case.linked_case_id, case.onset_on)
                for ref, case in uow.cases.by_refs(refs).items()
                if case.id is not None
            }
            new_links: list[tuple[int, int]] = []
            for i in range(n):
                problem = _row_problem(values, i, registered, links, onsets)
                if problem is not None:
                    column, message = problem
                    run.triage(RowError(int(batch.lines[i]), column, message, batch.raw_text(i)))
                    continue
                infector = registered[str(_text(values["infector"][i]))]
                infectee = registered[str(_text(values["infectee"][i]))]
                for column, case in (("infector_onset", infector), ("infectee_onset", infectee)):
                    given, _ = parse_case_date(values[column][i], column)
                    if given is not None and case.onset_on is None:
                        onsets.setdefault(case.id, given)
                if links.infector_of(infectee.id) == infector.id:
                    run.report.already_present += 1
                    continue
                links.add(infectee.id, infector.id)
                new_links.append((infectee.id, infector.id))
            uow.cases.set_links(new_links)
            run.read(n, batch.bytes_read)
            run.report.stored += len(new_links)
        run.triage.raise_if_any()
        uow.cases.set_onsets(sorted(onsets.items()))
        if onsets:
            run.report.notes.append(f"onsets stored for {len(onsets):,} cases registered without one")
    return run.report
