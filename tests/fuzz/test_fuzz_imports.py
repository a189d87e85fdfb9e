"""Fuzzing bulk imports: whatever file a data owner hands over, the answer is a report or a clear error.

Every importer (people, venues, visits, encounters, cases, and the Hong Kong
Department of Health's files) is fed random bytes, mutated CSV and JSON Lines,
other encodings, huge fields and missing columns. It must store the file, or refuse
it with a chaincut error (``ImportRejected`` with line-numbered errors, or
``ImportFileError``; a whereabouts file imported before, ``Conflict``) and store
nothing. Whereabouts repeated within and across files are stored once. The instant
parser under them is fuzzed on its own. The store is the embedded default, shared by
the examples of one test.
"""

# ruff: noqa: PT017 - a fuzzed call may succeed or be refused, so pytest.raises does not fit

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.bootstrap import Services
from chaincut.errors import ChaincutError, Conflict, ImportRejected
from chaincut.people import PersonDraft
from chaincut.store import StoreCounts
from chaincut.tracing.case_import import import_cases
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.importing import (
    ImportFileError,
    ImportOptions,
    ImportReport,
    import_encounters,
    import_hk_buildings,
    import_hk_cases,
    import_hk_clusters,
    import_people,
    import_venues,
    import_visits,
)
from chaincut.whereabouts.importing import readers as readers_module
from chaincut.whereabouts.importing import whereabouts as whereabouts_module
from chaincut.whereabouts.importing.timestamps import describe_instant_error, parse_instants

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
Importer = Callable[[Services, Path, ImportOptions], ImportReport]
_names = itertools.count()


def _cases(services: Services, path: Path, options: ImportOptions) -> ImportReport:
    zone = ZoneInfo("Asia/Hong_Kong")
    return import_cases(services.store, services.policy, services.clock, zone, path, options)


IMPORTERS: dict[str, Importer] = {
    "people": lambda s, p, o: import_people(s.store, s.hasher, s.clock, p, o),
    "venues": lambda s, p, o: import_venues(s.store, s.policy, s.clock, p, o),
    "visits": lambda s, p, o: import_visits(s.store, s.policy, s.clock, p, o),
    "encounters": lambda s, p, o: import_encounters(s.store, s.policy, s.clock, p, o),
    "cases": _cases,
    "hk-cases": lambda s, p, o: import_hk_cases(s.store, s.clock, p, o),
    "hk-buildings": lambda s, p, o: import_hk_buildings(s.store, s.clock, p, o),
    "hk-clusters": lambda s, p, o: import_hk_clusters(s.store, s.clock, p, o),
}
HK = {"hk-cases", "hk-buildings", "hk-clusters"}
WHEREABOUTS = {"visits", "encounters"}


def samples(now_text: str, earlier_text: str) -> dict[str, str]:
    """A small valid CSV file of each kind, to mutate."""
    return {
        "people": (
            "ref,household,id_document,name,phone,address\n"
            "p-new-1,hh-1,A123456(3),Ann Example,+852 9123 4567,1 Queen's Road\n"
            "p-new-2,,,Bob,,\n"
        ),
        "venues": (
            "ref,type,name_en,name_zh,district,address,plate\n"
            "v-new-1,restaurant,Golden Dragon,金龍,Central,1 Des Voeux Road,\n"
            "v-new-2,taxi,Taxi,的士,,,XY 9876\n"
        ),
        "visits": (
            "person,venue,entered_at,left_at,source\n"
            f"P-1,V-REST,{earlier_text},{now_text},qr\n"
            f"P-2,V-REST,{earlier_text},,\n"
            f"P-1,V-TAXI,1790000000,1790000600.5,taxi\n"
        ),
        "encounters": f"person_a,person_b,start,end\nP-1,P-2,{earlier_text},{now_text}\n",
        "cases": (
            "ref,person,classification,status,onset_on,specimen_on,reported_on,isolated_at\n"
            f"C-new-1,P-1,local,confirmed,2026-11-17,,2026-11-19,{now_text}\n"
            "C-new-2,P-2,imported,probable,,2026-11-18,,\n"
        ),
        "hk-cases": (
            "Case no.,Report date,Date of onset,Gender,Age,Hospitalised/Discharged/Deceased,"
            "HK/Non-HK resident,Case classification*,Confirmed/probable\n"
            "1,23/01/2020,21/01/2020,M,39,Discharged,Non-HK resident,Imported case,Confirmed\n"
            "2,23/01/2020,18/01/2020,M,56,Discharged,HK resident,Imported case,Confirmed\n"
        ),
        "hk-buildings": (
            "District,Building name,Last date of residence of the case(s),Related probable/confirmed cases\n"
            "Wan Chai,Tai Hing Restaurant (non-residential),15/02/2020,12\n"
            'Central & Western,Block 1 Example Court,14/02/2020,"1, 2"\n'
        ),
        "hk-clusters": (
            'Cluster,Involved case number,Number of cases\nExample Temple,"1, 2",2\nBad Cluster,,\n'
        ),
    }


