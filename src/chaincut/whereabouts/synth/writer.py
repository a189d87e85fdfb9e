"""Parquet layout of a synthetic city: one file per table, the columns the
``chaincut import`` commands read.

Visits and encounters are written day by day (one or more row groups per
day) so memory stays bounded whatever the city's size.  Their ref columns are
dictionary arrays built from integer indices over the people and venue refs,
so no per-row Python string is ever made; ``person`` refs repeat too little
to pay for a Parquet dictionary and are stored plain, ``venue`` and ``source``
keep theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from chaincut.whereabouts.synth.encounters import DayEncounters
from chaincut.whereabouts.synth.visits import DayVisits

__all__ = [
    "SOURCES",
    "TABLE_NAMES",
    "encounters_schema",
    "encounters_table",
    "households_schema",
    "open_writer",
    "people_schema",
    "venues_schema",
    "visits_schema",
    "visits_table",
    "write_day",
]

TABLE_NAMES = ("people", "households", "venues", "visits", "encounters")
SOURCES = ("qr", "taxi")

_COMPRESSION = "zstd"
_DAY_ROW_GROUP = 1 << 22
# Big enough for the venue refs of a Hong Kong sized city to stay
# dictionary-encoded (about 1.7 MB for 150,000 refs).
_DICTIONARY_PAGE_LIMIT = 16 << 20
_REF = pa.dictionary(pa.int32(), pa.string())
_TIME = pa.timestamp("s", tz="UTC")


def people_schema() -> Any:
    """Columns of people.parquet."""
    return pa.schema(
        [
            ("ref", pa.string()),
            ("household", pa.string()),
            ("id_document", pa.string()),
            ("name", pa.string()),
            ("phone", pa.string()),
            ("address", pa.string()),
            ("district", pa.string()),
            ("age", pa.int16()),
        ]
    )


def households_schema() -> Any:
    """Columns of households.parquet."""
    return pa.schema(
        [
            ("ref", pa.string()),
            ("district", pa.string()),
            ("size", pa.int16()),
            ("home_venue", pa.string()),
        ]
    )


def venues_schema() -> Any:
    """Columns of venues.parquet."""
    return pa.schema(
        [
            ("ref", pa.string()),
            ("type", pa.string()),
            ("name_en", pa.string()),
            ("name_zh", pa.string()),
            ("district", pa.string()),
            ("address", pa.string()),
            ("plate", pa.string()),
        ]
    )


def visits_schema() -> Any:
    """Columns of visits.parquet."""
    return pa.schema(
        [
            ("person", _REF),
            ("venue", _REF),
            ("entered_at", _TIME),
            ("left_at", _TIME),
            ("source", pa.dictionary(pa.int8(), pa.string())),
        ]
    )


def encounters_schema() -> Any:
    """Columns of encounters.parquet."""
    return pa.schema(
        [
            ("person_a", _REF),
            ("person_b", _REF),
            ("start", _TIME),
            ("end", _TIME),
        ]
    )


def open_writer(path: Path, schema: Any, dictionary_columns: list[str]) -> Any:
    """A zstd Parquet writer that dictionary-encodes only the named columns."""
    return pq.ParquetWriter(
        str(path),
        schema,
        compression=_COMPRESSION,
        use_dictionary=dictionary_columns,
        dictionary_pagesize_limit=_DICTIONARY_PAGE_LIMIT,
    )


def write_day(writer: Any, table: Any) -> None:
    """Append one day's table as one or more row groups."""
    writer.write_table(table, row_group_size=_DAY_ROW_GROUP)


def visits_table(
    visits: DayVisits, people_refs: Any, venue_refs: Any, venue_is_taxi: npt.NDArray[np.bool_]
) -> Any:
    """One day's visits as an Arrow table with the visits.parquet columns."""
    source = venue_is_taxi[visits.venue].astype(np.int8)
    return pa.Table.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(visits.person), people_refs),
            pa.DictionaryArray.from_arrays(pa.array(visits.venue), venue_refs),
            pa.array(visits.entered, _TIME),
            pa.array(visits.left, _TIME),
            pa.DictionaryArray.from_arrays(pa.array(source), pa.array(SOURCES, pa.string())),
        ],
        schema=visits_schema(),
    )


def encounters_table(encounters: DayEncounters, people_refs: Any) -> Any:
    """One day's encounters as an Arrow table with the encounters.parquet columns."""
    return pa.Table.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array(encounters.person_a), people_refs),
            pa.DictionaryArray.from_arrays(pa.array(encounters.person_b), people_refs),
            pa.array(encounters.start, _TIME),
            pa.array(encounters.end, _TIME),
        ],
        schema=encounters_schema(),
    )
