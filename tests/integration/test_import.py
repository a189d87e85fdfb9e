"""Bulk import of people, venues, visits and encounters, on every storage backend.

Each test writes its own small files (CSV, JSON Lines, Parquet) and imports them
through the importing services, so it runs on the embedded default (SQLite plus the
Parquet archive) and on PostgreSQL. Times come from the fixed clock,
2026-11-20T04:00Z (12:00 in Hong Kong); the default policy keeps visits and
encounters 31 days.
"""

from __future__ import annotations

import csv
import functools
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert, select

from chaincut.bootstrap import Services
from chaincut.domain import VisitSource
from chaincut.errors import Conflict, ImportRejected
from chaincut.settings import Settings
from chaincut.store import Database, StoreCounts, upgrade
from chaincut.store.tables import encounters as encounters_table
from chaincut.store.tables import people as people_table
from chaincut.store.tables import visits as visits_table
from chaincut.whereabouts import importing
from chaincut.whereabouts.importing import ImportFileError, ImportOptions, ImportReport
from chaincut.whereabouts.importing import readers as readers_module
from chaincut.whereabouts.importing import registry as registry_module
from chaincut.whereabouts.importing import whereabouts as whereabouts_module

Row = dict[str, Any]

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # the clock fixture's instant
HKT = timezone(timedelta(hours=8))
T0 = NOW - timedelta(days=1)
HOUR = timedelta(hours=1)
RESTAURANT_STAY = timedelta(minutes=90)  # venue_types.restaurant.default_stay_minutes, default.toml
OFFICE_STAY = timedelta(minutes=540)  # venue_types.office.default_stay_minutes
FORMATS = ["csv", "jsonl", "parquet"]
VISIT_COLUMNS = ("person_id", "venue_id", "entered_at", "left_at", "left_inferred", "source")
ENCOUNTER_COLUMNS = ("person_a", "person_b", "start_at", "end_at")

PEOPLE: list[Row] = [
    {
        "ref": "p-ann",
        "household": "hh-1",
        "id_document": "A123456(7)",
        "name": "Ann Example",
        "phone": "+852 9123 4567",
        "address": "1 Queen's Road Central",
    },
    {
        "ref": "p-bob",
        "household": "hh-1",
        "id_document": None,
        "name": "Bob Example",
        "phone": None,
        "address": None,
    },
    {
        "ref": "p-cy",
        "household": None,
        "id_document": "Z987654(3)",
        "name": None,
        "phone": None,
        "address": None,
    },
]
VENUES: list[Row] = [
    {
        "ref": "v-rest",
        "type": "restaurant",
        "name_en": "Golden Dragon",
        "name_zh": "金龍",
        "district": "Wan Chai",
        "plate": None,
    },
    {
        "ref": "v-office",
        "type": "office",
        "name_en": "Harbour Office",
        "name_zh": "海港辦公室",
        "district": None,
        "plate": None,
    },
    {
        "ref": "v-taxi",
        "type": "taxi",
        "name_en": "Taxi",
        "name_zh": "的士",
        "district": None,
        "plate": "ab 1234",
    },
]


# ------------------------------------------------------------------------ helpers


def epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def iso(instant: datetime) -> str:
    """ISO 8601 with Hong Kong's offset, as a local exporter would write it."""
    return instant.astimezone(HKT).isoformat()


def write_rows(path: Path, rows: Sequence[Row], schema: pa.Schema | None = None) -> Path:
    """Write ``rows`` as CSV, JSON Lines or Parquet, by the file's suffix."""
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    else:
        schema = schema or pa.schema([(name, pa.string()) for name in rows[0]])
        pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), path)
    return path


