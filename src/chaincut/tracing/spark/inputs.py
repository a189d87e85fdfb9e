"""What a Spark trace reads: the Parquet archive where Spark reads it, and the rest from the store.

The archive's bulk whereabouts are read by the executors themselves, from a local
folder or any URI Spark reads (``s3a://``, ``hdfs://``): only the segments its
manifests name, and only once the manifests say it belongs to this store. What
the store holds in SQL (check-ins and uploads that came one at a time, households,
the cases' and people's references) is read here, on the driver, and shipped as
Arrow: on the embedded default it is small beside the archive. On PostgreSQL, which
holds every visit in SQL and has no archive, the driver reads them all: trace at a
scale beyond one machine from the embedded default's archive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StructField, StructType

from chaincut.errors import ConfigurationError
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA, Store, read_store_id
from chaincut.tracing.columns import EncounterArrays, VisitArrays
from chaincut.tracing.service import BatchInputs
from chaincut.tracing.spark.plan import SparkInputs
from chaincut.tracing.store_sources import close_open_visits

__all__ = ["References", "archive_segments", "filesystem", "frame", "read_inputs", "read_text", "references"]

_KINDS = ("visits", "encounters")
_VISIT_COLUMNS = ("person_id", "venue_id", "entered_at", "left_at", "clipped")


@dataclass(frozen=True)
class References:
    """Ids to the references people read: cases by root, people and venues by id."""

    cases: DataFrame  # root, case
    people: DataFrame  # id, ref
    venues: DataFrame  # id, ref


def frame(spark: SparkSession, table: pa.Table) -> DataFrame:
    """A DataFrame of an Arrow table (empty ones keep their columns' types)."""
    if table.num_rows:
        return spark.createDataFrame(table)
    fields = [StructField(f.name, _SPARK_TYPES[f.type], True) for f in table.schema]
    return spark.createDataFrame([], StructType(fields))


_SPARK_TYPES = {pa.int64(): LongType(), pa.bool_(): BooleanType()}


def filesystem(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """Hadoop's file system for ``path`` (local, hdfs://, s3a://...) and the path in it."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    where = jvm.org.apache.hadoop.fs.Path(path)
    return where.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), where


def read_text(spark: SparkSession, path: str) -> str | None:
    """A small file's text, read where Spark reads (None: there is no such file)."""
    fs, where = filesystem(spark, path)
    if not fs.exists(where):
        return None
    stream = fs.open(where)
    try:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def archive_segments(spark: SparkSession, root: str, store_id: str | None) -> dict[str, list[str]]:
    """The URIs of the segments each kind's manifest names, once the archive is this store's.

    A kind without a manifest has no segments. Refuses (ConfigurationError) a folder with
    no manifest at all, an archive that names another store, and one that holds
    whereabouts but names none: it may be another store's.
    """
    root = root.rstrip("/")
    found: dict[str, list[str]] = {}
    read = 0
    for kind in _KINDS:
        where = f"{root}/{kind}/manifest.json"
        text = read_text(spark, where)
        if text is None:  # nothing of this kind was ever archived
            found[kind] = []
            continue
        manifest = json.loads(text)
        named = manifest.get("store_id")
        segments = manifest.get("segments", [])
        if store_id is not None and named != store_id and (named is not None or segments):
            owner = f"belongs to store {named}" if named else "holds whereabouts but names no store"
            raise ConfigurationError(
                f"the whereabouts archive at {root} {owner}, but the database is store {store_id}: "
                "trace with the archive of this store"
            )
        found[kind] = [f"{root}/{kind}/{s['file']}" for s in segments]
        read += 1
    if not read:
        raise ConfigurationError(
            f"no whereabouts archive at {root}: neither visits/manifest.json nor encounters/manifest.json "
            "is there (the archive is the data directory's whereabouts folder, or a copy of it where "
            "Spark reads)"
        )
    return found


def read_inputs(spark: SparkSession, store: Store, batch: BatchInputs, archive: str | None) -> SparkInputs:
    """The batch's windows and every whereabouts it may meet: the archive (``archive``: its
    root; None: the store's own, if it has one) and what the store holds in SQL."""
    windows = batch.windows
    first = int(windows.start.min())
    # The latest moment a stay could still matter: a window ends by the time of tracing, and
    # a case's stay is extended by the longest after-leave time.
    last = batch.as_of + int(batch.rules.after_leave.max(initial=0))
    with store.read() as uow:
        visits = close_open_visits(uow.tracing.visits_between(first, last), batch.stay, batch.as_of)
        encounters = EncounterArrays(*uow.tracing.encounters_between(first, batch.as_of))
        person, household = uow.tracing.households()
    visit_frame = frame(spark, _visit_table(visits))
    encounter_frame = frame(spark, _encounter_table(encounters))
    # The store's own archive as a file URI: a bare path would be looked for on the cluster's
    # default file system (HDFS, say), not on this machine.
    own = None if store.archive is None else store.archive.root.resolve().as_uri()
    root = archive if archive is not None else own
    if root is not None:
        segments = archive_segments(spark, root, read_store_id(store.db))
        visit_frame = visit_frame.unionByName(_archived_visits(spark, segments["visits"], first, last))
        encounter_frame = encounter_frame.unionByName(
            _archived_encounters(spark, segments["encounters"], first, batch.as_of)
        )
    return SparkInputs(
        windows=frame(
            spark,
            pa.table(
                {
                    "window": np.arange(len(windows), dtype=np.int64),
                    "root": windows.root,
                    "person": windows.person,
                    "start": windows.start,
                    "end": windows.end,
                }
            ),
        ),
        visits=visit_frame,
        encounters=encounter_frame,
        households=frame(spark, pa.table({"person": person, "household": household})),
    )


def references(spark: SparkSession, store: Store, case_refs: Sequence[str]) -> References:
    """The batch's case references by root, and every person's and venue's reference by id."""
    with store.read() as uow:
        people, venues = uow.people.ref_index(), uow.venues.ref_index()
    cases = pa.table(
        {"root": np.arange(len(case_refs), dtype=np.int64), "case": pa.array(case_refs, pa.string())}
    )
    return References(
        cases=spark.createDataFrame(cases),
        people=spark.createDataFrame(people.select(["id", "ref"])),
        venues=spark.createDataFrame(venues.select(["id", "ref"])),
    )


def _visit_table(visits: VisitArrays) -> pa.Table:
    return pa.table(
        {
            "person": visits.person,
            "venue": visits.venue,
            "entered": visits.entered,
            "left": visits.left,
            "clipped": visits.clipped,
        }
    )


def _encounter_table(encounters: EncounterArrays) -> pa.Table:
    return pa.table(
        {
            "person_a": encounters.person_a,
            "person_b": encounters.person_b,
            "start": encounters.start,
            "end": encounters.end,
        }
    )


def _schema(schema: pa.Schema, columns: Sequence[str]) -> StructType:
    """Spark's schema for ``columns`` of an archive kind: the only ones its reads decode."""
    return StructType([StructField(name, _SPARK_TYPES[schema.field(name).type], True) for name in columns])


def _archived_visits(spark: SparkSession, files: list[str], first: int, last: int) -> DataFrame:
    # A segment written before a column existed reads as null in it; ``clipped`` then is false.
    parts = spark.read.schema(_schema(VISIT_SCHEMA, _VISIT_COLUMNS)).parquet(*files) if files else None
    if parts is None:
        return frame(spark, _visit_table(VisitArrays.empty()))
    return parts.filter((F.col("entered_at") <= last) & (F.col("left_at") >= first)).select(
        F.col("person_id").alias("person"),
        F.col("venue_id").alias("venue"),
        F.col("entered_at").alias("entered"),
        F.col("left_at").alias("left"),
        F.coalesce(F.col("clipped"), F.lit(False)).alias("clipped"),
    )


def _archived_encounters(spark: SparkSession, files: list[str], first: int, last: int) -> DataFrame:
    if not files:
        return frame(spark, _encounter_table(EncounterArrays.empty()))
    parts = spark.read.schema(_schema(ENCOUNTER_SCHEMA, ENCOUNTER_SCHEMA.names)).parquet(*files)
    return parts.filter((F.col("start_at") <= last) & (F.col("end_at") >= first)).select(
        "person_a",
        "person_b",
        F.col("start_at").alias("start"),
        F.col("end_at").alias("end"),
    )
