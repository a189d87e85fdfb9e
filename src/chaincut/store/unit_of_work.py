"""The only way to storage: a Store opens units of work that bundle the repositories.

A unit of work is one transaction. Bulk whereabouts go through a BulkSink,
which on PostgreSQL streams them with COPY inside a transaction and on the
embedded default appends Parquet segments; either way, nothing is visible
until the sink commits, and nothing is kept when it fails. Either way too, a
row whose natural key the store already holds (or the sink took before) is
skipped and counted (``BulkOutcome``), and an import's record
(``store.imports``) is written with the rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection

from chaincut.security import FieldCipher
from chaincut.store.archive import ENCOUNTER_SCHEMA, VISIT_SCHEMA, ParquetArchive
from chaincut.store.assignments import ApprovalRepository, AssignmentRepository
from chaincut.store.audit import AuditRepository
from chaincut.store.ballot import BallotRepository
from chaincut.store.border import BorderRepository
from chaincut.store.buildings import BuildingRepository
from chaincut.store.case_tallies import CaseTallies
from chaincut.store.caseload import CaseloadRepository, TeamRepository
from chaincut.store.cases import CaseRepository, ClusterRepository
from chaincut.store.clearances import ClearanceRepository
from chaincut.store.cluster_inputs import ClusterInputs
from chaincut.store.code_keys import CodeKeyRepository
from chaincut.store.corrections import CorrectionRepository
from chaincut.store.database import Database
from chaincut.store.enrolments import EnrolmentRepository
from chaincut.store.health_codes import HealthCodeRepository
from chaincut.store.imports import ImportLedger, NewImport
from chaincut.store.incidence import IncidenceReads
from chaincut.store.indicator_reads import IndicatorReads
from chaincut.store.inferred_clusters import InferredClusterRepository
from chaincut.store.inferred_infectors import InferredInfectorRepository
from chaincut.store.issued_codes import IssuedCodeRepository
from chaincut.store.natural_keys import canonical, insert_once
from chaincut.store.orders import FollowUpRepository, OrderRepository
from chaincut.store.people import HouseholdRepository, PeopleRepository
from chaincut.store.policy_versions import PolicyVersionRepository
from chaincut.store.presence import PresenceRepository
from chaincut.store.purges import PurgeLog
from chaincut.store.rate_counts import RateCountRepository
from chaincut.store.staff import SessionRepository, StaffRepository, TokenRepository
from chaincut.store.tables import encounters, visits
from chaincut.store.tracing_activity import TracingActivityReads
from chaincut.store.tracing_reads import TracingReads
from chaincut.store.venues import VenueRepository
from chaincut.store.whereabouts import EncounterRepository, VisitRepository

__all__ = ["BulkOutcome", "BulkSink", "Store", "StoreCounts", "UnitOfWork", "sql_bulk_sink"]

Kind = Literal["visits", "encounters"]


class UnitOfWork:
    """The repositories, all bound to one transaction."""

    def __init__(self, conn: Connection, cipher: FieldCipher, audit_key: bytes | None = None) -> None:
        self.connection = conn
        self.people = PeopleRepository(conn, cipher)
        self.households = HouseholdRepository(conn)
        self.venues = VenueRepository(conn)
        self.buildings = BuildingRepository(conn)
        self.cluster_inputs = ClusterInputs(conn)
        self.inferred_clusters = InferredClusterRepository(conn)
        self.inferred_infectors = InferredInfectorRepository(conn)
        self.visits = VisitRepository(conn)
        self.encounters = EncounterRepository(conn)
        self.cases = CaseRepository(conn)
        self.caseload = CaseloadRepository(conn)
        self.team = TeamRepository(conn)
        self.clusters = ClusterRepository(conn)
        self.purges = PurgeLog(conn)
        self.orders = OrderRepository(conn)
        self.follow_ups = FollowUpRepository(conn)
        self.tracing = TracingReads(conn)
        self.incidence = IncidenceReads(conn)
        self.staff = StaffRepository(conn)
        self.tokens = TokenRepository(conn)
        self.enrolments = EnrolmentRepository(conn)
        self.sessions = SessionRepository(conn)
        self.assignments = AssignmentRepository(conn)
        self.approvals = ApprovalRepository(conn)
        self.policy_versions = PolicyVersionRepository(conn)
        self.audit = AuditRepository(conn, audit_key)
        self.corrections = CorrectionRepository(conn, cipher)
        self.border = BorderRepository(conn)
        self.ballot = BallotRepository(conn, cipher)
        self.clearances = ClearanceRepository(conn)
        self.code_keys = CodeKeyRepository(conn, cipher)
        self.presence = PresenceRepository(conn, cipher)
        self.health_codes = HealthCodeRepository(conn)
        self.issued_codes = IssuedCodeRepository(conn)
        self.rate_counts = RateCountRepository(conn)
        self.imports = ImportLedger(conn)
        self.case_tallies = CaseTallies(conn)
        self.tracing_activity = TracingActivityReads(conn)
        self.indicators = IndicatorReads(conn)


@dataclass(frozen=True)
class StoreCounts:
    """How much the store holds, for ``chaincut status``."""

    people: int
    venues: int
    visits: int
    encounters: int
    cases: int


@dataclass
class BulkOutcome:
    """What a bulk sink did: rows stored, rows skipped as duplicates, and the import's record id."""

    stored: int = 0
    duplicates: int = 0
    import_id: int | None = None