def write_text(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def load(services: Services, kind: str, path: Path, options: ImportOptions | None = None) -> ImportReport:
    """Run the importer of ``kind`` as ``chaincut import`` does."""
    s, options = services, options or ImportOptions()
    if kind == "people":
        return importing.import_people(s.store, s.hasher, s.clock, path, options)
    if kind == "venues":
        return importing.import_venues(s.store, s.policy, s.clock, path, options)
    if kind == "visits":
        return importing.import_visits(s.store, s.policy, s.clock, path, options)
    assert kind == "encounters"
    return importing.import_encounters(s.store, s.policy, s.clock, path, options)


def stored(services: Services, kind: str) -> list[tuple[Any, ...]]:
    """The visits or encounters the store holds: the archive on embedded, SQL on PostgreSQL."""
    columns = VISIT_COLUMNS if kind == "visits" else ENCOUNTER_COLUMNS
    if services.store.archive is not None:
        table = services.store.archive.read("visits" if kind == "visits" else "encounters")
        return sorted(zip(*(table[name].to_pylist() for name in columns), strict=True))
    sql = visits_table if kind == "visits" else encounters_table
    with services.store.read() as uow:
        return sorted(tuple(r) for r in uow.connection.execute(select(*(sql.c[name] for name in columns))))


def ids(services: Services) -> dict[str, int]:
    """Store ids of every person and venue, by external reference."""
    with services.store.read() as uow:
        found = uow.people.ref_index().to_pylist() + uow.venues.ref_index().to_pylist()
    return {row["ref"]: row["id"] for row in found}


def staging_left(services: Services) -> list[Path]:
    """Half-written archive segments (embedded only): a failed import must leave none."""
    if services.store.archive is None:
        return []
    return sorted(services.store.archive.root.rglob(".staging-*"))


def rejects_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture
def registered(services: Services, tmp_path: Path) -> dict[str, int]:
    """The three people and three venues above, imported; their ids by ref."""
    load(services, "people", write_rows(tmp_path / "registered-people.csv", PEOPLE))
    load(services, "venues", write_rows(tmp_path / "registered-venues.csv", VENUES))
    return ids(services)


# ------------------------------------------------------------- people and venues


def test_a_people_file_gives_new_households_their_district(services: Services, tmp_path: Path) -> None:
    rows = [
        {"ref": "p-1", "household": "hh-9", "district": "Sha Tin"},
        {"ref": "p-2", "household": "hh-9", "district": "Sha Tin"},
        {"ref": "p-3", "household": "hh-8", "district": "x" * 65},
    ]
    report = load(
        services, "people", write_rows(tmp_path / "people.csv", rows), ImportOptions(on_error="skip")
    )
    assert (report.stored, report.rejected) == (2, 1)
    with services.store.read() as uow:
        (district,) = uow.connection.exec_driver_sql(
            "SELECT district FROM households WHERE ref = 'hh-9'"
        ).one()
    assert district == "Sha Tin"


@pytest.mark.parametrize("fmt", FORMATS)
def test_people_load_from_each_format(services: Services, tmp_path: Path, fmt: str) -> None:
    report = load(services, "people", write_rows(tmp_path / f"people.{fmt}", PEOPLE))

    assert (report.read, report.stored, report.rejected) == (3, 3, 0)
    assert services.store.counts().people == 3
    with services.store.read() as uow:
        ann, bob, cy = (uow.people.get_by_ref(ref) for ref in ("p-ann", "p-bob", "p-cy"))
        households = uow.households.count()
    assert ann is not None and bob is not None and cy is not None
    assert (ann.details.name, ann.details.phone, ann.details.address) == (
        "Ann Example",
        "+852 9123 4567",
        "1 Queen's Road Central",
    )
    assert ann.household_ref == bob.household_ref == "hh-1"
    assert households == 1
    assert ann.id_document_hash == services.hasher.hash("A1234567")
    assert bob.id_document_hash is None
    assert cy.household_ref is None and cy.details.name is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_venues_load_from_each_format(services: Services, tmp_path: Path, fmt: str) -> None:
    report = load(services, "venues", write_rows(tmp_path / f"venues.{fmt}", VENUES))

    assert (report.read, report.stored, report.rejected) == (3, 3, 0)
    assert services.store.counts().venues == 3
    with services.store.read() as uow:
        rest, taxi = uow.venues.get_by_ref("v-rest"), uow.venues.get_by_ref("v-taxi")
    assert rest is not None and taxi is not None
    assert (rest.venue_type, rest.name_zh, rest.district, rest.plate) == (
        "restaurant",
        "金龍",
        "Wan Chai",
        None,
    )
    assert (taxi.venue_type, taxi.plate) == ("taxi", "AB1234")


def test_the_id_document_is_stored_only_as_a_keyed_hash(services: Services, tmp_path: Path) -> None:
    load(services, "people", write_rows(tmp_path / "people.csv", PEOPLE))

    secrets = [b"A123456(7)", b"A1234567", b"Z9876543", b"Ann Example", b"9123 4567"]
    if services.store.archive is not None:
        stored_bytes = b"".join(
            path.read_bytes() for path in services.settings.data_dir.rglob("chaincut.sqlite3*")
        )
        assert len(stored_bytes) > 10_000  # the database file itself was scanned
    else:
        with services.store.read() as uow:
            rows = uow.connection.execute(select(people_table)).all()
        stored_bytes = b"|".join(
            value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row
        )
    assert [s for s in secrets if s in stored_bytes] == []
    found = services.people.find_by_id_document("a123456 (7)")
    assert [p.ref for p in found] == ["p-ann"]
    assert services.people.find_by_id_document("A1234568") == []


# --------------------------------------------------------- visits and encounters


def visit_rows(fmt: str) -> tuple[list[Row], pa.Schema | None]:
    """Four visits; instants as ISO 8601 (CSV), Unix seconds (JSON) or timestamps (Parquet)."""
    times = [
        (T0, T0 + HOUR),
        (T0, None),  # left_at inferred from the office's default stay
        (T0 + 2 * HOUR, T0 + 2 * HOUR + timedelta(minutes=20)),
        (NOW - timedelta(minutes=30), None),  # still inside: the inferred end stops at now
    ]
    cells: list[tuple[Any, Any]]
    if fmt == "csv":
        cells = [(iso(a), iso(b) if b else None) for a, b in times]
        cells[1] = (str(epoch(T0)), None)  # Unix seconds in a text file
    elif fmt == "jsonl":
        cells = [(epoch(a), epoch(b) if b else None) for a, b in times]
    else:
        cells = list(times)
    places = [
        ("p-ann", "v-rest", "qr"),
        ("p-bob", "v-office", None),
        ("p-cy", "v-taxi", "taxi"),
        ("p-ann", "v-rest", "qr"),
    ]
    rows = [
        {"person": person, "venue": venue, "entered_at": entered, "left_at": left, "source": source}
        for (person, venue, source), (entered, left) in zip(places, cells, strict=True)
    ]
    stamp = pa.timestamp("s", tz="UTC")
    schema = pa.schema(
        [
            ("person", pa.string()),
            ("venue", pa.string()),
            ("entered_at", stamp),
            ("left_at", stamp),
            ("source", pa.string()),
        ]
    )
    return rows, schema if fmt == "parquet" else None


@pytest.mark.parametrize("fmt", FORMATS)
def test_visits_load_from_each_format(
    services: Services, tmp_path: Path, registered: dict[str, int], fmt: str
) -> None:
    rows, schema = visit_rows(fmt)
    path = write_rows(tmp_path / f"visits.{fmt}", rows, schema)
    progress: list[tuple[int, int]] = []

    report = load(
        services, "visits", path, ImportOptions(progress=lambda done, total: progress.append((done, total)))
    )

    assert (report.read, report.stored, report.rejected) == (4, 4, 0)
    assert services.store.counts().visits == 4
    qr, taxi, imported = VisitSource.QR.code, VisitSource.TAXI.code, VisitSource.IMPORT.code
    ann, bob, cy = registered["p-ann"], registered["p-bob"], registered["p-cy"]
    rest, office, cab = registered["v-rest"], registered["v-office"], registered["v-taxi"]
    assert stored(services, "visits") == sorted(
        [
            (ann, rest, epoch(T0), epoch(T0 + HOUR), False, qr),
            (bob, office, epoch(T0), epoch(T0 + OFFICE_STAY), True, imported),
            (cy, cab, epoch(T0 + 2 * HOUR), epoch(T0 + 2 * HOUR) + 20 * 60, False, taxi),
            (ann, rest, epoch(NOW) - 30 * 60, epoch(NOW), True, qr),
        ]
    )
    assert progress and progress[-1] == (path.stat().st_size, path.stat().st_size)


def test_a_file_without_left_at_gets_each_venue_types_default_stay(
    services: Services, tmp_path: Path, registered: dict[str, int]
) -> None:
    path = write_text(
        tmp_path / "visits.csv",
        "person,venue,entered_at",
        f"p-ann,v-rest,{iso(T0)}",
        f"p-bob,v-office,{iso(T0)}",
    )

    load(services, "visits", path)

    assert stored(services, "visits") == sorted(
        [
            (
                registered["p-ann"],
                registered["v-rest"],
                epoch(T0),
                epoch(T0 + RESTAURANT_STAY),
                True,
                VisitSource.IMPORT.code,
            ),
            (
                registered["p-bob"],
                registered["v-office"],
                epoch(T0),
                epoch(T0 + OFFICE_STAY),
                True,
                VisitSource.IMPORT.code,
            ),
        ]
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_encounters_load_from_each_format(
    services: Services, tmp_path: Path, registered: dict[str, int], fmt: str
) -> None:
    spans = [
        ("p-ann", "p-bob", T0, T0 + timedelta(minutes=15)),
        ("p-bob", "p-cy", T0 + HOUR, T0 + 1.5 * HOUR),
    ]
    schema = None
    rows: list[Row]
    if fmt == "csv":
        rows = [
            {"person_a": a, "person_b": b, "start": s.isoformat().replace("+00:00", "Z"), "end": iso(e)}
            for a, b, s, e in spans
        ]
    elif fmt == "jsonl":
        rows = [{"person_a": a, "person_b": b, "start": epoch(s), "end": epoch(e)} for a, b, s, e in spans]
    else:
        rows = [{"person_a": a, "person_b": b, "start": s, "end": e} for a, b, s, e in spans]
        stamp = pa.timestamp("ms", tz="Asia/Hong_Kong")
        schema = pa.schema(
            [("person_a", pa.string()), ("person_b", pa.string()), ("start", stamp), ("end", stamp)]
        )

    report = load(services, "encounters", write_rows(tmp_path / f"encounters.{fmt}", rows, schema))

    assert (report.read, report.stored, report.rejected) == (2, 2, 0)
    assert services.store.counts().encounters == 2
    ann, bob, cy = registered["p-ann"], registered["p-bob"], registered["p-cy"]
    assert stored(services, "encounters") == sorted(
        [
            (ann, bob, epoch(T0), epoch(T0) + 15 * 60),
            (bob, cy, epoch(T0 + HOUR), epoch(T0 + 1.5 * HOUR)),
        ]
    )


# ------------------------------------------------------------------- bad input


@pytest.fixture
def populated(services: Services, tmp_path: Path, registered: dict[str, int]) -> tuple[Any, ...]:
    """The registered people and venues plus one visit and one encounter, stored before a bad import."""
    load(services, "visits", write_text(tmp_path / "earlier-visits.csv", VISITS_HEADER, GOOD_VISIT))
    load(
        services,
        "encounters",
        write_text(tmp_path / "earlier-encounters.csv", ENCOUNTERS_HEADER, GOOD_ENCOUNTER),
    )
    return snapshot(services)


def snapshot(services: Services) -> tuple[StoreCounts, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return services.store.counts(), stored(services, "visits"), stored(services, "encounters")


def assert_nothing_changed(services: Services, before: tuple[Any, ...]) -> None:
    """Nothing of the refused file is stored, and nothing stored before it is lost."""
    counts = before[0]
    assert counts.people == 3 and counts.venues == 3 and counts.visits == 1 and counts.encounters == 1
    assert snapshot(services) == before
    assert staging_left(services) == []


VISITS_HEADER = "person,venue,entered_at,left_at,source"
GOOD_VISIT = f"p-ann,v-rest,{iso(T0)},{iso(T0 + HOUR)},qr"
ENCOUNTERS_HEADER = "person_a,person_b,start,end"
GOOD_ENCOUNTER = f"p-ann,p-bob,{iso(T0)},{iso(T0 + HOUR)}"
LONG_AGO = NOW - timedelta(days=40)

BAD_VISITS = {
    "unknown venue": (f"p-bob,v-nowhere,{iso(T0)},,", "venue", "unknown venue reference"),
    "unknown person": (f"p-nobody,v-rest,{iso(T0)},,", "person", "unknown person reference"),
    "entered in the future": (f"p-bob,v-rest,{iso(NOW + HOUR)},,", "entered_at", "time is in the future"),
    "left in the future": (f"p-bob,v-rest,{iso(T0)},{iso(NOW + HOUR)},", "left_at", "time is in the future"),
    "left outside retention": (
        f"p-bob,v-rest,{iso(LONG_AGO)},{iso(LONG_AGO + HOUR)},",
        "left_at",
        "older than the 31-day retention",
    ),
    "entered outside retention, left_at inferred": (
        f"p-bob,v-rest,{iso(LONG_AGO)},,",
        "entered_at",
        "older than the 31-day retention",
    ),
    "not a time": ("p-bob,v-rest,yesterday,,", "entered_at", "expected ISO 8601 with a UTC offset"),
    "local time without offset": ("p-bob,v-rest,2026-11-19 12:00:00,,", "entered_at", "no UTC offset"),
    "milliseconds in left_at": (
        f"p-bob,v-rest,{iso(T0)},{epoch(T0 + HOUR) * 1000},",
        "left_at",
        "time is in the future",
    ),
    "left before entered": (
        f"p-bob,v-rest,{iso(T0)},{iso(T0 - HOUR)},",
        "left_at",
        "left_at is before entered_at",
    ),
    "unknown source": (f"p-bob,v-rest,{iso(T0)},,pigeon", "source", "expected one of"),
    "unbalanced quotes": (f'p-bob,"v-rest,{iso(T0)},,', None, "unbalanced quotes"),
    "too many fields": (f"p-bob,v-rest,{iso(T0)},,qr,extra", None, "expected 5 fields, found 6"),
}


@pytest.mark.parametrize("case", list(BAD_VISITS))
def test_a_bad_visit_refuses_the_whole_file(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], case: str
) -> None:
    line_text, field, reason = BAD_VISITS[case]
    path = write_text(tmp_path / "visits.csv", VISITS_HEADER, GOOD_VISIT, GOOD_VISIT, line_text, GOOD_VISIT)

    with pytest.raises(ImportRejected) as refused:
        load(services, "visits", path)

    first = refused.value.errors[0]
    assert (first.line, first.field) == (4, field)
    assert reason in first.message
    assert refused.value.total_errors == 1
    assert f"line 4{', ' + field if field else ''}: " in str(refused.value)
    assert "nothing was stored" in str(refused.value)
    assert_nothing_changed(services, populated)


BAD_ENCOUNTERS = {
    "the same person twice": (f"p-bob,p-bob,{iso(T0)},{iso(T0 + HOUR)}", "person_b", "two different people"),
    "unknown person": (f"p-bob,p-nobody,{iso(T0)},{iso(T0 + HOUR)}", "person_b", "unknown person reference"),
    "end in the future": (f"p-bob,p-cy,{iso(T0)},{iso(NOW + HOUR)}", "end", "time is in the future"),
    "outside retention": (f"p-bob,p-cy,{iso(LONG_AGO)},{iso(LONG_AGO + HOUR)}", "end", "31-day retention"),
    "end before start": (f"p-bob,p-cy,{iso(T0)},{iso(T0 - HOUR)}", "end", "end is before start"),
    "start not a time": (f"p-bob,p-cy,12:00,{iso(T0)}", "start", "expected ISO 8601"),
}


@pytest.mark.parametrize("case", list(BAD_ENCOUNTERS))
def test_a_bad_encounter_refuses_the_whole_file(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], case: str
) -> None:
    line_text, field, reason = BAD_ENCOUNTERS[case]
    path = write_text(tmp_path / "encounters.csv", ENCOUNTERS_HEADER, GOOD_ENCOUNTER, line_text)

    with pytest.raises(ImportRejected) as refused:
        load(services, "encounters", path)

    first = refused.value.errors[0]
    assert (first.line, first.field) == (3, field)
    assert reason in first.message
    assert f"line 3, {field}: " in str(refused.value)
    assert_nothing_changed(services, populated)


def test_bad_rows_in_json_lines_and_parquet_are_named_by_line(
    services: Services, tmp_path: Path, populated: tuple[Any, ...]
) -> None:
    good = {"person": "p-bob", "venue": "v-rest", "entered_at": epoch(T0)}
    jsonl = write_text(
        tmp_path / "visits.jsonl",
        json.dumps(good),
        "",  # blank lines are skipped but still counted
        json.dumps({**good, "entered_at": True}),
        '{"person": "p-bob", "venue": ',
    )
    naive = pa.timestamp("s")  # a Parquet timestamp without a zone: local time of which clock?
    parquet = write_rows(
        tmp_path / "visits.parquet",
        [{"person": "p-bob", "venue": "v-rest", "entered_at": datetime(2026, 11, 19, 12)}],
        pa.schema([("person", pa.string()), ("venue", pa.string()), ("entered_at", naive)]),
    )

    with pytest.raises(ImportRejected) as from_json:
        load(services, "visits", jsonl)
    with pytest.raises(ImportRejected) as from_parquet:
        load(services, "visits", parquet)

    json_errors = sorted(from_json.value.errors, key=lambda e: e.line or 0)
    assert [(e.line, e.field) for e in json_errors] == [(3, "entered_at"), (4, None)]
    assert "found true" in json_errors[0].message
    assert "not valid JSON" in json_errors[1].message
    assert [(e.line, e.field) for e in from_parquet.value.errors] == [(1, "entered_at")]
    assert "no UTC offset" in from_parquet.value.errors[0].message
    assert_nothing_changed(services, populated)


FILE_ERRORS: dict[str, tuple[str, bytes, str]] = {
    "zero bytes": ("visits.csv", b"", "empty file"),
    "header but no rows": ("visits.csv", f"{VISITS_HEADER}\n\n".encode(), "empty file: a header but no rows"),
    "empty JSON Lines": ("visits.jsonl", b"\n\n", "empty file"),
    "missing column": (
        "visits.csv",
        f"person,entered_at\np-ann,{iso(T0)}\n".encode(),
        "missing required columns: venue",
    ),
    "column twice": (
        "visits.csv",
        b"person,venue,venue,entered_at\np-ann,v-rest,v-rest,1\n",
        "line 1: columns repeated",
    ),
    "unknown format": ("visits.txt", GOOD_VISIT.encode(), "unknown file format '.txt'"),
    "not Parquet": ("visits.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
}


@pytest.mark.parametrize("case", list(FILE_ERRORS))
def test_an_unusable_file_is_refused_before_any_row(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], case: str
) -> None:
    name, content, message = FILE_ERRORS[case]
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(ImportFileError) as refused:
        load(services, "visits", path)

    assert str(refused.value).startswith(name)
    assert message in str(refused.value)
    assert_nothing_changed(services, populated)


def test_an_empty_parquet_file_is_refused(
    services: Services, tmp_path: Path, populated: tuple[Any, ...]
) -> None:
    path = tmp_path / "encounters.parquet"
    pq.write_table(pa.table({name: pa.array([], pa.string()) for name in ENCOUNTERS_HEADER.split(",")}), path)

    with pytest.raises(ImportFileError, match="empty file: no rows"):
        load(services, "encounters", path)
    assert_nothing_changed(services, populated)


def test_a_json_lines_file_lacking_a_field_is_refused_naming_it_when_a_line_holds_two_objects(
    services: Services, tmp_path: Path, populated: tuple[Any, ...]
) -> None:
    """Found by the import fuzzer: the reader crashed (JSONDecodeError) naming the fields found."""
    path = tmp_path / "visits.jsonl"
    path.write_bytes(b'\n{"person": "x"}{"person": "y"}\n')

    wanted = r"missing required fields: venue, entered_at \(found: person\)"
    with pytest.raises(ImportFileError, match=wanted):
        load(services, "visits", path)
    assert_nothing_changed(services, populated)


def test_a_bad_row_after_stored_batches_undoes_them(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two rows: four batches reach the store before the bad row is read.
    monkeypatch.setattr(
        whereabouts_module, "read_rows", functools.partial(readers_module.read_rows, batch_rows=2)
    )
    path = write_text(
        tmp_path / "visits.csv", VISITS_HEADER, *[GOOD_VISIT] * 8, f"p-bob,v-nowhere,{iso(T0)},,"
    )
    batches: list[int] = []

    with pytest.raises(ImportRejected) as refused:
        load(services, "visits", path, ImportOptions(progress=lambda done, total: batches.append(done)))

    assert len(batches) == 4
    assert [(e.line, e.field) for e in refused.value.errors] == [(10, "venue")]
    assert_nothing_changed(services, populated)


def test_skipping_stores_the_good_rows_across_batches(
    services: Services, tmp_path: Path, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        whereabouts_module, "read_rows", functools.partial(readers_module.read_rows, batch_rows=2)
    )
    good = [f"p-ann,v-rest,{iso(T0 + i * HOUR)},{iso(T0 + i * HOUR + HOUR)},qr" for i in range(6)]
    path = write_text(
        tmp_path / "visits.csv", VISITS_HEADER, *good[:5], f"p-bob,v-nowhere,{iso(T0)},,", good[5]
    )

    report = load(services, "visits", path, ImportOptions(on_error="skip"))

    assert (report.read, report.stored, report.rejected, report.duplicates) == (7, 6, 1, 0)
    assert services.store.counts().visits == 6


# ------------------------------------------------------------------- skip mode


def test_skip_mode_stores_good_visits_and_writes_each_rejected_row(
    services: Services, tmp_path: Path, registered: dict[str, int]
) -> None:
    bad_venue = f"p-bob,v-nowhere,{iso(T0)},,"
    broken = f'p-bob,"v-rest,{iso(T0)},,'
    future = f"p-cy,v-rest,{iso(NOW + HOUR)},,"
    lines = [
        GOOD_VISIT,
        bad_venue,
        broken,
        f"p-bob,v-office,{iso(T0)},,",
        future,
        f"p-cy,v-taxi,{epoch(T0)},,taxi",
    ]
    path = write_text(tmp_path / "visits.csv", VISITS_HEADER, *lines)
    rejects = tmp_path / "rejects.csv"

    report = load(services, "visits", path, ImportOptions(on_error="skip", rejects=rejects))

    assert (report.read, report.stored, report.rejected) == (6, 3, 3)
    assert report.rejects_path == str(rejects)
    assert services.store.counts().visits == 3
    assert {row[:2] for row in stored(services, "visits")} == {
        (registered["p-ann"], registered["v-rest"]),
        (registered["p-bob"], registered["v-office"]),
        (registered["p-cy"], registered["v-taxi"]),
    }
    # Lines that cannot be split come ahead of their batch: the order is not the file's.
    assert sorted(rejects_of(rejects), key=lambda r: int(r["line"])) == [
        {"line": "3", "field": "venue", "reason": "unknown venue reference", "row": bad_venue},
        {
            "line": "4",
            "field": "",
            "reason": "unbalanced quotes: a quoted value does not end on this line "
            "(line breaks inside values are not supported)",
            "row": broken,
        },
        {"line": "6", "field": "entered_at", "reason": "time is in the future", "row": future},
    ]


def test_skip_mode_with_people_rejects_duplicates_and_refs_already_stored(
    services: Services, tmp_path: Path, registered: dict[str, int]
) -> None:
    path = write_text(
        tmp_path / "more-people.csv",
        "ref,phone,id_document",
        "p-dan,,D1234567",
        "p-dan,,",
        "p-ann,,",
        "p-eve,not a phone,",
        "p-fay,+852 2345 6789,",
        "p-gus,,???",
    )
    rejects = tmp_path / "rejects.csv"

    report = load(services, "people", path, ImportOptions(on_error="skip", rejects=rejects))

    assert (report.read, report.stored, report.rejected) == (6, 2, 4)
    assert services.store.counts().people == 5
    assert [(r["line"], r["field"]) for r in rejects_of(rejects)] == [
        ("3", "ref"),
        ("4", "ref"),
        ("5", "phone"),
        ("7", "id_document"),
    ]
    reasons = [r["reason"] for r in rejects_of(rejects)]
    assert "appears twice in this file" in reasons[0]
    assert "already registered" in reasons[1]
    with services.store.read() as uow:
        dan = uow.people.get_by_ref("p-dan")
    assert dan is not None and dan.id_document_hash == services.hasher.hash("D1234567")


# ------------------------------------------------------ people and venues, refused

BAD_PEOPLE = {
    "ref twice in the file": (["p-dan,Dan", "p-dan,Dan again"], 3, "ref", "appears twice in this file"),
    "ref already stored": (["p-dan,Dan", "p-ann,Ann"], 3, "ref", "already registered"),
    "ref not a ref": (["-dan,Dan"], 2, "ref", "expected 1-64 letters"),
    "empty ref": ([",Dan"], 2, "ref", "expected 1-64 letters"),
    "name too long": (["p-dan," + "x" * 201], 2, "name", "at most 200 characters"),
}


@pytest.mark.parametrize("case", list(BAD_PEOPLE))
def test_a_bad_person_refuses_the_whole_file(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], case: str
) -> None:
    lines, line, field, reason = BAD_PEOPLE[case]
    path = write_text(tmp_path / "people.csv", "ref,name", *lines)

    with pytest.raises(ImportRejected) as refused:
        load(services, "people", path)

    assert [(e.line, e.field) for e in refused.value.errors] == [(line, field)]
    assert reason in refused.value.errors[0].message
    assert_nothing_changed(services, populated)
    with services.store.read() as uow:
        assert uow.people.get_by_ref("p-dan") is None


BAD_VENUES = {
    "unknown type": ("v-new,spaceport,Port,港,", "type", "unknown venue type 'spaceport'"),
    "taxi without a plate": ("v-cab,taxi,Cab,的士,", "plate", "needs its registration plate"),
    "plate already registered": ("v-cab,taxi,Cab,的士,AB 1234", "ref", "already registered"),
    "ref already registered": ("v-rest,restaurant,Again,再,", "ref", "already registered"),
    "ref twice in the file": ("v-new,restaurant,Again,再,", "ref", "appears twice in this file"),
    "no Chinese name": ("v-other,restaurant,Nameless,,", "name_zh", "expected non-empty text"),
}


@pytest.mark.parametrize("case", list(BAD_VENUES))
def test_a_bad_venue_refuses_the_whole_file(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], case: str
) -> None:
    line_text, field, reason = BAD_VENUES[case]
    path = write_text(
        tmp_path / "venues.csv", "ref,type,name_en,name_zh,plate", "v-new,bar,New Bar,新酒吧,", line_text
    )

    with pytest.raises(ImportRejected) as refused:
        load(services, "venues", path)

    assert [(e.line, e.field) for e in refused.value.errors] == [(3, field)]
    assert reason in refused.value.errors[0].message
    assert_nothing_changed(services, populated)


