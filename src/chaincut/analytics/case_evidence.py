"""What clusters and chains read from the store, as columns: cases, their days, stays and encounters.

Both :class:`~chaincut.analytics.cluster_service.ClusterService` and
:class:`~chaincut.analytics.chain_service.ChainService` place a case on its **day** (its onset,
else its report date, else today) and read the stays and encounters that began since local
midnight ``days_before`` days before the earliest case's day. Everything is a NumPy column (no
object per case or stay), so a million cases with their evidence read in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from chaincut.analytics.clusters import LinkKind
from chaincut.analytics.epicurve import NO_DAY, day_number
from chaincut.analytics.sorted_sets import isin, order_by, unique, unique_all
from chaincut.clock import Clock, to_epoch
from chaincut.domain import CaseStatus
from chaincut.policy import Policy
from chaincut.store import ParquetArchive, Store
from chaincut.store.buildings import BuildingRow
from chaincut.store.cluster_inputs import (
    NO_ID,
    NO_INSTANT,
    CaseInputColumns,
    EncounterColumns,
    StayColumns,
    VenueSetting,
)

__all__ = [
    "COUNTED",
    "CaseEvidence",
    "OutbreakRead",
    "isin",
    "local_days",
    "local_midnights",
    "order_by",
    "read_case_evidence",
    "read_outbreak",
    "unique",
    "unique_all",
]

COUNTED = (CaseStatus.CONFIRMED.value, CaseStatus.PROBABLE.value)
"""The statuses clusters and chains count."""
_EPOCH = date(1970, 1, 1)
_LINK_KINDS = tuple(LinkKind)


def local_midnights(days: npt.NDArray[np.int64], zone: ZoneInfo) -> npt.NDArray[np.int64]:
    """Epoch seconds of local midnight starting each day number (one zone look-up per distinct day)."""
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64)
    unique, inverse, _, _ = unique_all(days)
    starts = np.array(
        [to_epoch(datetime.combine(_EPOCH + timedelta(days=int(d)), time(0), tzinfo=zone)) for d in unique],
        dtype=np.int64,
    )
    out: npt.NDArray[np.int64] = starts[inverse.reshape(-1)]
    return out


def local_days(instants: npt.NDArray[np.int64], zone: ZoneInfo) -> npt.NDArray[np.int64]:
    """The local day number of each instant (epoch seconds); one zone look-up per distinct minute."""
    if len(instants) == 0:
        return np.zeros(0, dtype=np.int64)
    minutes, inverse, _, _ = unique_all(instants // 60)
    offsets = np.array(
        [
            int(datetime.fromtimestamp(int(m) * 60, UTC).astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]
            for m in minutes
        ],
        dtype=np.int64,
    )
    out: npt.NDArray[np.int64] = (instants + offsets[inverse.reshape(-1)]) // 86_400
    return out


@dataclass(frozen=True)
class CaseEvidence:
    """The counted cases (by id) with their days and periods, and their people's stays and encounters.

    ``day``: onset, else report date, else today; ``reported``: report date, else onset, else
    today (day numbers). A case's **period** runs from local midnight ``days_before`` days
    before its day (``period_opens``) to its isolation, or now (``period_closes``).
    """

    cases: CaseInputColumns
    day: npt.NDArray[np.int64]
    reported: npt.NDArray[np.int64]
    period_opens: npt.NDArray[np.int64]
    period_closes: npt.NDArray[np.int64]
    stays: StayColumns
    encounters: EncounterColumns

    def cases_of_people(
        self, people: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each (entry, case) with ``people[entry]`` the case's person: entries in order, cases by id."""
        order = np.argsort(self.cases.person_id, kind="stable")
        persons = self.cases.person_id[order]
        lo = np.searchsorted(persons, people, side="left")
        hi = np.searchsorted(persons, people, side="right")
        count = hi - lo
        entry = np.repeat(np.arange(len(people), dtype=np.int64), count)
        offset = np.arange(len(entry), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        case = order[np.repeat(lo, count) + offset].astype(np.int64)
        return entry, case

    def encounter_pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(encounter, case of person a, case of person b) for every two different cases that met."""
        met = self.encounters
        row_a, case_a = self.cases_of_people(met.person_a)
        row_b, case_b = self.cases_of_people(met.person_b[row_a])
        encounter = row_a[row_b]
        case_a = case_a[row_b]
        different = case_a != case_b
        return encounter[different], case_a[different], case_b[different]

    def links(
        self, zone: ZoneInfo
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.int64]]:
        """Direct links as (case a, case b, kind, day number) positions, as cluster inference takes them.

        Households: each case with the next of its household (by id); encounters between two
        cases' people inside both cases' periods, on the encounter's local day; and tracers'
        links (``linked_case``) to a counted case.
        """
        cases = self.cases
        household = cases.household_id
        housed = np.flatnonzero(household != NO_ID)
        housed = housed[np.lexsort((cases.id[housed], household[housed]))]
        next_same = household[housed][1:] == household[housed][:-1]
        ha, hb = housed[:-1][next_same], housed[1:][next_same]

        encounter, ea, eb = self.encounter_pairs()
        start = self.encounters.start_at[encounter]
        inside = (np.maximum(self.period_opens[ea], self.period_opens[eb]) <= start) & (
            start <= np.minimum(self.period_closes[ea], self.period_closes[eb])
        )
        ea, eb, start = ea[inside], eb[inside], start[inside]

        named = np.flatnonzero(cases.linked_case_id != NO_ID)
        target = np.searchsorted(cases.id, cases.linked_case_id[named])
        found = (target < len(cases.id)) & (
            cases.id[np.minimum(target, len(cases.id) - 1)] == cases.linked_case_id[named]
        )
        la, lb = named[found], target[found].astype(np.int64)

        kinds = [
            np.full(len(ha), _LINK_KINDS.index(LinkKind.HOUSEHOLD), dtype=np.int8),
            np.full(len(ea), _LINK_KINDS.index(LinkKind.ENCOUNTER), dtype=np.int8),
            np.full(len(la), _LINK_KINDS.index(LinkKind.LINKED_CASE), dtype=np.int8),
        ]
        days = [
            np.full(len(ha), NO_DAY, dtype=np.int64),
            local_days(start, zone),
            np.full(len(la), NO_DAY, dtype=np.int64),
        ]
        return (
            np.concatenate((ha, ea, la)).astype(np.int64),
            np.concatenate((hb, eb, lb)).astype(np.int64),
            np.concatenate(kinds),
            np.concatenate(days),
        )


def read_case_evidence(
    uow: Any,
    days_before: int,
    today: date,
    now: int,
    zone: ZoneInfo,
    archive: ParquetArchive | None = None,
) -> CaseEvidence:
    """Read the counted cases and the stays and encounters that may link them (in ``uow``'s
    transaction), from SQL and, on the embedded default, from the Parquet ``archive`` too."""
    cases: CaseInputColumns = uow.cluster_inputs.case_columns(COUNTED)
    today_number = day_number(today)
    onset, reported = cases.onset_on, cases.reported_on
    day = np.where(onset != NO_DAY, onset, np.where(reported != NO_DAY, reported, today_number))
    shown = np.where(reported != NO_DAY, reported, np.where(onset != NO_DAY, onset, today_number))
    earliest = int(day.min()) if len(day) else today_number
    since = int(local_midnights(np.array([earliest - days_before], dtype=np.int64), zone)[0])
    return CaseEvidence(
        cases=cases,
        day=day.astype(np.int64),
        reported=shown.astype(np.int64),
        period_opens=local_midnights(day - days_before, zone),
        period_closes=np.where(cases.isolated_at != NO_INSTANT, cases.isolated_at, now).astype(np.int64),
        stays=_with_archived_stays(uow.cluster_inputs.case_stay_columns(since), archive, cases, since),
        encounters=_with_archived_encounters(
            uow.cluster_inputs.case_encounter_columns(since), archive, cases, since
        ),
    )


def _with_archived_stays(
    sql: StayColumns, archive: ParquetArchive | None, cases: CaseInputColumns, since: int
) -> StayColumns:
    """The stays SQL holds, and those the embedded default's Parquet archive holds (bulk imports)."""
    if archive is None or len(cases.person_id) == 0:
        return sql
    persons = pa.array(unique(cases.person_id.astype(np.int64)))
    found = archive.read("visits", (pc.field("entered_at") >= since) & pc.field("person_id").isin(persons))
    if found.num_rows == 0:
        return sql
    entered = found.column("entered_at").to_numpy().astype(np.int64)
    left = pc.fill_null(found.column("left_at"), found.column("entered_at")).to_numpy().astype(np.int64)
    return StayColumns(
        np.concatenate((sql.person_id, found.column("person_id").to_numpy().astype(np.int64))),
        np.concatenate((sql.venue_id, found.column("venue_id").to_numpy().astype(np.int64))),
        np.concatenate((sql.entered_at, entered)),
        np.concatenate((sql.left_at, left)),
    )


def _with_archived_encounters(
    sql: EncounterColumns, archive: ParquetArchive | None, cases: CaseInputColumns, since: int
) -> EncounterColumns:
    """The encounters between two cases' persons that SQL holds, and those in the archive."""
    if archive is None or len(cases.person_id) == 0:
        return sql
    persons = pa.array(unique(cases.person_id.astype(np.int64)))
    found = archive.read(
        "encounters",
        (pc.field("start_at") >= since)
        & pc.field("person_a").isin(persons)
        & pc.field("person_b").isin(persons),
    )
    if found.num_rows == 0:
        return sql
    return EncounterColumns(
        *(
            np.concatenate((getattr(sql, name), found.column(name).to_numpy().astype(np.int64)))
            for name in ("person_a", "person_b", "start_at", "end_at")
        )
    )


@dataclass(frozen=True)
class OutbreakRead:
    """Everything a clusters-and-chains run reads from the store, read once in one transaction.

    ``at``: the run's instant (epoch seconds; open periods run to it) and ``today`` its local day;
    ``listed`` and ``listed_links``: the building list's buildings and (building, case) references;
    ``venues``: the venue of every stay, by id.
    """

    at: int
    today: date
    evidence: CaseEvidence
    listed: Sequence[BuildingRow]
    listed_links: Sequence[tuple[str, str]]
    venues: dict[int, VenueSetting]


def read_outbreak(store: Store, policy: Policy, clock: Clock, zone: ZoneInfo) -> OutbreakRead:
    """Read what :class:`ClusterService` and :class:`ChainService` infer from, as of now, so that a
    run of both (:func:`chaincut.analytics.outbreak_refresh.refresh_clusters_and_chains`) reads once."""
    now = clock.now()
    today = now.astimezone(zone).date()
    at = to_epoch(now)
    days_before = policy.clusters.coarse_exposure_days_before_onset
    with store.read() as uow:
        evidence = read_case_evidence(uow, days_before, today, at, zone, store.archive)
        return OutbreakRead(
            at=at,
            today=today,
            evidence=evidence,
            listed=uow.buildings.all(),
            listed_links=uow.buildings.case_links(),
            venues=uow.cluster_inputs.venues(unique(evidence.stays.venue_id).tolist()),
        )
