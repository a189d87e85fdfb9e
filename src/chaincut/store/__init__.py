"""Storage: SQLAlchemy tables, repositories, units of work, migrations and the Parquet archive."""

from chaincut.store.archive import ENCOUNTER_SCHEMA, VISIT_SCHEMA, ParquetArchive
from chaincut.store.database import Database
from chaincut.store.identity import StoreUpgrade, check_halves, read_store_id, upgrade_store
from chaincut.store.imports import ImportRecord, NewImport, already_imported
from chaincut.store.migrate import current_revision, ensure_migrated, head_revision, upgrade
from chaincut.store.orders import (
    FollowUpEntry,
    FollowUpRepository,
    OrderEntry,
    OrderEvent,
    OrderFilter,
    OrderRepository,
)
from chaincut.store.people import NewPersonRow
from chaincut.store.purges import PurgeRecord
from chaincut.store.unit_of_work import BulkOutcome, BulkSink, Store, StoreCounts, UnitOfWork
from chaincut.store.whereabouts import VisitSpan

__all__ = [
    "ENCOUNTER_SCHEMA",
    "VISIT_SCHEMA",
    "BulkOutcome",
    "BulkSink",
    "Database",
    "FollowUpEntry",
    "FollowUpRepository",
    "ImportRecord",
    "NewImport",
    "NewPersonRow",
    "OrderEntry",
    "OrderEvent",
    "OrderFilter",
    "OrderRepository",
    "ParquetArchive",
    "PurgeRecord",
    "Store",
    "StoreCounts",
    "StoreUpgrade",
    "UnitOfWork",
    "VisitSpan",
    "already_imported",
    "check_halves",
    "current_revision",
    "ensure_migrated",
    "head_revision",
    "read_store_id",
    "upgrade",
    "upgrade_store",
]
