"""Streaming import readers: line numbers, broken rows, formats, bounds; the rejects file."""

from __future__ import annotations

import csv
import random
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from chaincut.whereabouts.importing.readers import (
    FileFormat,
    ImportFileError,
    RowBatch,
    RowError,
    detect_format,
    read_rows,
    total_size,
)
from chaincut.whereabouts.importing.rejects import RejectsWriter

VISIT = ["person", "venue", "entered_at"]


def read_all(
    path: Path,
    required: list[str],
    optional: tuple[str, ...] = (),
    **options: int,
) -> tuple[list[RowBatch], list[RowError]]:
    errors: list[RowError] = []
    batches = list(read_rows(path, required=required, optional=optional, broken=errors.append, **options))
    return batches, errors


def rows_of(batches: list[RowBatch]) -> list[tuple[int, dict[str, object]]]:
    rows = []
    for batch in batches:
        columns = {name: column.to_pylist() for name, column in batch.columns.items()}
        for index, line in enumerate(batch.lines.tolist()):
            rows.append((line, {name: values[index] for name, values in columns.items()}))
    return rows


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ------------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", FileFormat.CSV),
        ("A.CSV", FileFormat.CSV),
        ("a.jsonl", FileFormat.JSONL),
        ("a.ndjson", FileFormat.JSONL),
        ("a.json", FileFormat.JSONL),
        ("a.parquet", FileFormat.PARQUET),
        ("a.pq", FileFormat.PARQUET),
    ],
)
def test_format_is_told_by_suffix(name: str, expected: FileFormat) -> None:
    assert detect_format(Path(name)) is expected


def test_unknown_format_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match=r"unknown file format '\.xlsx'") as caught:
        detect_format(Path("visits.xlsx"))
    assert caught.value.path == Path("visits.xlsx")
    assert caught.value.line is None


def test_total_size_and_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", "person\nP1\n")
    assert total_size(path) == 10
    with pytest.raises(ImportFileError, match="cannot read"):
        total_size(tmp_path / "missing.csv")
    with pytest.raises(ImportFileError, match="cannot read"):
        read_rows(tmp_path / "missing.csv", required=["person"], broken=print)


# ---------------------------------------------------------------------------- CSV

BROKEN_CSV = (
    "person,venue,entered_at\n"  # 1
    "P1,V1,2026-03-01T10:15:00+08:00\n"  # 2
    "P2,V2\n"  # 3: too few fields
    "P3,V3,t3\n"  # 4
    "P4,V4,t4,extra\n"  # 5: too many
    "P5,V5,t5\n"  # 6
    '"P6,x",V6,t6\n'  # 7: quoted comma is fine
    "\n"  # 8: blank
    "P7,V7,t7\n"  # 9
    '"unterminated,V8,t8\n'  # 10
    "P9,V9,t9"  # 11: no final newline
)


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 64, 23, 1])
def test_csv_broken_lines_are_reported_on_their_lines(tmp_path: Path, chunk_bytes: int) -> None:
    path = write(tmp_path, "v.csv", BROKEN_CSV)
    batches, errors = read_all(path, VISIT, chunk_bytes=chunk_bytes)
    assert [(line, row["person"]) for line, row in rows_of(batches)] == [
        (2, "P1"),
        (4, "P3"),
        (6, "P5"),
        (7, "P6,x"),
        (9, "P7"),
        (11, "P9"),
    ]
    assert [(error.line, error.field, error.raw) for error in errors] == [
        (3, None, "P2,V2"),
        (5, None, "P4,V4,t4,extra"),
        (10, None, '"unterminated,V8,t8'),
    ]
    assert errors[0].message == "expected 3 fields, found 2"
    assert errors[1].message == "expected 3 fields, found 4"
    assert errors[2].message.startswith("unbalanced quotes")