class BulkSink(Protocol):
    """Takes bulk whereabouts as Arrow tables in the archive schema."""

    @property
    def outcome(self) -> BulkOutcome: ...

    def write(self, table: pa.Table) -> None: ...


@dataclass
class _ArchiveSink:
    _writer: Any
    outcome: BulkOutcome = field(default_factory=BulkOutcome)

    def write(self, table: pa.Table) -> None:
        self._writer.write(table)


@dataclass(frozen=True)
class _BulkTable:
    """How bulk rows of one kind reach their PostgreSQL table: columns, their types, the natural key."""

    table: str
    columns: str
    types: str
    schema: pa.Schema
    key: str  # the columns of the key's unique index, in its order
    held: str  # a stored row ``t`` with the staged row ``s``'s key, as the key's unique index reads it
    lock: int  # the advisory lock that one import of this kind holds at a time


_BULK_TABLES = {
    "visits": _BulkTable(
        visits.name,
        "person_id, venue_id, entered_at, left_at, left_inferred, source, clipped",
        "person_id bigint, venue_id bigint, entered_at bigint, left_at bigint, left_inferred boolean,"
        " source smallint, clipped boolean",
        VISIT_SCHEMA,
        "person_id, entered_at, venue_id",
        "t.person_id = s.person_id AND t.entered_at = s.entered_at AND t.venue_id = s.venue_id"
        " AND COALESCE(t.client_id, '') = ''",
        0x6368_6169_0001,
    ),
    "encounters": _BulkTable(
        encounters.name,
        "person_a, person_b, start_at, end_at",
        "person_a bigint, person_b bigint, start_at bigint, end_at bigint",
        ENCOUNTER_SCHEMA,
        "person_a, start_at, person_b, end_at",
        "t.person_a = s.person_a AND t.start_at = s.start_at AND t.person_b = s.person_b"
        " AND t.end_at = s.end_at",
        0x6368_6169_0002,
    ),
}


_JOINS_BY_INDEX_ONLY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
_JOINS_AS_USUAL = "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT"


