"""Cutting parsed chunks of an import file into ``RowBatch``es, reporting broken rows in line order."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa

from chaincut.whereabouts.importing._chunks import Chunk
from chaincut.whereabouts.importing._rows import (
    BrokenRowHandler,
    ImportFileError,
    LineNumbers,
    RowError,
    check_columns,
)

__all__ = ["Parsed", "RowBatch", "batches", "single_array"]


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
    _source: Chunk | None = field(default=None, repr=False)

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


@dataclass(frozen=True, eq=False)
class Parsed:
    """What one chunk yielded: its good rows, column by column, and its broken lines."""

    columns: dict[str, pa.Array]
    lines: LineNumbers
    errors: list[RowError]
    chunk: Chunk


def single_array(column: pa.ChunkedArray) -> pa.Array:
    """One Arrow array holding a parsed column, copying only when Arrow split it."""
    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return column.combine_chunks()


def batches(
    path: Path,
    parsed: Generator[Parsed, None, None],
    batch_rows: int,
    broken: BrokenRowHandler,
    required_fields: list[str],
) -> Generator[RowBatch, None, None]:
    """Batch the parsed chunks of a text file; a file that yields no line at all is empty."""
    with closing(parsed):
        seen = yield from _batches_of(path, parsed, batch_rows, broken, required_fields)
    if not seen:
        raise ImportFileError("empty file: no rows", path=path)


def _batches_of(
    path: Path,
    parsed: Iterator[Parsed],
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


def _check_json_fields(path: Path, part: Parsed, required: list[str]) -> None:
    """Refuse a JSON Lines file whose first chunk never gives a required field: a wrong file."""
    absent = [name for name in required if part.columns[name].null_count == len(part.columns[name])]
    if absent:
        present = [name for name, column in part.columns.items() if column.null_count < len(column)]
        try:  # the fields the first row gives, to name beside the ones missing
            first = orjson.loads(part.chunk.line_text(int(part.lines[0])))
        except orjson.JSONDecodeError:  # that line holds more or less than one object: the fields read
            first = None
        check_columns(path, required, list(first) if isinstance(first, dict) else present, "fields")
