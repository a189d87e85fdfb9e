"""Re-encrypting personal fields under the current data key, while the server keeps running.

When a data key is replaced, the new key is put first in ``CHAINCUT_DATA_KEYS``
(new writes are sealed with it) and the old one stays second (old rows still
open). A rotation then re-seals every value still under another key, table by
table in batches ordered by id, one transaction per batch, and records after
each batch how far it got in ``key_rotations``: an interrupted rotation resumes
at the next batch. Batches are read in one transaction and written back in
another; each UPDATE only applies if the stored value is still the one that was
read, so a correction the server makes meanwhile is never overwritten. Once no
value is left under the old key, the old key can be removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam, func, insert, select, update

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.security import FieldCipher
from chaincut.store.ballot import SEED_FIELD
from chaincut.store.code_keys import SEALED_KEY_FIELD
from chaincut.store.presence import AUTHORITY_KEY_FIELD, MASTER_KEY_FIELD
from chaincut.store.tables import (
    border_seed_commitments,
    code_signing_keys,
    key_rotations,
    people,
    person_corrections,
)
from chaincut.store.tables_presence import presence_keys
from chaincut.store.unit_of_work import Store

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "SEALED_COLUMNS",
    "KeyStatus",
    "RotationProgress",
    "RotationReport",
    "count_sealed_values",
    "key_status",
    "rotate_data_keys",
    "rotation_progress",
]

DEFAULT_BATCH_SIZE = 1_000

RowsHook = Callable[[str, Sequence[int]], None]
ProgressHook = Callable[[str, int, int], None]


@dataclass(frozen=True)
class _SealedColumn:
    name: str
    # The field name bound into the ciphertext; None: the row's own ``field`` column names it.
    aad: str | None


@dataclass(frozen=True)
class _SealedTable:
    table: Table
    columns: tuple[_SealedColumn, ...]


# The names bound into the ciphertexts are the ones PeopleRepository seals with.
_SEALED: tuple[_SealedTable, ...] = (
    _SealedTable(
        people,
        (
            _SealedColumn("name_sealed", "name"),
            _SealedColumn("phone_sealed", "phone"),
            _SealedColumn("address_sealed", "address"),
        ),
    ),
    _SealedTable(person_corrections, (_SealedColumn("old_sealed", None), _SealedColumn("new_sealed", None))),
    # The private halves of the health-code signing keys (chaincut.codes), as CodeKeyRepository seals them.
    _SealedTable(code_signing_keys, (_SealedColumn("private_sealed", SEALED_KEY_FIELD),)),
    # Each day's ballot seed until its draw reveals it (chaincut.border), as BallotRepository seals it.
    _SealedTable(border_seed_commitments, (_SealedColumn("seed_sealed", SEED_FIELD),)),
    # The authority's decentralised check-in keys (chaincut.presence), as PresenceRepository seals them.
    _SealedTable(
        presence_keys,
        (
            _SealedColumn("authority_secret_sealed", AUTHORITY_KEY_FIELD),
            _SealedColumn("master_secret_sealed", MASTER_KEY_FIELD),
        ),
    ),
)

SEALED_COLUMNS: tuple[str, ...] = tuple(f"{t.table.name}.{c.name}" for t in _SEALED for c in t.columns)
"""Every column that holds sealed personal data, as ``table.column``."""


@dataclass(frozen=True)
class RotationProgress:
    """How far a rotation to one key got through one table (a row of ``key_rotations``)."""

    table_name: str
    target_key: int
    last_id: int
    rows_done: int  # rows passed, whether or not they needed re-sealing
    started_at: datetime
    finished_at: datetime | None


@dataclass
class RotationReport:
    """What one run of a rotation did."""

    target_key: int
    rows_scanned: int = 0
    values_resealed: int = 0
    # Values changed by someone else between our read and our write: left as they were.
    values_changed_meanwhile: int = 0
    batches: int = 0
    finished: bool = False
    nothing_to_do: bool = False
    resumed: dict[str, int] = field(default_factory=dict)  # table -> id it resumed after


@dataclass(frozen=True)
class KeyStatus:
    """Which key holds how many sealed values, and which keys can now be removed."""

    current_key: int
    configured_keys: tuple[int, ...]
    values_by_column: dict[str, dict[int, int]]
    progress: tuple[RotationProgress, ...]

    @property
    def values_by_key(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for counts in self.values_by_column.values():
            for key_id, n in counts.items():
                totals[key_id] = totals.get(key_id, 0) + n
        return dict(sorted(totals.items()))

    @property
    def removable_keys(self) -> tuple[int, ...]:
        """Configured keys, other than the current one, that no stored value needs."""
        used = self.values_by_key
        return tuple(k for k in self.configured_keys if k != self.current_key and not used.get(k))

    @property
    def missing_keys(self) -> tuple[int, ...]:
        """Keys that sealed stored values but are not configured: those values cannot be opened."""
        return tuple(k for k in self.values_by_key if k not in self.configured_keys)


def count_sealed_values(conn: Connection) -> dict[str, dict[int, int]]:
    """How many values each key id sealed, per ``table.column`` (NULLs are not counted)."""
    out: dict[str, dict[int, int]] = {}
    for sealed in _SEALED:
        for column in sealed.columns:
            col: Column[Any] = sealed.table.c[column.name]
            key_byte = func.substr(col, 2, 1)  # the second byte of a blob is its key id
            rows = conn.execute(
                select(key_byte, func.count()).where(col.is_not(None)).group_by(key_byte)
            ).all()
            counts: dict[int, int] = {}
            for raw, n in rows:
                key_id = bytes(raw)[0] if raw is not None and len(bytes(raw)) == 1 else -1
                counts[key_id] = counts.get(key_id, 0) + int(n)
            out[f"{sealed.table.name}.{column.name}"] = dict(sorted(counts.items()))
    return out


def rotation_progress(conn: Connection) -> tuple[RotationProgress, ...]:
    """Every recorded rotation, per table and target key."""
    rows = conn.execute(
        select(key_rotations).order_by(key_rotations.c.target_key, key_rotations.c.table_name)
    ).all()
    return tuple(
        RotationProgress(
            table_name=r.table_name,
            target_key=int(r.target_key),
            last_id=int(r.last_id),
            rows_done=int(r.rows_done),
            started_at=from_epoch(r.started_at),
            finished_at=None if r.finished_at is None else from_epoch(r.finished_at),
        )
        for r in rows
    )


def key_status(store: Store) -> KeyStatus:
    """Values per key id, rotation progress, and what the configured keys are."""
    with store.db.read() as conn:
        counts = count_sealed_values(conn)
        progress = rotation_progress(conn)
    cipher = store.cipher
    return KeyStatus(
        current_key=cipher.current_key,
        configured_keys=tuple(sorted(cipher.key_ids)),
        values_by_column=counts,
        progress=progress,
    )


def rotate_data_keys(
    store: Store,
    clock: Clock,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    progress: ProgressHook | None = None,
    between_read_and_write: RowsHook | None = None,
) -> RotationReport:
    """Re-seal every value not under the current data key; resumes an interrupted rotation.

    ``max_batches`` stops after that many batches, as an interruption would (the
    next call resumes). ``progress`` is told (table, rows done, rows in the
    table) after each batch. ``between_read_and_write`` is called with the ids of
    each batch after it is read and re-sealed and before it is written back.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    target = store.cipher.current_key
    report = RotationReport(target_key=target)
    with store.db.read() as conn:
        recorded = {p.table_name: p for p in rotation_progress(conn) if p.target_key == target}
        pending = _pending(recorded)
        in_progress = any(p.finished_at is None for p in recorded.values())
        if not in_progress and not _values_elsewhere(count_sealed_values(conn), target):
            report.finished = report.nothing_to_do = True
            return report
        if not pending:
            # The last pass finished, yet values are left under an old key (sealed by a server
            # that still had the old key first, or committed behind the pass): another pass.
            pending = list(_SEALED)
            recorded = {}
        totals = {s.table.name: _row_count(conn, s.table) for s in pending}
    for sealed in pending:
        name = sealed.table.name
        last_id, done = _start(store, clock, name, target, recorded.get(name))
        if last_id:
            report.resumed[name] = last_id
        while True:
            if max_batches is not None and report.batches >= max_batches:
                return report
            last_id, scanned, finished = _rotate_batch(
                store, clock, sealed, target, last_id, batch_size, report, between_read_and_write
            )
            done += scanned
            if scanned:
                report.batches += 1
                report.rows_scanned += scanned
            if progress is not None:
                progress(name, done, max(totals[name], done))
            if finished:
                break
    report.finished = True
    return report