class _CopySink:
    """Streams rows into PostgreSQL with COPY ... FORMAT csv, skipping rows already held.

    COPY cannot skip a row that breaks a unique index, so each batch is copied into
    a temporary table and moved over by one INSERT of the rows whose natural key is
    neither stored nor earlier in the batch (the first in the file is kept). Bulk
    imports of one kind take turns (a transaction-level advisory lock), so none
    misses what another is storing; the unique index stays the backstop. Each batch
    goes in sorted by the key, looked up in its index: 13.7M visits took 179 s
    (``INSERT ... ON CONFLICT DO NOTHING``: 201 s; a plain COPY before keys: 147 s;
    bench/import_visits.py).
    """

    def __init__(self, conn: Connection, kind: Kind) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        self._raw = raw
        self._kind = kind
        self._bulk = bulk = _BULK_TABLES[kind]
        self._staging = f"chaincut_bulk_{kind}"
        self.outcome = BulkOutcome()
        with self._raw.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (bulk.lock,))
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self._staging}"
                f" ({bulk.types}, line bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP"
            )

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        bulk = self._bulk
        table = canonical(self._kind, table.select(bulk.schema.names).cast(bulk.schema))
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        with self._raw.cursor() as cursor:
            with cursor.copy(f"COPY {self._staging} ({bulk.columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
            # Each staged key is looked up in the key's index, in the key's order: the planner,
            # whose statistics lag a bulk load, would rather read the whole table for a join.
            cursor.execute(_JOINS_BY_INDEX_ONLY)
            cursor.execute(
                f"INSERT INTO {bulk.table} ({bulk.columns}) SELECT {bulk.columns} FROM"
                f" (SELECT DISTINCT ON ({bulk.key}) {bulk.columns} FROM {self._staging}"
                f" ORDER BY {bulk.key}, line) AS s"
                f" WHERE NOT EXISTS (SELECT 1 FROM {bulk.table} AS t WHERE {bulk.held})"
            )
            stored = cursor.rowcount
            cursor.execute(_JOINS_AS_USUAL)
            cursor.execute(f"TRUNCATE {self._staging}")
        self.outcome.stored += stored
        self.outcome.duplicates += table.num_rows - stored


class _RowSink:
    """INSERTs that skip rows already held, for an SQL store without the archive (small SQLite stores)."""

    def __init__(self, conn: Connection, kind: Kind) -> None:
        self._conn = conn
        self._kind = kind
        self._table = visits if kind == "visits" else encounters
        self._schema = VISIT_SCHEMA if kind == "visits" else ENCOUNTER_SCHEMA
        self.outcome = BulkOutcome()

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            rows = canonical(self._kind, table.select(self._schema.names).cast(self._schema)).to_pylist()
            result = self._conn.execute(insert_once(self._conn, self._table), rows)
            self.outcome.stored += result.rowcount
            self.outcome.duplicates += len(rows) - result.rowcount


def sql_bulk_sink(conn: Connection, kind: Kind) -> BulkSink:
    """Bulk whereabouts into SQL in ``conn``'s transaction: COPY on PostgreSQL, INSERTs on SQLite."""
    return _RowSink(conn, kind) if conn.dialect.name == "sqlite" else _CopySink(conn, kind)


class Store:
    """Opens units of work and bulk sinks on one database (and its archive, if any)."""

    def __init__(
        self,
        db: Database,
        cipher: FieldCipher,
        archive: ParquetArchive | None,
        audit_key: bytes | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.archive = archive
        self.audit_key = audit_key

    @contextmanager
    def write(self) -> Iterator[UnitOfWork]:
        with self.db.write() as conn:
            yield UnitOfWork(conn, self.cipher, self.audit_key)

    @contextmanager
    def read(self) -> Iterator[UnitOfWork]:
        with self.db.read() as conn:
            yield UnitOfWork(conn, self.cipher, self.audit_key)

    @contextmanager
    def bulk(self, kind: Kind, record: NewImport | None = None) -> Iterator[BulkSink]:
        """A sink whose rows are stored all together when the block ends without error.

        Rows whose natural key the store already holds are skipped; the sink's
        ``outcome`` counts both once the block has ended. With ``record``, the import is
        recorded with its counts (fill in its rows read and rejected before the block
        ends), or refused with Conflict ``already_imported`` if that file was recorded
        meanwhile. On PostgreSQL the record commits with the rows. The archive publishes
        its rows first and the record just after: should recording fail, importing the
        file again stores none of its rows twice.
        """
        if self.archive is not None:
            with self.archive.writer(kind) as writer:
                archived = _ArchiveSink(writer)
                yield archived
                archived.outcome.stored = writer.commit()
                archived.outcome.duplicates = writer.duplicates
            if record is not None:
                with self.write() as uow:
                    done = uow.imports.record(
                        record, stored=archived.outcome.stored, duplicates=archived.outcome.duplicates
                    )
                archived.outcome.import_id = done.id
            return
        with self.write() as uow:
            sink = sql_bulk_sink(uow.connection, kind)
            yield sink
            if record is not None:
                done = uow.imports.record(
                    record, stored=sink.outcome.stored, duplicates=sink.outcome.duplicates
                )
                sink.outcome.import_id = done.id

    def counts(self) -> StoreCounts:
        with self.read() as uow:
            sql_visits, sql_encounters = uow.visits.count(), uow.encounters.count()
            counts = StoreCounts(
                people=uow.people.count(),
                venues=uow.venues.count(),
                visits=sql_visits,
                encounters=sql_encounters,
                cases=uow.cases.count(),
            )
        if self.archive is None:
            return counts
        return StoreCounts(
            people=counts.people,
            venues=counts.venues,
            visits=counts.visits + self.archive.count("visits"),
            encounters=counts.encounters + self.archive.count("encounters"),
            cases=counts.cases,
        )
