"""Reading Parquet import files: requested columns in batches, repeating strings as dictionaries."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chaincut.whereabouts.importing._batches import RowBatch
from chaincut.whereabouts.importing._chunks import ahead, total_size
from chaincut.whereabouts.importing._rows import ImportFileError, LineNumbers, check_columns

__all__ = ["read_parquet"]

_MIB = 1 << 20
_DICTIONARY_SAMPLE_ROWS = 1024
_MIN_ROWS_PER_ENTRY = 8
# parquet-cpp, parquet-mr and Spark stop dictionary-encoding a column chunk at a 1 MiB
# dictionary page; one that big means the rest was probably stored plain.
_WRITER_DICTIONARY_LIMIT = 15 * _MIB // 16


def read_parquet(
    path: Path, wanted: list[str], required: Sequence[str], batch_rows: int
) -> Generator[RowBatch, None, None]:
    """Check the file's columns and row count now; stream its row batches from the result."""
    try:
        probe = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ImportFileError(f"not a readable Parquet file: {error}", path=path) from None
    names = probe.schema_arrow.names
    check_columns(path, required, names, "columns")
    metadata = probe.metadata
    if metadata.num_rows == 0:
        raise ImportFileError("empty file: no rows", path=path)
    present = [name for name in wanted if name in names]
    encoded = [name for name in present if _worth_a_dictionary(path, probe.schema_arrow, metadata, name)]
    reader = pq.ParquetFile(path, read_dictionary=encoded, metadata=metadata)
    batches = reader.iter_batches(batch_size=batch_rows, columns=present, use_threads=True)
    return _parquet_batches(path, ahead(batches), metadata.num_rows, total_size(path))


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