def _pending(recorded: dict[str, RotationProgress]) -> list[_SealedTable]:
    """The tables the current pass has not finished; none if the pass is complete."""
    return [s for s in _SEALED if not _done(recorded, s)]


def _done(recorded: dict[str, RotationProgress], sealed: _SealedTable) -> bool:
    entry = recorded.get(sealed.table.name)
    return entry is not None and entry.finished_at is not None


def _values_elsewhere(counts: dict[str, dict[int, int]], target: int) -> bool:
    return any(n for per_key in counts.values() for key_id, n in per_key.items() if key_id != target)


def _row_count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _start(
    store: Store, clock: Clock, table_name: str, target: int, entry: RotationProgress | None
) -> tuple[int, int]:
    """Record that the rotation of this table starts (or restarts); where to go on from."""
    if entry is not None and entry.finished_at is None:
        return entry.last_id, entry.rows_done
    now = to_epoch(clock.now())
    where = (key_rotations.c.table_name == table_name) & (key_rotations.c.target_key == target)
    with store.db.write() as conn:
        exists = conn.execute(select(key_rotations.c.last_id).where(where)).first() is not None
        values = {"last_id": 0, "rows_done": 0, "started_at": now, "finished_at": None}
        if exists:
            conn.execute(update(key_rotations).where(where).values(**values))
        else:
            conn.execute(insert(key_rotations).values(table_name=table_name, target_key=target, **values))
    return 0, 0


