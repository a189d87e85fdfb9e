"""Importing the Hong Kong Department of Health's open-data files.

- the case line list (``enhanced_sur_covid_19_eng.csv``): one case per row, each
  with a person known only by the case number (the file holds no identities);
- the building list (``building_list_eng.csv``): buildings that cases lived in or
  visited; the visited ones, marked "(non-residential)", become venues;
- the large clusters (``large_clusters_eng.csv``): clusters and their member cases.

Rows already imported (same case number, building or cluster) are counted and
skipped, so a newer edition of a file can be loaded over an older one.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

from chaincut.clock import Clock, to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails, Venue
from chaincut.domain.ids import new_public_id
from chaincut.store import NewPersonRow, Store
from chaincut.store.buildings import ListedBuilding
from chaincut.whereabouts.importing.outcome import ImportOptions, ImportReport, RowTriage
from chaincut.whereabouts.importing.readers import ImportFileError, RowError

__all__ = ["case_ref", "import_hk_buildings", "import_hk_cases", "import_hk_clusters"]

_CLASSIFICATIONS = {
    "imported case": CaseClassification.IMPORTED,
    "local case": CaseClassification.LOCAL,
    "locally acquired case": CaseClassification.LOCAL,
    "possibly local case": CaseClassification.POSSIBLY_LOCAL,
    "epidemiologically linked with local case": CaseClassification.LINKED,
    "epidemiologically linked with imported case": CaseClassification.LINKED,
    "epidemiologically linked with possibly local case": CaseClassification.LINKED,
}
_STATUSES = {
    "confirmed": CaseStatus.CONFIRMED,
    "asymptomatic": CaseStatus.CONFIRMED,  # 2022 list: confirmed without symptoms
    "re-positive": CaseStatus.CONFIRMED,
    "probable": CaseStatus.PROBABLE,
    "pending": CaseStatus.SUSPECTED,
    "unknown": CaseStatus.SUSPECTED,
}
# Words in a building's name that reveal its venue type; anything else is "other".
_TYPE_WORDS: list[tuple[str, str]] = [
    ("restaurant", "restaurant"),
    ("café", "restaurant"),
    ("cafe", "restaurant"),
    ("bar ", "bar"),
    ("club", "bar"),
    ("fitness", "gym"),
    ("gym", "gym"),
    ("school", "school"),
    ("kindergarten", "school"),
    ("college", "school"),
    ("university", "school"),
    ("hospital", "hospital"),
    ("clinic", "clinic"),
    ("elderly", "elderly_home"),
    ("care home", "elderly_home"),
    ("nursing home", "elderly_home"),
    ("market", "market"),
    ("supermarket", "supermarket"),
    ("mall", "mall"),
    ("shopping", "mall"),
    ("plaza", "mall"),
    ("church", "place_of_worship"),
    ("temple", "place_of_worship"),
    ("mosque", "place_of_worship"),
    ("hotel", "hotel"),
    ("cinema", "cinema"),
    ("salon", "salon"),
    ("office", "office"),
    ("tower", "office"),
]
_CASES_COLUMN = "Related probable/confirmed cases"
_NON_RESIDENTIAL = re.compile(r"\s*\(non-residential\)\s*$", re.IGNORECASE)


def case_ref(number: str) -> str:
    """The chaincut reference of a case in the Hong Kong line list."""
    return f"hk-{number.strip()}"


def _open(path: Path, required: list[str]) -> tuple[csv.DictReader[str], TextIO]:
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc.strerror}", path=path) from exc
    reader = csv.DictReader(handle)
    try:
        fields = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise _unreadable(exc, path, 0) from None
    if not fields:
        handle.close()
        raise ImportFileError("empty file: no header", path=path, line=1)
    missing = [c for c in required if not any(f.startswith(c) for f in fields)]
    if missing:
        handle.close()
        raise ImportFileError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(fields)}", path=path, line=1
        )
    return reader, handle


def _unreadable(exc: UnicodeDecodeError | csv.Error, path: Path, after_line: int) -> ImportFileError:
    what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"unreadable CSV ({exc})"
    return ImportFileError(f"{what} after line {after_line}; nothing was stored", path=path)


def _rows(reader: csv.DictReader[str], path: Path, triage: RowTriage) -> Iterator[dict[str, str]]:
    """The file's rows; text that is not UTF-8, or a field past the csv limit, refuses the file."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            triage.close()
            raise _unreadable(exc, path, reader.line_num) from None
        yield row


def _column(row: dict[str, str], prefix: str) -> str:
    for name, value in row.items():
        if name and name.startswith(prefix):
            return (value or "").strip()
    return ""


