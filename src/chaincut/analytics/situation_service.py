"""Assembling one day's situation report from the store: counts in SQL, then the pure analytics.

Three reads, each a GROUP BY or a count, however many cases the store holds: the case tallies
(``uow.case_tallies``: the epidemic curve, the headline and the unlinked share), the daily
onset counts (through :class:`ReproductionNumbers`: R_t), and the day's tracing activity
(``uow.tracing_activity``). Clusters and chains come from the provider passed in.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chaincut.analytics.epicurve import (
    NO_DAY,
    STATUSES,
    Axis,
    CaseColumns,
    CaseTally,
    UnlinkedShare,
    day_number,
    epidemic_curve,
)
from chaincut.analytics.reproduction_service import ReproductionNumbers
from chaincut.analytics.situation import (
    ClusterProvider,
    Headline,
    SituationReport,
    TracingCounts,
    no_clusters,
)
from chaincut.clock import Clock
from chaincut.domain import CaseStatus
from chaincut.errors import InvalidInput
from chaincut.policy import Policy
from chaincut.store import Store

__all__ = ["EARLIEST_DAY", "SHOWN_DAYS", "SituationReports"]

SHOWN_DAYS = 120
"""How many days, ending on the report's day, the curve, R_t and unlinked-share plots show.

Presentation only (four months read at a glance on a printed page): every count in the
headline covers all days, and cases before the plotted days are counted in the curve's
``before``.
"""

EARLIEST_DAY = date(1970, 1, 1)
"""The first day a report may be asked for (days count from it); a typo's year 0021 is refused."""


class SituationReports:
    """The CHP's daily situation report for epidemiologists and supervisors: aggregates only."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        clock: Clock,
        zone: ZoneInfo,
        reproduction: ReproductionNumbers,
        clusters: ClusterProvider = no_clusters,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone
        self._reproduction = reproduction
        self._clusters = clusters

    def report(self, day: date) -> SituationReport:
        """The report for ``day`` (a local date, not after today): what was known by its end.

        Cases reported after ``day`` are left out of every count; a day in the future is
        refused, naming the field ``day``.
        """
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        if day < EARLIEST_DAY:
            raise InvalidInput(
                f"day {day.isoformat()} is before {EARLIEST_DAY.isoformat()}; "
                "expected a day of this epidemic",
                field="day",
                code="invalid_day",
            )
        if day > today:
            raise InvalidInput(
                f"day {day.isoformat()} is after today ({today.isoformat()}); expected a past day or today",
                field="day",
                code="invalid_day",
            )
        start = int(datetime.combine(day, time(), tzinfo=self._zone).timestamp())
        end = int(datetime.combine(day + timedelta(days=1), time(), tzinfo=self._zone).timestamp())
        with self._store.read() as uow:
            tallies = uow.case_tallies.by_day()
            activity = uow.tracing_activity.between(start, end)
        columns = CaseColumns.from_tallies(
            CaseTally(t.onset_on, t.reported_on, t.classification, t.status, t.district, t.cases)
            for t in tallies
        )
        rules = self._policy.epidemic_curve
        shown_first = day - timedelta(days=SHOWN_DAYS - 1)

        reported_span = columns.span(Axis.REPORT)
        report_first = min(reported_span[0], day) if reported_span else day
        by_report = epidemic_curve(
            columns,
            axis=Axis.REPORT,
            first=min(report_first, shown_first),
            last=day,
            average_days=rules.average_window_days,
            growth_days=rules.growth_fit_days,
        )
        onset_span = columns.span(Axis.ONSET)
        onset_first = min(onset_span[0], day) if onset_span else day
        curve = epidemic_curve(
            columns,
            axis=Axis.ONSET,
            first=max(onset_first, shown_first),
            last=day,
            average_days=rules.average_window_days,
            growth_days=rules.growth_fit_days,
        )
        suspected_code = STATUSES.index(CaseStatus.SUSPECTED)
        on_day = (columns.reported == day_number(day)) & (columns.reported != NO_DAY)
        headline = Headline(
            day=day,
            new_by_classification={c: int(v[-1]) for c, v in by_report.by_classification.items()},
            new_no_onset=int(by_report.no_onset[-1]),
            cumulative=int(by_report.total.sum()) + by_report.before,
            cumulative_no_onset=int(by_report.no_onset.sum()),
            no_report_date=by_report.undated,
            suspected=int(columns.count[on_day & (columns.status == suspected_code)].sum()),
        )
        # The unlinked share from the first report date (or the first day shown, if later).
        shown = slice(len(by_report.total) - ((day - max(report_first, shown_first)).days + 1), None)
        return SituationReport(
            day=day,
            generated_at=now.astimezone(self._zone),
            policy_version=self._policy.version,
            headline=headline,
            curve=curve,
            unlinked_days=tuple(by_report.days[shown]),
            unlinked=UnlinkedShare(
                local=by_report.unlinked.local[shown], unlinked=by_report.unlinked.unlinked[shown]
            ),
            rt=self._reproduction.estimate(from_day=max(onset_first, shown_first), to_day=day),
            tracing=TracingCounts(
                cases_traced=activity.cases_traced,
                contacts=activity.contacts,
                contacts_by_tier=activity.contacts_by_tier,
                orders_by_kind=activity.orders_by_kind,
                cases_traced_to_date=activity.cases_traced_to_date,
                contacts_to_date=activity.contacts_to_date,
                contacts_to_date_by_tier=activity.contacts_to_date_by_tier,
                orders_to_date_by_kind=activity.orders_to_date_by_kind,
            ),
            clusters=self._clusters(day),
        )
