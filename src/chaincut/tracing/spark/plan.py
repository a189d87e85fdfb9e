"""The contact definition as a Spark plan: the embedded engine's rules, restated as joins.

This is :mod:`chaincut.tracing.engine` for data that does not fit one machine. It
takes the same inputs (index windows, visits, encounters, households) as DataFrames
and the same :class:`~chaincut.tracing.rules.TracingRules`, built from the one loaded
policy, as data; it returns the same evidence rows, column for column (see
``EVIDENCE_SCHEMA``), and the same contacts. Parity tests hold the two engines to
equal answers, row for row.

The venue rule is the one join that is not an equality: a case's stay (clipped to
its window, extended by the after-leave minutes) meets a visit at the same venue
when the two intervals overlap long enough. Open-source Spark has no range join,
so both sides are cut into time buckets of ``bucket_seconds`` and joined on
(venue, bucket); a pair that shares several buckets is kept only in the bucket
where its overlap begins, which both intervals hold, so each pair is found once.
Skewed venues (a mall on a Saturday) are left to adaptive execution's skew join.

Only built-in column expressions are used, never Python functions: executors run
no Python, and the plan is the same on ``local[2]`` and on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from chaincut.domain import EvidenceKind
from chaincut.errors import UnknownVenueType
from chaincut.tracing.columns import CLIPPED_CONTACT, CLIPPED_INDEX, KIND_CODES, NO_VENUE, EvidenceTable
from chaincut.tracing.rules import TracingRules

__all__ = [
    "BUCKET_SECONDS",
    "EVIDENCE_COLUMNS",
    "SparkInputs",
    "empty_evidence",
    "rules_frame",
    "summarise",
    "trace",
]

BUCKET_SECONDS = 3_600
"""How finely the venue join cuts time. Not an epidemiological rule: any width gives the same
answer; an hour is near a typical stay, so each stay falls in two or three buckets."""

EVIDENCE_COLUMNS = tuple(f.name for f in fields(EvidenceTable))
"""The evidence's columns, named and typed as the embedded engine's ``EvidenceTable``."""

_TYPES = {"kind": "tinyint", "tier": "tinyint", "rule": "smallint", "clipped": "tinyint"}


@dataclass(frozen=True)
class SparkInputs:
    """What a trace reads, as DataFrames.

    * ``windows``: window (its number), root, person, start, end (both ends included, epoch
      seconds); the generations after the first number theirs -1, as they have one window
      per root and person;
    * ``visits``: person, venue, entered, left, clipped (every visit closed);
    * ``encounters``: person_a, person_b, start, end;
    * ``households``: person, household (people without one left out).
    """

    windows: DataFrame
    visits: DataFrame
    encounters: DataFrame
    households: DataFrame


def empty_evidence(spark: SparkSession) -> DataFrame:
    """No evidence, with the evidence's columns."""
    fields = ", ".join(f"{name} {_TYPES.get(name, 'long')}" for name in EVIDENCE_COLUMNS)
    return spark.createDataFrame([], fields)


def rules_frame(spark: SparkSession, rules: TracingRules) -> DataFrame:
    """The policy's rule for each venue: min_overlap, after_leave (seconds), tier, rule, unknown.

    A venue whose type the policy lacks has tier 0 and ``unknown`` naming the type's
    index in ``rules.unknown_types``; venues the rules never heard of are left out,
    as the embedded engine leaves them out.
    """
    venue = np.flatnonzero((rules.tier > 0) | (rules.unknown >= 0)).astype(np.int64)
    table = pa.table(
        {
            "venue": venue,
            "min_overlap": rules.min_overlap[venue],
            "after_leave": rules.after_leave[venue],
            "tier": rules.tier[venue],
            "rule": rules.rule[venue],
            "unknown": rules.unknown[venue],
        }
    )
    return spark.createDataFrame(table)


def trace(
    spark: SparkSession,
    inputs: SparkInputs,
    rules: TracingRules,
    as_of: int,
    *,
    bucket_seconds: int = BUCKET_SECONDS,
    on_generation: Callable[[int], None] | None = None,
    persisted: list[DataFrame] | None = None,
) -> DataFrame:
    """Every piece of evidence for every root, down to the policy's depth (``engine.trace``).

    Raises UnknownVenueType, as the embedded engine does, when a stay of an index person
    at a venue of a type the policy lacks meets their window: when the policy lacks a
    type some venue has, each generation runs a Spark job to look. Otherwise nothing runs
    until the caller asks for the evidence; a generation that finds nobody leaves the next
    ones empty (adaptive execution skips their joins). ``on_generation(g)`` hears when
    generation ``g`` is planned. What the plan persists (to compute it once) is added to
    ``persisted``, for the caller to unpersist when done.
    """
    kept = persisted if persisted is not None else []
    by_venue = F.broadcast(rules_frame(spark, rules))
    windows = inputs.windows
    found = windows.select("root", "person")  # the root people themselves
    parts: list[DataFrame] = []
    for generation in range(1, rules.depth + 1):
        if on_generation is not None:
            on_generation(generation)
        evidence = _one_generation(windows, inputs, by_venue, rules, bucket_seconds, kept)
        evidence = evidence.withColumn("generation", F.lit(generation).cast("long"))
        if generation > 1:
            evidence = evidence.join(found, ["root", "person"], "left_anti")
        evidence = evidence.select(*EVIDENCE_COLUMNS)
        if generation < rules.depth:  # read again by the next generation: computed once
            evidence = evidence.persist(StorageLevel.MEMORY_AND_DISK)
            kept.append(evidence)
            found = found.unionByName(evidence.select("root", "person")).distinct()
            windows = _next_windows(evidence, rules, as_of)
        parts.append(evidence)
    result = parts[0]
    for part in parts[1:]:
        result = result.unionByName(part)
    return result