def test_csv_errors_arrive_before_the_batch_that_follows_them(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", BROKEN_CSV)
    events: list[tuple[str, int]] = []
    for batch in read_rows(
        path,
        required=VISIT,
        batch_rows=1,
        broken=lambda error: events.append(("broken", error.line)),
    ):
        events.append(("row", int(batch.lines[0])))
    assert [line for _, line in events] == [2, 3, 4, 5, 6, 7, 9, 10, 11]


def _random_csv(seed: int) -> tuple[str, list[tuple[int, str]], list[int]]:
    """A CSV with good, broken and blank lines at random places, and what to expect."""
    rng = random.Random(seed)
    lines = ["a,b,c"]
    good: list[tuple[int, str]] = []
    broken: list[int] = []
    for number in range(2, 400):
        kind = rng.random()
        newline = "\r\n" if rng.random() < 0.2 else "\n"
        if kind < 0.08:
            lines.append("" + newline)
        elif kind < 0.16:
            lines.append(",".join(["x"] * rng.choice([1, 2, 4, 5])) + newline)
            broken.append(number)
        else:
            value = f"v{number}" if rng.random() < 0.7 else f'"v{number}, ""quoted"""'
            lines.append(f"{value},{rng.randint(0, 9)},c{number}" + newline)
            good.append((number, f"c{number}"))
    lines[0] += "\n"
    return "".join(lines), good, broken


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("chunk_bytes", "batch_rows"), [(1 << 20, 1000), (97, 7), (512, 1)])
def test_csv_line_numbers_survive_any_chunking(
    tmp_path: Path, seed: int, chunk_bytes: int, batch_rows: int
) -> None:
    text, good, broken = _random_csv(seed)
    path = write(tmp_path, "r.csv", text)
    batches, errors = read_all(path, ["c"], chunk_bytes=chunk_bytes, batch_rows=batch_rows)
    assert [(line, row["c"]) for line, row in rows_of(batches)] == good
    assert [error.line for error in errors] == broken
    assert max(batch.num_rows for batch in batches) <= batch_rows
    progress = [batch.bytes_read for batch in batches]
    assert progress == sorted(progress)
    assert progress[-1] == len(text.encode())


def test_csv_raw_text_is_the_original_line(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", 'person,venue,entered_at\r\n"P1",V1,t1\r\nP2, V2 ,t2\r\n')
    batches, _ = read_all(path, VISIT, chunk_bytes=20)
    texts = [batch.raw_text(index) for batch in batches for index in range(batch.num_rows)]
    assert texts == ['"P1",V1,t1', "P2, V2 ,t2"]
    assert rows_of(batches)[1][1]["venue"] == " V2 "


def test_csv_quoted_line_break_breaks_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", 'person,venue,entered_at\nP1,"Shop 3\nTower B",t1\nP2,V2,t2\n')
    batches, errors = read_all(path, VISIT)
    assert [line for line, _ in rows_of(batches)] == [4]
    assert [(error.line, error.raw) for error in errors] == [(2, 'P1,"Shop 3'), (3, 'Tower B",t1')]
    assert all("line breaks inside values are not supported" in e.message for e in errors)


def test_csv_line_that_is_not_utf8_is_broken(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", b"person,venue,entered_at\nP1,V1,t1\nP\xff,V2,t2\nP3,V3,t3\n")
    batches, errors = read_all(path, VISIT)
    assert [line for line, _ in rows_of(batches)] == [2, 4]
    assert [(error.line, error.message) for error in errors] == [(3, "not valid UTF-8 text")]


def test_csv_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", b"\xef\xbb\xbfperson,venue,entered_at\nP1,V1,t1\n")
    batches, errors = read_all(path, VISIT)
    assert rows_of(batches) == [(2, {"person": "P1", "venue": "V1", "entered_at": "t1"})]
    assert errors == []


def test_csv_extra_columns_are_ignored_and_missing_optional_ones_absent(tmp_path: Path) -> None:
    text = "note,entered_at,venue,person,note\nhi,t1,V1,P1,x\n"
    path = write(tmp_path, "v.csv", text)
    batches, _ = read_all(path, VISIT, optional=("left_at",))
    assert list(batches[0].columns) == VISIT
    assert rows_of(batches) == [(2, {"person": "P1", "venue": "V1", "entered_at": "t1"})]
    assert all(pa.types.is_string(column.type) for column in batches[0].columns.values())


def test_csv_values_stay_text_even_when_they_look_like_nulls(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", 'person,venue,entered_at\nNA,,"null"\n')
    batches, _ = read_all(path, VISIT)
    assert rows_of(batches) == [(2, {"person": "NA", "venue": "", "entered_at": "null"})]


def test_csv_missing_required_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", "person,place\nP1,V1\n")
    with pytest.raises(ImportFileError) as caught:
        read_rows(path, required=VISIT, broken=print)
    assert caught.value.message == ("missing required columns: venue, entered_at (found: person, place)")
    assert str(caught.value) == f"v.csv: {caught.value.message}"


def test_csv_repeated_requested_column_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", "person,venue,entered_at,person\nP1,V1,t1,P2\n")
    with pytest.raises(ImportFileError, match="repeated in the header: person"):
        read_rows(path, required=VISIT, broken=print)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file: no header line"),
        ("person,venue,entered_at\n", "empty file: a header but no rows"),
        ("person,venue,entered_at", "empty file: a header but no rows"),
        ("person,venue,entered_at\n\n\r\n", "empty file: a header but no rows"),
        ("\nperson\n", "no header: the first line is blank"),
    ],
)
def test_csv_empty_files_are_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "v.csv", text)
    with pytest.raises(ImportFileError, match=message):
        read_rows(path, required=["person"], broken=print)


