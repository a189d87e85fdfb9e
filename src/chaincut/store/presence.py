"""Decentralised check-in's storage: the authority's keys, venues' entry codes, warnings and traces.

Secrets are sealed with the FieldCipher under ``AUTHORITY_KEY_FIELD`` and ``MASTER_KEY_FIELD``
(base64 text; the names ``chaincut keys rotate`` re-seals them with); instants are epoch seconds.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from chaincut.domain import Venue
from chaincut.security.fields import FieldCipher
from chaincut.store.tables import cases, venues
from chaincut.store.tables_presence import (
    presence_codes,
    presence_keys,
    presence_reports,
    presence_traces,
    presence_warnings,
)
from chaincut.store.venues import venue_from_row

__all__ = [
    "AUTHORITY_KEY_FIELD",
    "MASTER_KEY_FIELD",
    "EntryCodeRecord",
    "PresenceKeyRecord",
    "PresenceRepository",
    "PublishedTrace",
    "WarningRecord",
]

AUTHORITY_KEY_FIELD = "presence_authority_key"
MASTER_KEY_FIELD = "presence_master_key"
_KEYS_ROW = 1


@dataclass(frozen=True)
class PresenceKeyRecord:
    """The authority's keys, opened: X25519 (``authority_*``) and its IBE master key (``master_*``)."""

    authority_public: bytes
    authority_secret: bytes
    master_public: bytes
    master_secret: bytes


@dataclass(frozen=True)
class EntryCodeRecord:
    venue_id: int
    variant: str  # basic, server
    entry_payload: bytes
    valid_from: int
    valid_to: int
    daily: bool = False  # one of the venue's codes of the day


@dataclass(frozen=True)
class WarningRecord:
    id: int
    public_id: str
    venue_id: int
    venue_ref: str
    venue_name_en: str
    venue_name_zh: str
    case_id: int
    case_ref: str
    person_id: int
    start_time: int
    end_time: int
    message: str
    status: str
    proposed_by: str
    proposed_at: int
    reviewed_by: str | None
    reviewed_at: int | None
    review_reason: str | None
    expires_at: int
    traces: int


@dataclass(frozen=True)
class PublishedTrace:
    seq: int
    start_of_interval: int
    trace: bytes
    published_at: int


