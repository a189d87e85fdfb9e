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
  saves nothing and costs five times the read (see ``_parquet._worth_a_dictionary``).

Memory is bounded by the chunk size (at most 64 MiB of text, about ``batch_rows`` rows)
times two: the next chunk is read and parsed in a worker thread while the caller works
on the current one. A line that does not fit in 16 MiB or one chunk, whichever is
larger, is an ``ImportFileError``.

The machinery sits in private modules beside this one: ``_rows`` (errors and broken-row
reports), ``_chunks`` (file reading and the worker thread), ``_batches`` (cutting parsed
chunks into batches), ``_csv``, ``_jsonl`` and ``_parquet`` (one per format).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from chaincut.whereabouts.importing._batches import Parsed, RowBatch, batches
from chaincut.whereabouts.importing._chunks import (
    BOM,
    MAX_CHUNK_BYTES,
    Chunk,
    ChunkSizer,
    ahead,
    has_text_after,
    parse_all,
    read_chunks,
    starts_with_bom,
    total_size,
)
from chaincut.whereabouts.importing._csv import CsvParser, read_header
from chaincut.whereabouts.importing._jsonl import JsonParser
from chaincut.whereabouts.importing._parquet import read_parquet
from chaincut.whereabouts.importing._rows import BrokenRowHandler, ImportFileError, RowError, check_columns

__all__ = [
    "FileFormat",
    "ImportFileError",
    "RowBatch",
    "RowError",
    "detect_format",
    "read_rows",
    "total_size",
]


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


def detect_format(path: Path) -> FileFormat:
    """Tell the format of an import file from its name (``.csv``, ``.jsonl``, ``.parquet``...)."""
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise ImportFileError(f"unknown file format {path.suffix!r}: expected one of {known}", path=path)
    return found


def read_rows(
    path: Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    batch_rows: int = 1_000_000,
    broken: BrokenRowHandler,
    chunk_bytes: int = MAX_CHUNK_BYTES,
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
        return read_parquet(path, wanted, required, batch_rows)
    sizer = ChunkSizer(batch_rows, min(chunk_bytes, MAX_CHUNK_BYTES))
    if file_format is FileFormat.CSV:
        start, names = read_header(path)
        check_columns(path, required, names, "columns")
        present = [name for name in wanted if name in names]
        parse: Callable[[Chunk], Parsed] = CsvParser(path, names, present)
        first_line = 2
    else:
        start = len(BOM) if starts_with_bom(path) else 0
        parse = JsonParser(wanted)
        first_line = 1
    if not has_text_after(path, start):
        what = "a header but no rows" if file_format is FileFormat.CSV else "no rows"
        raise ImportFileError(f"empty file: {what}", path=path)
    parsed = ahead(parse_all(read_chunks(path, start, first_line, sizer), parse))
    required_fields = list(required) if file_format is FileFormat.JSONL else []
    return batches(path, parsed, batch_rows, broken, required_fields)
