"""The epidemic curve of the cases in the store, under the policy's smoothing and fitting windows,
and the cases by district over a span of report dates, for the district map."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from chaincut.analytics.district_incidence import District, DistrictIncidence, district_incidence
from chaincut.analytics.epicurve import Axis, CaseColumns, CaseTally, EpidemicCurve, epidemic_curve
from chaincut.clock import Clock
from chaincut.errors import InvalidInput
from chaincut.policy import Policy
from chaincut.store import Store
from chaincut.store.district_counts import cases_by_district

__all__ = ["EpidemicCurves"]

_MAX_DAYS = 3660  # ten years of days: a range longer than any epidemic's, refused as a typo
# No case record is older; an earlier day is a typo (and the trend's days before it would leave
# the calendar: year 1 has no 14 days before it).
_EARLIEST = date(1900, 1, 1)


class EpidemicCurves:
    """Daily cases from the store, counted in SQL, with their trend and the unlinked share."""

    def __init__(self, store: Store, policy: Policy, clock: Clock, zone: ZoneInfo) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._zone = zone

    def curve(self, axis: Axis, first: date | None = None, last: date | None = None) -> EpidemicCurve:
        """The curve from ``first`` to ``last`` (both included) by onset or report date.

        Either bound left out is the first or last date on the axis among the store's
        confirmed and probable cases (today, local time, when none has one). Aggregate
        numbers only: no person is named, so nothing is read that the audit log must record.
        """
        with self._store.read() as uow:
            tallies = uow.case_tallies.by_day()
        columns = CaseColumns.from_tallies(
            CaseTally(t.onset_on, t.reported_on, t.classification, t.status, t.district, t.cases)
            for t in tallies
        )
        today = self._clock.now().astimezone(self._zone).date()
        span = columns.span(axis) or (today, today)
        first = first or (span[0] if last is None or span[0] <= last else last)
        last = last or (span[1] if span[1] >= first else first)
        for name, day in (("to", last), ("from", first)):
            if day < _EARLIEST:
                raise InvalidInput(
                    f"{name} {day.isoformat()} is before {_EARLIEST.isoformat()}; "
                    "expected a day of the epidemic",
                    field=name,
                    code="invalid_range",
                )
        if last < first:
            raise InvalidInput(
                f"the range ends ({last.isoformat()}) before it begins ({first.isoformat()})",
                field="to",
                code="invalid_range",
            )
        if (last - first).days >= _MAX_DAYS:
            raise InvalidInput(
                f"the range holds {(last - first).days + 1} days; at most {_MAX_DAYS} are shown",
                field="from",
                code="invalid_range",
            )
        rules = self._policy.epidemic_curve
        return epidemic_curve(
            columns,
            axis=axis,
            first=first,
            last=last,
            average_days=rules.average_window_days,
            growth_days=rules.growth_fit_days,
        )

    def by_district(self, districts: Sequence[District], first: date, last: date) -> DistrictIncidence:
        """Confirmed and probable cases reported from ``first`` to ``last`` (both included) in each
        of ``districts``, with their rates per 100,000, and the cases whose district is not known.

        The same cases as the curve's (suspected ones are not counted); counted in SQL, one
        statement. Aggregate numbers only, as :meth:`curve`: nothing the audit log must record.
        """
        if last < first:
            raise InvalidInput(
                f"the range ends ({last.isoformat()}) before it begins ({first.isoformat()})",
                field="to",
                code="invalid_range",
            )
        with self._store.read() as uow:
            counts, no_report_date = cases_by_district(uow.connection, first, last)
        return district_incidence(counts, districts, first=first, last=last, no_report_date=no_report_date)
