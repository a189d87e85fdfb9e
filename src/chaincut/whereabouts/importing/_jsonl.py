"""Reading JSON Lines import files: chunks parsed with Arrow, line by line when a line is bad."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from chaincut.whereabouts.importing._batches import Parsed, single_array
from chaincut.whereabouts.importing._chunks import Chunk
from chaincut.whereabouts.importing._rows import LineNumbers, RowError

__all__ = ["JsonParser"]

_MIB = 1 << 20
_JSON_BLOCK_BYTES = 4 * _MIB
_KIND_CHANGE = re.compile(r"Column\(/(?P<column>[^)]*)\) changed from \w+ to (?P<kind>\w+)")


class JsonParser:
    """Parses chunks of JSON Lines with Arrow, falling back to one line at a time on errors."""

    def __init__(self, wanted: list[str]) -> None:
        self._wanted = wanted
        # Arrow cannot read "string or number" into one column, so the reader learns each
        # column's kind from the file and turns numbers into text afterwards.
        self._types: dict[str, pa.DataType] = {name: pa.string() for name in wanted}

    def __call__(self, chunk: Chunk) -> Parsed:
        table = self._parse_whole(chunk)
        if table is not None:
            if table.num_rows == chunk.line_count:
                lines: LineNumbers = chunk.first_line + np.arange(table.num_rows, dtype=np.int64)
            else:
                lines = chunk.nonblank_lines(b" \t\r")
            if len(lines) == table.num_rows:
                columns = {name: _as_text(single_array(table.column(name))) for name in self._wanted}
                return Parsed(columns, lines, [], chunk)
        return self._parse_lines(chunk)

    def _parse_whole(self, chunk: Chunk) -> pa.Table | None:
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

    def _parse_lines(self, chunk: Chunk) -> Parsed:
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
        return Parsed(columns, np.asarray(good, np.int64), errors, chunk)

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