class World:
    """A store with two people and two venues, for files to refer to."""

    def __init__(self, services: Services, folder: Path) -> None:
        self.services = services
        self.folder = folder
        for ref in ("P-1", "P-2"):
            services.people.register(PersonDraft(ref=ref))
        services.venues.register(VenueDraft("restaurant", "Tsui Wah", "翠華", ref="V-REST"))
        services.venues.register(VenueDraft("taxi", "Taxi", "的士", ref="V-TAXI", plate="AB1234"))
        now = services.clock.now()
        self.samples = samples((now - timedelta(hours=1)).isoformat(), (now - timedelta(hours=3)).isoformat())

    def file(self, content: bytes, suffix: str) -> Path:
        path = self.folder / f"import-{next(_names)}{suffix}"
        path.write_bytes(content)
        return path

    def run(self, kind: str, path: Path, on_error: str = "abort") -> None:
        """Import; a refusal must be a chaincut error and store nothing.

        A file of whereabouts imported once is refused the second time (the same bytes,
        whatever its name), and the same rows in other bytes store nothing more.
        """
        services = self.services
        before = services.store.counts()
        rejects = path.with_suffix(".rejects.csv") if on_error == "skip" else None
        options = ImportOptions(on_error=on_error, rejects=rejects)  # type: ignore[arg-type]
        try:
            report = IMPORTERS[kind](services, path, options)
        except ChaincutError as exc:
            assert exc.message, repr(exc)
            if isinstance(exc, ImportRejected):
                assert exc.errors and exc.total_errors >= len(exc.errors)
                assert all(e.line is not None and e.line >= 1 for e in exc.errors), exc.errors
            elif isinstance(exc, Conflict):  # these bytes were imported by an earlier example
                assert exc.code == "already_imported" and kind in WHEREABOUTS, repr(exc)
            else:
                assert isinstance(exc, ImportFileError), repr(exc)
            if kind != "hk-clusters" or isinstance(exc, ImportFileError):
                assert services.store.counts() == before, f"a refused {kind} import stored something"
            return
        assert report.read >= report.stored
        if on_error == "abort":
            assert report.rejected == 0
        _check_grown(before, services.store.counts())
        if kind in WHEREABOUTS:
            self._imported_once(kind, path, options, report)

    def _imported_once(self, kind: str, path: Path, options: ImportOptions, first: ImportReport) -> None:
        services = self.services
        after = services.store.counts()
        with pytest.raises(Conflict, match=f"already imported on .* as import {first.import_id} "):
            IMPORTERS[kind](services, self.file(path.read_bytes(), path.suffix), options)
        if path.suffix in (".csv", ".jsonl"):  # a blank line more: other bytes, the same rows
            again = IMPORTERS[kind](services, self.file(path.read_bytes() + b"\n", path.suffix), options)
            assert (again.stored, again.duplicates) == (0, first.stored + first.duplicates)
        assert services.store.counts() == after


