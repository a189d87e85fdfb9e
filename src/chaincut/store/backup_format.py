"""The content of a backup, inside its encryption: framed sections of Arrow record batches.

The plaintext is a sequence of frames, each ``u8 kind, u32 length, payload``::

    M  manifest (JSON): schema revision, source backend, each section and its expected rows
    S  a section starts (JSON): its name, where it comes from ("table" or "archive"), its columns
    B  rows of that section: one Arrow IPC stream (schema and one record batch, zstd)
    E  the section ends (JSON): how many rows it held
    Z  the backup ends (JSON): how many sections and rows it held

Values are backend-neutral: integers are int64 (instants stay seconds since the
epoch, UTC), text is UTF-8, binary stays binary (sealed personal fields are kept
sealed, byte for byte), booleans are booleans and dates are date32.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pyarrow as pa
from sqlalchemy import Boolean, Column, Date, Integer, LargeBinary, String, Table

from chaincut.errors import BackupDamaged, InvalidInput
from chaincut.store.archive import ENCOUNTER_SCHEMA, VISIT_SCHEMA
from chaincut.store.tables import encounters, visits

__all__ = [
    "ARCHIVE_KINDS",
    "ARCHIVE_SECTIONS",
    "BATCH",
    "END",
    "MANIFEST",
    "SECTION_END",
    "SECTION_START",
    "ArchiveKind",
    "BackupSummary",
    "FrameSink",
    "FrameSource",
    "Progress",
    "arrow_type",
    "decode_batch",
    "encode_batch",
    "read_frame",
    "read_json",
    "silent",
    "write_frame",
    "write_json",
]

MANIFEST, SECTION_START, BATCH, SECTION_END, END = b"M", b"S", b"B", b"E", b"Z"
_KINDS = {MANIFEST, SECTION_START, BATCH, SECTION_END, END}
_HEAD = struct.Struct(">cI")
_MAX_FRAME_BYTES = 256 * 1024 * 1024
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")

ArchiveKind = Literal["visits", "encounters"]
ARCHIVE_KINDS: tuple[ArchiveKind, ...] = ("visits", "encounters")
# Each archive section's columns, and the SQL table its rows go to in a store without the archive.
ARCHIVE_SECTIONS: dict[str, tuple[pa.Schema, Table]] = {
    "visits": (VISIT_SCHEMA, visits),
    "encounters": (ENCOUNTER_SCHEMA, encounters),
}

Progress = Callable[[str, int, int], None]
"""Called as rows move: the section's name, rows done so far in all, rows expected in all."""


def silent(_section: str, _done: int, _total: int) -> None:
    """A Progress that shows nothing."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup or a restore moved: SQL tables, rows (archive rows among them), file bytes."""

    revision: str
    tables: int
    rows: int
    archive_rows: int
    bytes: int


class FrameSink(Protocol):
    """Where frames go: the encrypting writer."""

    def write(self, data: bytes | memoryview) -> None: ...


class FrameSource(Protocol):
    """Where frames come from: the decrypting reader."""

    def read_exact(self, size: int) -> bytes: ...


def arrow_type(column: Column[Any]) -> pa.DataType:
    """The backup's type for a table column; a type the backup cannot carry is refused loudly."""
    kind = column.type
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, LargeBinary):
        return pa.binary()
    if isinstance(kind, String):
        return pa.string()
    raise InvalidInput(
        f"column {column.table.name}.{column.name} has a type ({kind}) that backups do not carry yet",
        code="backup_unsupported_type",
    )


def write_frame(out: FrameSink, kind: bytes, payload: bytes | memoryview) -> int:
    """Write one frame; returns its payload's size."""
    size = len(payload) if isinstance(payload, bytes) else payload.nbytes
    out.write(_HEAD.pack(kind, size))
    out.write(payload)
    return size


def write_json(out: FrameSink, kind: bytes, data: dict[str, Any]) -> None:
    write_frame(out, kind, json.dumps(data, sort_keys=True).encode())


def read_frame(source: FrameSource) -> tuple[bytes, bytes]:
    """The next frame's kind and payload."""
    kind, size = _HEAD.unpack(source.read_exact(_HEAD.size))
    if kind not in _KINDS or size > _MAX_FRAME_BYTES:
        raise BackupDamaged("backup content is malformed (an unknown or oversized frame)")
    return kind, source.read_exact(size)


def read_json(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BackupDamaged("backup content is malformed (a frame is not a JSON object)")
    return data


def encode_batch(batch: pa.RecordBatch) -> memoryview:
    """One record batch as a self-describing, compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=_IPC_OPTIONS) as writer:
        writer.write_batch(batch)
    return memoryview(sink.getvalue())


def decode_batch(payload: bytes, columns: Sequence[str]) -> pa.Table:
    """The rows of one batch frame, checked to hold the section's columns."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise BackupDamaged("backup content is malformed (a batch does not decode)") from exc
    if table.column_names != list(columns):
        raise BackupDamaged("backup content is malformed (a batch's columns differ from its section's)")
    return table
