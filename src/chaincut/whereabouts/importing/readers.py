"""Read bulk import files (CSV, JSON Lines, Parquet) as streams of line-numbered batches.

This is the layer under ``chaincut import``: it knows files, not people or venues. It
hands the importer the requested columns in batches of at most ``batch_rows`` rows,
each row tagged with where it stood in the file, and reports rows it could not even
split into fields through a ``broken`` callback, so the importer decides whether one
bad line sinks the whole import.

Line numbers are 1-based and count every physical line, blank ones included. CSV: the
header is line 1. JSON Lines: the line of the object. Parquet: the row number.

Decisions a data owner may meet:

* A CSV value may be quoted (commas, doubled quotes), but may not contain a line break:
  exports of check-ins have no use for one, and allowing it would make "line 5 000 017"
  ambiguous. The lines such a value spans are reported as broken ("unbalanced quotes").
  Blank lines are skipped in every text format. A CSV header is required; extra columns
  are ignored, a UTF-8 byte order mark is tolerated.
* JSON Lines holds one object per line. Requested values come out as strings, whatever
  the file used: numbers become their decimal text (``1767225600``, ``1767225600.5``), so
  the importer validates one shape for CSV and JSON alike; ``null`` or an absent key is
  a null. A boolean, object or array where a value belongs breaks that row. A column of
  numbers mixing integers and fractions is read as float64, exact below 2**53.
* Parquet columns keep their stored types. String columns that the file
  dictionary-encodes come as dictionary arrays when they repeat (venue refs), as plain
  strings when nearly every row has its own value (person refs), where a dictionary
  saves nothing and costs five times the read (see ``_worth_a_dictionary``).

Memory is bounded by the chunk size (at most 64 MiB of text, about ``batch_rows`` rows)
times two: the next chunk is read and parsed in a worker thread while the caller works
on the current one. A line that does not fit in 16 MiB or one chunk, whichever is
larger, is an ``ImportFileError``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from chaincut.errors import InvalidInput

__all__ = [
    "FileFormat",
    "ImportFileError",
    "RowBatch",
    "RowError",
    "detect_format",
    "read_rows",
    "total_size",
]

LineNumbers = npt.NDArray[np.int64]
_T = TypeVar("_T")

_MIB = 1 << 20
_MAX_CHUNK_BYTES = 64 * _MIB
_MIN_CHUNK_BYTES = 64 * 1024
_MAX_LINE_BYTES = 16 * _MIB
_GUESSED_BYTES_PER_LINE = 64
_BOM = b"\xef\xbb\xbf"
_JSON_BLOCK_BYTES = 4 * _MIB
_UNBALANCED = (
    "unbalanced quotes: a quoted value does not end on this line "
    "(line breaks inside values are not supported)"
)
_DICTIONARY_SAMPLE_ROWS = 1024
_MIN_ROWS_PER_ENTRY = 8
# parquet-cpp, parquet-mr and Spark stop dictionary-encoding a column chunk at a 1 MiB
# dictionary page; one that big means the rest was probably stored plain.
_WRITER_DICTIONARY_LIMIT = 15 * _MIB // 16
_KIND_CHANGE = re.compile(r"Column\(/(?P<column>[^)]*)\) changed from \w+ to (?P<kind>\w+)")


class FileFormat(enum.Enum):
    """The kinds of file a health authority can hand to the bulk importer."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_SUFFIXES = {
    ".csv": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
}


class ImportFileError(InvalidInput):
    """An import file cannot be used at all: unreadable, empty, unknown kind, missing columns."""

    code = "invalid_import_file"

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path.name if self.line is None else f"{self.path.name}, line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RowError:
    """One row of an import file that cannot be used, and why."""

    line: int
    field: str | None
    message: str
    raw: str | None


