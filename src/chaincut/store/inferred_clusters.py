"""Inferred clusters kept across runs: their ids, members, settings, evidence and tracers' decisions."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from chaincut.store.bulk_insert import insert_rows
from chaincut.store.packed_columns import pack_columns, unpack_columns
from chaincut.store.tables import (
    case_assignments,
    cases,
    cluster_decisions,
    inferred_cluster_evidence,
    inferred_cluster_members,
    inferred_cluster_settings,
    inferred_clusters,
)

__all__ = [
    "LIVE",
    "ClusterContents",
    "ClusterEvidenceRow",
    "ClusterRecord",
    "DecisionRow",
    "InferredClusterRepository",
]

LIVE = ("active", "inactive")  # the statuses of a cluster that is neither merged nor dissolved


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    id: int
    name: str | None
    status: str
    size: int
    first_onset: date | None
    last_onset: date | None
    last_reported: date | None
    created_at: int
    updated_at: int
    merged_into_id: int | None


@dataclass(frozen=True, slots=True)
class ClusterEvidenceRow:
    case_id: int
    setting: str | None
    linked_case_id: int | None
    link: str | None
    start_at: int | None
    end_at: int | None
    first_on: date | None
    last_on: date | None


@dataclass(frozen=True)
class ClusterContents:
    """A run's members and evidence as columns, one entry per row, each cluster's rows together.

    Members: ``member_cluster``, ``member_case``, ``member_confirmed``. Evidence: ``cluster_id``,
    ``case_id``, ``setting`` (a position in ``settings``, the setting keys; -1: none),
    ``linked_case_id`` (-1: none), ``link`` (a position in ``links``, the link kinds; -1: none),
    ``start_at``/``end_at`` (epoch seconds; int64 min: none) and ``first_on``/``last_on`` (days
    since 1970-01-01; int64 min: none).
    """

    member_cluster: npt.NDArray[np.int64]
    member_case: npt.NDArray[np.int64]
    member_confirmed: npt.NDArray[np.bool_]
    cluster_id: npt.NDArray[np.int64]
    case_id: npt.NDArray[np.int64]
    setting: npt.NDArray[np.int64]
    settings: Sequence[str]
    linked_case_id: npt.NDArray[np.int64]
    link: npt.NDArray[np.int64]
    links: Sequence[str]
    start_at: npt.NDArray[np.int64]
    end_at: npt.NDArray[np.int64]
    first_on: npt.NDArray[np.int64]
    last_on: npt.NDArray[np.int64]

    def packed_evidence(self) -> dict[int, list[tuple[int, bytes]]]:
        """Each cluster's evidence packed (:func:`pack_columns`), in parts of a million rows: each
        part's (rows, bytes).

        A part's columns: ``case``, ``setting`` (int32, a position in the part's ``settings``, its
        keys; -1: none), ``linked`` (-1: none), ``link`` (int8, a position in ``links``), ``start``
        and ``end`` (int64 min: none), ``first`` and ``last`` (int32 day numbers; int32 min: none).
        """
        out: dict[int, list[tuple[int, bytes]]] = {}
        links = np.array(list(self.links), dtype=np.str_)
        for cluster, (begin, end) in _runs(self.cluster_id).items():
            parts = []
            for at in range(begin, end, _PART_ROWS):
                rows = slice(at, min(end, at + _PART_ROWS))
                codes = self.setting[rows]
                used = np.unique(codes[codes >= 0])
                local = np.where(codes >= 0, np.searchsorted(used, codes), -1).astype(np.int32)
                names = np.array([self.settings[k] for k in used.tolist()], dtype=np.str_)
                parts.append(
                    (
                        len(codes),
                        pack_columns(
                            {
                                "case": self.case_id[rows],
                                "setting": local,
                                "settings": names,
                                "linked": self.linked_case_id[rows],
                                "link": self.link[rows].astype(np.int8),
                                "links": links,
                                "start": self.start_at[rows],
                                "end": self.end_at[rows],
                                "first": _days32(self.first_on[rows]),
                                "last": _days32(self.last_on[rows]),
                            }
                        ),
                    )
                )
            out[cluster] = parts
        return out


_MISSING = int(np.iinfo(np.int64).min)
_MISSING_DAY = int(np.iinfo(np.int32).min)
_EPOCH = date(1970, 1, 1)
_PART_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class DecisionRow:
    cluster_id: int
    case_id: int
    decision: str
    decided_by: str
    decided_at: int
    note: str | None


class InferredClusterRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- runs ---------------------------------------------------------------------------------

    def live_members(self) -> dict[int, list[int]]:
        """Each live cluster's case ids (clusters with no member left are listed empty)."""
        out: dict[int, list[int]] = {
            int(i): []
            for i in self._conn.execute(
                select(inferred_clusters.c.id).where(inferred_clusters.c.status.in_(LIVE))
            ).scalars()
        }
        m = inferred_cluster_members.c
        rows = self._rows(select(m.cluster_id, m.case_id).order_by(m.cluster_id, m.case_id))
        pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
        for cluster_id, (begin, end) in _runs(pairs[:, 0]).items():
            if cluster_id in out:
                out[cluster_id] = pairs[begin:end, 1].tolist()
        return out

    def merged_into(self) -> dict[int, int]:
        rows = self._conn.execute(
            select(inferred_clusters.c.id, inferred_clusters.c.merged_into_id).where(
                inferred_clusters.c.merged_into_id.is_not(None)
            )
        )
        return {int(a): int(b) for a, b in rows}

    def decisions(self) -> list[DecisionRow]:
        rows = self._conn.execute(select(cluster_decisions).order_by(cluster_decisions.c.decided_at))
        return [DecisionRow(*r) for r in rows]

    def new_cluster(self, at: int) -> int:
        result = self._conn.execute(
            insert(inferred_clusters).values(status="active", size=0, created_at=at, updated_at=at)
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def replace_contents(
        self,
        summaries: Sequence[tuple[int, str, int, date | None, date | None, date | None]],
        contents: ClusterContents,
        settings: Sequence[tuple[int, str]],
        at: int,
    ) -> None:
        """Replace every live cluster's members, settings and evidence with this run's.

        ``summaries``: (id, status, size, first onset, last onset, last reported) of each cluster
        the run keeps. Only the clusters whose members, settings or evidence differ from what is
        stored are rewritten (a run over an unchanged store rewrites none; the store's evidence is
        millions of rows at a fifth wave's height); the rest keep their rows. Rows go in with the
        driver's ``executemany`` in chunks of 100,000, with no object per row.
        """
        if summaries:
            self._conn.execute(
                update(inferred_clusters)
                .where(inferred_clusters.c.id == _param("b_id"))
                .values(
                    status=_param("b_status"),
                    size=_param("b_size"),
                    first_onset=_param("b_first"),
                    last_onset=_param("b_last"),
                    last_reported=_param("b_reported"),
                    updated_at=at,
                ),
                [
                    {"b_id": i, "b_status": s, "b_size": n, "b_first": f, "b_last": la, "b_reported": r}
                    for i, s, n, f, la, r in summaries
                ],
            )
        c = contents
        members = _Slices(
            c.member_cluster,
            list(
                zip(
                    c.member_cluster.tolist(),
                    c.member_case.tolist(),
                    c.member_confirmed.tolist(),
                    strict=True,
                )
            ),
        )
        setting_rows = _Slices(np.array([k for k, _ in settings], dtype=np.int64), list(settings))
        evidence = contents.packed_evidence()
        digests = {k: [hashlib.sha256(p).hexdigest() for _, p in parts] for k, parts in evidence.items()}
        m, st, ev = inferred_cluster_members.c, inferred_cluster_settings.c, inferred_cluster_evidence.c
        stored_members = _Slices.of(
            self._rows(select(m.cluster_id, m.case_id, m.confirmed).order_by(m.cluster_id, m.case_id)),
            confirmed=True,
        )
        stored_settings = _Slices.of(
            self._rows(select(st.cluster_id, st.setting).order_by(st.cluster_id, st.setting))
        )
        stored_digests: dict[int, list[str]] = defaultdict(list)
        for k, digest in self._conn.execute(
            select(ev.cluster_id, ev.digest).order_by(ev.cluster_id, ev.part)
        ):
            stored_digests[int(k)].append(digest)
        everyone = set(members.bounds) | set(setting_rows.bounds) | set(evidence)
        everyone |= set(stored_members.bounds) | set(stored_settings.bounds) | set(stored_digests)
        changed = sorted(
            k
            for k in everyone
            if members.get(k) != stored_members.get(k)
            or setting_rows.get(k) != stored_settings.get(k)
            or digests.get(k) != stored_digests.get(k)
        )
        stale = [
            k
            for k in changed
            if k in stored_members.bounds or k in stored_settings.bounds or k in stored_digests
        ]
        with self._page_cache():
            for start in range(0, len(stale), 5000):
                chunk = stale[start : start + 5000]
                for table in (inferred_cluster_evidence, inferred_cluster_settings, inferred_cluster_members):
                    self._conn.execute(delete(table).where(table.c.cluster_id.in_(chunk)))
            insert_rows(
                self._conn,
                inferred_cluster_members,
                ("cluster_id", "case_id", "confirmed"),
                members.rows_of(changed),
            )
            insert_rows(
                self._conn,
                inferred_cluster_settings,
                ("cluster_id", "setting"),
                setting_rows.rows_of(changed),
            )
            for k in changed:
                parts = zip(evidence.get(k, []), digests.get(k, []), strict=True)
                for part, ((rows, packed), digest) in enumerate(parts):
                    self._conn.execute(
                        insert(inferred_cluster_evidence).values(
                            cluster_id=k, part=part, rows=rows, digest=digest, columns=packed
                        )
                    )

    @contextmanager
    def _page_cache(self) -> Iterator[None]:
        """On SQLite, a 256 MiB page cache while millions of rows go in (the default 2 MiB makes each
        foreign-key look-up into a million cases a read), then the connection's own again."""
        if self._conn.dialect.name != "sqlite":
            yield
            return
        before = self._conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        self._conn.exec_driver_sql("PRAGMA cache_size=-262144")
        try:
            yield
        finally:
            self._conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")

    def _rows(self, query: Select[Any]) -> list[tuple[Any, ...]]:
        """Rows as the driver gives them."""
        result = self._conn.execute(query)
        rows: list[tuple[Any, ...]] = list(result.cursor.fetchall()) if result.cursor is not None else []
        result.close()
        return rows

    def close(self, merged: Sequence[tuple[int, int]], dissolved: Sequence[int], at: int) -> None:
        """Record clusters absorbed by others (absorbed, survivor) and clusters no run continues."""
        for absorbed, into in merged:
            self._conn.execute(
                update(inferred_clusters)
                .where(inferred_clusters.c.id == absorbed)
                .values(status="merged", merged_into_id=into, size=0, updated_at=at)
            )
        if dissolved:
            self._conn.execute(
                update(inferred_clusters)
                .where(inferred_clusters.c.id.in_(list(dissolved)))
                .values(status="dissolved", size=0, updated_at=at)
            )

    # -- reads --------------------------------------------------------------------------------

    def get(self, cluster_id: int) -> ClusterRecord | None:
        row = self._conn.execute(
            select(inferred_clusters).where(inferred_clusters.c.id == cluster_id)
        ).one_or_none()
        return None if row is None else ClusterRecord(*row)

    def page(
        self, statuses: Sequence[str], limit: int, offset: int, *, staff_id: int | None = None
    ) -> tuple[list[ClusterRecord], int]:
        """Clusters of these statuses, largest first (then oldest), and how many there are.

        ``staff_id``: only the clusters holding a case assigned to that staff member.
        """
        where: ColumnElement[bool] = inferred_clusters.c.status.in_(list(statuses))
        if staff_id is not None:
            m = inferred_cluster_members.c
            theirs = (
                select(m.cluster_id)
                .join(case_assignments, case_assignments.c.case_id == m.case_id)
                .where(case_assignments.c.staff_id == staff_id)
            )
            where = and_(where, inferred_clusters.c.id.in_(theirs))
        total = int(
            self._conn.execute(select(func.count()).select_from(inferred_clusters).where(where)).scalar_one()
        )
        rows = self._conn.execute(
            select(inferred_clusters)
            .where(where)
            .order_by(inferred_clusters.c.size.desc(), inferred_clusters.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [ClusterRecord(*r) for r in rows], total

    def holds_case_of(self, cluster_id: int, staff_id: int) -> bool:
        """Whether the cluster holds a case assigned to that staff member."""
        m = inferred_cluster_members.c
        found = self._conn.execute(
            select(m.case_id)
            .join(case_assignments, case_assignments.c.case_id == m.case_id)
            .where(m.cluster_id == cluster_id, case_assignments.c.staff_id == staff_id)
            .limit(1)
        ).first()
        return found is not None

    def first_members(self, cluster_id: int, limit: int) -> list[tuple[str, bool]]:
        """The cluster's first ``limit`` members as registered (by case id, which its index holds in
        order: no sort of a large cluster), as (case ref, confirmed by a decision), sorted by ref."""
        m = inferred_cluster_members.c
        first = (
            select(m.case_id, m.confirmed).where(m.cluster_id == cluster_id).order_by(m.case_id).limit(limit)
        ).subquery()
        rows = self._conn.execute(
            select(cases.c.ref, first.c.confirmed)
            .join(first, first.c.case_id == cases.c.id)
            .order_by(cases.c.ref)
        )
        return [(ref, bool(confirmed)) for ref, confirmed in rows]

    def first_settings(self, cluster_id: int, limit: int) -> tuple[list[str], int]:
        """The cluster's first ``limit`` settings by key, and how many it has."""
        s = inferred_cluster_settings.c
        keys = self._conn.execute(
            select(s.setting).where(s.cluster_id == cluster_id).order_by(s.setting).limit(limit)
        ).scalars()
        shown = [str(k) for k in keys]
        total = self._conn.execute(select(func.count()).where(s.cluster_id == cluster_id)).scalar_one()
        return shown, int(total)

    def members(self, cluster_ids: Sequence[int]) -> dict[int, list[tuple[str, bool]]]:
        """Each cluster's (case ref, confirmed by a decision), sorted by case ref."""
        out: dict[int, list[tuple[str, bool]]] = defaultdict(list)
        rows = self._conn.execute(
            select(inferred_cluster_members.c.cluster_id, cases.c.ref, inferred_cluster_members.c.confirmed)
            .select_from(
                inferred_cluster_members.join(cases, cases.c.id == inferred_cluster_members.c.case_id)
            )
            .where(inferred_cluster_members.c.cluster_id.in_(list(cluster_ids)))
            .order_by(cases.c.ref)
        )
        for cluster_id, ref, confirmed in rows:
            out[int(cluster_id)].append((ref, bool(confirmed)))
        return out

    def settings(self, cluster_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        rows = self._conn.execute(
            select(inferred_cluster_settings.c.cluster_id, inferred_cluster_settings.c.setting)
            .where(inferred_cluster_settings.c.cluster_id.in_(list(cluster_ids)))
            .order_by(inferred_cluster_settings.c.setting)
        )
        for cluster_id, setting in rows:
            out[int(cluster_id)].append(setting)
        return out

    def evidence(self, cluster_id: int) -> list[ClusterEvidenceRow]:
        """The evidence of the cluster's memberships as the last run found it, for its members now.

        A tracer's decision since the run moved cases in or out (:meth:`apply_decision`); a moved
        case's rows, and rows linking to it, are left out until the next run writes them again.
        """
        m, ev = inferred_cluster_members.c, inferred_cluster_evidence.c
        members = np.array(
            sorted(self._conn.execute(select(m.case_id).where(m.cluster_id == cluster_id)).scalars()),
            dtype=np.int64,
        )
        out: list[ClusterEvidenceRow] = []
        parts = self._conn.execute(
            select(ev.columns).where(ev.cluster_id == cluster_id).order_by(ev.part)
        ).scalars()
        for packed in parts:
            c = unpack_columns(bytes(packed))
            case, linked = c["case"].astype(np.int64), c["linked"].astype(np.int64)
            keep = _member(case, members) & ((linked < 0) | _member(linked, members))
            settings, links = c["settings"].tolist(), c["links"].tolist()
            for k, s, li, kind, start, end, first, last in zip(
                case[keep].tolist(),
                c["setting"][keep].tolist(),
                linked[keep].tolist(),
                c["link"][keep].tolist(),
                c["start"][keep].tolist(),
                c["end"][keep].tolist(),
                c["first"][keep].tolist(),
                c["last"][keep].tolist(),
                strict=True,
            ):
                out.append(
                    ClusterEvidenceRow(
                        k,
                        None if s < 0 else settings[s],
                        None if li < 0 else li,
                        None if kind < 0 else links[kind],
                        None if start == _MISSING else start,
                        None if end == _MISSING else end,
                        None if first == _MISSING_DAY else _EPOCH + timedelta(days=first),
                        None if last == _MISSING_DAY else _EPOCH + timedelta(days=last),
                    )
                )
        return out

    def cluster_of(self, case_ids: Sequence[int]) -> dict[int, int]:
        """The cluster each of these cases is in (cases in none are left out)."""
        out: dict[int, int] = {}
        wanted = sorted(set(case_ids))
        for start in range(0, len(wanted), 5000):
            rows = self._conn.execute(
                select(inferred_cluster_members.c.case_id, inferred_cluster_members.c.cluster_id).where(
                    inferred_cluster_members.c.case_id.in_(wanted[start : start + 5000])
                )
            )
            out.update({int(a): int(b) for a, b in rows})
        return out

    def apply_decision(self, cluster_id: int, case_id: int, decision: str) -> None:
        """Apply a decision at once: move the case into the cluster (confirmed) or take it out."""
        m = inferred_cluster_members.c
        held = self._conn.execute(select(m.cluster_id).where(m.case_id == case_id)).scalar_one_or_none()
        if decision == "rejected" and held != cluster_id:
            return
        if held is not None:
            self._conn.execute(delete(inferred_cluster_members).where(m.case_id == case_id))
            self._resize(int(held))
        if decision == "confirmed":
            self._conn.execute(
                insert(inferred_cluster_members).values(
                    cluster_id=cluster_id, case_id=case_id, confirmed=True
                )
            )
            self._resize(cluster_id)

    def _resize(self, cluster_id: int) -> None:
        m = inferred_cluster_members.c
        size = select(func.count()).where(m.cluster_id == cluster_id).scalar_subquery()
        self._conn.execute(
            update(inferred_clusters).where(inferred_clusters.c.id == cluster_id).values(size=size)
        )

    def active_on(
        self, day: date, active_days: int, limit: int
    ) -> list[tuple[int, int, date, date | None, date | None]]:
        """Clusters as the last run left them, seen on ``day``: those with a member reported within the
        ``active_days`` before it (``day`` included), counting only members reported by then.

        Each: (cluster id, members reported by ``day``, last report date, first onset, last onset),
        largest first, at most ``limit``.
        """
        m = inferred_cluster_members.c
        reported = cases.c.reported_on
        since = day - timedelta(days=active_days - 1)
        query = (
            select(
                m.cluster_id,
                func.count(),
                func.max(reported),
                func.min(cases.c.onset_on),
                func.max(cases.c.onset_on),
            )
            .select_from(inferred_cluster_members.join(cases, cases.c.id == m.case_id))
            .where(reported <= day)
            .group_by(m.cluster_id)
            .having(func.max(reported) >= since)
            .order_by(func.count().desc(), m.cluster_id)
            .limit(limit)
        )
        return [(int(i), int(n), r, f, la) for i, n, r, f, la in self._conn.execute(query)]

    def members_reported_by(self, cluster_ids: Sequence[int], day: date) -> dict[int, list[str]]:
        """Each cluster's member refs reported on or before ``day``, sorted."""
        m = inferred_cluster_members.c
        out: dict[int, list[str]] = defaultdict(list)
        rows = self._conn.execute(
            select(m.cluster_id, cases.c.ref)
            .select_from(inferred_cluster_members.join(cases, cases.c.id == m.case_id))
            .where(m.cluster_id.in_(list(cluster_ids)), cases.c.reported_on <= day)
            .order_by(cases.c.ref)
        )
        for cluster_id, ref in rows:
            out[int(cluster_id)].append(ref)
        return out

    # -- tracers' changes ---------------------------------------------------------------------

    def rename(self, cluster_id: int, name: str | None, at: int) -> None:
        self._conn.execute(
            update(inferred_clusters)
            .where(inferred_clusters.c.id == cluster_id)
            .values(name=name, updated_at=at)
        )

    def decide(self, row: DecisionRow) -> None:
        """Record a decision on (cluster, case), replacing an earlier one on the same pair."""
        self._conn.execute(
            delete(cluster_decisions).where(
                cluster_decisions.c.cluster_id == row.cluster_id, cluster_decisions.c.case_id == row.case_id
            )
        )
        self._conn.execute(
            insert(cluster_decisions).values(
                cluster_id=row.cluster_id,
                case_id=row.case_id,
                decision=row.decision,
                decided_by=row.decided_by,
                decided_at=row.decided_at,
                note=row.note,
            )
        )


class _Slices:
    """Rows (cluster id first) grouped by cluster: each cluster's rows are one run, in order."""

    def __init__(self, cluster: npt.NDArray[np.int64], rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        starts = (
            np.flatnonzero(np.concatenate(([True], cluster[1:] != cluster[:-1]))) if len(cluster) else cluster
        )
        ends = np.append(starts[1:], len(cluster)) if len(cluster) else cluster
        self.bounds: dict[int, tuple[int, int]] = {
            int(k): (int(a), int(b))
            for k, a, b in zip(cluster[starts].tolist(), starts.tolist(), ends.tolist(), strict=True)
        }
        if len(self.bounds) != len(starts):
            raise ValueError("rows of one cluster must be together")

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]], *, confirmed: bool = False) -> _Slices:
        """Stored rows, ordered by cluster (members' ``confirmed`` as a bool: SQLite gives 0 or 1)."""
        listed = [(c, k, bool(f)) for c, k, f in rows] if confirmed else list(rows)
        return cls(np.fromiter((r[0] for r in listed), dtype=np.int64, count=len(listed)), listed)

    def get(self, cluster_id: int) -> list[tuple[Any, ...]] | None:
        where = self.bounds.get(cluster_id)
        return None if where is None else self.rows[where[0] : where[1]]

    def rows_of(self, cluster_ids: Sequence[int]) -> Iterable[tuple[Any, ...]]:
        wanted = set(cluster_ids)
        if all(k in wanted for k in self.bounds):
            yield from self.rows  # every cluster: no slicing
            return
        for k in cluster_ids:
            where = self.bounds.get(k)
            if where is not None:
                yield from self.rows[where[0] : where[1]]


def _runs(cluster: npt.NDArray[np.int64]) -> dict[int, tuple[int, int]]:
    """Each cluster's rows (begin, end) where each cluster's rows are together."""
    return _Slices(cluster, []).bounds


def _days32(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
    out: npt.NDArray[np.int32] = np.where(days == _MISSING, _MISSING_DAY, days).astype(np.int32)
    return out


def _member(values: npt.NDArray[np.int64], members: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether each value is among ``members`` (sorted)."""
    if len(members) == 0:
        return np.zeros(len(values), dtype=np.bool_)
    at = np.minimum(np.searchsorted(members, values), len(members) - 1)
    found: npt.NDArray[np.bool_] = members[at] == values
    return found


def _param(name: str) -> BindParameter[Any]:
    return bindparam(name)
