"""The Spark engine against the embedded one, row for row, on a real Spark in local mode.

Hypothesis worlds (the oracle's: boundaries, clipped stays, households, encounters,
contacts of contacts to depth 3, venue types the policy lacks) go through both engines'
plans; a synthetic district and the SocioPatterns contacts go through ``chaincut trace
--reported-on`` with each engine, and the files they write must be equal.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tracing import add_visit
from typer.testing import CliRunner

from chaincut.bootstrap import Services
from chaincut.cli.app import app
from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import VisitSource
from chaincut.errors import ConfigurationError, JobFailed, UnknownVenueType
from chaincut.people import PersonDraft
from chaincut.policy import ContactsOfContactsRule, Policy
from chaincut.store import ENCOUNTER_SCHEMA, VISIT_SCHEMA
from chaincut.tracing.batch_files import CONTACT_FILE_COLUMNS, BatchFiles
from chaincut.tracing.cases import CaseDraft
from chaincut.tracing.columns import ContactTable, EncounterArrays, EvidenceTable, IndexWindows, VisitArrays
from chaincut.tracing.engine import summarise, trace
from chaincut.tracing.rules import TracingRules
from chaincut.tracing.service import TracingService
from chaincut.tracing.sources import ArraySource
from chaincut.venues.registry import VenueDraft
from support.settings import cli_env
from support.tracing_oracle import World, worlds

pytestmark = pytest.mark.spark


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def embedded(world: World) -> tuple[EvidenceTable, ContactTable]:
    visits = VisitArrays.of(*_columns(world.visits, 5))
    encounters = EncounterArrays.of(*_columns(world.encounters, 4))
    people = np.array(list(world.households), dtype=np.int64)
    households = np.array(list(world.households.values()), dtype=np.int64)
    rules = TracingRules.build(world.policy, world.venue_types)
    windows = IndexWindows.of(*_columns(world.windows, 4))
    evidence = trace(windows, ArraySource(visits, encounters, people, households), rules, world.as_of)
    return evidence, summarise(evidence, rules)


def on_spark(spark: Any, world: World, bucket_seconds: int = 900) -> tuple[pa.Table, pa.Table]:
    from chaincut.tracing.spark.inputs import frame
    from chaincut.tracing.spark.plan import SparkInputs
    from chaincut.tracing.spark.plan import summarise as spark_summarise
    from chaincut.tracing.spark.plan import trace as spark_trace

    def table(names: tuple[str, ...], rows: list[tuple[Any, ...]], types: dict[str, pa.DataType]) -> pa.Table:
        columns = _columns(rows, len(names))
        return pa.table(
            {n: pa.array(c, types.get(n, pa.int64())) for n, c in zip(names, columns, strict=True)}
        )

    inputs = SparkInputs(
        windows=frame(
            spark,
            table(
                ("window", "root", "person", "start", "end"),
                [(i, *w) for i, w in enumerate(world.windows)],
                {},
            ),
        ),
        visits=frame(
            spark,
            table(("person", "venue", "entered", "left", "clipped"), world.visits, {"clipped": pa.bool_()}),
        ),
        encounters=frame(spark, table(("person_a", "person_b", "start", "end"), world.encounters, {})),
        households=frame(spark, table(("person", "household"), list(world.households.items()), {})),
    )
    rules = TracingRules.build(world.policy, world.venue_types)
    try:
        evidence = spark_trace(spark, inputs, rules, world.as_of, bucket_seconds=bucket_seconds).persist()
        return evidence.toArrow(), spark_summarise(evidence, rules).toArrow()
    finally:
        spark.catalog.clearCache()


def rows_of(table: Any, names: list[str]) -> list[tuple[int, ...]]:
    """Rows as sorted tuples of ints, from engine columns or an Arrow table."""
    if isinstance(table, pa.Table):
        columns = [table[n].to_pylist() for n in names]
    else:
        columns = [getattr(table, n).tolist() for n in names]
    return sorted(zip(*(map(int, c) for c in columns), strict=True)) if columns and columns[0] else []


EVIDENCE = [f.name for f in fields(EvidenceTable)]
CONTACTS = [f.name for f in fields(ContactTable)]


def merged(parts: list[World]) -> World:
    """The worlds side by side as one, under the first one's policy: people, venues, households
    and roots of each numbered apart, so they never meet. A Spark job costs seconds even on a
    few rows, so each job traces several of the oracle's worlds at once.

    A venue of a type the policy lacks refuses the whole trace when it meets a window, so only
    the first world keeps such venues; the others' are given a type the policy has.
    """
    first = parts[0]
    known = sorted(first.policy.venue_types)
    world = World(first.policy, {}, [], [], {}, [], max(w.as_of for w in parts))
    for k, part in enumerate(parts):
        p, v, r = 100 * k, 10 * k, 10 * k  # a world has under 10 people, 5 venues, 4 roots
        for venue, kind in part.venue_types.items():
            world.venue_types[v + venue] = kind if k == 0 or kind in known else known[venue % len(known)]
        world.visits.extend((p + a, v + b, c, d, e) for a, b, c, d, e in part.visits)
        world.encounters.extend((p + a, p + b, c, d) for a, b, c, d in part.encounters)
        world.households.update({p + person: 10 * k + h for person, h in part.households.items()})
        world.windows.extend((r + root, p + person, c, d) for root, person, c, d in part.windows)
    return world


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(worlds(), min_size=4, max_size=4).map(merged), st.sampled_from([60, 900, 3600]))
def test_spark_finds_the_same_evidence_as_the_embedded_engine(spark: Any, world: World, bucket: int) -> None:
    """The oracle's worlds (boundaries, clipped stays, contacts of contacts to depth 3, venue
    types the policy lacks), four at a time: the same evidence and contacts, row for row,
    whatever the width of the venue join's buckets (finer and coarser than the worlds' grid)."""
    try:
        evidence, contacts = embedded(world)
    except UnknownVenueType as refused:  # a stay at a venue of a type the policy lacks meets a window
        refused_type = refused.venue_type
    else:
        refused_type = None
    if refused_type is not None:
        with pytest.raises(UnknownVenueType) as caught:
            on_spark(spark, world, bucket)
        assert caught.value.venue_type == refused_type
        return
    spark_evidence, spark_contacts = on_spark(spark, world, bucket)
    assert spark_evidence.column_names == EVIDENCE
    assert rows_of(spark_evidence, EVIDENCE) == rows_of(evidence, EVIDENCE)
    assert rows_of(spark_contacts, CONTACTS) == rows_of(contacts, CONTACTS)


# --- through the store: a synthetic district, both engines writing their files ----------------

DAY = date(2026, 11, 20)  # the test clock's day in Hong Kong (conftest.NOW)
VENUE_TYPES = ("restaurant", "bar", "office", "mall", "clinic", "elderly_home")


def deeper(policy: Policy) -> Policy:
    """The policy, tracing contacts of close contacts too (depth 2)."""
    coc = policy.contacts_of_contacts
    return dataclasses.replace(
        policy, contacts_of_contacts=ContactsOfContactsRule(2, coc.from_tiers, coc.tier)
    )


def build_district(services: Services, seed: int = 7) -> list[str]:
    """400 people in households of one to four, 30 venues, five days of visits (bulk imports in the
    archive, and check-ins in SQL, some never checked out), encounters, and 12 cases reported today.

    Returns the cases' references.
    """
    rng = np.random.default_rng(seed)
    people = [f"D{i:03d}" for i in range(400)]
    household = 0
    for i, ref in enumerate(people):
        if i % 3 == 0:
            household += 1
        services.people.register(PersonDraft(ref, household=f"H{household}" if i % 5 else None))
    venues = [f"V{i:02d}" for i in range(30)]
    for i, ref in enumerate(venues):
        services.venues.register(
            VenueDraft(VENUE_TYPES[i % len(VENUE_TYPES)], f"Venue {i}", f"場所{i}", ref=ref)
        )
    with services.store.read() as uow:
        person_id = {ref: uow.people.id_for_ref(ref) for ref in people}
        venue_id = {ref: uow.venues.get_by_ref(ref).id for ref in venues}  # type: ignore[union-attr]
    now = to_epoch(services.clock.now())
    start = now - 5 * 86400
    count = 6000
    entered = start + rng.integers(0, 5 * 86400 // 300, count) * 300  # on a five-minute grid: ties
    stay = rng.choice([0, 300, 1800, 3600, 5400, 4 * 3600], count)
    table = pa.table(
        {
            "person_id": [person_id[people[i]] for i in rng.integers(0, len(people), count)],
            "venue_id": [venue_id[venues[i]] for i in rng.zipf(1.6, count) % len(venues)],  # busy venues
            "entered_at": entered,
            "left_at": np.minimum(entered + stay, now),
            "left_inferred": np.zeros(count, dtype=bool),
            "source": np.full(count, VisitSource.IMPORT.code, dtype=np.int8),
            "clipped": rng.random(count) < 0.05,
        },
        schema=VISIT_SCHEMA,
    )
    with services.store.bulk("visits") as sink:
        sink.write(table)
    for i in range(60):  # check-ins one at a time, in SQL; every fourth never checked out
        at = from_epoch(start + int(rng.integers(0, 5 * 86400 // 300)) * 300)
        left = None if i % 4 == 0 else at + timedelta(minutes=int(rng.choice([10, 45, 90])))
        entered, checked_out = (None if t is None else t.strftime("%Y-%m-%dT%H:%M") for t in (at, left))
        assert entered is not None
        add_visit(
            services, people[int(rng.integers(0, len(people)))], venues[i % len(venues)], entered, checked_out
        )
    pairs = rng.integers(0, len(people), (800, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    begin = start + rng.integers(0, 5 * 86400 // 120, len(pairs)) * 120
    encounters = pa.table(
        {
            "person_a": [person_id[people[a]] for a in pairs[:, 0]],
            "person_b": [person_id[people[b]] for b in pairs[:, 1]],
            "start_at": begin,
            "end_at": begin + rng.choice([0, 120, 600, 1200], len(pairs)),
        },
        schema=ENCOUNTER_SCHEMA,
    )
    with services.store.bulk("encounters") as sink:
        sink.write(encounters)
    cases = []
    for i, index in enumerate(rng.choice(len(people), 12, replace=False)):
        ref = f"DC{i:02d}"
        isolated = services.clock.now() - timedelta(hours=int(rng.integers(1, 60))) if i % 2 else None
        onset = DAY - timedelta(days=int(rng.integers(1, 4)))
        services.cases.register(
            CaseDraft(
                ref, people[int(index)], "local", onset_on=onset, reported_on=DAY, isolated_at=isolated
            ),
            actor="tester",
        )
        cases.append(ref)
    return cases


def both_engines(
    spark: Any, services: Services, tracing: TracingService, folder: Path
) -> dict[str, pa.Table]:
    """The day's contacts and evidence files, as each engine writes them (chunks of three cases)."""
    from chaincut.tracing.spark.job import trace_on_spark

    with services.store.read() as uow:
        cases, _ = uow.cases.list(reported_from=DAY, reported_to=DAY, limit=1000)
    paths = {
        name: folder / f"{name}.parquet"
        for name in ("contacts", "evidence", "spark-contacts", "spark-evidence")
    }
    with BatchFiles(
        services.store, [c.ref for c in cases], tracing.rules(), paths["contacts"], paths["evidence"]
    ) as files:
        tracing.trace_cases(cases, keep_contacts=False, on_chunk=files.write, roots_per_chunk=3, workers=1)
    done = trace_on_spark(
        spark,
        tracing,
        services.store,
        cases,
        out=str(paths["spark-contacts"]),
        evidence_out=str(paths["spark-evidence"]),
    )
    tables = {name: pq.read_table(path) for name, path in paths.items()}
    assert done.contact_count == tables["contacts"].num_rows
    assert done.close == pc.sum(pc.equal(tables["contacts"]["tier"], "close")).as_py()
    return tables