def test_many_bad_people_in_later_batches_store_none(
    services: Services, tmp_path: Path, populated: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "_PEOPLE_BATCH", 2)
    path = write_text(
        tmp_path / "people.csv", "ref,household", *[f"p-{i},hh-new" for i in range(7)], "p-3,hh-new"
    )

    with pytest.raises(ImportRejected) as refused:
        load(services, "people", path)

    assert [(e.line, e.field) for e in refused.value.errors] == [(9, "ref")]
    assert_nothing_changed(services, populated)
    with services.store.read() as uow:
        assert uow.households.count() == 1


def test_whereabouts_before_anyone_is_registered_are_refused_cleanly(
    services: Services, tmp_path: Path
) -> None:
    visits = write_text(tmp_path / "visits.csv", VISITS_HEADER, GOOD_VISIT)
    encounters = write_text(tmp_path / "encounters.csv", ENCOUNTERS_HEADER, GOOD_ENCOUNTER)

    with pytest.raises(ImportRejected) as no_people:
        load(services, "visits", visits)
    load(services, "people", write_rows(tmp_path / "people.csv", PEOPLE))
    with pytest.raises(ImportRejected) as no_venues:
        load(services, "visits", visits)
    with pytest.raises(ImportRejected) as unknown_pair:
        load(services, "encounters", write_text(tmp_path / "e.csv", ENCOUNTERS_HEADER, "x,y,1,2"))

    assert [(e.line, e.field) for e in no_people.value.errors] == [(2, "person")]
    assert [(e.line, e.field) for e in no_venues.value.errors] == [(2, "venue")]
    assert [(e.line, e.field) for e in unknown_pair.value.errors] == [(2, "person_a")]
    assert load(services, "encounters", encounters).stored == 1
    counts = services.store.counts()
    assert (counts.people, counts.venues, counts.visits, counts.encounters) == (3, 0, 0, 1)