def _check_grown(before: StoreCounts, after: StoreCounts) -> None:
    for name in ("people", "venues", "visits", "encounters", "cases"):
        assert getattr(after, name) >= getattr(before, name)


@pytest.fixture
def world(embedded_services: Services, tmp_path: Path) -> World:
    return World(embedded_services, tmp_path)


KINDS = st.sampled_from(sorted(IMPORTERS))
SUFFIXES = st.sampled_from([".csv", ".jsonl", ".parquet", ".json", ".txt", ""])
NASTY = st.sampled_from(
    [
        '"',
        '""',
        ",",
        "\n",
        "\r",
        "\r\n",
        "\x00",
        "\ufeff",
        "\u2028",
        "é",
        "金",
        "²",
        "٣",
        "\t",
        "\\",
        "{",
        "}",
    ]
)


def mutate(text: str, data: st.DataObject) -> str:
    """A few random edits: characters inserted, deleted or replaced, lines dropped or repeated."""
    for _ in range(data.draw(st.integers(1, 4))):
        lines = text.split("\n")
        edit = data.draw(st.sampled_from(["insert", "delete", "replace", "drop_line", "dup_line", "swap"]))
        at = data.draw(st.integers(0, len(text)))
        if edit == "insert":
            text = text[:at] + data.draw(NASTY | st.text(max_size=5)) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 10)) :]
        elif edit == "replace":
            text = text[:at] + data.draw(NASTY) + text[at + 1 :]
        elif edit == "drop_line":
            del lines[data.draw(st.integers(0, len(lines) - 1))]
            text = "\n".join(lines)
        elif edit == "dup_line":
            line = data.draw(st.integers(0, len(lines) - 1))
            text = "\n".join([*lines[: line + 1], lines[line], *lines[line + 1 :]])
        else:
            a, b = data.draw(st.integers(0, len(lines) - 1)), data.draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


def as_jsonl(csv_text: str) -> str:
    """The CSV sample as JSON Lines (naively: a quoted comma would split)."""
    lines = [line for line in csv_text.splitlines() if line]
    names = lines[0].split(",")
    rows = [dict(zip(names, line.split(","), strict=False)) for line in lines[1:]]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


@FUZZ
@given(kind=KINDS, suffix=SUFFIXES, content=st.binary(max_size=400))
def test_random_bytes_are_refused_clearly(world: World, kind: str, suffix: str, content: bytes) -> None:
    world.run(kind, world.file(content, suffix))


@FUZZ
@given(kind=KINDS, data=st.data())
def test_mutated_csv_is_imported_or_refused_clearly(world: World, kind: str, data: st.DataObject) -> None:
    text = mutate(world.samples[kind], data)
    mode = data.draw(st.sampled_from(["abort", "skip"]))
    world.run(kind, world.file(text.encode("utf-8", "surrogatepass"), ".csv"), mode)


@FUZZ
@given(kind=KINDS.filter(lambda k: k not in HK), data=st.data())
def test_mutated_json_lines_are_imported_or_refused_clearly(
    world: World, kind: str, data: st.DataObject
) -> None:
    text = as_jsonl(world.samples[kind])
    extra = data.draw(
        st.sampled_from(
            [
                "",
                '{"ref": 1, "person": 2.5, "venue": true, "entered_at": null}\n',
                '{"person": ["P-1"], "venue": {"x": 1}}\n',
                "[1, 2, 3]\n",
                '"just a string"\n',
                '{"entered_at": 1e400, "start": -1e300, "end": 18446744073709551616}\n',
                '{"ref": "x"}{"ref": "y"}\n',
                "{\n",
            ]
        )
    )
    mutated = mutate(text + extra, data) if data.draw(st.booleans()) else text + extra
    world.run(kind, world.file(mutated.encode("utf-8", "surrogatepass"), ".jsonl"))