def _rotate_batch(
    store: Store,
    clock: Clock,
    sealed: _SealedTable,
    target: int,
    after_id: int,
    batch_size: int,
    report: RotationReport,
    hook: RowsHook | None,
) -> tuple[int, int, bool]:
    """Re-seal one batch; (last id, rows scanned, whether the table is done)."""
    table = sealed.table
    columns = [table.c.id, *(table.c[c.name] for c in sealed.columns)]
    if any(c.aad is None for c in sealed.columns):
        columns.append(table.c.field)
    with store.db.read() as conn:
        rows = conn.execute(
            select(*columns).where(table.c.id > after_id).order_by(table.c.id).limit(batch_size)
        ).all()
    changes = {c.name: _reseal(store.cipher, rows, c, target) for c in sealed.columns}
    if hook is not None:
        hook(table.name, [int(r.id) for r in rows])
    last_id = int(rows[-1].id) if rows else after_id
    finished = len(rows) < batch_size
    where = (key_rotations.c.table_name == table.name) & (key_rotations.c.target_key == target)
    with store.db.write() as conn:
        for column_name, params in changes.items():
            if params:
                applied = _conditional_update(conn, table, column_name, params)
                report.values_resealed += applied
                report.values_changed_meanwhile += len(params) - applied
        conn.execute(
            update(key_rotations)
            .where(where)
            .values(
                last_id=last_id,
                rows_done=key_rotations.c.rows_done + len(rows),
                finished_at=to_epoch(clock.now()) if finished else None,
            )
        )
    return last_id, len(rows), finished


def _reseal(
    cipher: FieldCipher, rows: Sequence[Any], column: _SealedColumn, target: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:
        blob = getattr(row, column.name)
        if blob is None:
            continue
        blob = bytes(blob)
        if FieldCipher.key_of(blob) == target:
            continue
        aad = column.aad if column.aad is not None else str(row.field)
        value = cipher.open(blob, field=aad)
        out.append({"row_id": int(row.id), "old": blob, "new": cipher.seal(value, field=aad)})
    return out


def _conditional_update(
    conn: Connection, table: Table, column_name: str, params: list[dict[str, Any]]
) -> int:
    """Write the new values where the stored one is still the old; how many were written."""
    col = table.c[column_name]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"), col == bindparam("old"))
        .values({column_name: bindparam("new")})
    )
    if conn.dialect.supports_sane_multi_rowcount:
        return int(conn.execute(statement, params).rowcount)
    return sum(int(conn.execute(statement, p).rowcount) for p in params)
