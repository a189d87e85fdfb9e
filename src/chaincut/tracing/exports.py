"""Contact lists for tracing teams, as CSV and Excel, streamed row by row.

Nothing here holds the whole list: rows come from an iterable and go out as
they are formatted, so a million contacts need no more memory than a few. CSV
is UTF-8 with a byte-order mark (Excel then shows Chinese names correctly);
times are local ISO 8601 with their offset. XLSX is written by openpyxl in
write-only mode, with local times (no offset: Excel has none; the zone is in the
column's heading) and a new sheet every 1,048,575 rows, Excel's limit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import IO, Any
from zoneinfo import ZoneInfo

from chaincut.domain import Contact, Evidence, EvidenceKind, Tier
from chaincut.store import Store
from chaincut.tracing.trace import Trace

__all__ = [
    "CONTACT_COLUMNS",
    "CSV_MEDIA_TYPE",
    "XLSX_MEDIA_TYPE",
    "ContactRow",
    "case_contact_rows",
    "contact_rows",
    "evidence_summary",
    "iter_contacts_csv",
    "iter_file",
    "spool_contacts_xlsx",
    "write_contacts_csv",
    "write_contacts_xlsx",
]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_DATA_ROWS = 1_048_575  # 1,048,576 rows per sheet, less the heading


@dataclass(frozen=True)
class ContactRow:
    """One contact of one case, as a tracing team reads it."""

    case_ref: str
    person_ref: str
    name: str | None
    tier: str
    generation: int
    minutes: float
    first_exposure: datetime | None
    last_exposure: datetime | None
    evidence: str
    policy_version: str


CONTACT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ContactRow))


def evidence_summary(evidence: Iterable[Evidence], venue_label: Callable[[int], str] | None = None) -> str:
    """One line naming each reason: ``venue Lucky Café 茶餐廳 (restaurant_close, 45 min); household``.

    A venue stay clipped to its type's longest believable stay says so: ``(..., 45 min, the
    contact's stay clipped)``.
    """
    parts: list[str] = []
    for e in evidence:
        if e.kind is EvidenceKind.VENUE:
            where = "" if e.venue_id is None else f" {venue_label(e.venue_id) if venue_label else e.venue_id}"
            whose = [
                who
                for who, flag in (("index person's", e.index_clipped), ("contact's", e.contact_clipped))
                if flag
            ]
            clipped = f", the {' and '.join(whose)} stay clipped" if whose else ""
            parts.append(f"venue{where} ({e.rule}, {e.minutes:g} min{clipped})")
        elif e.kind is EvidenceKind.ENCOUNTER:
            parts.append(f"encounter ({e.rule}, {e.encounters} times, {e.minutes:g} min)")
        else:
            parts.append(f"household ({e.rule})")
    return "; ".join(parts)


def _span(evidence: Iterable[Evidence]) -> tuple[datetime | None, datetime | None]:
    first: datetime | None = None
    last: datetime | None = None
    for e in evidence:
        stays = [i for i in (e.index_interval, e.contact_interval) if i is not None]
        if not stays:
            continue
        start, end = max(i.start for i in stays), min(i.end for i in stays)
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
    return first, last


def contact_rows(
    contacts: Iterable[Contact],
    *,
    case_ref: str,
    policy_version: str,
    person_ref: Mapping[int, str],
    names: Mapping[int, str] | None = None,
    venue_label: Callable[[int], str] | None = None,
) -> Iterator[ContactRow]:
    """Rows for a trace's contacts, lazily; exposures span the overlaps of the two stays."""
    for c in contacts:
        first, last = _span(c.evidence)
        yield ContactRow(
            case_ref=case_ref,
            person_ref=person_ref[c.person_id],
            name=None if names is None else names.get(c.person_id),
            tier=c.tier.value,
            generation=c.generation,
            minutes=c.minutes,
            first_exposure=first,
            last_exposure=last,
            evidence=evidence_summary(c.evidence, venue_label),
            policy_version=policy_version,
        )


def case_contact_rows(trace: Trace, store: Store, tier: Tier | None = None) -> Iterator[ContactRow]:
    """A traced case's contact list with names, for an approved export (of ``tier`` only, if given)."""
    assert trace.case_ref is not None
    contacts = [c for c in trace.contacts if tier is None or c.tier is tier]
    refs = trace.refs(c.person_id for c in contacts)
    with store.read() as uow:
        names = uow.people.names_for([c.person_id for c in contacts])
    venues = trace.venues(e.venue_id for c in contacts for e in c.evidence)
    return contact_rows(
        contacts,
        case_ref=trace.case_ref,
        policy_version=trace.policy_version,
        person_ref=refs,
        names=names,
        venue_label=lambda v: venues[v].ref if v in venues else str(v),
    )


