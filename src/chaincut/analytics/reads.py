"""What each analytics read is recorded as in the audit log, the same from the API and the command line.

Every read of outbreak analytics is audited under ``Permission.ANALYTICS_READ`` (action
``analytics.read``): the resource names what was read (``analytics.epicurve``,
``analytics.rt``, ``analytics.serial_interval``), the record the range or set read, and the
details the parameters it was computed with, as resolved (a range left open is recorded as
the days it came to). Aggregates only: no case ref or person is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaincut.analytics.epicurve import EpidemicCurve
from chaincut.analytics.reproduction_service import RtReport
from chaincut.analytics.serial_interval_service import SerialIntervalReport

__all__ = ["AnalyticsRead", "epicurve_read", "rt_read", "serial_interval_read"]


@dataclass(frozen=True)
class AnalyticsRead:
    """One analytics read as the audit log records it: resource, record and parameters."""

    resource: str
    record: str
    parameters: Mapping[str, str | int | bool | None]


def epicurve_read(curve: EpidemicCurve) -> AnalyticsRead:
    """The epidemic curve over its days, by its axis."""
    first, last = curve.first.isoformat(), curve.last.isoformat()
    return AnalyticsRead(
        "analytics.epicurve",
        f"{curve.axis.value}:{first}..{last}",
        {"axis": curve.axis.value, "from": first, "to": last, "days": len(curve.total)},
    )


def rt_read(report: RtReport) -> AnalyticsRead:
    """R_t for the windows ending in the range asked for (open ends recorded as None)."""
    first = None if report.from_day is None else report.from_day.isoformat()
    last = None if report.to_day is None else report.to_day.isoformat()
    return AnalyticsRead(
        "analytics.rt",
        f"{first or 'first'}..{last or 'last'}",
        {
            "from": first,
            "to": last,
            "windows": len(report.windows),
            "policy_version": report.policy_version,
            "serial_interval": report.serial_interval_source,
        },
    )


def serial_interval_read(report: SerialIntervalReport) -> AnalyticsRead:
    """The serial interval of the store's confirmed links, by the windows estimated."""
    windows = ",".join(f"{w.first.isoformat()}:{w.last.isoformat()}" for w in report.windows)
    return AnalyticsRead(
        "analytics.serial_interval",
        "linked cases",
        {
            "windows": windows or None,
            "seed": report.seed,
            "resamples": report.resamples,
            "pairs": report.pairs,
            "left_out_no_onset": report.left_out,
        },
    )