class PresenceRepository:
    """Reads and writes the presence tables, in the caller's transaction."""

    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def keys(self) -> PresenceKeyRecord | None:
        row = self._conn.execute(select(presence_keys).where(presence_keys.c.id == _KEYS_ROW)).one_or_none()
        if row is None:
            return None
        return PresenceKeyRecord(
            bytes(row.authority_public),
            self._open(bytes(row.authority_secret_sealed), AUTHORITY_KEY_FIELD),
            bytes(row.master_public),
            self._open(bytes(row.master_secret_sealed), MASTER_KEY_FIELD),
        )

    def _open(self, blob: bytes, field: str) -> bytes:
        opened = self._cipher.open(blob, field=field)
        assert opened is not None
        return base64.b64decode(opened)

    def _seal(self, secret: bytes, field: str) -> bytes:
        sealed = self._cipher.seal(base64.b64encode(secret).decode("ascii"), field=field)
        assert sealed is not None
        return sealed

    def add_keys(self, keys: PresenceKeyRecord, *, at: int) -> None:
        self._conn.execute(
            insert(presence_keys).values(
                id=_KEYS_ROW,
                authority_public=keys.authority_public,
                authority_secret_sealed=self._seal(keys.authority_secret, AUTHORITY_KEY_FIELD),
                master_public=keys.master_public,
                master_secret_sealed=self._seal(keys.master_secret, MASTER_KEY_FIELD),
                created_at=at,
                published_seq=0,
            )
        )

    def add_entry_code(self, code: EntryCodeRecord, *, pre_id: bytes, at: int) -> None:
        self._conn.execute(
            insert(presence_codes).values(
                venue_id=code.venue_id,
                variant=code.variant,
                entry_payload=code.entry_payload,
                valid_from=code.valid_from,
                valid_to=code.valid_to,
                created_at=at,
                pre_id=pre_id,
                daily=code.daily,
            )
        )

    def entry_code_by_pre_id(self, pre_id: bytes) -> EntryCodeRecord | None:
        """The entry code whose pre-identity this is (what a case's phone sends to share a visit)."""
        t = presence_codes
        r = self._conn.execute(select(t).where(t.c.pre_id == pre_id).order_by(t.c.id).limit(1)).first()
        if r is None:
            return None
        return EntryCodeRecord(
            r.venue_id, r.variant, bytes(r.entry_payload), r.valid_from, r.valid_to, bool(r.daily)
        )

    def entry_codes(self, venue_id: int) -> list[EntryCodeRecord]:
        """The venue's entry codes, the newest first (none: it checks in centrally)."""
        t = presence_codes
        rows = self._conn.execute(
            select(t).where(t.c.venue_id == venue_id).order_by(t.c.valid_from.desc(), t.c.id.desc())
        )
        return [
            EntryCodeRecord(
                r.venue_id, r.variant, bytes(r.entry_payload), r.valid_from, r.valid_to, bool(r.daily)
            )
            for r in rows
        ]

    def entry_code_taken(self, payload: bytes) -> bool:
        """Whether a venue already has this entry code."""
        t = presence_codes
        return (
            self._conn.execute(select(t.c.id).where(t.c.entry_payload == payload).limit(1)).first()
            is not None
        )

    def decentralised_venues(self, limit: int = 5000) -> list[tuple[Venue, str]]:
        """The venues with an entry code and the variant of the newest, by name."""
        t = presence_codes
        newest = select(t.c.venue_id, func.max(t.c.id).label("code_id")).group_by(t.c.venue_id).subquery()
        rows = self._conn.execute(
            select(venues, t.c.variant)
            .join(newest, newest.c.venue_id == venues.c.id)
            .join(t, t.c.id == newest.c.code_id)
            .order_by(venues.c.name_en, venues.c.id)
            .limit(limit)
        )
        return [(venue_from_row(r), str(r.variant)) for r in rows]

    def decentralised_venue_ids(self, venue_ids: list[int]) -> set[int]:
        if not venue_ids:
            return set()
        t = presence_codes
        rows = self._conn.execute(select(t.c.venue_id).where(t.c.venue_id.in_(venue_ids)).distinct())
        return {int(r[0]) for r in rows}

    def add_warning(
        self,
        public_id: str,
        *,
        venue_id: int,
        case_id: int,
        start_time: int,
        end_time: int,
        message: str,
        proposed_by: str,
        at: int,
        expires_at: int,
        traces: list[tuple[int, bytes]],
    ) -> int:
        """A proposed warning and its traces, (hour, trace) each; its id."""
        warning_id = self._conn.execute(
            insert(presence_warnings)
            .values(
                public_id=public_id,
                venue_id=venue_id,
                case_id=case_id,
                start_time=start_time,
                end_time=end_time,
                message=message,
                status="proposed",
                proposed_by=proposed_by,
                proposed_at=at,
                expires_at=expires_at,
            )
            .returning(presence_warnings.c.id)
        ).scalar_one()
        self._conn.execute(
            insert(presence_traces),
            [{"warning_id": warning_id, "start_of_interval": hour, "trace": trace} for hour, trace in traces],
        )
        return int(warning_id)

    def _warnings(self) -> Select[Any]:
        w, t = presence_warnings, presence_traces
        count = select(func.count()).where(t.c.warning_id == w.c.id).scalar_subquery()
        return (
            select(
                w,
                venues.c.ref.label("venue_ref"),
                venues.c.name_en.label("venue_name_en"),
                venues.c.name_zh.label("venue_name_zh"),
                cases.c.ref.label("case_ref"),
                cases.c.person_id.label("person_id"),
                count.label("traces"),
            )
            .join(venues, venues.c.id == w.c.venue_id)
            .join(cases, cases.c.id == w.c.case_id)
        )

    @staticmethod
    def _record(row: Row[Any]) -> WarningRecord:
        return WarningRecord(
            int(row.id),
            row.public_id,
            int(row.venue_id),
            row.venue_ref,
            row.venue_name_en,
            row.venue_name_zh,
            int(row.case_id),
            row.case_ref,
            int(row.person_id),
            int(row.start_time),
            int(row.end_time),
            row.message,
            row.status,
            row.proposed_by,
            int(row.proposed_at),
            row.reviewed_by,
            row.reviewed_at,
            row.review_reason,
            int(row.expires_at),
            int(row.traces),
        )

    def warning(self, public_id: str) -> WarningRecord | None:
        row = self._conn.execute(
            self._warnings().where(presence_warnings.c.public_id == public_id)
        ).one_or_none()
        return None if row is None else self._record(row)

    def warnings(
        self, *, status: str | None = None, case_id: int | None = None, limit: int = 200
    ) -> list[WarningRecord]:
        """Warnings, the newest proposed first."""
        w = presence_warnings
        query = self._warnings().order_by(w.c.proposed_at.desc(), w.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(w.c.status == status)
        if case_id is not None:
            query = query.where(w.c.case_id == case_id)
        return [self._record(r) for r in self._conn.execute(query)]

    def review(self, warning_id: int, status: str, *, by: str, at: int, reason: str) -> bool:
        """Decide on a proposed warning; False when it was no longer proposed (decided meanwhile)."""
        w = presence_warnings
        done = self._conn.execute(
            update(w)
            .where((w.c.id == warning_id) & (w.c.status == "proposed"))
            .values(status=status, reviewed_by=by, reviewed_at=at, review_reason=reason)
        )
        if done.rowcount != 1:
            return False
        t = presence_traces
        if status != "published":
            self._conn.execute(delete(t).where(t.c.warning_id == warning_id))
            return True
        ids = [
            int(r[0])
            for r in self._conn.execute(select(t.c.id).where(t.c.warning_id == warning_id).order_by(t.c.id))
        ]
        # Raising the counter locks its row until commit: publishing transactions take turns, so the
        # numbers they hand out commit in order.
        last = self._conn.execute(
            update(presence_keys)
            .where(presence_keys.c.id == _KEYS_ROW)
            .values(published_seq=presence_keys.c.published_seq + len(ids))
            .returning(presence_keys.c.published_seq)
        ).scalar_one()
        first = int(last) - len(ids) + 1
        for offset, trace_id in enumerate(ids):
            self._conn.execute(
                update(t).where(t.c.id == trace_id).values(seq=first + offset, published_at=at)
            )
        return True

    def published_head(self) -> tuple[int, int, int]:
        """The last number given to a published trace, the first still kept, and how many are kept
        (a purge changes the count wherever in the numbering it deleted)."""
        last = self._conn.execute(
            select(presence_keys.c.published_seq).where(presence_keys.c.id == _KEYS_ROW)
        ).scalar_one_or_none()
        t = presence_traces
        first, kept = self._conn.execute(
            select(func.min(t.c.seq), func.count(t.c.seq)).where(t.c.seq.is_not(None))
        ).one()
        return int(last or 0), int(first or 0), int(kept or 0)

    def published(self, after: int, through: int) -> list[PublishedTrace]:
        """The published traces numbered after ``after`` up to ``through``, in order."""
        t = presence_traces
        rows = self._conn.execute(
            select(t.c.seq, t.c.start_of_interval, t.c.trace, t.c.published_at)
            .where((t.c.seq > after) & (t.c.seq <= through))
            .order_by(t.c.seq)
        )
        return [
            PublishedTrace(int(r.seq), int(r.start_of_interval), bytes(r.trace), int(r.published_at))
            for r in rows
        ]

    def published_trace(self, seq: int) -> tuple[str, int] | None:
        """The warning (public id) and hour of the published trace numbered ``seq``, if still kept."""
        t, w = presence_traces, presence_warnings
        row = self._conn.execute(
            select(w.c.public_id, t.c.start_of_interval)
            .select_from(t.join(w, t.c.warning_id == w.c.id))
            .where((t.c.seq == seq) & (w.c.status == "published"))
        ).first()
        return None if row is None else (str(row.public_id), int(row.start_of_interval))

    def add_report(self, *, person_id: int, warning: WarningRecord, last_exposure_at: int, at: int) -> bool:
        """Record that the person reported the warning's exposure; False when they had already."""
        r = presence_reports
        known = self._conn.execute(
            select(r.c.id).where((r.c.person_id == person_id) & (r.c.warning_public_id == warning.public_id))
        ).first()
        if known is not None:
            return False
        try:
            with self._conn.begin_nested():  # a savepoint: the same report at the same moment loses
                self._conn.execute(
                    insert(r).values(
                        person_id=person_id,
                        case_id=warning.case_id,
                        venue_id=warning.venue_id,
                        warning_public_id=warning.public_id,
                        last_exposure_at=last_exposure_at,
                        reported_at=at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def reported_exposures(self, case_id: int) -> list[tuple[int, str, int]]:
        """The case's reported exposures: (person id, venue ref, last exposure), one per person and venue."""
        r, v = presence_reports, venues
        rows = self._conn.execute(
            select(r.c.person_id, v.c.ref, func.max(r.c.last_exposure_at).label("last"))
            .select_from(r.join(v, r.c.venue_id == v.c.id))
            .where(r.c.case_id == case_id)
            .group_by(r.c.person_id, v.c.ref)
            .order_by(r.c.person_id, v.c.ref)
        )
        return [(int(row.person_id), str(row.ref), int(row.last)) for row in rows]

    def reports_of(self, person_id: int) -> list[dict[str, Any]]:
        """The person's own reported exposures, oldest first: the warning, the venue and when."""
        r, v = presence_reports, venues
        rows = self._conn.execute(
            select(
                r.c.warning_public_id,
                v.c.ref,
                v.c.name_en,
                v.c.name_zh,
                r.c.last_exposure_at,
                r.c.reported_at,
            )
            .select_from(r.join(v, r.c.venue_id == v.c.id))
            .where(r.c.person_id == person_id)
            .order_by(r.c.reported_at, r.c.id)
        )
        return [dict(row._mapping) for row in rows]

    def delete_reports_before(self, cutoff: int) -> int:
        """Delete the reported exposures whose exposure ended before ``cutoff``."""
        r = presence_reports
        return int(self._conn.execute(delete(r).where(r.c.last_exposure_at < cutoff)).rowcount)

    def delete_ended_before(self, cutoff: int) -> int:
        """Delete the warnings (any status) whose window ended before ``cutoff``, with their traces."""
        w, t = presence_warnings, presence_traces
        ended = select(w.c.id).where(w.c.end_time < cutoff)
        self._conn.execute(delete(t).where(t.c.warning_id.in_(ended)))
        return int(self._conn.execute(delete(w).where(w.c.end_time < cutoff)).rowcount)
