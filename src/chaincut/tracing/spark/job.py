"""``chaincut trace --reported-on DAY --engine spark``: a day's cases traced as a Spark job.

The command line is the job's driver: it reads the cases, the policy and what the
store holds in SQL, starts (or joins) a Spark session on ``master``, and has the
executors read the archive and run :mod:`chaincut.tracing.spark.plan`. The
contacts and evidence go where Spark writes (a folder of Parquet files, local or
a URI), first under a temporary name that is renamed when the job has succeeded:
a job that fails leaves no partial output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from py4j.protocol import Py4JError
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from chaincut.domain import Case, EvidenceKind, Tier
from chaincut.errors import ConfigurationError, JobFailed
from chaincut.store import Store
from chaincut.tracing.batch_files import CONTACT_FILE_COLUMNS, EVIDENCE_FILE_COLUMNS, partial_path
from chaincut.tracing.columns import CLIPPED_CONTACT, CLIPPED_INDEX, KIND_CODES, KINDS, TIERS
from chaincut.tracing.rules import ENCOUNTER_RULE, HOUSEHOLD_RULE, TracingRules
from chaincut.tracing.service import TracingService
from chaincut.tracing.spark.inputs import References, filesystem, read_inputs, references
from chaincut.tracing.spark.plan import empty_evidence, summarise, trace

__all__ = ["SparkTrace", "spark_session", "trace_on_spark"]

SPARK_SETTINGS: Mapping[str, str] = {
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",  # a busy venue's bucket is split across tasks
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MILLIS",  # as the embedded engine writes
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "1000000",  # the driver's tables in few partitions
    "spark.ui.showConsoleProgress": "false",  # the command shows its own
}
"""What the trace needs of a session; ``--spark-conf`` may add to it or change it."""


@dataclass(frozen=True)
class SparkTrace:
    """What a Spark trace of a day found and wrote."""

    case_refs: Sequence[str]
    policy_version: str
    as_of: datetime
    contact_count: int
    close: int
    exposed: int
    out: str
    evidence_out: str | None
    evidence_count: int | None  # pieces of evidence written (None: none were asked for)


def spark_session(master: str | None, settings: Mapping[str, str] = {}) -> SparkSession:
    """A session on ``master`` (None: the one spark-submit gave, else ``local[*]``)."""
    builder = SparkSession.builder.appName("chaincut trace")
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not started by spark-submit
        master = "local[*]"
    if master is not None:
        builder = builder.master(master)
    for key, value in {**SPARK_SETTINGS, **settings}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # a master that cannot be reached or parsed, a setting Spark refuses
        raise ConfigurationError(f"Spark did not start on {master}: {_first_line(error)}") from error
    session.sparkContext.setLogLevel("ERROR")
    return session


def trace_on_spark(
    spark: SparkSession,
    tracing: TracingService,
    store: Store,
    cases: Sequence[Case],
    *,
    out: str,
    evidence_out: str | None = None,
    archive: str | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> SparkTrace:
    """Trace ``cases`` on ``spark`` and write their contacts to ``out`` (and evidence to ``evidence_out``).

    ``archive`` is the root of the store's archive where the executors read it (None:
    the store's own folder). Nothing is written unless the whole job succeeds.
    """
    report = on_progress or (lambda stage, done, total: None)
    batch = tracing.batch_inputs(cases)
    rules = batch.rules
    case_refs = [c.ref for c in cases]
    counts = {Tier.CLOSE: 0, Tier.EXPOSED: 0}

    def started(generation: int) -> None:
        report(_TRACING, generation - 1, rules.depth)

    written: list[tuple[str, str]] = []  # (where it is being written, where it goes)
    persisted: list[DataFrame] = []
    evidence_rows: int | None = None
    try:
        report(_READING, 0, 1)
        inputs = read_inputs(spark, store, batch, archive) if len(batch.windows) else None
        refs = references(spark, store, case_refs)
        report(_READING, 1, 1)
        if inputs is None:
            evidence = empty_evidence(spark)
        else:
            evidence = trace(spark, inputs, rules, batch.as_of, on_generation=started, persisted=persisted)
        if evidence_out is not None:  # read twice: once for the file, once for the contacts
            evidence = evidence.persist(StorageLevel.MEMORY_AND_DISK)
            persisted.append(evidence)
            _write(_evidence_file(evidence, refs, rules), evidence_out, written)
            evidence_rows = spark.read.parquet(written[-1][0]).count()
        report(_TRACING, rules.depth, rules.depth)
        report(_WRITING, 0, 1)
        _write(_contact_file(summarise(evidence, rules), refs), out, written)
        for row in spark.read.parquet(written[-1][0]).groupBy("tier").count().collect():
            counts[Tier(row["tier"])] = int(row["count"])
        _publish(spark, written)
        report(_WRITING, 1, 1)
    except BaseException as error:  # an interrupt too: nothing is left half-written
        for partial, _ in written:
            _remove(spark, partial)
        if not isinstance(error, PySparkException | Py4JError):
            raise
        raise JobFailed(f"the Spark job failed and wrote nothing: {_first_line(error)}") from error
    finally:
        for frame in persisted:
            with suppress(PySparkException, Py4JError):  # the session itself is gone
                frame.unpersist()
    return SparkTrace(
        case_refs=case_refs,
        policy_version=tracing.policy.version,
        as_of=batch.now,
        contact_count=counts[Tier.CLOSE] + counts[Tier.EXPOSED],
        close=counts[Tier.CLOSE],
        exposed=counts[Tier.EXPOSED],
        out=out,
        evidence_out=evidence_out,
        evidence_count=evidence_rows,
    )


_READING, _TRACING, _WRITING = "reading whereabouts", "tracing generations", "writing contacts"


def _first_line(error: BaseException) -> str:
    """What went wrong, in one line: the Java exception's own, not py4j's call site."""
    java = getattr(error, "java_exception", None)
    text = (str(java.toString()) if java is not None else str(error)).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _write(frame: DataFrame, target: str, written: list[tuple[str, str]]) -> None:
    """``frame`` written as Parquet beside ``target`` under a name of its own, noted in ``written``
    first (a write that fails part way may leave files there)."""
    partial = partial_path(target.rstrip("/"))
    written.append((partial, target))
    frame.write.parquet(partial, compression="zstd")


def _publish(spark: SparkSession, written: list[tuple[str, str]]) -> None:
    """Put every finished output in its place, or none: an earlier output of the same name is
    moved aside first and put back if a later rename fails. The contacts go last."""
    moved: list[tuple[str, str | None]] = []  # (target, where the earlier output was moved)
    try:
        for partial, target in written:
            fs, source = filesystem(spark, partial)
            _, destination = filesystem(spark, target)
            aside = None
            if fs.exists(destination):
                aside = partial_path(f"{target.rstrip('/')}.replaced")
                if not fs.rename(destination, filesystem(spark, aside)[1]):
                    raise JobFailed(f"the earlier {target} could not be moved aside; nothing was written")
            moved.append((target, aside))
            if not fs.rename(source, destination):
                raise JobFailed(f"the finished output could not be renamed to {target}; nothing was written")
    except BaseException:
        for target, aside in reversed(moved):  # undone in reverse: each target as it was
            fs, destination = filesystem(spark, target)
            fs.delete(destination, True)
            if aside is not None:
                fs.rename(filesystem(spark, aside)[1], destination)
        raise
    for _, aside in moved:
        if aside is not None:
            _remove(spark, aside)


def _remove(spark: SparkSession, partial: str) -> None:
    try:
        fs, where = filesystem(spark, partial)
        fs.delete(where, True)
    except (PySparkException, Py4JError):  # the session itself is gone: nothing more to do
        pass


def _names(column: str, names: Mapping[int, str]) -> Column:
    """A code column as its names (a CASE expression)."""
    cases = [(F.col(column) == code, F.lit(name)) for code, name in sorted(names.items())]
    expression = F.when(*cases[0])
    for condition, name in cases[1:]:
        expression = expression.when(condition, name)
    return expression


def _moment(column: str) -> Column:
    return F.timestamp_seconds(F.col(column))


def _ref(frame: DataFrame, table: DataFrame, column: str, name: str) -> DataFrame:
    """``frame`` with the reference of the id in ``column`` as ``name``."""
    lookup = table.select(F.col("id").alias(column), F.col("ref").alias(name))
    return frame.join(lookup, column, "left")


def _contact_file(contacts: DataFrame, refs: References) -> DataFrame:
    rows = contacts.join(F.broadcast(refs.cases), "root", "left")
    rows = _ref(rows, refs.people, "person", "person_ref")
    rows = _ref(rows, refs.people, "via", "via_ref")
    columns = {
        "case": F.col("case"),
        "person": F.col("person_ref"),
        "tier": _names("tier", {code: tier.value for code, tier in TIERS.items()}),
        "generation": F.col("generation"),
        "minutes": F.round(F.col("seconds") / 60, 2),
        "via": F.col("via_ref"),
        "first_exposure": _moment("first_start"),
        "last_exposure": _moment("last_end"),
    }
    ordered = rows.orderBy("root", "person")  # as the embedded engine writes them
    return ordered.select(*(columns[name].alias(name) for name in CONTACT_FILE_COLUMNS))


def _evidence_file(evidence: DataFrame, refs: References, rules: TracingRules) -> DataFrame:
    rows = evidence.join(F.broadcast(refs.cases), "root", "left")
    rows = _ref(rows, refs.people, "person", "person_ref")
    rows = _ref(rows, refs.people, "via", "via_ref")
    rows = _ref(rows, F.broadcast(refs.venues), "venue", "venue_ref")
    # Each row's rule by name, as Trace shows it (rules.rule_name).
    venue_rule = F.lit(None).cast("string")
    if rules.rule_names:
        names = F.array(*(F.lit(name) for name in rules.rule_names))
        venue_rule = F.element_at(names, F.col("rule").cast("int") + 1)
    rule = (
        F.when(F.col("kind") == KIND_CODES[EvidenceKind.ENCOUNTER], ENCOUNTER_RULE)
        .when(F.col("kind") == KIND_CODES[EvidenceKind.HOUSEHOLD], HOUSEHOLD_RULE)
        .otherwise(venue_rule)
    )
    columns = {
        "case": F.col("case"),
        "person": F.col("person_ref"),
        "via": F.col("via_ref"),
        "generation": F.col("generation"),
        "kind": _names("kind", {code: kind.value for code, kind in KINDS.items()}),
        "rule": rule,
        "tier": _names("tier", {code: tier.value for code, tier in TIERS.items()}),
        "minutes": F.round(F.col("seconds") / 60, 2),
        "venue": F.col("venue_ref"),
        "index_start": _moment("index_start"),
        "index_end": _moment("index_end"),
        "contact_start": _moment("contact_start"),
        "contact_end": _moment("contact_end"),
        "encounters": F.col("encounters"),
        "index_clipped": (F.col("clipped").bitwiseAND(CLIPPED_INDEX)) != 0,
        "contact_clipped": (F.col("clipped").bitwiseAND(CLIPPED_CONTACT)) != 0,
    }
    return rows.select(*(columns[name].alias(name) for name in EVIDENCE_FILE_COLUMNS))
