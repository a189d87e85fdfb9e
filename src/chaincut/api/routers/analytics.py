"""Outbreak analytics for epidemiologists and supervisors: the epidemic curve, R_t, the serial interval.

Aggregates over every case, read under ``analytics.read`` with a stated purpose
(``X-Chaincut-Purpose``), each read audited with what was read and its parameters
(``chaincut.analytics.reads``). The answers are the command line's ``--json``, built by the
same functions (``as_dict``). Tracers do not hold ``analytics.read``: they will read only
the clusters of their assigned cases (``RecordAccess.may_read_analytics_of``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from chaincut.analytics import Axis
from chaincut.analytics.reads import epicurve_read, rt_read, serial_interval_read
from chaincut.analytics.serial_interval import WINDOWS_EXPECTED, parse_onset_windows
from chaincut.api.deps import AnalyticsReader, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/analytics", tags=["analytics"])

# A web request's bootstrap stays small: the multinomial draws hold resamples x distinct intervals.
_MAX_RESAMPLES = 100_000


@router.get("/epicurve")
def epicurve(
    services: ServicesDep,
    caller: AnalyticsReader,
    axis: Annotated[Axis, Query(description="place each case by its onset or its report date")] = Axis.ONSET,
    first: Annotated[
        date | None, Query(alias="from", description="first day, local date (default: the first case's)")
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="last day, local date (default: the last case's)")
    ] = None,
) -> dict[str, Any]:
    """Daily confirmed and probable cases by classification and district, the trailing average,
    the growth rate with the doubling or halving time, the unlinked share by report date, and
    the cases counted apart (no onset, suspected, outside the days)."""
    curve = services.epidemic_curves.curve(axis, first, last)
    read = epicurve_read(curve)
    caller.audit(read.resource, read.record, details=read.parameters)
    return curve.as_dict()


@router.get("/rt")
def reproduction_number(
    services: ServicesDep,
    caller: AnalyticsReader,
    first: Annotated[date | None, Query(alias="from", description="first window end to give")] = None,
    last: Annotated[date | None, Query(alias="to", description="last window end to give")] = None,
    serial_interval: Annotated[
        Literal["policy", "links"],
        Query(description="the policy's serial interval, or the mean and sd of the store's confirmed links"),
    ] = "policy",
) -> dict[str, Any]:
    """R_t by onset date (Cori et al. 2013, as EpiEstim; imported cases apart, Thompson et al. 2019):
    each window's posterior mean and 95% credible interval, or "insufficient data" and why."""
    report = services.reproduction.estimate(from_day=first, to_day=last, serial_interval=serial_interval)
    read = rt_read(report)
    caller.audit(read.resource, read.record, details=read.parameters)
    return report.as_dict()


@router.get("/serial-interval")
def serial_interval(
    services: ServicesDep,
    caller: AnalyticsReader,
    windows: Annotated[
        str | None,
        Query(
            max_length=2000,
            description=f"windows of infector onset, both ends included: {WINDOWS_EXPECTED} "
            "(default: one window over every pair)",
        ),
    ] = None,
    seed: Annotated[int, Query(ge=0, le=2**63 - 1, description="seed of the bootstrap's generator")] = 0,
    resamples: Annotated[
        int, Query(ge=100, le=_MAX_RESAMPLES, description="bootstrap resamples per window")
    ] = 10_000,
) -> dict[str, object]:
    """The serial interval of the store's confirmed links (a case's ``linked_case`` is its infector),
    by window of the infector's onset: n, mean, sd, a bootstrap 95% CI of the mean, fitted
    distributions; links where either case has no onset are left out and counted."""
    chosen = None if windows is None else parse_onset_windows(windows, field="windows")
    report = services.serial_intervals.from_store(chosen, seed=seed, resamples=resamples)
    read = serial_interval_read(report)
    caller.audit(read.resource, read.record, details=read.parameters)
    return report.as_dict()
