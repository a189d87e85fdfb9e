"""The only way to storage: a Store opens units of work that bundle the repositories.

A unit of work is one transaction. Bulk whereabouts go through a BulkSink,
which on PostgreSQL streams them with COPY inside a transaction and on the
embedded default appends Parquet segments; either way, nothing is visible
until the sink commits, and nothing is kept when it fails.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection

from chaincut.security import FieldCipher
from chaincut.store.archive import ENCOUNTER_SCHEMA, VISIT_SCHEMA, ParquetArchive
from chaincut.store.assignments import ApprovalRepository, AssignmentRepository
from chaincut.store.audit import AuditRepository
from chaincut.store.ballot import BallotRepository
from chaincut.store.border import BorderRepository
from chaincut.store.cases import CaseRepository, ClusterRepository
from chaincut.store.clearances import ClearanceRepository
from chaincut.store.code_keys import CodeKeyRepository
from chaincut.store.corrections import CorrectionRepository
from chaincut.store.database import Database
from chaincut.store.health_codes import HealthCodeRepository
from chaincut.store.issued_codes import IssuedCodeRepository
from chaincut.store.orders import FollowUpRepository, OrderRepository
from chaincut.store.people import HouseholdRepository, PeopleRepository
from chaincut.store.purges import PurgeLog
from chaincut.store.rate_counts import RateCountRepository
from chaincut.store.staff import SessionRepository, StaffRepository, TokenRepository
from chaincut.store.tables import encounters, visits
from chaincut.store.tracing_reads import TracingReads
from chaincut.store.venues import VenueRepository
from chaincut.store.whereabouts import EncounterRepository, VisitRepository

__all__ = ["BulkSink", "Store", "StoreCounts", "UnitOfWork"]

Kind = Literal["visits", "encounters"]


class UnitOfWork:
    """The repositories, all bound to one transaction."""

    def __init__(self, conn: Connection, cipher: FieldCipher, audit_key: bytes | None = None) -> None:
        self.connection = conn
        self.people = PeopleRepository(conn, cipher)
        self.households = HouseholdRepository(conn)
        self.venues = VenueRepository(conn)
        self.visits = VisitRepository(conn)
        self.encounters = EncounterRepository(conn)
        self.cases = CaseRepository(conn)
        self.clusters = ClusterRepository(conn)
        self.purges = PurgeLog(conn)
        self.orders = OrderRepository(conn)
        self.follow_ups = FollowUpRepository(conn)
        self.tracing = TracingReads(conn)
        self.staff = StaffRepository(conn)
        self.tokens = TokenRepository(conn)
        self.sessions = SessionRepository(conn)
        self.assignments = AssignmentRepository(conn)
        self.approvals = ApprovalRepository(conn)
        self.audit = AuditRepository(conn, audit_key)
        self.corrections = CorrectionRepository(conn, cipher)
        self.border = BorderRepository(conn)
        self.ballot = BallotRepository(conn, cipher)
        self.clearances = ClearanceRepository(conn)
        self.code_keys = CodeKeyRepository(conn, cipher)
        self.health_codes = HealthCodeRepository(conn)
        self.issued_codes = IssuedCodeRepository(conn)
        self.rate_counts = RateCountRepository(conn)


@dataclass(frozen=True)
class StoreCounts:
    """How much the store holds, for ``chaincut status``."""

    people: int
    venues: int
    visits: int
    encounters: int
    cases: int


class BulkSink(Protocol):
    """Takes bulk whereabouts as Arrow tables in the archive schema."""

    def write(self, table: pa.Table) -> None: ...


class _ArchiveSink:
    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def write(self, table: pa.Table) -> None:
        self._writer.write(table)


class _CopySink:
    """Streams rows into PostgreSQL with COPY ... FORMAT csv."""

    _COLUMNS: ClassVar[dict[str, tuple[str, pa.Schema]]] = {
        "visits": (
            f"{visits.name} (person_id, venue_id, entered_at, left_at, left_inferred, source, clipped)",
            VISIT_SCHEMA,
        ),
        "encounters": (
            f"{encounters.name} (person_a, person_b, start_at, end_at)",
            ENCOUNTER_SCHEMA,
        ),
    }

    def __init__(self, conn: Connection, kind: Kind) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        self._raw = raw
        self._target, self._schema = self._COLUMNS[kind]

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.select(self._schema.names).cast(self._schema)
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        with (
            self._raw.cursor() as cursor,
            cursor.copy(f"COPY {self._target} FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(buffer.getvalue())


class _RowSink:
    """Plain INSERTs, for an SQL store without the archive (small SQLite stores in tests)."""

    def __init__(self, conn: Connection, kind: Kind) -> None:
        self._conn = conn
        self._table = visits if kind == "visits" else encounters
        self._schema = VISIT_SCHEMA if kind == "visits" else ENCOUNTER_SCHEMA

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            rows = table.select(self._schema.names).cast(self._schema).to_pylist()
            self._conn.execute(self._table.insert(), rows)


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
    def bulk(self, kind: Kind) -> Iterator[BulkSink]:
        """A sink whose rows are stored all together when the block ends without error."""
        if self.archive is not None:
            with self.archive.writer(kind) as writer:
                yield _ArchiveSink(writer)
                writer.commit()
            return
        with self.db.write() as conn:
            if self.db.is_sqlite:
                yield _RowSink(conn, kind)
            else:
                yield _CopySink(conn, kind)

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