def summarise(evidence: DataFrame, rules: TracingRules) -> DataFrame:
    """One row per (root, person), as ``engine.summarise``: strongest tier, summed seconds,
    earliest exposure; a contact of a contact gets the policy's onward tier."""
    grouped = evidence.groupBy("root", "person").agg(
        F.max("tier").alias("tier"),
        F.min("generation").alias("generation"),
        F.sum("seconds").alias("seconds"),
        F.min("via").alias("via"),
        F.min(F.greatest("contact_start", "index_start")).alias("first_start"),
        F.max(F.least("contact_end", "index_end")).alias("last_end"),
    )
    onward = F.lit(rules.onward_tier).cast("tinyint")
    return grouped.withColumn("tier", F.when(F.col("generation") > 1, onward).otherwise(F.col("tier")))


def _one_generation(
    windows: DataFrame,
    inputs: SparkInputs,
    by_venue: DataFrame,
    rules: TracingRules,
    bucket_seconds: int,
    persisted: list[DataFrame],
) -> DataFrame:
    # The index people's stays are read twice (their venues, then their buckets) and are few:
    # kept, so the visits are scanned once for them.
    exposures = _exposures(windows, inputs.visits, by_venue, rules).persist(StorageLevel.MEMORY_AND_DISK)
    persisted.append(exposures)
    return (
        _venue_evidence(exposures, inputs.visits, bucket_seconds)
        .unionByName(_encounter_evidence(windows, inputs.encounters, rules))
        .unionByName(_household_evidence(windows, inputs.households, rules))
    )


def _exposures(windows: DataFrame, visits: DataFrame, by_venue: DataFrame, rules: TracingRules) -> DataFrame:
    """Index people's stays clipped to their windows, with the venue's rule (``engine.exposures_of``).

    A stay at a venue of a type the policy lacks that meets its window refuses the trace.
    """
    w, v = windows.alias("w"), visits.alias("v")
    stays = w.join(v, F.col("w.person") == F.col("v.person")).select(
        F.col("w.window").alias("window"),
        F.col("w.root").alias("root"),
        F.col("w.person").alias("via"),
        F.col("v.venue").alias("venue"),
        F.greatest("v.entered", "w.start").alias("start"),
        F.least("v.left", "w.end").alias("end"),
        F.col("v.clipped").alias("index_clipped"),
    )
    met = stays.filter(F.col("start") <= F.col("end")).join(by_venue, "venue")
    if rules.unknown_types:
        unknown = met.filter(F.col("unknown") >= 0).agg(F.min("unknown")).first()
        if unknown is not None and unknown[0] is not None:
            raise UnknownVenueType(
                rules.unknown_types[int(unknown[0])],
                rules.known_types,
                context=" (this trace meets visits at a venue of that type)",
            )
    return met.filter(F.col("tier") > 0).withColumn("end", F.col("end") + F.col("after_leave"))


def _buckets(start: str, end: str, width: int) -> Column:
    return F.explode(F.sequence(_bucket(F.col(start), width), _bucket(F.col(end), width)))


def _bucket(moment: Column, width: int) -> Column:
    return F.floor(moment / F.lit(width)).cast("long")


