"""Reading CSV import files: the header, and chunks of lines parsed with Arrow, bad lines set aside."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from chaincut.whereabouts.importing._batches import Parsed, single_array
from chaincut.whereabouts.importing._chunks import BOM, MAX_LINE_BYTES, MIN_CHUNK_BYTES, Chunk
from chaincut.whereabouts.importing._rows import ImportFileError, LineNumbers, RowError

__all__ = ["CsvParser", "read_header"]

_UNBALANCED = (
    "unbalanced quotes: a quoted value does not end on this line "
    "(line breaks inside values are not supported)"
)


def read_header(path: Path) -> tuple[int, list[str]]:
    """The length in bytes of the header line, and the column names it gives."""
    try:
        with path.open("rb") as file:
            header = file.readline(MAX_LINE_BYTES)
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None
    if not header:
        raise ImportFileError("empty file: no header line", path=path)
    if not header.endswith(b"\n") and len(header) == MAX_LINE_BYTES:
        raise ImportFileError("header line too long", path=path, line=1)
    text = header.removeprefix(BOM).rstrip(b"\r\n") + b"\n"
    if not text.strip():
        raise ImportFileError("no header: the first line is blank", path=path, line=1)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportFileError("the header is not UTF-8 text", path=path, line=1) from None
    try:
        names = pa_csv.read_csv(
            pa.py_buffer(text), read_options=pa_csv.ReadOptions(use_threads=False)
        ).column_names
    except pa.ArrowInvalid as error:
        raise ImportFileError(f"unreadable header: {error}", path=path, line=1) from None
    return len(header), list(names)


class CsvParser:
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

    def __call__(self, chunk: Chunk) -> Parsed:
        placed = self._parse(chunk)
        if placed is not None:
            return placed
        return self._parse_repaired(chunk)

    def _parse(self, chunk: Chunk) -> Parsed | None:
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
                    block_size=max(chunk.size + 1, MIN_CHUNK_BYTES),
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
        columns = {name: single_array(table.column(name)) for name in self._present}
        return Parsed(columns, good, errors, chunk)

    def _parse_repaired(self, chunk: Chunk) -> Parsed:
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
                return Parsed(placed.columns, placed.lines, merged, chunk)
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