def _values(row: ContactRow) -> list[Any]:
    # Not dataclasses.astuple: it deep-copies every value, which doubles the cost of a row.
    return [getattr(row, name) for name in CONTACT_COLUMNS]


def _local_iso(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).isoformat()


def _csv_cells(row: ContactRow, zone: ZoneInfo) -> tuple[Any, ...]:
    return (
        row.case_ref,
        row.person_ref,
        row.name or "",
        row.tier,
        row.generation,
        row.minutes,
        _local_iso(row.first_exposure, zone),
        _local_iso(row.last_exposure, zone),
        row.evidence,
        row.policy_version,
    )


def iter_contacts_csv(
    rows: Iterable[ContactRow], zone: ZoneInfo, *, rows_per_chunk: int = 2000, bom: bool = True
) -> Iterator[bytes]:
    """CSV as UTF-8 byte chunks of ``rows_per_chunk`` rows, heading first (for a StreamingResponse)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CONTACT_COLUMNS)
    pending = 0
    prefix = "\ufeff" if bom else ""
    for row in rows:
        writer.writerow(_csv_cells(row, zone))
        pending += 1
        if pending >= rows_per_chunk:
            yield (prefix + buffer.getvalue()).encode("utf-8")
            prefix = ""
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield (prefix + buffer.getvalue()).encode("utf-8")


def write_contacts_csv(rows: Iterable[ContactRow], target: Path | IO[bytes], zone: ZoneInfo) -> int:
    """Write the CSV to a path or a binary file; returns how many rows were written."""
    count = 0

    def counted() -> Iterator[ContactRow]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    if isinstance(target, Path):
        with target.open("wb") as out:
            for chunk in iter_contacts_csv(counted(), zone):
                out.write(chunk)
    else:
        for chunk in iter_contacts_csv(counted(), zone):
            target.write(chunk)
    return count


def _xlsx_cells(row: ContactRow, zone: ZoneInfo) -> list[Any]:
    return [
        value.astimezone(zone).replace(tzinfo=None) if isinstance(value, datetime) else value
        for value in _values(row)
    ]


def write_contacts_xlsx(rows: Iterable[ContactRow], target: Path | IO[bytes], zone: ZoneInfo) -> int:
    """Write an Excel workbook to a path or a binary file, streaming; returns how many rows."""
    from openpyxl import Workbook  # loaded when used: only exports need it

    workbook = Workbook(write_only=True)
    heading = [
        f"{name} ({zone.key})" if name in ("first_exposure", "last_exposure") else name
        for name in CONTACT_COLUMNS
    ]
    sheet = None
    count = 0
    on_sheet = XLSX_MAX_DATA_ROWS
    for row in rows:
        if on_sheet >= XLSX_MAX_DATA_ROWS:
            title = "contacts" if sheet is None else f"contacts {count // XLSX_MAX_DATA_ROWS + 1}"
            sheet = workbook.create_sheet(title)
            sheet.append(heading)
            on_sheet = 0
        assert sheet is not None
        sheet.append(_xlsx_cells(row, zone))
        on_sheet += 1
        count += 1
    if sheet is None:
        workbook.create_sheet("contacts").append(heading)
    workbook.save(target)
    return count


def spool_contacts_xlsx(
    rows: Iterable[ContactRow], zone: ZoneInfo, *, max_memory_bytes: int = 8 * 1024 * 1024
) -> SpooledTemporaryFile[bytes]:
    """The workbook in a temporary file (in memory while small), rewound, for an HTTP response.

    An XLSX is a zip whose directory comes last, so it cannot be sent before it is
    finished; the caller closes the file when it has been sent (``iter_file``).
    """
    # Returned open on purpose: the response closes it once sent.
    spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=max_memory_bytes, mode="w+b")  # noqa: SIM115
    try:
        write_contacts_xlsx(rows, spool, zone)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def iter_file(file: IO[bytes], chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
    """A file's bytes in chunks; closes the file at the end."""
    try:
        while chunk := file.read(chunk_bytes):
            yield chunk
    finally:
        file.close()