@dataclass(frozen=True, eq=False)
class RowBatch:
    """A run of rows from an import file, column by column, with their line numbers.

    ``columns`` holds every requested column the file has (optional ones it lacks are
    absent): strings for CSV and JSON Lines, stored types for Parquet. ``lines`` gives
    each row's line number; ``bytes_read`` how far into the file the reading has got.
    A batch keeps its chunk of file text alive for ``raw_text``: drop batches once used.
    """

    columns: dict[str, pa.Array]
    lines: LineNumbers
    bytes_read: int
    _source: _Chunk | None = field(default=None, repr=False)

    @property
    def num_rows(self) -> int:
        """How many rows the batch holds."""
        return len(self.lines)

    def raw_text(self, index: int) -> str:
        """The row at ``index`` as the data owner wrote it, for the rejects file.

        Text formats give the original line; Parquet a JSON rendering of the requested
        columns.
        """
        if self._source is not None:
            return self._source.line_text(int(self.lines[index]))
        row = {name: column[index].as_py() for name, column in self.columns.items()}
        return orjson.dumps(row, default=str).decode()


BrokenRowHandler = Callable[[RowError], None]


def detect_format(path: Path) -> FileFormat:
    """Tell the format of an import file from its name (``.csv``, ``.jsonl``, ``.parquet``...)."""
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise ImportFileError(f"unknown file format {path.suffix!r}: expected one of {known}", path=path)
    return found


def total_size(path: Path) -> int:
    """The size of an import file in bytes, the full length of its progress bar."""
    try:
        return path.stat().st_size
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None


def read_rows(
    path: Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    batch_rows: int = 1_000_000,
    broken: BrokenRowHandler,
    chunk_bytes: int = _MAX_CHUNK_BYTES,
) -> Generator[RowBatch, None, None]:
    """Stream the requested columns of an import file in line-numbered batches.

    File-level problems (format, header, missing required columns) raise
    ``ImportFileError`` here, before any batch; a file with no rows raises it from the
    iterator. Rows that cannot be split into fields go to ``broken``, in line order,
    before the batch that follows them; the iterator carries on unless ``broken``
    raises. ``chunk_bytes`` caps how much text is parsed at once (tests shrink it).
    """
    if batch_rows < 1 or chunk_bytes < 1:
        raise ValueError("batch_rows and chunk_bytes must be positive")
    wanted = list(dict.fromkeys([*required, *optional]))
    file_format = detect_format(path)
    if file_format is FileFormat.PARQUET:
        return _read_parquet(path, wanted, required, batch_rows)
    sizer = _ChunkSizer(batch_rows, min(chunk_bytes, _MAX_CHUNK_BYTES))
    if file_format is FileFormat.CSV:
        start, names = _read_header(path)
        _check_columns(path, required, names, "columns")
        present = [name for name in wanted if name in names]
        parse: Callable[[_Chunk], _Parsed] = _CsvParser(path, names, present)
        first_line = 2
    else:
        start = len(_BOM) if _starts_with_bom(path) else 0
        parse = _JsonParser(wanted)
        first_line = 1
    if not _has_text_after(path, start):
        what = "a header but no rows" if file_format is FileFormat.CSV else "no rows"
        raise ImportFileError(f"empty file: {what}", path=path)
    parsed = _ahead(_parse_all(_chunks(path, start, first_line, sizer), parse))
    required_fields = list(required) if file_format is FileFormat.JSONL else []
    return _batches(path, parsed, batch_rows, broken, required_fields)


# ---------------------------------------------------------------------------- chunks


