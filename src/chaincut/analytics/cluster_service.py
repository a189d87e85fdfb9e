"""Clusters from the store: inferred from where the cases were, kept under stable ids, decided by tracers.

A run (:meth:`ClusterService.refresh`) reads what the store knows of the confirmed and probable
cases, infers the clusters (:mod:`chaincut.analytics.clusters`), matches them to the stored ones
so ids survive (:mod:`chaincut.analytics.cluster_ids`), applies tracers' decisions, and replaces
the stored members, settings and evidence in one transaction.

What links cases, as the store holds it:

- **stays** (visits) at a venue, counted while the case may have been infected there or may have
  infected others: from ``coarse_exposure_days_before_onset`` days before its day (onset, else
  report date) to its isolation;
- **date-level exposures**: the building list's links (``chaincut import hk-buildings``), in the
  days before the case's day;
- **households** (cases whose people share one), **encounters** between two cases' people in the
  same period, and the **links** tracers recorded (``linked_case``).

A building of the list has the kind its name gives under ``[clusters.building_kinds]`` (else
``venue`` when cases visited it, ``residence`` when they only lived there); any other venue has
its venue type. Reads of the result and tracers' changes are audited by the callers' layers;
a run and every decision are audited here.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from chaincut.access.audit import AuditTrail, event_for
from chaincut.analytics.case_evidence import CaseEvidence, OutbreakRead, isin, read_outbreak, unique
from chaincut.analytics.cluster_ids import Decision, MembershipDecision, settle
from chaincut.analytics.cluster_views import (
    ClusterDetail,
    ClusterRun,
    ClusterSummary,
    MemberEvidence,
    SettingView,
)
from chaincut.analytics.clusters import (
    NO_TIME,
    ClusterColumns,
    ClusterFound,
    ClusterStatus,
    LinkKind,
    building_kind,
    infer_cluster_columns,
)
from chaincut.analytics.epicurve import NO_DAY
from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain.access import Principal
from chaincut.errors import InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.store.inferred_clusters import LIVE, ClusterContents, ClusterRecord, DecisionRow

__all__ = [
    "ClusterDetail",
    "ClusterRun",
    "ClusterService",
    "ClusterSummary",
    "MemberEvidence",
    "SettingView",
]

_STATUSES = ("active", "inactive", "merged", "dissolved")


class ClusterService:
    """Inferred clusters over the store, for epidemiologists, supervisors and tracers."""

    def __init__(self, store: Store, policy: Policy, clock: Clock, zone: ZoneInfo, audit: AuditTrail) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._audit = audit

    # -- runs ---------------------------------------------------------------------------------

    def read(self) -> OutbreakRead:
        """What a run infers from, read now; the chains' run can infer from the same read."""
        return read_outbreak(self._store, self._policy, self._clock, self._zone)

    def refresh(self, principal: Principal, read: OutbreakRead | None = None) -> ClusterRun:
        """Infer the clusters afresh and store them under stable ids; audited as ``clusters.refresh``.

        ``read``: what to infer from (:meth:`read`; by default read now). Runs on columns end to
        end (store reads, :func:`infer_cluster_columns`, bulk writes), so a million cases with their
        stays take seconds, not an object per stay (bench/clusters_chains.py).
        """
        rules = self._policy.clusters
        read = read or self.read()
        today, at = read.today, read.at
        inputs, listed, listed_links, venue_rows = read.evidence, read.listed, read.listed_links, read.venues
        cases = inputs.cases
        opens, closes = inputs.period_opens, inputs.period_closes

        setting_index: dict[str, int] = {}
        setting_kinds: list[str] = []
        for b in listed:
            key = f"venue:{b.venue_ref}" if b.venue_ref else f"building:{b.ref}"
            kind = building_kind(
                b.name_en, rules.building_kinds, otherwise="residence" if b.residential else "venue"
            )
            if key in setting_index:
                setting_kinds[setting_index[key]] = kind
            else:
                setting_index[key] = len(setting_kinds)
                setting_kinds.append(kind)
        venue_setting: dict[int, int] = {}
        for venue_id, v in venue_rows.items():
            key = f"venue:{v.ref}"
            if key not in setting_index:
                setting_index[key] = len(setting_kinds)
                setting_kinds.append(v.venue_type)
            venue_setting[venue_id] = setting_index[key]

        # Timed exposures: each stay of a case's person inside that case's period.
        stays = inputs.stays
        stay, case = inputs.cases_of_people(stays.person_id)
        inside = (opens[case] <= stays.entered_at[stay]) & (stays.entered_at[stay] <= closes[case])
        stay, case = stay[inside], case[inside]
        setting_of_venue = np.full(int(stays.venue_id.max(initial=0)) + 1, -1, dtype=np.int64)
        for venue_id, k in venue_setting.items():
            setting_of_venue[venue_id] = k
        # Coarse exposures: the building list's links (a case not in the store is left out).
        position = {ref: i for i, ref in enumerate(cases.ref)}
        building_keys = {
            b.ref: (f"venue:{b.venue_ref}" if b.venue_ref else f"building:{b.ref}") for b in listed
        }
        left_out: dict[str, int] = defaultdict(int)
        coarse_case, coarse_setting = [], []
        for ref, case_ref in listed_links:
            if case_ref in position:
                coarse_case.append(position[case_ref])
                coarse_setting.append(setting_index[building_keys[ref]])
            else:
                left_out["unknown case"] += 1
        coarse = np.full(len(coarse_case), NO_TIME, dtype=np.int64)

        link_a, link_b, link_kind, link_day = inputs.links(self._zone)
        columns = ClusterColumns(
            refs=cases.ref,
            day=inputs.day,
            reported=inputs.reported,
            setting_ids=tuple(setting_index),
            setting_kinds=tuple(setting_kinds),
            exposure_case=np.concatenate((case, np.array(coarse_case, dtype=np.int64))),
            exposure_setting=np.concatenate(
                (setting_of_venue[stays.venue_id[stay]], np.array(coarse_setting, dtype=np.int64))
            ),
            exposure_start=np.concatenate((stays.entered_at[stay], coarse)),
            exposure_end=np.concatenate((stays.left_at[stay], coarse)),
            link_a=link_a,
            link_b=link_b,
            link_kind=link_kind,
            link_day=link_day,
        )
        found = infer_cluster_columns(columns, rules)
        for k in columns.exposure_setting[found.left_exposures].tolist():
            left_out[f"setting kind {setting_kinds[k]!r} links no cases"] += 1
        if len(found.self_links):
            left_out["a case linked to itself"] += len(found.self_links)
        ids = cases.id
        setting_names = columns.setting_ids

        with self._store.write() as uow:
            repo = uow.inferred_clusters
            stored = repo.live_members()
            decisions = [
                MembershipDecision(d.cluster_id, d.case_id, Decision(d.decision)) for d in repo.decisions()
            ]
            fresh = [
                frozenset(ids[found.member[found.member_start[k] : found.member_start[k + 1]]].tolist())
                for k in range(found.clusters)
            ]
            settled = settle(
                stored, fresh, decisions, merged_into=repo.merged_into(), min_cases=rules.min_cases
            )
            created = 0
            summaries = []
            member_parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], int]] = []
            cluster_settings: list[tuple[int, str]] = []
            evidence_parts: list[tuple[npt.NDArray[np.int64], int]] = []
            for s in settled.clusters:
                cluster_id = s.id
                if cluster_id is None:
                    cluster_id = repo.new_cluster(at)
                    created += 1
                member_ids = np.array(sorted(s.cases), dtype=np.int64)
                positions = np.searchsorted(ids, member_ids)
                summaries.append(self._summary(cluster_id, inputs, positions, today))
                confirmed = (
                    isin(member_ids, np.array(sorted(s.confirmed), dtype=np.int64))
                    if s.confirmed
                    else np.zeros(len(member_ids), dtype=np.bool_)
                )
                member_parts.append((member_ids, confirmed, cluster_id))
                if s.fresh_index is not None:
                    k = s.fresh_index
                    rows = np.arange(found.evidence_start[k], found.evidence_start[k + 1], dtype=np.int64)
                    fresh_members = found.member_start[k + 1] - found.member_start[k]
                    if s.confirmed or len(s.cases) != fresh_members:
                        placed = member_ids[~confirmed]
                        case_ids = ids[found.evidence_case[rows]]
                        linked = found.evidence_linked[rows]
                        keep = isin(case_ids, placed) & (
                            (linked < 0) | isin(ids[np.maximum(linked, 0)], member_ids)
                        )
                        rows = rows[keep]
                    used = unique(found.evidence_setting[rows])
                    cluster_settings.extend(
                        (cluster_id, key) for key in sorted(setting_names[u] for u in used.tolist() if u >= 0)
                    )
                    evidence_parts.append((rows, cluster_id))
            repo.replace_contents(
                summaries,
                self._contents(found, ids, setting_names, member_parts, evidence_parts),
                cluster_settings,
                at,
            )
            repo.close(settled.merged, settled.dissolved, at)
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "clusters.refresh",
                    "analytics/clusters",
                    details={
                        "clusters": len(settled.clusters),
                        "created": created,
                        "merged": len(settled.merged),
                        "dissolved": len(settled.dissolved),
                        "policy_version": self._policy.version,
                    },
                ),
            )
        return ClusterRun(len(settled.clusters), created, settled.merged, settled.dissolved, dict(left_out))

    @staticmethod
    def _contents(
        found: ClusterFound,
        ids: npt.NDArray[np.int64],
        setting_names: Sequence[str],
        members: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], int]],
        evidence: Sequence[tuple[npt.NDArray[np.int64], int]],
    ) -> ClusterContents:
        empty = np.zeros(0, dtype=np.int64)
        rows = np.concatenate([r for r, _ in evidence]) if evidence else empty
        cluster = np.repeat(np.array([c for _, c in evidence], dtype=np.int64), [len(r) for r, _ in evidence])
        setting = found.evidence_setting[rows]
        linked = found.evidence_linked[rows]
        link = found.evidence_link[rows]
        return ClusterContents(
            member_cluster=np.repeat(
                np.array([c for _, _, c in members], dtype=np.int64), [len(m) for m, _, _ in members]
            ),
            member_case=np.concatenate([m for m, _, _ in members]) if members else empty,
            member_confirmed=(
                np.concatenate([f for _, f, _ in members]) if members else np.zeros(0, dtype=np.bool_)
            ),
            cluster_id=cluster,
            case_id=ids[found.evidence_case[rows]],
            setting=setting.astype(np.int64),
            settings=setting_names,
            linked_case_id=np.where(linked >= 0, ids[np.maximum(linked, 0)], -1),
            link=link.astype(np.int64),
            links=[k.value for k in LinkKind],
            start_at=found.evidence_start_at[rows],
            end_at=found.evidence_end_at[rows],
            first_on=found.evidence_first[rows],
            last_on=found.evidence_last[rows],
        )

    def _summary(
        self, cluster_id: int, inputs: CaseEvidence, positions: npt.NDArray[np.int64], today: date
    ) -> tuple[int, str, int, date | None, date | None, date | None]:
        onsets = inputs.cases.onset_on[positions]
        onsets = onsets[onsets != NO_DAY]
        last_reported = _date(int(inputs.reported[positions].max()))
        active = (today - last_reported).days < self._policy.clusters.active_days
        status = ClusterStatus.ACTIVE if active else ClusterStatus.INACTIVE
        return (
            cluster_id,
            status.value,
            len(positions),
            _date(int(onsets.min())) if len(onsets) else None,
            _date(int(onsets.max())) if len(onsets) else None,
            last_reported,
        )

    # -- reads --------------------------------------------------------------------------------

    def page(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0, staff_id: int | None = None
    ) -> tuple[list[ClusterSummary], int]:
        """Clusters largest first, of ``status`` (active, inactive, merged, dissolved; None: live ones)."""
        statuses = _statuses(status)
        with self._store.read() as uow:
            records, total = uow.inferred_clusters.page(statuses, limit, offset, staff_id=staff_id)
            return self._summaries(uow, records), total

    def listing(
        self,
        *,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        staff_id: int | None = None,
        settings_shown: int = 3,
    ) -> tuple[list[tuple[ClusterSummary, int]], int]:
        """As :meth:`page`, for a list to show: each cluster without its members' references and
        with its first ``settings_shown`` settings only, beside how many settings it has.

        A list of the largest clusters at a fifth wave's height would otherwise read a million
        members' references and name tens of thousands of settings to show fifty rows.
        """
        statuses = _statuses(status)
        with self._store.read() as uow:
            records, total = uow.inferred_clusters.page(statuses, limit, offset, staff_id=staff_id)
            first = {r.id: uow.inferred_clusters.first_settings(r.id, settings_shown) for r in records}
            shown = {i: keys for i, (keys, _) in first.items()}
            views = self._setting_views(uow, sorted({k for ks in shown.values() for k in ks}))
        rows = [(_brief(r, (), shown.get(r.id, []), views), first[r.id][1]) for r in records]
        return rows, total

    def glimpse(
        self, cluster_id: int, *, members_shown: int, settings_shown: int
    ) -> tuple[ClusterSummary, int] | None:
        """A cluster as far as a page shows it: its first ``members_shown`` members as registered
        (sorted by reference) and first ``settings_shown`` settings, beside how many settings it
        has; None when there is no such cluster. Reads no evidence, and no more members or
        settings than it shows (a fifth wave's largest cluster holds nearly every case)."""
        with self._store.read() as uow:
            record = uow.inferred_clusters.get(cluster_id)
            if record is None:
                return None
            members = uow.inferred_clusters.first_members(cluster_id, members_shown)
            keys, settings_total = uow.inferred_clusters.first_settings(cluster_id, settings_shown)
            views = self._setting_views(uow, keys)
        return _brief(record, [ref for ref, _ in members], keys, views), settings_total

    def ever_run(self) -> bool:
        """Whether clusters were ever inferred (a store with none has no run to show)."""
        with self._store.read() as uow:
            return _ever_run(uow)

    def summaries(self, cluster_ids: Sequence[int]) -> list[ClusterSummary]:
        with self._store.read() as uow:
            records = [r for r in (uow.inferred_clusters.get(i) for i in cluster_ids) if r is not None]
            return self._summaries(uow, records)

    def active_on(self, day: date, limit: int) -> list[tuple[ClusterSummary, list[str]]] | None:
        """The clusters of the last run active on ``day`` (a member reported within the policy's
        ``active_days`` before it), largest first, each with its members reported by ``day``:
        their size, onsets and settings as of then. None when no run was ever made."""
        with self._store.read() as uow:
            if not _ever_run(uow):
                return None
            seen = uow.inferred_clusters.active_on(day, self._policy.clusters.active_days, limit)
            records = [uow.inferred_clusters.get(i) for i, *_ in seen]
            summaries = self._summaries(uow, [r for r in records if r is not None])
            members = uow.inferred_clusters.members_reported_by([i for i, *_ in seen], day)
        out = []
        for summary, (_, size, last, first_onset, last_onset) in zip(summaries, seen, strict=True):
            shown = dataclasses.replace(
                summary, size=size, first_onset=first_onset, last_onset=last_onset, last_reported=last
            )
            out.append((shown, members.get(summary.id, [])))
        return out

    def _summaries(self, uow: Any, records: Sequence[ClusterRecord]) -> list[ClusterSummary]:
        ids = [r.id for r in records]
        members = uow.inferred_clusters.members(ids)
        keys = uow.inferred_clusters.settings(ids)
        views = self._setting_views(uow, sorted({k for ks in keys.values() for k in ks}))
        return [
            _brief(r, [ref for ref, _ in members.get(r.id, [])], keys.get(r.id, []), views) for r in records
        ]

    def _setting_views(self, uow: Any, keys: Sequence[str]) -> dict[str, SettingView]:
        rules = self._policy.clusters
        venue_refs = [k.removeprefix("venue:") for k in keys if k.startswith("venue:")]
        venues = uow.cluster_inputs.venues_by_ref(venue_refs)
        building_refs = [k.removeprefix("building:") for k in keys if k.startswith("building:")]
        listed = {b.ref: b for b in uow.buildings.for_settings(building_refs, venue_refs)} if keys else {}
        by_venue = {b.venue_ref: b for b in listed.values() if b.venue_ref}
        out: dict[str, SettingView] = {}
        for key in keys:
            kind_of, _, ref = key.partition(":")
            b = by_venue.get(ref) if kind_of == "venue" else listed.get(ref)
            if b is not None:
                kind = building_kind(
                    b.name_en, rules.building_kinds, otherwise="residence" if b.residential else "venue"
                )
                v = venues.get(ref)
                out[key] = SettingView(key, kind, b.name_en, v.name_zh if v else b.name_en)
            elif ref in venues:
                v = venues[ref]
                out[key] = SettingView(key, v.venue_type, v.name_en, v.name_zh)
        return out

    def detail(self, cluster_id: int) -> ClusterDetail:
        """A cluster with its members, settings, evidence, size by day and the decisions on it."""
        with self._store.read() as uow:
            record = uow.inferred_clusters.get(cluster_id)
            if record is None:
                raise NotFound(f"no cluster {cluster_id}")
            summary = self._summaries(uow, [record])[0]
            evidence_rows = uow.inferred_clusters.evidence(cluster_id)
            decisions = tuple(d for d in uow.inferred_clusters.decisions() if d.cluster_id == cluster_id)
            member_refs = uow.inferred_clusters.members([cluster_id]).get(cluster_id, [])
            refs = uow.cases.ids_for([ref for ref, _ in member_refs])
            days = uow.cluster_inputs.case_days(sorted(refs.values()))
            linked = {e.linked_case_id for e in evidence_rows if e.linked_case_id is not None}
            names = uow.cases.refs_of(sorted({*refs.values(), *linked, *(d.case_id for d in decisions)}))
        counts: dict[date, int] = defaultdict(int)
        for onset, reported in days.values():
            day = onset or reported
            if day is not None:
                counts[day] += 1
        evidence = tuple(
            MemberEvidence(
                names[e.case_id],
                e.setting,
                None if e.linked_case_id is None else names.get(e.linked_case_id),
                e.link,
                None if e.start_at is None else from_epoch(e.start_at).astimezone(self._zone),
                None if e.end_at is None else from_epoch(e.end_at).astimezone(self._zone),
                e.first_on,
                e.last_on,
            )
            for e in evidence_rows
        )
        confirmed = tuple(ref for ref, flag in member_refs if flag)
        evidence += tuple(
            MemberEvidence(ref, None, None, "decision", None, None, None, None) for ref in confirmed
        )
        return ClusterDetail(summary, confirmed, tuple(sorted(counts.items())), evidence, decisions, names)

    def clusters_of(self, case_refs: Sequence[str]) -> dict[str, int]:
        """The cluster each of these cases is in (cases in none are left out)."""
        with self._store.read() as uow:
            ids = uow.cases.ids_for(list(case_refs))
            of = uow.inferred_clusters.cluster_of(list(ids.values()))
        return {ref: of[i] for ref, i in ids.items() if i in of}

    # -- tracers' changes ---------------------------------------------------------------------

    def rename(self, principal: Principal, cluster_id: int, name: str | None) -> None:
        """Name a cluster (None or blank: unnamed); audited as ``clusters.name``."""
        clean = (name or "").strip() or None
        if clean is not None and len(clean) > 200:
            raise InvalidInput("name: expected at most 200 characters", field="name")
        with self._store.write() as uow:
            record = uow.inferred_clusters.get(cluster_id)
            if record is None:
                raise NotFound(f"no cluster {cluster_id}")
            uow.inferred_clusters.rename(cluster_id, clean, to_epoch(self._clock.now()))
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "clusters.name",
                    f"analytics/clusters/{cluster_id}",
                    record=str(cluster_id),
                    details={"name": clean, "previous": record.name},
                ),
            )

    def decide(
        self,
        principal: Principal,
        cluster_id: int,
        case_ref: str,
        decision: Decision,
        note: str | None = None,
    ) -> None:
        """Confirm or reject ``case_ref``'s membership of the cluster; it wins over every later run.

        Audited as ``clusters.decide``. A confirmation moves the case at once; a rejection takes
        it out at once. Both also hold on the next run.
        """
        if note is not None and len(note) > 500:
            raise InvalidInput("note: expected at most 500 characters", field="note")
        with self._store.write() as uow:
            record = uow.inferred_clusters.get(cluster_id)
            if record is None:
                raise NotFound(f"no cluster {cluster_id}")
            if record.status not in LIVE:
                raise InvalidInput(
                    f"cluster {cluster_id} is {record.status}"
                    + (f" into {record.merged_into_id}" if record.merged_into_id else "")
                    + "; decide on the cluster it lives on",
                    field="cluster",
                    code="cluster_closed",
                )
            ids = uow.cases.ids_for([case_ref])
            if case_ref not in ids:
                raise NotFound(f"no case {case_ref!r}")
            at = to_epoch(self._clock.now())
            uow.inferred_clusters.decide(
                DecisionRow(cluster_id, ids[case_ref], decision.value, principal.name, at, note)
            )
            uow.inferred_clusters.apply_decision(cluster_id, ids[case_ref], decision.value)
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "clusters.decide",
                    f"analytics/clusters/{cluster_id}",
                    record=case_ref,
                    details={"decision": decision.value, "note": note},
                ),
            )


def _date(day_number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day_number)


def _statuses(status: str | None) -> list[str]:
    """The statuses a list asks for: one named, or the live ones; InvalidInput for another word."""
    if not status:
        return list(LIVE)
    if status not in _STATUSES:
        raise InvalidInput(f"status: expected one of {', '.join(_STATUSES)}; got {status!r}", field="status")
    return [status]


def _ever_run(uow: Any) -> bool:
    return bool(uow.inferred_clusters.page(_STATUSES, 1, 0)[1] > 0)


def _brief(
    record: ClusterRecord, members: Sequence[str], keys: Sequence[str], views: dict[str, SettingView]
) -> ClusterSummary:
    """A cluster's summary from its record, with these members and the named ones of these settings."""
    return ClusterSummary(
        record.id,
        record.name,
        record.status,
        record.size,
        record.first_onset,
        record.last_onset,
        record.last_reported,
        record.merged_into_id,
        tuple(members),
        tuple(views[k] for k in keys if k in views),
    )