def test_a_refused_file_in_skip_mode_still_closes_the_rejects_file(
    services: Services, tmp_path: Path
) -> None:
    path = write_text(tmp_path / "visits.jsonl", '{"who": "p-ann"}')
    rejects = tmp_path / "rejects.csv"

    with pytest.raises(ImportFileError, match="missing required fields: person, venue, entered_at"):
        load(services, "visits", path, ImportOptions(on_error="skip", rejects=rejects))

    assert rejects.read_text(encoding="utf-8").splitlines() == ["line,field,reason,row"]


# ------------------------------------------------- a file imported once, each row stored once


@pytest.mark.parametrize("kind", ["visits", "encounters"])
def test_a_whereabouts_file_imported_again_is_refused_naming_the_first_import(
    services: Services, tmp_path: Path, registered: dict[str, int], kind: str
) -> None:
    header, row = (VISITS_HEADER, GOOD_VISIT) if kind == "visits" else (ENCOUNTERS_HEADER, GOOD_ENCOUNTER)
    path = write_text(tmp_path / f"{kind}.csv", header, row)
    first = load(services, kind, path)
    assert (first.stored, first.duplicates) == (1, 0) and first.import_id is not None
    before = snapshot(services)

    with pytest.raises(Conflict) as refused:
        load(services, kind, path)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())  # the same bytes under another name: the same file
    with pytest.raises(Conflict) as refused_again:
        load(services, kind, copy)

    expected = (
        f"this {kind} file was already imported on 2026-11-20T04:00Z as import {first.import_id} "
        "(1 rows stored); nothing was stored"
    )
    assert refused.value.message == refused_again.value.message == expected
    assert (refused.value.code, refused.value.field) == ("already_imported", "file")
    assert snapshot(services) == before
    assert staging_left(services) == []
    with services.store.read() as uow:
        record = uow.imports.get(first.import_id)
    assert record is not None
    assert (record.kind, record.file_name, record.rows_read, record.rows_stored, record.imported_by) == (
        kind,
        f"{kind}.csv",
        1,
        1,
        "system",
    )