class _Chunk:
    """Whole lines of a text file, the unit that is parsed at once."""

    __slots__ = ("_ends", "data", "end_offset", "first_line", "line_count", "size", "start_offset")

    def __init__(self, data: bytes, size: int, first_line: int, start_offset: int) -> None:
        self.data = data  # may run past ``size`` into a partial line that is not ours
        self.size = size
        self.first_line = first_line
        self.start_offset = start_offset
        self.end_offset = start_offset + size
        ends_with_newline = data[size - 1 : size] == b"\n"
        self.line_count = data.count(b"\n", 0, size) + (0 if ends_with_newline else 1)
        self._ends: npt.NDArray[np.int64] | None = None

    def buffer(self) -> pa.Buffer:
        return pa.py_buffer(self.data).slice(0, self.size)

    def with_text(self, data: bytes) -> _Chunk:
        """The same lines, rewritten (a repaired copy for re-parsing)."""
        return _Chunk(data, len(data), self.first_line, self.start_offset)

    def lines(self) -> list[bytes]:
        parts = self.data[: self.size].split(b"\n")
        return parts[: self.line_count]

    def line_bounds(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Start and stop byte of every line, newline excluded (computed on demand)."""
        if self._ends is None:
            view = np.frombuffer(self.data, np.uint8, count=self.size)
            self._ends = np.flatnonzero(view == ord("\n")).astype(np.int64)
        ends = self._ends
        starts = np.concatenate(([0], ends + 1))[: self.line_count]
        stops = np.concatenate((ends, [self.size]))[: self.line_count]
        return starts, stops

    def line_text(self, line: int) -> str:
        starts, stops = self.line_bounds()
        index = line - self.first_line
        raw = self.data[starts[index] : stops[index]]
        return raw.decode("utf-8", "replace").rstrip("\r")

    def nonblank_lines(self, whitespace: bytes) -> LineNumbers:
        """Line numbers of the lines holding more than ``whitespace``, the rows a parser sees."""
        starts, stops = self.line_bounds()
        view = np.frombuffer(self.data, np.uint8, count=self.size)
        blank = starts == stops
        # Only lines opening with whitespace can be blank; they are few, check them one by one.
        suspects = np.flatnonzero(~blank & np.isin(view[np.minimum(starts, self.size - 1)], list(whitespace)))
        for index in suspects:
            blank[index] = not self.data[starts[index] : stops[index]].strip(whitespace)
        numbers: LineNumbers = self.first_line + np.flatnonzero(~blank).astype(np.int64)
        return numbers


class _ChunkSizer:
    """Sizes chunks so that one holds about ``batch_rows`` lines."""

    def __init__(self, batch_rows: int, max_bytes: int) -> None:
        self._batch_rows = batch_rows
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lines = 0

    def next_size(self) -> int:
        per_line = self._bytes / self._lines if self._lines else _GUESSED_BYTES_PER_LINE
        # Aim a little short: a chunk should rarely spill a handful of rows into a batch alone.
        target = int(self._batch_rows * per_line * 0.97)
        return max(min(target, self._max_bytes), min(_MIN_CHUNK_BYTES, self._max_bytes))

    def observe(self, chunk: _Chunk) -> None:
        self._bytes += chunk.size
        self._lines += chunk.line_count


def _chunks(path: Path, start: int, first_line: int, sizer: _ChunkSizer) -> Generator[_Chunk, None, None]:
    offset, line = start, first_line
    try:
        with path.open("rb") as file:
            while True:
                want = sizer.next_size()
                file.seek(offset)
                data = file.read(want)
                if not data:
                    return
                while len(data) == want and (size := data.rfind(b"\n") + 1) == 0:
                    if want >= _MAX_LINE_BYTES:
                        limit = _MAX_LINE_BYTES // _MIB
                        raise ImportFileError(f"line longer than {limit} MiB", path=path, line=line)
                    want = min(2 * want, _MAX_LINE_BYTES)
                    file.seek(offset)
                    data = file.read(want)
                if len(data) < want:
                    size = len(data)
                chunk = _Chunk(data, size, line, offset)
                sizer.observe(chunk)
                yield chunk
                offset, line = chunk.end_offset, line + chunk.line_count
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path, line=line) from None


def _parse_all(
    chunks: Generator[_Chunk, None, None], parse: Callable[[_Chunk], _Parsed]
) -> Generator[_Parsed, None, None]:
    try:
        for chunk in chunks:
            yield parse(chunk)
    finally:
        chunks.close()


def _starts_with_bom(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(_BOM)) == _BOM
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None


def _has_text_after(path: Path, start: int) -> bool:
    """Whether anything but line breaks follows ``start`` (early "header but no rows")."""
    try:
        with path.open("rb") as file:
            file.seek(start)
            while block := file.read(_MIN_CHUNK_BYTES):
                if block.strip(b"\r\n"):
                    return True
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None
    return False


def _ahead(items: Generator[_T, None, None]) -> Generator[_T, None, None]:
    """Produce the next item in a worker thread while the caller handles this one."""

    def advance() -> tuple[_T] | None:
        for item in items:
            return (item,)
        return None

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chaincut-import")
    try:
        pending = pool.submit(advance)
        while (step := pending.result()) is not None:
            pending = pool.submit(advance)
            yield step[0]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        items.close()


# ------------------------------------------------------------------------- batching


@dataclass(frozen=True, eq=False)
class _Parsed:
    """What one chunk yielded: its good rows, column by column, and its broken lines."""

    columns: dict[str, pa.Array]
    lines: LineNumbers
    errors: list[RowError]
    chunk: _Chunk


def _batches(
    path: Path,
    parsed: Generator[_Parsed, None, None],
    batch_rows: int,
    broken: BrokenRowHandler,
    required_fields: list[str],
) -> Generator[RowBatch, None, None]:
    with closing(parsed):
        seen = yield from _batches_of(path, parsed, batch_rows, broken, required_fields)
    if not seen:
        raise ImportFileError("empty file: no rows", path=path)


def _batches_of(
    path: Path,
    parsed: Iterator[_Parsed],
    batch_rows: int,
    broken: BrokenRowHandler,
    required_fields: list[str],
) -> Generator[RowBatch, None, int]:
    """Cut each chunk's rows into batches, reporting broken lines in order; count lines."""
    seen = 0
    for part in parsed:
        if required_fields and len(part.lines) and not seen:
            _check_json_fields(path, part, required_fields)
        seen += len(part.lines) + len(part.errors)
        errors = iter(part.errors)
        pending = next(errors, None)
        count, chunk = len(part.lines), part.chunk
        for start in range(0, count, batch_rows):
            stop = min(start + batch_rows, count)
            last_line = part.lines[stop - 1]
            while pending is not None and pending.line < last_line:
                broken(pending)
                pending = next(errors, None)
            yield RowBatch(
                columns={name: column.slice(start, stop - start) for name, column in part.columns.items()},
                lines=part.lines[start:stop],
                bytes_read=chunk.start_offset + chunk.size * stop // count,
                _source=chunk,
            )
        while pending is not None:
            broken(pending)
            pending = next(errors, None)
    return seen


def _check_columns(path: Path, required: Sequence[str], found: Sequence[str], what: str) -> None:
    missing = [name for name in required if name not in found]
    if missing:
        listed = ", ".join(found) if found else "none"
        raise ImportFileError(f"missing required {what}: {', '.join(missing)} (found: {listed})", path=path)


def _check_json_fields(path: Path, part: _Parsed, required: list[str]) -> None:
    """Refuse a JSON Lines file whose first chunk never gives a required field: a wrong file."""
    absent = [name for name in required if part.columns[name].null_count == len(part.columns[name])]
    if absent:
        first = orjson.loads(part.chunk.line_text(int(part.lines[0])))
        _check_columns(path, required, list(first) if isinstance(first, dict) else [], "fields")


# ---------------------------------------------------------------------------- CSV


def _read_header(path: Path) -> tuple[int, list[str]]:
    try:
        with path.open("rb") as file:
            header = file.readline(_MAX_LINE_BYTES)
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None
    if not header:
        raise ImportFileError("empty file: no header line", path=path)
    if not header.endswith(b"\n") and len(header) == _MAX_LINE_BYTES:
        raise ImportFileError("header line too long", path=path, line=1)
    text = header.removeprefix(_BOM).rstrip(b"\r\n") + b"\n"
    if not text.strip():
        raise ImportFileError("no header: the first line is blank", path=path, line=1)
    try:
        names = pa_csv.read_csv(
            pa.py_buffer(text), read_options=pa_csv.ReadOptions(use_threads=False)
        ).column_names
    except pa.ArrowInvalid as error:
        raise ImportFileError(f"unreadable header: {error}", path=path, line=1) from None
    return len(header), list(names)


class _CsvParser:
    """Parses chunks of CSV lines with Arrow, placing every row and broken line on its line."""

    def __init__(self, path: Path, names: list[str], present: list[str]) -> None:
        self._path = path
        self._width = len(names)
        # Only requested columns keep their names: duplicates elsewhere must not matter.
        wanted = set(present)
        columns = [name if name in wanted else f"\x00unused{index}" for index, name in enumerate(names)]
        duplicated = {name for name in present if columns.count(name) > 1}
        if duplicated:
            repeated = ", ".join(sorted(duplicated))
            raise ImportFileError(f"columns repeated in the header: {repeated}", path=path, line=1)
        self._columns = columns
        self._convert = pa_csv.ConvertOptions(
            include_columns=present,
            column_types={name: pa.string() for name in present},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        self._present = present

    def __call__(self, chunk: _Chunk) -> _Parsed:
        placed = self._parse(chunk)
        if placed is not None:
            return placed
        return self._parse_repaired(chunk)

    def _parse(self, chunk: _Chunk) -> _Parsed | None:
        invalid: list[tuple[int | None, int, str]] = []

        def collect(row: pa_csv.InvalidRow) -> str:
            invalid.append((row.number, row.actual_columns, row.text))
            return "skip"

        try:
            table = pa_csv.read_csv(
                chunk.buffer(),
                read_options=pa_csv.ReadOptions(
                    column_names=self._columns,
                    use_threads=False,
                    block_size=max(chunk.size + 1, _MIN_CHUNK_BYTES),
                ),
                parse_options=pa_csv.ParseOptions(newlines_in_values=False, invalid_row_handler=collect),
                convert_options=self._convert,
            )
        except pa.ArrowInvalid:
            return None  # e.g. text that is not UTF-8: found line by line
        parsed_rows = table.num_rows + len(invalid)
        if parsed_rows == chunk.line_count:
            row_lines: LineNumbers = chunk.first_line + np.arange(parsed_rows, dtype=np.int64)
        else:
            row_lines = chunk.nonblank_lines(b"\r")
            if len(row_lines) != parsed_rows:
                return None  # a quoted value ran over a line break
        positions = [number for number, _, _ in invalid]
        if any(number is None or not 0 < number <= parsed_rows for number in positions):
            return None
        errors = [
            RowError(
                line=int(row_lines[number - 1]),
                field=None,
                message=_UNBALANCED
                if _odd_quotes(text.encode())
                else f"expected {self._width} fields, found {found}",
                raw=text,
            )
            for number, found, text in invalid
            if number is not None
        ]
        good = np.delete(row_lines, np.asarray(positions, np.int64) - 1) if positions else row_lines
        columns = {name: _single_array(table.column(name)) for name in self._present}
        return _Parsed(columns, good, errors, chunk)

    def _parse_repaired(self, chunk: _Chunk) -> _Parsed:
        """Blank out the lines Arrow cannot take, report them, and parse the rest again."""
        lines = chunk.lines()
        errors: list[RowError] = []
        repairs: tuple[tuple[Callable[[bytes], bool], str], ...] = (
            (_not_utf8, "not valid UTF-8 text"),
            (_odd_quotes, _UNBALANCED),
        )
        for is_bad, message in repairs:
            for index, text in enumerate(lines):
                if text and is_bad(text):
                    raw = text.decode("utf-8", "replace").rstrip("\r")
                    errors.append(RowError(chunk.first_line + index, None, message, raw))
                    lines[index] = b""
            repaired = chunk.with_text(b"\n".join(lines) + b"\n")
            placed = self._parse(repaired)
            if placed is not None:
                merged = sorted([*errors, *placed.errors], key=lambda error: error.line)
                return _Parsed(placed.columns, placed.lines, merged, chunk)
        raise ImportFileError(
            "cannot tell where lines end (bare carriage returns as line breaks?)",
            path=self._path,
            line=chunk.first_line,
        )


def _not_utf8(text: bytes) -> bool:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _odd_quotes(text: bytes) -> bool:
    return text.count(b'"') % 2 == 1


def _single_array(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return column.combine_chunks()


# ---------------------------------------------------------------------- JSON Lines


class _JsonParser:
    """Parses chunks of JSON Lines with Arrow, falling back to one line at a time on errors."""

    def __init__(self, wanted: list[str]) -> None:
        self._wanted = wanted
        # Arrow cannot read "string or number" into one column, so the reader learns each
        # column's kind from the file and turns numbers into text afterwards.
        self._types: dict[str, pa.DataType] = {name: pa.string() for name in wanted}

    def __call__(self, chunk: _Chunk) -> _Parsed:
        table = self._parse_whole(chunk)
        if table is not None:
            if table.num_rows == chunk.line_count:
                lines: LineNumbers = chunk.first_line + np.arange(table.num_rows, dtype=np.int64)
            else:
                lines = chunk.nonblank_lines(b" \t\r")
            if len(lines) == table.num_rows:
                columns = {name: _as_text(_single_array(table.column(name))) for name in self._wanted}
                return _Parsed(columns, lines, [], chunk)
        return self._parse_lines(chunk)

    def _parse_whole(self, chunk: _Chunk) -> pa.Table | None:
        switched: set[str] = set()
        while True:
            schema = pa.schema(list(self._types.items()))
            try:
                return pa_json.read_json(
                    chunk.buffer(),
                    read_options=pa_json.ReadOptions(use_threads=True, block_size=_JSON_BLOCK_BYTES),
                    parse_options=pa_json.ParseOptions(
                        explicit_schema=schema, unexpected_field_behavior="ignore"
                    ),
                )
            except pa.ArrowInvalid as error:
                column = self._learn(str(error))
                if column is None or column in switched:
                    return None  # a malformed line, or one column of mixed kinds
                switched.add(column)

    def _learn(self, message: str) -> str | None:
        """Adjust the column kinds after Arrow's complaint; the column changed, if any."""
        change = _KIND_CHANGE.search(message)
        if change is not None and change["column"] in self._types:
            kind = {"string": pa.string(), "number": pa.int64()}.get(change["kind"])
            if kind is not None:
                self._types[change["column"]] = kind
                return change["column"]
        if "Failed to convert JSON to int64" in message:
            integers = [name for name, kind in self._types.items() if kind == pa.int64()]
            for name in integers:
                self._types[name] = pa.float64()
            return ",".join(integers) or None
        return None

    def _parse_lines(self, chunk: _Chunk) -> _Parsed:
        values: dict[str, list[object]] = {name: [] for name in self._wanted}
        good: list[int] = []
        errors: list[RowError] = []
        for index, text in enumerate(chunk.lines()):
            if not text.strip():
                continue
            line = chunk.first_line + index
            problem = self._read_object(text, values)
            if problem is None:
                good.append(line)
            else:
                where, message = problem
                errors.append(RowError(line, where, message, text.decode("utf-8", "replace").rstrip("\r")))
        columns = {name: _text_column(column) for name, column in values.items()}
        return _Parsed(columns, np.asarray(good, np.int64), errors, chunk)

    def _read_object(self, text: bytes, values: dict[str, list[object]]) -> tuple[str | None, str] | None:
        try:
            row = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            return None, f"not valid JSON: {error.msg} at column {error.colno}"
        if not isinstance(row, dict):
            return None, f"expected a JSON object, found {_json_kind(row)}"
        picked = [row.get(name) for name in self._wanted]
        for name, value in zip(self._wanted, picked, strict=True):
            if isinstance(value, bool) or not isinstance(value, str | int | float | None):
                return name, f"expected a string or a number, found {_json_kind(value)}"
        for name, value in zip(self._wanted, picked, strict=True):
            values[name].append(value)
        return None


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a number" if isinstance(value, int | float) else "a string"


def _as_text(column: pa.Array) -> pa.Array:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _text_column(values: list[object]) -> pa.Array:
    """Strings as they are, numbers as Arrow writes them, so both JSON paths agree."""
    text = [value if isinstance(value, str) or value is None else None for value in values]
    floats = [index for index, value in enumerate(values) if isinstance(value, float)]
    for index, value in enumerate(values):
        if isinstance(value, int):
            text[index] = str(value)
    if floats:
        written = pc.cast(pa.array([values[index] for index in floats], pa.float64()), pa.string())
        for index, rendered in zip(floats, written.to_pylist(), strict=True):
            text[index] = rendered
    return pa.array(text, pa.string())


# -------------------------------------------------------------------------- Parquet


def _read_parquet(
    path: Path, wanted: list[str], required: Sequence[str], batch_rows: int
) -> Generator[RowBatch, None, None]:
    try:
        probe = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ImportFileError(f"not a readable Parquet file: {error}", path=path) from None
    names = probe.schema_arrow.names
    _check_columns(path, required, names, "columns")
    metadata = probe.metadata
    if metadata.num_rows == 0:
        raise ImportFileError("empty file: no rows", path=path)
    present = [name for name in wanted if name in names]
    encoded = [name for name in present if _worth_a_dictionary(path, probe.schema_arrow, metadata, name)]
    reader = pq.ParquetFile(path, read_dictionary=encoded, metadata=metadata)
    batches = reader.iter_batches(batch_size=batch_rows, columns=present, use_threads=True)
    return _parquet_batches(path, _ahead(batches), metadata.num_rows, total_size(path))


def _worth_a_dictionary(path: Path, schema: pa.Schema, metadata: pq.FileMetaData, name: str) -> bool:
    """Whether to read a string column as the dictionary array the file stores it as.

    Venue refs repeat, and a dictionary of 50k venues spares decoding 1M strings a batch.
    Person refs barely repeat: the dictionary is as long as the batch and building it
    costs five times the plain read (measured: 5M against 28M rows/s). The first row
    group's dictionary tells them apart: few entries, and smaller than the 1 MiB page at
    which common writers give up on a dictionary and store the rest of the column plain.
    """
    kind = schema.field(name).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return False
    first = metadata.row_group(0)
    chunks = [first.column(index) for index in range(first.num_columns)]
    if not any(chunk.path_in_schema == name and chunk.has_dictionary_page for chunk in chunks):
        return False
    sample = next(
        pq.ParquetFile(path, read_dictionary=[name], metadata=metadata).iter_batches(
            batch_size=_DICTIONARY_SAMPLE_ROWS, columns=[name], use_threads=False
        )
    )
    dictionary = sample.column(0).dictionary
    entries, size = len(dictionary), int(dictionary.nbytes)
    return entries * _MIN_ROWS_PER_ENTRY <= first.num_rows and size < _WRITER_DICTIONARY_LIMIT


def _parquet_batches(
    path: Path, batches: Iterator[pa.RecordBatch], rows: int, size: int
) -> Generator[RowBatch, None, None]:
    done = 0
    try:
        for batch in batches:
            count = batch.num_rows
            if not count:
                continue
            columns = {name: batch.column(name) for name in batch.schema.names}
            lines: LineNumbers = np.arange(done + 1, done + count + 1, dtype=np.int64)
            done += count
            yield RowBatch(columns=columns, lines=lines, bytes_read=size * done // rows)
    except (pa.ArrowInvalid, OSError) as error:
        raise ImportFileError(f"unreadable Parquet data: {error}", path=path, line=done + 1) from None
