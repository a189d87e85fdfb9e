"""Storage: SQLAlchemy tables, repositories, units of work, migrations and the Parquet archive."""

from chaincut.store.archive import ENCOUNTER_SCHEMA, VISIT_SCHEMA, ParquetArchive
from chaincut.store.database import Database
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
from chaincut.store.unit_of_work import BulkSink, Store, StoreCounts, UnitOfWork
from chaincut.store.whereabouts import VisitSpan

__all__ = [
    "ENCOUNTER_SCHEMA",
    "VISIT_SCHEMA",
    "BulkSink",
    "Database",
    "FollowUpEntry",
    "FollowUpRepository",
    "NewPersonRow",
    "OrderEntry",
    "OrderEvent",
    "OrderFilter",
    "OrderRepository",
    "ParquetArchive",
    "PurgeRecord",
    "Store",
    "StoreCounts",
    "UnitOfWork",
    "VisitSpan",
    "current_revision",
    "ensure_migrated",
    "head_revision",
    "upgrade",
]
