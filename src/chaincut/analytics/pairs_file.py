"""Reading a file of infector-infectee pairs by their onset dates.

Two layouts, told apart by the header (UTF-8 CSV, a byte-order mark allowed; other
columns are ignored):

- ``infector_onset`` and ``infectee_onset``: ISO dates (``YYYY-MM-DD``); every row must
  have both.
- ``infector_onsetDate`` and ``infectee_onsetDate``: the layout of Ali et al.'s table S1
  (Science 369:1106, 2020), dates as ``yyyy/mm/dd``, where the word ``unknown`` marks an
  onset nobody knows. Such a pair is left out and counted (``left_out``), as the paper
  left out pairs without both onsets.

Surrounding spaces are ignored. Any other value (blank, or not a date in the layout's
form) refuses the whole file, naming the line, the column and what was expected;
nothing of a refused file is used.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from chaincut.analytics.serial_interval import OnsetPair
from chaincut.errors import InvalidInput

__all__ = ["PairsFile", "read_pairs_file"]

_MAX_PROBLEMS_SHOWN = 5

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLASHED = re.compile(r"\d{4}/\d{2}/\d{2}")


@dataclass(frozen=True)
class PairsFile:
    """The pairs a file holds, and how many it had without both onsets (``unknown``)."""

    pairs: tuple[OnsetPair, ...]
    left_out_unknown_onset: int
    layout: str  # "iso" or "ali2020"


@dataclass(frozen=True)
class _Layout:
    name: str
    infector: str
    infectee: str
    pattern: re.Pattern[str]
    expected: str
    parse: Callable[[str], date]
    unknown: str | None


_LAYOUTS = (
    _Layout(
        "iso", "infector_onset", "infectee_onset", _ISO, "an ISO date (YYYY-MM-DD)", date.fromisoformat, None
    ),
    _Layout(
        "ali2020",
        "infector_onsetDate",
        "infectee_onsetDate",
        _SLASHED,
        "a date as yyyy/mm/dd or 'unknown'",
        lambda text: datetime.strptime(text, "%Y/%m/%d").date(),
        "unknown",
    ),
)


def _refuse(path: Path, problems: list[tuple[int, str, str]]) -> InvalidInput:
    shown = "; ".join(
        f"line {line}, {column}: {what}" for line, column, what in problems[:_MAX_PROBLEMS_SHOWN]
    )
    more = len(problems) - _MAX_PROBLEMS_SHOWN
    tail = f" (and {more} more problems)" if more > 0 else ""
    return InvalidInput(
        f"{path.name}: {shown}{tail}; nothing from the file was used",
        field=problems[0][1],
        code="invalid_pairs_file",
    )


def read_pairs_file(path: Path) -> PairsFile:
    """Every pair of onset dates in ``path``; refuses the whole file at the first bad value's line.

    Line numbers count the header as line 1 (a record's number is the line it ends on).
    """
    try:
        return _read(path)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name}: expected UTF-8 text ({exc.reason} at byte {exc.start})",
            field="file",
            code="invalid_pairs_file",
        ) from exc
    except csv.Error as exc:
        raise InvalidInput(
            f"{path.name}: not a readable CSV file ({exc})", field="file", code="invalid_pairs_file"
        ) from exc


def _read(path: Path) -> PairsFile:
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        header = reader.fieldnames or []
        layout = next((lay for lay in _LAYOUTS if lay.infector in header and lay.infectee in header), None)
        if layout is None:
            expected = " or ".join(f"{lay.infector!r} and {lay.infectee!r}" for lay in _LAYOUTS)
            raise InvalidInput(
                f"{path.name}: line 1: expected the columns {expected}; "
                f"the header has {', '.join(repr(h) for h in header) or 'nothing'}",
                field="header",
                code="invalid_pairs_file",
            )
        pairs: list[OnsetPair] = []
        left_out = 0
        problems: list[tuple[int, str, str]] = []
        for row in reader:
            onsets: list[date | None] = []
            for column in (layout.infector, layout.infectee):
                raw = row.get(column)
                text = "" if raw is None else raw.strip()
                if layout.unknown is not None and text == layout.unknown:
                    onsets.append(None)
                    continue
                parsed = None
                if layout.pattern.fullmatch(text):
                    try:
                        parsed = layout.parse(text)
                    except ValueError:
                        parsed = None
                if parsed is None:
                    got = "a blank" if not text else repr(text)
                    problems.append((reader.line_num, column, f"expected {layout.expected}, got {got}"))
                onsets.append(parsed)
            infector, infectee = onsets
            if infector is None or infectee is None:
                left_out += 1
            else:
                pairs.append(OnsetPair(infector, infectee))
    if problems:
        raise _refuse(path, problems)
    return PairsFile(tuple(pairs), left_out, layout.name)