def test_csv_of_blank_lines_only_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", "person\n" + "\n" * 70_000 + "  \n")
    errors: list[RowError] = []
    rows = read_rows(path, required=["person"], broken=errors.append)
    assert [batch.num_rows for batch in rows] == [1]  # the spaces are a value
    blank = write(tmp_path, "b.csv", "person\n" + "\n" * 70_000)
    with pytest.raises(ImportFileError, match="empty file"):
        list(read_rows(blank, required=["person"], broken=errors.append))


def test_csv_broken_callback_can_stop_the_import(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", BROKEN_CSV)

    def abort(error: RowError) -> None:
        raise ImportFileError(error.message, path=path, line=error.line)

    with pytest.raises(ImportFileError) as caught:
        list(read_rows(path, required=VISIT, broken=abort, batch_rows=1))
    assert caught.value.line == 3
    assert not _import_threads()


def test_stopping_early_releases_the_reader(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", "person\n" + "P\n" * 10_000)
    rows = read_rows(path, required=["person"], broken=print, batch_rows=10, chunk_bytes=100)
    first = next(iter(rows))
    assert first.lines.tolist() == list(range(2, 12))
    rows.close()
    assert not _import_threads()


def _import_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("chaincut-import")]


def test_overlong_line_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", b"person\nP1\n" + b"x" * (16 * 1024 * 1024 + 1) + b"\nP3\n")
    errors: list[RowError] = []
    with pytest.raises(ImportFileError, match="line longer than 16 MiB") as caught:
        list(read_rows(path, required=["person"], broken=errors.append, chunk_bytes=1024))
    assert caught.value.line == 3


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "v.csv", "person\nP\n")
    with pytest.raises(ValueError, match="positive"):
        read_rows(path, required=["person"], broken=print, batch_rows=0)


def test_csv_streams_large_files_in_bounded_batches(tmp_path: Path) -> None:
    rows = 2_000_000
    numbers = pa.array(np.arange(rows))
    table = pa.table(
        {
            "person": pc.binary_join_element_wise("P", pc.cast(numbers, pa.string()), ""),
            "venue": pc.cast(pc.bit_wise_and(numbers, 1023), pa.string()),
            "entered_at": pa.array(["2026-03-01T10:15:00+08:00"] * rows),
        }
    )
    path = tmp_path / "big.csv"
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="none"))
    del table, numbers
    baseline = pa.total_allocated_bytes()
    seen = 0
    sizes: list[int] = []
    peak_arrow = 0
    for batch in read_rows(path, required=["person", "venue"], batch_rows=300_000, broken=print):
        assert batch.lines[0] == seen + 2
        assert np.array_equal(np.diff(batch.lines), np.ones(batch.num_rows - 1, np.int64))
        assert batch.columns["person"][0].as_py() == f"P{seen}"
        seen += batch.num_rows
        sizes.append(batch.num_rows)
        peak_arrow = max(peak_arrow, pa.total_allocated_bytes() - baseline)
    assert seen == rows
    assert max(sizes) <= 300_000
    assert len(sizes) >= rows // 300_000
    # Two batches' worth of columns at most, far from the whole file's.
    assert peak_arrow < total_size(path) // 3


# ---------------------------------------------------------------------- JSON Lines


def test_jsonl_malformed_line_in_the_middle_is_reported(tmp_path: Path) -> None:
    lines = [f'{{"person": "P{n}", "venue": "V{n}", "entered_at": "t{n}"}}' for n in range(1, 7)]
    lines[2] = '{"person": "P3", "venue": '
    path = write(tmp_path, "v.jsonl", "\n".join(lines) + "\n")
    batches, errors = read_all(path, VISIT)
    assert [row["person"] for _, row in rows_of(batches)] == ["P1", "P2", "P4", "P5", "P6"]
    assert [line for line, _ in rows_of(batches)] == [1, 2, 4, 5, 6]
    assert [(error.line, error.field, error.raw) for error in errors] == [(3, None, lines[2])]
    assert errors[0].message.startswith("not valid JSON")