def same_schema(ours: pa.Schema, theirs: pa.Schema) -> None:
    assert ours.names == theirs.names
    assert [f.type for f in ours] == [f.type for f in theirs]


def sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(tuple(row.values()) for row in table.to_pylist()) if table.num_rows else []


def assert_same_files(tables: dict[str, pa.Table]) -> None:
    same_schema(tables["contacts"].schema, tables["spark-contacts"].schema)
    same_schema(tables["evidence"].schema, tables["spark-evidence"].schema)
    assert tables["spark-contacts"].to_pylist() == tables["contacts"].to_pylist()  # in the same order
    assert sorted_rows(tables["spark-evidence"]) == sorted_rows(tables["evidence"])


def test_a_district_s_day_is_traced_the_same_on_spark(
    spark: Any, embedded_services: Services, tmp_path: Path
) -> None:
    build_district(embedded_services)
    tracing = embedded_services.tracing.under(deeper(embedded_services.policy))
    tables = both_engines(spark, embedded_services, tracing, tmp_path)
    assert_same_files(tables)
    contacts, evidence = tables["contacts"], tables["evidence"]
    # The district exercises every path: each kind of evidence, contacts of contacts, clipped stays.
    assert set(evidence["kind"].to_pylist()) == {"venue", "encounter", "household"}
    assert set(contacts["generation"].to_pylist()) == {1, 2}
    assert any(evidence["contact_clipped"].to_pylist()) and any(evidence["index_clipped"].to_pylist())
    assert contacts.num_rows > 100