def _stored_keys(world: World, kind: str) -> list[tuple[int, ...]]:
    """Each archived row's natural key (a visit's with its left_at after it)."""
    archive = world.services.store.archive
    assert archive is not None
    table = archive.read("visits" if kind == "visits" else "encounters")
    names = ("person_id", "venue_id", "entered_at", "left_at") if kind == "visits" else ENCOUNTER_KEY
    return list(zip(*(table[name].to_pylist() for name in names), strict=True))


ENCOUNTER_KEY = ("person_a", "person_b", "start_at", "end_at")


@FUZZ
@given(kind=st.sampled_from(sorted(WHEREABOUTS)), batch_rows=st.integers(1, 4), data=st.data())
def test_whereabouts_are_stored_once_however_they_repeat(
    world: World, kind: str, batch_rows: int, data: st.DataObject
) -> None:
    """Rows repeated in a file (across its batches) or across files are stored once, the first kept."""
    now = int(world.services.clock.now().timestamp())
    with world.services.store.read() as uow:
        ids = {
            row["ref"]: row["id"]
            for row in [*uow.people.ref_index().to_pylist(), *uow.venues.ref_index().to_pylist()]
        }
    instants = st.integers(1, 5).map(lambda k: now - k * 600)
    rows: st.SearchStrategy[tuple[str, str, int, int]]
    if kind == "visits":
        rows = st.tuples(
            st.sampled_from(["P-1", "P-2"]),
            st.sampled_from(["V-REST", "V-TAXI"]),
            instants,
            st.integers(0, 9),
        )
        header = "person,venue,entered_at,left_at"
    else:
        rows = st.tuples(
            st.sampled_from(["P-1", "P-2"]), st.sampled_from(["P-2", "P-1"]), instants, st.integers(0, 9)
        ).filter(lambda r: r[0] != r[1])
        header = "person_a,person_b,start,end"
    files = data.draw(st.lists(st.lists(rows, min_size=1, max_size=10), min_size=1, max_size=3))
    before = _stored_keys(world, kind)
    first = {(row[:-1] if kind == "visits" else row): row for row in before}
    stored = 0
    batches = functools.partial(readers_module.read_rows, batch_rows=batch_rows)
    with patch.object(whereabouts_module, "read_rows", batches):
        for lines in files:
            for x, y, at, minutes in lines:
                if kind == "visits":
                    row: tuple[int, ...] = (ids[x], ids[y], at, at + 60 * minutes)
                    first.setdefault(row[:-1], row)
                else:
                    row = (min(ids[x], ids[y]), max(ids[x], ids[y]), at, at + 60 * minutes)
                    first.setdefault(row, row)
            text = "".join(f"{x},{y},{at},{at + 60 * minutes}\n" for x, y, at, minutes in lines)
            path = world.file(f"{header}\n{text}".encode(), ".csv")
            try:
                report = IMPORTERS[kind](world.services, path, ImportOptions())
            except Conflict:  # the same bytes as an earlier example's file: stored then
                continue
            stored += report.stored
            assert report.stored + report.duplicates == report.read == len(lines)

    after = _stored_keys(world, kind)
    assert sorted(after) == sorted(first.values())  # each key once, with the row that came first
    assert len(after) - len(before) == stored


@FUZZ
@given(kind=KINDS, encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "gb18030", "big5"]))
def test_files_in_other_encodings_are_refused_or_read(world: World, kind: str, encoding: str) -> None:
    text = world.samples[kind].replace("Ann Example", "Zoë Ñandú").replace("金龍", "金龍")
    world.run(kind, world.file(text.encode(encoding, "replace"), ".csv"))


@FUZZ
@given(
    kind=KINDS,
    size=st.sampled_from([1_000, 140_000, 1_100_000]),
    quoted=st.booleans(),
    column=st.integers(0, 3),
)
def test_huge_fields_are_refused_clearly(
    world: World, kind: str, size: int, quoted: bool, column: int
) -> None:
    lines = world.samples[kind].splitlines()
    cells = lines[1].split(",")
    huge = "x" * size
    cells[min(column, len(cells) - 1)] = f'"{huge}"' if quoted else huge
    text = "\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n"
    world.run(kind, world.file(text.encode(), ".csv"))