def test_jsonl_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    text = '\n{"person": "P1"}\n  \n\t\r\n{"person": "P2"}\r\n\n{"person": "P3"}'
    path = write(tmp_path, "v.jsonl", text)
    for chunk_bytes in (1 << 20, 7):
        batches, errors = read_all(path, ["person"], chunk_bytes=chunk_bytes)
        assert [(line, row["person"]) for line, row in rows_of(batches)] == [
            (2, "P1"),
            (5, "P2"),
            (7, "P3"),
        ]
        assert errors == []


def test_jsonl_numbers_come_out_as_their_decimal_text(tmp_path: Path) -> None:
    text = (
        '{"person": 12, "venue": "V1", "entered_at": 1767225600}\n'
        '{"person": "P2", "venue": "V2", "entered_at": 1767225600.5}\n'
        '{"person": "P3", "venue": null, "entered_at": "2026-03-01T10:15:00Z"}\n'
        '{"person": "P4", "entered_at": 1.0}\n'
    )
    path = write(tmp_path, "v.jsonl", text)
    for chunk_bytes in (1 << 20, 1):
        batches, errors = read_all(path, VISIT, chunk_bytes=chunk_bytes)
        assert errors == []
        assert [row for _, row in rows_of(batches)] == [
            {"person": "12", "venue": "V1", "entered_at": "1767225600"},
            {"person": "P2", "venue": "V2", "entered_at": "1767225600.5"},
            {"person": "P3", "venue": None, "entered_at": "2026-03-01T10:15:00Z"},
            {"person": "P4", "venue": None, "entered_at": "1"},
        ]
        assert all(pa.types.is_string(column.type) for batch in batches for column in batch.columns.values())


def test_jsonl_numeric_columns_read_fast_across_chunks(tmp_path: Path) -> None:
    lines = [f'{{"person": "P{n}", "at": {1767225600 + n}}}' for n in range(2_000)]
    lines += [f'{{"person": "P{n}", "at": {n}.25}}' for n in range(2_000, 4_000)]
    lines += [f'{{"person": "P{n}", "at": "x{n}"}}' for n in range(4_000, 6_000)]
    path = write(tmp_path, "v.jsonl", "\n".join(lines))
    batches, errors = read_all(path, ["person", "at"], chunk_bytes=4_096, batch_rows=500)
    rows = rows_of(batches)
    assert errors == []
    assert [line for line, _ in rows] == list(range(1, 6_001))
    assert rows[0][1]["at"] == "1767225600"
    assert rows[2_000][1]["at"] == "2000.25"
    assert rows[5_999][1]["at"] == "x5999"


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"person": true}', "person", "expected a string or a number, found true"),
        ('{"person": {"id": 1}}', "person", "expected a string or a number, found an object"),
        ('{"person": "P", "venue": [1]}', "venue", "expected a string or a number, found an array"),
        ("[1, 2]", None, "expected a JSON object, found an array"),
        ('"P1"', None, "expected a JSON object, found a string"),
        ('{"person": "P"}{"person": "Q"}', None, "not valid JSON"),
    ],
)
def test_jsonl_rows_that_are_not_flat_objects_are_broken(
    tmp_path: Path, line: str, field: str | None, message: str
) -> None:
    path = write(tmp_path, "v.jsonl", f'{{"person": "P1"}}\n{line}\n{{"person": "P3"}}\n')
    batches, errors = read_all(path, ["person"], optional=("venue",))
    assert [line for line, _ in rows_of(batches)] == [1, 3]
    assert [(error.line, error.field, error.raw) for error in errors] == [(2, field, line)]
    assert errors[0].message.startswith(message)


def test_jsonl_object_spread_over_lines_is_broken(tmp_path: Path) -> None:
    path = write(tmp_path, "v.jsonl", '{"person": "P1"}\n{\n"person": "P2"}\n{"person": "P3"}\n')
    batches, errors = read_all(path, ["person"])
    assert [line for line, _ in rows_of(batches)] == [1, 4]
    assert [error.line for error in errors] == [2, 3]


def test_jsonl_missing_key_is_null_and_a_field_nobody_has_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "v.jsonl", '{"person": "P1", "venue": "V1"}\n{"venue": "V2"}\n')
    batches, _ = read_all(path, ["person", "venue"])
    assert [row["person"] for _, row in rows_of(batches)] == ["P1", None]
    wrong = write(tmp_path, "w.jsonl", '{"name": "A", "phone": "1"}\n')
    with pytest.raises(ImportFileError, match=r"missing required fields: person \(found: name, phone\)"):
        list(read_rows(wrong, required=["person"], broken=print))


@pytest.mark.parametrize("text", ["", "\n\n", "  \n\t\n"])
def test_jsonl_empty_file_is_a_file_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "v.jsonl", text)
    with pytest.raises(ImportFileError, match="empty file: no rows"):
        list(read_rows(path, required=["person"], broken=print))


