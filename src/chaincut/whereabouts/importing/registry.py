"""Bulk import of people and venues, all-or-nothing unless told to skip bad rows.

Each row is checked by the same rules as registration through the API; a
reference already stored, or twice in the file, is an error on that line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from chaincut.clock import Clock, to_epoch
from chaincut.domain import PersonalDetails, Venue
from chaincut.domain.ids import new_public_id
from chaincut.errors import InvalidInput
from chaincut.people.registry import PersonDraft, validate_person_fields
from chaincut.policy import Policy
from chaincut.security import IdentityHasher
from chaincut.store import NewPersonRow, Store, UnitOfWork
from chaincut.venues.registry import VenueDraft, normalise_plate, validate_venue_fields
from chaincut.whereabouts.importing.outcome import ImportOptions, ImportReport, ImportRun, RowTriage
from chaincut.whereabouts.importing.readers import RowError, read_rows

__all__ = ["import_people", "import_venues"]

_PEOPLE_BATCH = 50_000


def _rows(columns: dict[str, pa.Array], n: int) -> list[dict[str, Any]]:
    values = {name: col.to_pylist() for name, col in columns.items()}
    out = []
    for i in range(n):
        row = {}
        for name, col in values.items():
            value = col[i]
            if isinstance(value, str):
                value = value.strip() or None
            elif value is not None:
                value = str(value)
            row[name] = value
        out.append(row)
    return out


def _raw(row: dict[str, Any]) -> str:
    return ",".join("" if v is None else str(v) for v in row.values())


def _run(
    store: Store,
    kind: str,
    path: Path,
    options: ImportOptions,
    required: list[str],
    optional: list[str],
    handle: Callable[[UnitOfWork, list[dict[str, Any]], list[int], RowTriage], tuple[int, int]],
) -> ImportReport:
    with ImportRun(kind, path, options) as run, store.write() as uow:
        for batch in read_rows(
            path, required=required, optional=optional, batch_rows=_PEOPLE_BATCH, broken=run.broken
        ):
            rows = _rows(batch.columns, len(batch.lines))
            stored, present = handle(uow, rows, [int(x) for x in batch.lines], run.triage)
            run.read(len(rows), batch.bytes_read)
            run.report.stored += stored
            run.report.already_present += present
        run.triage.raise_if_any()
    return run.report


def import_people(
    store: Store, hasher: IdentityHasher, clock: Clock, path: Path, options: ImportOptions
) -> ImportReport:
    """Load a people file: ref, and optional household, id_document, name, phone, address, district
    (the household's district, kept for a household the file creates; a case keeps its
    household's district for the epidemic curve and the district map)."""
    seen: set[str] = set()
    created_at = to_epoch(clock.now())

    def handle(
        uow: UnitOfWork, rows: list[dict[str, Any]], lines: list[int], triage: RowTriage
    ) -> tuple[int, int]:
        stored_refs = uow.people.existing_refs([r["ref"] for r in rows if r.get("ref")])
        ready: list[tuple[dict[str, Any], bytes | None]] = []
        for row, line in zip(rows, lines, strict=True):
            draft = PersonDraft(
                ref=row.get("ref") or "",
                id_document=row.get("id_document"),
                name=row.get("name"),
                phone=row.get("phone"),
                address=row.get("address"),
                household=row.get("household"),
            )
            problems = [(e.field, e.message) for e in validate_person_fields(draft)]
            district = row.get("district")
            if not problems and district is not None and not (0 < len(str(district)) <= 64):
                problems = [("district", "expected a district name of 1 to 64 characters")]
            if not problems and draft.ref in seen:
                problems = [("ref", "appears twice in this file")]
            if not problems and draft.ref in stored_refs:
                problems = [("ref", "a person with this ref is already registered")]
            doc_hash = None
            if not problems and draft.id_document:
                try:
                    doc_hash = hasher.hash(draft.id_document)
                except InvalidInput as exc:
                    problems = [("id_document", exc.message)]
            if problems:
                triage(RowError(line, problems[0][0], problems[0][1], _raw(row)))
                continue
            seen.add(draft.ref)
            ready.append((row, doc_hash))
        households = uow.households.ensure(
            {r["household"] for r, _ in ready if r.get("household")},
            {
                r["household"]: str(r["district"])
                for r, _ in ready
                if r.get("household") and r.get("district")
            },
        )
        uow.people.add_many(
            [
                NewPersonRow(
                    ref=row["ref"],
                    public_id=new_public_id(),
                    details=PersonalDetails(row.get("name"), row.get("phone"), row.get("address")),
                    id_document_hash=doc_hash,
                    household_id=households.get(row["household"]) if row.get("household") else None,
                    created_at=created_at,
                )
                for row, doc_hash in ready
            ]
        )
        return len(ready), 0

    return _run(
        store,
        "people",
        path,
        options,
        ["ref"],
        ["household", "id_document", "name", "phone", "address", "district"],
        handle,
    )


def import_venues(
    store: Store, policy: Policy, clock: Clock, path: Path, options: ImportOptions
) -> ImportReport:
    """Load a venues file: ref, type, name_en, name_zh, and optional district, address, plate."""
    seen_refs: set[str] = set()
    seen_plates: set[str] = set()
    created_at = to_epoch(clock.now())

    def handle(
        uow: UnitOfWork, rows: list[dict[str, Any]], lines: list[int], triage: RowTriage
    ) -> tuple[int, int]:
        stored_refs = uow.venues.existing("ref", [r["ref"] for r in rows if r.get("ref")])
        plates = [normalise_plate(r["plate"]) for r in rows if r.get("plate")]
        stored_plates = uow.venues.existing("plate", plates)
        ready: list[Venue] = []
        for row, line in zip(rows, lines, strict=True):
            draft = VenueDraft(
                venue_type=row.get("type") or "",
                name_en=row.get("name_en") or "",
                name_zh=row.get("name_zh") or "",
                ref=row.get("ref"),
                district=row.get("district"),
                address=row.get("address"),
                plate=row.get("plate"),
            )
            # The file calls the venue type "type": name the column the data owner wrote.
            problems = [
                ("type" if e.field == "venue_type" else e.field, e.message)
                for e in validate_venue_fields(draft, policy)
            ]
            plate = normalise_plate(draft.plate) if draft.plate else None
            if not draft.ref:
                problems.insert(0, ("ref", "required"))
            if not problems and (draft.ref in seen_refs or (plate and plate in seen_plates)):
                problems = [("ref", "appears twice in this file")]
            if not problems and (draft.ref in stored_refs or (plate and plate in stored_plates)):
                problems = [("ref", "a venue with this ref or plate is already registered")]
            if problems:
                triage(RowError(line, problems[0][0], problems[0][1], _raw(row)))
                continue
            assert draft.ref is not None
            seen_refs.add(draft.ref)
            if plate:
                seen_plates.add(plate)
            ready.append(
                Venue(
                    ref=draft.ref,
                    public_id=new_public_id(),
                    venue_type=draft.venue_type,
                    name_en=draft.name_en,
                    name_zh=draft.name_zh,
                    district=draft.district,
                    address=draft.address,
                    plate=plate,
                )
            )
        uow.venues.add_many(ready, created_at)
        return len(ready), 0

    return _run(
        store,
        "venues",
        path,
        options,
        ["ref", "type", "name_en", "name_zh"],
        ["district", "address", "plate"],
        handle,
    )