def test_the_sociopatterns_hospital_is_traced_the_same_on_spark(
    spark: Any, embedded_services: Services, tmp_path: Path
) -> None:
    """Real sensor contacts (a Lyon hospital ward, 32,424 lines) and eight cases among its people."""
    from test_sociopatterns import hospital, load, ref, with_threshold, write_parquet_epoch

    recording = hospital(embedded_services.clock.now())
    load(embedded_services, recording, write_parquet_epoch(recording, tmp_path / "hospital.parquet"))
    rng = np.random.default_rng(3)
    for i, person in enumerate(rng.choice(recording.people, 8, replace=False)):
        isolated = datetime(2026, 11, 11 + i % 3, 9, tzinfo=UTC) if i % 4 else None
        embedded_services.cases.register(
            CaseDraft(
                f"H{i}",
                ref(int(person)),
                "local",
                onset_on=date(2026, 11, 11),
                reported_on=DAY,
                isolated_at=isolated,
            ),
            actor="tester",
        )
    policy = deeper(with_threshold(embedded_services.policy, 1))
    tables = both_engines(spark, embedded_services, embedded_services.tracing.under(policy), tmp_path)
    assert_same_files(tables)
    assert set(tables["contacts"]["generation"].to_pylist()) == {1, 2}
    assert set(tables["evidence"]["kind"].to_pylist()) == {"encounter"}