def test_visits_already_held_are_stored_once(
    services: Services, tmp_path: Path, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two rows: a row repeated in a later batch of the same file is found too.
    monkeypatch.setattr(
        whereabouts_module, "read_rows", functools.partial(readers_module.read_rows, batch_rows=2)
    )
    a, b, c, d = (f"p-ann,v-rest,{iso(T0 + i * HOUR)},{iso(T0 + i * HOUR + HOUR)},qr" for i in range(4))
    later = f"p-ann,v-rest,{iso(T0)},{iso(T0 + 2 * HOUR)},qr"  # a held visit's key, another check-out
    first = load(services, "visits", write_text(tmp_path / "first.csv", VISITS_HEADER, a, b))
    second = load(
        services, "visits", write_text(tmp_path / "second.csv", VISITS_HEADER, c, b, later, c, d, a)
    )

    assert (first.stored, first.duplicates) == (2, 0)
    assert (second.read, second.stored, second.duplicates, second.rejected) == (6, 2, 4, 0)
    ann, rest, qr = registered["p-ann"], registered["v-rest"], VisitSource.QR.code
    assert stored(services, "visits") == [
        (ann, rest, epoch(T0 + i * HOUR), epoch(T0 + i * HOUR + HOUR), False, qr) for i in range(4)
    ]
    assert services.store.counts().visits == 4
    with services.store.read() as uow:
        assert second.import_id is not None
        record = uow.imports.get(second.import_id)
    assert record is not None and (record.rows_stored, record.rows_duplicate) == (2, 4)


def test_an_encounter_is_stored_once_whichever_person_comes_first(
    services: Services, tmp_path: Path, registered: dict[str, int]
) -> None:
    ann, bob = registered["p-ann"], registered["p-bob"]
    eight = timedelta(minutes=8)
    first = load(
        services,
        "encounters",
        write_text(tmp_path / "first.csv", ENCOUNTERS_HEADER, f"p-bob,p-ann,{iso(T0)},{iso(T0 + eight)}"),
    )
    rows = [
        {"person_a": "p-ann", "person_b": "p-bob", "start": epoch(T0), "end": epoch(T0 + eight)},
        {"person_a": "p-bob", "person_b": "p-ann", "start": epoch(T0), "end": epoch(T0 + eight)},
        {
            "person_a": "p-ann",
            "person_b": "p-bob",
            "start": epoch(T0 + HOUR),
            "end": epoch(T0 + HOUR + eight),
        },
    ]
    second = load(services, "encounters", write_rows(tmp_path / "second.jsonl", rows))

    assert (first.stored, second.stored, second.duplicates) == (1, 1, 2)
    assert stored(services, "encounters") == [
        (min(ann, bob), max(ann, bob), epoch(T0), epoch(T0 + eight)),
        (min(ann, bob), max(ann, bob), epoch(T0 + HOUR), epoch(T0 + HOUR + eight)),
    ]


def test_upgrading_keeps_each_natural_key_once(settings: Settings) -> None:
    """Migration 0010 deletes the rows that importing a file twice had stored twice (the first is kept)."""
    db = Database(settings.resolved_database_url())
    try:
        upgrade(db, "0012")  # the revision before 0013
        t0 = epoch(T0)
        with db.write() as conn:
            bulk = {
                "venue_id": 7,
                "left_inferred": False,
                "source": VisitSource.IMPORT.code,
                "client_id": None,
            }
            conn.execute(
                insert(visits_table),
                [
                    {"id": 1, "person_id": 1, "entered_at": t0, "left_at": t0 + 600, **bulk},
                    {"id": 2, "person_id": 1, "entered_at": t0, "left_at": t0 + 900, **bulk},  # same key
                    {"id": 3, "person_id": 2, "entered_at": t0, "left_at": t0 + 600, **bulk},
                    # Two check-ins of one person at one instant: each client id is its own visit.
                    {"id": 4, "person_id": 3, "entered_at": t0, "left_at": t0, **bulk, "client_id": "a"},
                    {"id": 5, "person_id": 3, "entered_at": t0, "left_at": None, **bulk, "client_id": "b"},
                ],
            )
            conn.execute(
                insert(encounters_table),
                [
                    {"id": 1, "person_a": 2, "person_b": 1, "start_at": t0, "end_at": t0 + 480},
                    {"id": 2, "person_a": 1, "person_b": 2, "start_at": t0, "end_at": t0 + 480},
                    {"id": 3, "person_a": 2, "person_b": 1, "start_at": t0, "end_at": t0 + 480},
                    {"id": 4, "person_a": 3, "person_b": 1, "start_at": t0, "end_at": t0 + 60},
                ],
            )

        upgrade(db)

        with db.read() as conn:
            kept_visits = conn.execute(select(visits_table.c.id).order_by(visits_table.c.id)).scalars().all()
            kept_encounters = conn.execute(select(encounters_table).order_by(encounters_table.c.id)).all()
    finally:
        db.dispose()
    assert kept_visits == [1, 3, 4, 5]
    assert [tuple(r) for r in kept_encounters] == [(1, 1, 2, t0, t0 + 480), (4, 1, 3, t0, t0 + 60)]


def test_overlapping_files_imported_at_once_store_each_visit_once(
    services: Services, tmp_path: Path, registered: dict[str, int]
) -> None:
    rows = [f"p-ann,v-rest,{iso(T0 + i * timedelta(minutes=5))},,qr" for i in range(40)]
    first = write_text(tmp_path / "first.csv", VISITS_HEADER, *rows[:30])
    second = write_text(tmp_path / "second.csv", VISITS_HEADER, *rows[10:])
    barrier = threading.Barrier(2)

    def run(path: Path) -> ImportReport:
        barrier.wait()
        return load(services, "visits", path)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(run, [first, second]))

    assert sum(r.stored for r in reports) == 40
    assert sum(r.duplicates for r in reports) == 20
    assert len(stored(services, "visits")) == services.store.counts().visits == 40