@FUZZ
@given(kind=KINDS, data=st.data())
def test_missing_and_renamed_columns_are_refused_clearly(
    world: World, kind: str, data: st.DataObject
) -> None:
    lines = world.samples[kind].splitlines()
    header = lines[0].split(",")
    dropped = data.draw(st.integers(0, len(header) - 1))
    rename = data.draw(st.booleans())
    if rename:
        header[dropped] = data.draw(st.text(max_size=6))
        body = lines[1:]
    else:
        del header[dropped]
        body = [",".join(c for i, c in enumerate(line.split(",")) if i != dropped) for line in lines[1:]]
    text = "\n".join([",".join(header), *body]) + "\n"
    world.run(kind, world.file(text.encode("utf-8", "surrogatepass"), ".csv"))


INSTANT_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "2026-03-01T10:15:00+08:00",
            "2026-02-30T10:15:00Z",
            "2026-03-01 10:15",
            "1767225600",
            "1767225600.999999999",
            "-0.5",
            "1e400",
            "-1e400",
            "99999999999999999999999999999",
            "0x10",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00-14:00",
            " 2026-03-01T10:15:00.123456789Z ",
            "NaN",
            "inf",
            "",
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.none() | INSTANT_TEXT, max_size=20), dictionary=st.booleans())
def test_instant_parsing_never_crashes(values: list[str | None], dictionary: bool) -> None:
    column = pa.array(values, pa.string())
    if dictionary:
        column = column.dictionary_encode()
    seconds, ok = parse_instants(column)
    assert len(seconds) == len(ok) == len(values)
    for value, fine in zip(values, ok, strict=True):
        if not fine:
            assert describe_instant_error(value).startswith("expected ISO 8601")


@settings(max_examples=100, deadline=None)
@given(
    numbers=st.lists(
        st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**63), 2**63 - 1),
        max_size=10,
    )
)
def test_numeric_instants_never_crash(numbers: list[float | int | None]) -> None:
    floats = [None if n is None else float(n) for n in numbers]
    ints = [n if isinstance(n, int) else None for n in numbers]
    for column in (pa.array(floats, pa.float64()), pa.array(ints, pa.int64())):
        seconds, ok = parse_instants(column)
        assert len(seconds) == len(ok) == len(numbers)


@pytest.mark.parametrize("digits", ["²", "١٢", "①", "½", "٣2"])
def test_unicode_digits_in_hong_kong_files_are_refused_or_read(world: World, digits: str) -> None:
    """``str.isdigit`` says yes to superscripts and other scripts' digits; ``int`` may not."""
    cases = world.samples["hk-cases"].replace("\n1,23/01/2020", f"\n{digits},23/01/2020")
    world.run("hk-cases", world.file(cases.encode(), ".csv"))
    world.run("hk-cases", world.file(world.samples["hk-cases"].encode(), ".csv"))
    clusters = (
        "Cluster,Involved case number,Number of cases\n"
        f'Temple,"1, {digits}",{digits}\nOther,"1, 2",{digits}\n'
    )
    world.run("hk-clusters", world.file(clusters.encode(), ".csv"))


@FUZZ
@given(
    isolated=st.sampled_from(["1000000000000000", "-99999999999", "253402300800", "1e15", "-1e12"])
    | st.integers(-(2**62), 2**62).map(str),
    column=st.sampled_from(["isolated_at", "onset_on", "reported_on"]),
)
def test_far_off_times_in_a_cases_file_are_refused_clearly(world: World, isolated: str, column: str) -> None:
    header = "ref,person,classification,onset_on,reported_on,isolated_at"
    values = {"ref": "C-far", "person": "P-1", "classification": "local", "onset_on": "2026-11-17"}
    values["reported_on"] = values["isolated_at"] = ""
    values[column] = isolated if column == "isolated_at" else f"{isolated[:6]}-01-01"
    text = header + "\n" + ",".join(values[name] for name in header.split(",")) + "\n"
    world.run("cases", world.file(text.encode(), ".csv"))
