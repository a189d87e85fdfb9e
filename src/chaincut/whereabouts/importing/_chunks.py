"""Reading import files from disk: their size, whole-line text chunks, and reading ahead in a thread."""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from chaincut.whereabouts.importing._rows import ImportFileError, LineNumbers

__all__ = [
    "BOM",
    "MAX_CHUNK_BYTES",
    "MAX_LINE_BYTES",
    "MIN_CHUNK_BYTES",
    "Chunk",
    "ChunkSizer",
    "ahead",
    "has_text_after",
    "parse_all",
    "read_chunks",
    "starts_with_bom",
    "total_size",
]

_T = TypeVar("_T")
_P = TypeVar("_P")

_MIB = 1 << 20
MAX_CHUNK_BYTES = 64 * _MIB
MIN_CHUNK_BYTES = 64 * 1024
MAX_LINE_BYTES = 16 * _MIB
_GUESSED_BYTES_PER_LINE = 64
BOM = b"\xef\xbb\xbf"


def total_size(path: Path) -> int:
    """The size of an import file in bytes, the full length of its progress bar."""
    try:
        return path.stat().st_size
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None


class Chunk:
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

    def with_text(self, data: bytes) -> Chunk:
        """The same lines, rewritten (a repaired copy for re-parsing)."""
        return Chunk(data, len(data), self.first_line, self.start_offset)

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


class ChunkSizer:
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
        return max(min(target, self._max_bytes), min(MIN_CHUNK_BYTES, self._max_bytes))

    def observe(self, chunk: Chunk) -> None:
        self._bytes += chunk.size
        self._lines += chunk.line_count


def read_chunks(path: Path, start: int, first_line: int, sizer: ChunkSizer) -> Generator[Chunk, None, None]:
    """Read the file from byte ``start`` (line ``first_line``) in chunks of whole lines."""
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
                    if want >= MAX_LINE_BYTES:
                        limit = MAX_LINE_BYTES // _MIB
                        raise ImportFileError(f"line longer than {limit} MiB", path=path, line=line)
                    want = min(2 * want, MAX_LINE_BYTES)
                    file.seek(offset)
                    data = file.read(want)
                if len(data) < want:
                    size = len(data)
                chunk = Chunk(data, size, line, offset)
                sizer.observe(chunk)
                yield chunk
                offset, line = chunk.end_offset, line + chunk.line_count
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path, line=line) from None


def parse_all(
    chunks: Generator[Chunk, None, None], parse: Callable[[Chunk], _P]
) -> Generator[_P, None, None]:
    """Parse chunk after chunk, closing the file when the caller stops early."""
    try:
        for chunk in chunks:
            yield parse(chunk)
    finally:
        chunks.close()


def starts_with_bom(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(BOM)) == BOM
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None


def has_text_after(path: Path, start: int) -> bool:
    """Whether anything but line breaks follows ``start`` (early "header but no rows")."""
    try:
        with path.open("rb") as file:
            file.seek(start)
            while block := file.read(MIN_CHUNK_BYTES):
                if block.strip(b"\r\n"):
                    return True
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None
    return False


def ahead(items: Generator[_T, None, None]) -> Generator[_T, None, None]:
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