# --- the command line, and what goes wrong ------------------------------------------------------


def test_chaincut_trace_engine_spark_on_the_command_line(
    spark: Any, embedded_services: Services, tmp_path: Path
) -> None:
    build_district(embedded_services)
    runner, env, out = CliRunner(), cli_env(embedded_services.settings), tmp_path / "out"
    out.mkdir()
    day = ["trace", "--reported-on", DAY.isoformat(), "--json"]
    here = runner.invoke(app, [*day, "--out", str(out / "here.parquet")], env=env)
    assert here.exit_code == 0, here.output
    there = runner.invoke(
        app,
        [
            *day,
            *("--engine", "spark", "--master", "local[2]", "--spark-conf", "spark.sql.shuffle.partitions=2"),
            *("--out", str(out / "there.parquet"), "--evidence-out", str(out / "there-evidence.parquet")),
        ],
        env=env,
    )
    assert there.exit_code == 0, there.output
    summary, embedded_summary = json.loads(there.stdout), json.loads(here.stdout)
    assert summary["engine"] == "spark"
    assert summary["contacts"] == embedded_summary["contacts"] > 0
    assert summary["evidence"] == embedded_summary["evidence"]
    ours, theirs = pq.read_table(out / "here.parquet"), pq.read_table(out / "there.parquet")
    # The command line runs on the real clock, a moment apart: a window still open ends at each
    # run's own moment, so the last exposures may differ by that much. All else is equal.
    kept = [c for c in ours.column_names if c != "last_exposure"]
    assert theirs.select(kept).to_pylist() == ours.select(kept).to_pylist()
    assert pq.read_table(out / "there-evidence.parquet").num_rows == embedded_summary["evidence"]
    assert sorted(p.name for p in out.iterdir()) == [
        "here.parquet",
        "there-evidence.parquet",
        "there.parquet",
    ]


def test_a_spark_job_that_fails_writes_nothing(
    spark: Any, embedded_services: Services, tmp_path: Path
) -> None:
    from chaincut.tracing.spark.job import trace_on_spark

    build_district(embedded_services)
    out = tmp_path / "out"
    out.mkdir()
    (out / "contacts.parquet").write_bytes(b"yesterday's file")
    archive = embedded_services.store.archive
    assert archive is not None
    archive.paths("visits")[0].write_bytes(b"not parquet at all")  # a damaged segment
    with embedded_services.store.read() as uow:
        cases, _ = uow.cases.list(reported_from=DAY, reported_to=DAY, limit=100)
    with pytest.raises(JobFailed, match="the Spark job failed and wrote nothing"):
        trace_on_spark(
            spark,
            embedded_services.tracing,
            embedded_services.store,
            cases,
            out=str(out / "contacts.parquet"),
            evidence_out=str(out / "evidence.parquet"),
        )
    assert sorted(p.name for p in out.iterdir()) == ["contacts.parquet"]  # no partial folder left
    assert (out / "contacts.parquet").read_bytes() == b"yesterday's file"