def test_jsonl_byte_order_mark_and_raw_text(tmp_path: Path) -> None:
    path = write(tmp_path, "v.jsonl", b'\xef\xbb\xbf{"person": "P1"}\r\n{"person": "P2"}\n')
    batches, errors = read_all(path, ["person"])
    assert errors == []
    assert [batches[0].raw_text(index) for index in range(2)] == [
        '{"person": "P1"}',
        '{"person": "P2"}',
    ]


# ------------------------------------------------------------------------- Parquet


def _visits_parquet(path: Path, rows: int, row_group_size: int) -> None:
    numbers = np.arange(rows)
    table = pa.table(
        {
            "person": pc.binary_join_element_wise("P", pc.cast(pa.array(numbers), pa.string()), ""),
            "venue": pc.binary_join_element_wise("V", pc.cast(pa.array(numbers % 7), pa.string()), ""),
            "entered_at": pa.array((1_767_225_600_000 + numbers * 1000).astype("datetime64[ms]")).cast(
                pa.timestamp("ms", tz="UTC")
            ),
            "extra": pa.array(numbers),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)


def test_parquet_keeps_repeating_refs_as_dictionaries(tmp_path: Path) -> None:
    path = tmp_path / "v.parquet"
    _visits_parquet(path, 10_000, 3_000)
    batches, errors = read_all(path, VISIT, batch_rows=4_000)
    assert errors == []
    assert max(batch.num_rows for batch in batches) <= 4_000
    first = batches[0].columns
    assert list(first) == VISIT
    assert pa.types.is_dictionary(first["venue"].type)  # 7 venues
    assert pa.types.is_string(first["person"].type)  # one per row: no use as a dictionary
    assert first["entered_at"].type == pa.timestamp("ms", tz="UTC")
    lines = np.concatenate([batch.lines for batch in batches])
    assert np.array_equal(lines, np.arange(1, 10_001))
    assert batches[-1].bytes_read == total_size(path)
    venues = pa.chunked_array([batch.columns["venue"] for batch in batches]).cast(pa.string())
    assert venues.to_pylist()[:8] == ["V0", "V1", "V2", "V3", "V4", "V5", "V6", "V0"]


def test_parquet_raw_text_is_a_json_rendering(tmp_path: Path) -> None:
    path = tmp_path / "v.parquet"
    _visits_parquet(path, 3, 3)
    batches, _ = read_all(path, VISIT)
    assert batches[0].raw_text(1) == ('{"person":"P1","venue":"V1","entered_at":"2026-01-01T00:00:01+00:00"}')


def test_parquet_missing_columns_empty_and_garbage_files(tmp_path: Path) -> None:
    path = tmp_path / "v.parquet"
    _visits_parquet(path, 3, 3)
    with pytest.raises(ImportFileError, match=r"missing required columns: left_at \(found: person,"):
        read_rows(path, required=["person", "left_at"], broken=print)
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({"person": pa.array([], pa.string())}), empty)
    with pytest.raises(ImportFileError, match="empty file: no rows"):
        read_rows(empty, required=["person"], broken=print)
    garbage = write(tmp_path, "g.parquet", "person\nP1\n")
    with pytest.raises(ImportFileError, match="not a readable Parquet file"):
        read_rows(garbage, required=["person"], broken=print)


# -------------------------------------------------------------------------- rejects


def test_rejects_file_streams_each_refused_row(tmp_path: Path) -> None:
    source = write(tmp_path, "v.csv", BROKEN_CSV)
    target = tmp_path / "rejects.csv"
    with RejectsWriter(target) as rejects:
        for _ in read_rows(source, required=VISIT, broken=rejects.write, chunk_bytes=30):
            pass
        rejects.write(RowError(4, "entered_at", "expected ISO 8601, got 't3'", "P3,V3,t3"))
        assert rejects.count == 4
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["line", "field", "reason", "row"],
        ["3", "", "expected 3 fields, found 2", "P2,V2"],
        ["5", "", "expected 3 fields, found 4", "P4,V4,t4,extra"],
        ["10", "", rows[3][2], '"unterminated,V8,t8'],
        ["4", "entered_at", "expected ISO 8601, got 't3'", "P3,V3,t3"],
    ]


def test_rejects_writer_needs_its_with_block(tmp_path: Path) -> None:
    rejects = RejectsWriter(tmp_path / "r.csv")
    with pytest.raises(RuntimeError, match="outside its 'with' block"):
        rejects.write(RowError(2, None, "broken", None))