def _date(text: str) -> date | None:
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text.strip())
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _finish(triage: RowTriage, report: ImportReport) -> ImportReport:
    triage.raise_if_any()
    triage.close()
    report.rejected = triage.total
    return report


def import_hk_cases(store: Store, clock: Clock, path: Path, options: ImportOptions) -> ImportReport:
    """Load the CHP case line list: each case gets a person known only by its case number."""
    reader, handle = _open(path, ["Case no.", "Report date", "Date of onset"])
    report = ImportReport("hk-cases", str(path))
    triage = RowTriage(path, options)
    now = to_epoch(clock.now())
    cases: list[tuple[str, Case]] = []
    seen: set[str] = set()
    with handle:
        for row in _rows(reader, path, triage):
            report.read += 1
            line = reader.line_num
            raw = ",".join(row.get(f) or "" for f in reader.fieldnames or [])
            number = _column(row, "Case no.")
            reported = _date(_column(row, "Report date"))
            onset_text = _column(row, "Date of onset")
            onset = _date(onset_text)
            cls_text = _column(row, "Classification") or _column(row, "Case classification")
            status_text = _column(row, "Case status") or _column(row, "Confirmed/probable")
            problem: tuple[str, str] | None = None
            if not number.isdigit():
                problem = ("Case no.", f"expected a case number, got {number!r}")
            elif number in seen:
                problem = ("Case no.", "appears twice in this file")
            elif reported is None:
                problem = ("Report date", "expected a date as dd/mm/yyyy")
            elif cls_text.lower() not in _CLASSIFICATIONS:
                problem = ("Classification", f"unknown classification {cls_text!r}")
            elif status_text.lower() not in _STATUSES:
                problem = ("Case status", f"unknown case status {status_text!r}")
            if problem:
                triage(RowError(line, problem[0], problem[1], raw))
                continue
            seen.add(number)
            ref = case_ref(number)
            cases.append(
                (
                    ref,
                    Case(
                        ref=ref,
                        person_id=0,
                        status=_STATUSES[status_text.lower()],
                        classification=_CLASSIFICATIONS[cls_text.lower()],
                        reported_on=reported,
                        onset_on=onset,  # None when "Asymptomatic", "Pending" or "Unknown"
                    ),
                )
            )
            if options.progress and report.read % 5000 == 0:
                options.progress(report.read, report.read)
    triage.raise_if_any()
    with store.write() as uow:
        known = uow.cases.ids_for([ref for ref, _ in cases])
        fresh = [(ref, case) for ref, case in cases if ref not in known]
        person_refs = [f"{ref}-person" for ref, _ in fresh]
        already = uow.people.existing_refs(person_refs)
        uow.people.add_many(
            [
                NewPersonRow(p, new_public_id(), PersonalDetails(), None, None, now)
                for p in person_refs
                if p not in already
            ]
        )
        ids = uow.people.ids_for_refs(person_refs)
        uow.cases.add_many(
            [
                Case(
                    ref=case.ref,
                    person_id=ids[f"{ref}-person"],
                    status=case.status,
                    classification=case.classification,
                    reported_on=case.reported_on,
                    onset_on=case.onset_on,
                )
                for ref, case in fresh
            ],
            now,
        )
    report.stored = len(fresh)
    report.already_present = len(cases) - len(fresh)
    return _finish(triage, report)