def test_an_archive_of_another_store_is_refused(
    spark: Any, embedded_services: Services, tmp_path: Path
) -> None:
    from chaincut.tracing.spark.job import trace_on_spark

    build_district(embedded_services)
    archive = embedded_services.store.archive
    assert archive is not None

    def copied(name: str, store_id: str | None) -> Path:
        """A copy of the archive whose visits' manifest names ``store_id`` (None: no store)."""
        copy = tmp_path / name
        shutil.copytree(archive.root, copy)
        manifest = copy / "visits" / "manifest.json"
        content = json.loads(manifest.read_text())
        content.pop("store_id")
        manifest.write_text(json.dumps(content | ({"store_id": store_id} if store_id else {})))
        return copy

    with embedded_services.store.read() as uow:
        cases, _ = uow.cases.list(reported_from=DAY, reported_to=DAY, limit=100)
    refused = (
        (copied("another", "another-store"), "belongs to store another-store"),
        (copied("unbound", None), "holds whereabouts but names no store"),
        (tmp_path / "nowhere", "no whereabouts archive"),
    )
    for root, expected in refused:
        with pytest.raises(ConfigurationError, match=expected):
            trace_on_spark(
                spark,
                embedded_services.tracing,
                embedded_services.store,
                cases,
                out=str(tmp_path / "contacts.parquet"),
                archive=str(root),
            )
    assert not (tmp_path / "contacts.parquet").exists()


def test_a_day_without_cases_writes_an_empty_file(
    spark: Any, embedded_services: Services, tmp_path: Path
) -> None:
    from chaincut.tracing.spark.job import trace_on_spark

    out = tmp_path / "contacts.parquet"
    done = trace_on_spark(spark, embedded_services.tracing, embedded_services.store, [], out=str(out))
    assert (done.contact_count, done.case_refs) == (0, [])
    written = pq.read_table(out)
    assert written.num_rows == 0 and written.column_names == list(CONTACT_FILE_COLUMNS)


def test_without_pyspark_or_java_the_command_says_what_to_install(
    embedded_services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from chaincut.tracing.spark import require_spark

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java there
    with pytest.raises(ConfigurationError, match="apt-get install openjdk-17-jre-headless"):
        require_spark()
    old_java = tmp_path / "bin" / "java"
    old_java.parent.mkdir()
    old_java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.21\" 2023-10-17' >&2\n")
    old_java.chmod(0o755)
    with pytest.raises(ConfigurationError, match=r"Java 17 or newer \(.*java is 11\)"):
        require_spark()
    monkeypatch.delenv("JAVA_HOME")
    # The command, as a machine without PySpark runs it: one line saying what to install.
    for module in [m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "py4j", None)
    monkeypatch.delitem(sys.modules, "chaincut.tracing.spark.job", raising=False)
    result = CliRunner().invoke(
        app,
        [
            "trace",
            "--reported-on",
            DAY.isoformat(),
            "--engine",
            "spark",
            "--out",
            str(tmp_path / "c.parquet"),
        ],
        env=cli_env(embedded_services.settings),
    )
    assert result.exit_code == 1
    assert "--engine spark needs PySpark: pip install 'chaincut[spark]'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--reported-on", "2026-11-20", "--evidence-out", "e.parquet"], "--evidence-out needs --out"),
        (["--reported-on", "2026-11-20", "--master", "local[2]"], "only with --engine spark"),
        (["--reported-on", "2026-11-20", "--spark-conf", "a=b"], "only with --engine spark"),
        (["--reported-on", "2026-11-20", "--engine", "spark"], "give --out"),
        (["--case", "C1", "--engine", "spark", "--out", "c.parquet"], "give --reported-on"),
        (
            ["--reported-on", "2026-11-20", "--engine", "spark", "--out", "c", "--spark-conf", "novalue"],
            "expected KEY=VALUE, got 'novalue'",
        ),
    ],
)
def test_the_engine_s_options_are_checked_before_anything_runs(arguments: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, ["trace", *arguments])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.replace("│", " ").split())  # as if the box were not drawn


def test_spark_submit_is_given_chaincut_s_own_file(capsys: pytest.CaptureFixture[str]) -> None:
    from chaincut.cli import spark_submit

    spark_submit.run(["--path"])
    printed = Path(capsys.readouterr().out.strip())
    assert printed == Path(spark_submit.__file__) and printed.suffix == ".py" and printed.is_file()