def _venue_evidence(exposures: DataFrame, visits: DataFrame, width: int) -> DataFrame:
    """Each exposure against the visits at its venue that overlap it for at least the rule's
    minimum, the index person's own visits aside (``kernels.venue_hits``)."""
    index = exposures.select(
        "root", "via", "venue", "start", "end", "index_clipped", "min_overlap", "tier", "rule",
        _buckets("start", "end", width).alias("bucket"),
    )  # fmt: skip
    candidates = visits.join(F.broadcast(exposures.select("venue").distinct()), "venue", "left_semi")
    candidates = candidates.select(
        "person", "venue", "entered", "left", "clipped", _buckets("entered", "left", width).alias("bucket")
    )
    pairs = index.join(candidates, ["venue", "bucket"])
    overlap = F.least("left", "end") - F.greatest("entered", "start")
    begins = _bucket(F.greatest("entered", "start"), width)
    hits = pairs.filter(
        (overlap >= F.col("min_overlap"))
        & (F.col("person") != F.col("via"))
        & (F.col("bucket") == begins)  # the one bucket where the overlap begins
    )
    clipped = (
        F.when(F.col("index_clipped"), CLIPPED_INDEX)
        .otherwise(0)
        .bitwiseOR(F.when(F.col("clipped"), CLIPPED_CONTACT).otherwise(0))
    )
    return _rows(
        hits,
        root=F.col("root"),
        person=F.col("person"),
        via=F.col("via"),
        kind=F.lit(KIND_CODES[EvidenceKind.VENUE]),
        tier=F.col("tier"),
        rule=F.col("rule"),
        seconds=overlap,
        venue=F.col("venue"),
        index_start=F.col("start"),
        index_end=F.col("end"),
        contact_start=F.col("entered"),
        contact_end=F.col("left"),
        encounters=F.lit(0),
        clipped=clipped,
    )


def _encounter_evidence(windows: DataFrame, encounters: DataFrame, rules: TracingRules) -> DataFrame:
    """Encounters clipped to each window, added up per other person (``engine._encounter_evidence``)."""
    w = windows.alias("w")

    def side(mine: str, other: str) -> DataFrame:
        e = encounters.alias("e")
        return w.join(e, F.col("w.person") == F.col(f"e.{mine}")).select(
            "w.window",
            F.col("w.root").alias("root"),
            F.col("w.person").alias("via"),
            F.col("w.start").alias("w_start"),
            F.col("w.end").alias("w_end"),
            F.col(f"e.{other}").alias("person"),
            F.greatest("e.start", "w.start").alias("start"),
            F.least("e.end", "w.end").alias("end"),
        )

    met = side("person_a", "person_b").unionByName(side("person_b", "person_a"))
    met = met.filter(F.col("start") <= F.col("end"))
    added = met.groupBy("window", "root", "via", "w_start", "w_end", "person").agg(
        F.sum(F.col("end") - F.col("start")).alias("seconds"),
        F.count(F.lit(1)).alias("encounters"),
        F.min("start").alias("first"),
        F.max("end").alias("last"),
    )
    return _rows(
        added.filter(F.col("seconds") >= rules.encounter_seconds),
        root=F.col("root"),
        person=F.col("person"),
        via=F.col("via"),
        kind=F.lit(KIND_CODES[EvidenceKind.ENCOUNTER]),
        tier=F.lit(rules.encounter_tier),
        rule=F.lit(-1),
        seconds=F.col("seconds"),
        venue=F.lit(NO_VENUE),
        index_start=F.col("w_start"),
        index_end=F.col("w_end"),
        contact_start=F.col("first"),
        contact_end=F.col("last"),
        encounters=F.col("encounters"),
        clipped=F.lit(0),
    )


def _household_evidence(windows: DataFrame, households: DataFrame, rules: TracingRules) -> DataFrame:
    """Every other member of the index person's household (``engine._household_evidence``): the
    index people's households first, then their members (never the whole population squared)."""
    w, h = windows.alias("w"), households.alias("h")
    theirs = w.join(h, F.col("w.person") == F.col("h.person")).select("w.*", F.col("h.household"))
    t, m = theirs.alias("t"), households.alias("m")
    found = t.join(m, F.col("t.household") == F.col("m.household"))
    found = found.filter(F.col("m.person") != F.col("t.person"))
    return _rows(
        found,
        root=F.col("t.root"),
        person=F.col("m.person"),
        via=F.col("t.person"),
        kind=F.lit(KIND_CODES[EvidenceKind.HOUSEHOLD]),
        tier=F.lit(rules.household_tier),
        rule=F.lit(-1),
        seconds=F.lit(0),
        venue=F.lit(NO_VENUE),
        index_start=F.col("t.start"),
        index_end=F.col("t.end"),
        contact_start=F.col("t.start"),
        contact_end=F.col("t.end"),
        encounters=F.lit(0),
        clipped=F.lit(0),
    )


def _rows(frame: DataFrame, **columns: Column) -> DataFrame:
    """Evidence rows with the embedded engine's column types (generation is set by the caller)."""
    return frame.select(
        *(column.cast(_TYPES.get(name, "long")).alias(name) for name, column in columns.items())
    )


def _next_windows(evidence: DataFrame, rules: TracingRules, as_of: int) -> DataFrame:
    """The next generation's windows (``engine._next_windows``): each contact of an onward tier,
    from their first exposure to the time of tracing."""
    contacts = summarise(evidence, rules)
    onward = contacts.filter(
        F.col("tier").isin(*sorted(rules.onward_tiers)) & (F.col("first_start") <= as_of)
    )
    return onward.select(
        "root",
        "person",
        F.col("first_start").alias("start"),
        F.lit(as_of).cast("long").alias("end"),
        F.lit(-1).cast("long").alias("window"),
    )