def import_hk_buildings(store: Store, clock: Clock, path: Path, options: ImportOptions) -> ImportReport:
    """Load the building list: every building, with the cases it relates to; visited ones become venues.

    The list relates buildings to case numbers with no times: each (building, case) is kept as a
    date-level exposure, placed at read time in the days before the case's onset (the policy's
    ``[clusters] coarse_exposure_days_before_onset``). Case references are kept as listed, so the
    list can be imported before or after the case list; the report says how many name cases the
    store does not hold yet.
    """
    reader, handle = _open(path, ["District", "Building name", _CASES_COLUMN])
    report = ImportReport("hk-buildings", str(path))
    triage = RowTriage(path, options)
    venues: dict[str, Venue] = {}
    listed: dict[str, tuple[str, str]] = {}  # building ref -> (district, name)
    visited: set[str] = set()
    links: set[tuple[str, str]] = set()
    residential_rows = 0
    with handle:
        for row in _rows(reader, path, triage):
            report.read += 1
            district = _column(row, "District")
            name = _column(row, "Building name")
            raw = ",".join(row.get(f) or "" for f in reader.fieldnames or [])
            if not district or not name:
                field = "District" if not district else "Building name"
                triage(RowError(reader.line_num, field, "required", raw))
                continue
            numbers = [n.strip() for n in _column(row, _CASES_COLUMN).split(",") if n.strip()]
            bad = [n for n in numbers if not n.isdecimal()]
            if bad:
                triage(
                    RowError(reader.line_num, _CASES_COLUMN, f"expected case numbers, got {bad[0]!r}", raw)
                )
                continue
            clean = _NON_RESIDENTIAL.sub("", name)
            digest = hashlib.sha256(f"{district}|{clean}".lower().encode()).hexdigest()[:12]
            ref = f"hk-bldg-{digest}"
            listed.setdefault(ref, (district, clean[:200]))
            links.update((ref, case_ref(n)) for n in numbers)
            if not _NON_RESIDENTIAL.search(name):
                residential_rows += 1
                continue
            visited.add(ref)
            venues.setdefault(
                ref,
                Venue(
                    ref=ref,
                    public_id=new_public_id(),
                    venue_type=_guess_type(clean),
                    name_en=clean[:200],
                    name_zh=clean[:200],  # the English list has no Chinese names
                    district=district,
                    address=f"{clean}, {district}"[:300],
                ),
            )
    triage.raise_if_any()
    buildings = [
        ListedBuilding(ref, district, name, ref not in visited, ref if ref in visited else None)
        for ref, (district, name) in sorted(listed.items())
    ]
    ordered_links = sorted(links)
    with store.write() as uow:
        known = uow.venues.existing("ref", list(venues))
        fresh = [v for ref, v in venues.items() if ref not in known]
        uow.venues.add_many(fresh, to_epoch(clock.now()))
        uow.buildings.add_many(buildings)
        new_links = uow.buildings.link_cases(ordered_links)
        held = uow.cases.ids_for(sorted({c for _, c in ordered_links}))
    report.stored = len(fresh)
    report.already_present = len(venues) - len(fresh)
    report.notes.append(
        f"{residential_rows} residential building rows kept as buildings, not venues; "
        f"{report.read - residential_rows - len(venues) - triage.total} repeated rows merged"
    )
    unknown = len({c for _, c in ordered_links} - set(held))
    report.notes.append(
        f"{new_links} building-case links stored as date-level exposures "
        f"({len(ordered_links) - new_links} already present)"
        + (f"; {unknown} cases not in the store yet (import hk-cases to use them)" if unknown else "")
    )
    return _finish(triage, report)


def _guess_type(name: str) -> str:
    lowered = f" {name.lower()} "
    for word, venue_type in _TYPE_WORDS:
        if word in lowered:
            return venue_type
    return "other"


def import_hk_clusters(store: Store, clock: Clock, path: Path, options: ImportOptions) -> ImportReport:
    """Load the large clusters; member cases must have been imported (hk-cases) first."""
    reader, handle = _open(path, ["Cluster", "Involved case number"])
    report = ImportReport("hk-clusters", str(path))
    triage = RowTriage(path, options)
    rows: list[tuple[int, str, list[str], int | None, str]] = []
    with handle:
        for row in _rows(reader, path, triage):
            report.read += 1
            raw = ",".join(row.get(f) or "" for f in reader.fieldnames or [])
            name = _column(row, "Cluster")
            members = [m.strip() for m in _column(row, "Involved case number").split(",") if m.strip()]
            count_text = _column(row, "Number of cases")
            if not name:
                triage(RowError(reader.line_num, "Cluster", "required", raw))
                continue
            bad = [m for m in members if not m.isdigit()]
            if bad or not members:
                message = f"expected case numbers, got {bad[0]!r}" if bad else "no member cases"
                triage(RowError(reader.line_num, "Involved case number", message, raw))
                continue
            count = int(count_text) if count_text.isdecimal() else None  # isdigit() passes "²"
            rows.append((reader.line_num, name[:300], members, count, raw))
    with store.write() as uow:
        known_clusters = uow.clusters.ids_for([name for _, name, _, _, _ in rows])
        case_ids = uow.cases.ids_for(sorted({case_ref(m) for _, _, ms, _, _ in rows for m in ms}))
        for line, name, members, count, raw in rows:
            if name in known_clusters:
                report.already_present += 1
                continue
            missing = [m for m in members if case_ref(m) not in case_ids]
            if missing:
                triage(
                    RowError(
                        line,
                        "Involved case number",
                        f"case {missing[0]} is not imported; import hk-cases first",
                        raw,
                    )
                )
                continue
            uow.clusters.add(name, count, [case_ids[case_ref(m)] for m in members])
            report.stored += 1
        triage.raise_if_any()
    return _finish(triage, report)
