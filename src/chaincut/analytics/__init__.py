"""Outbreak analytics: serial intervals, the epidemic curve and the reproduction number.

Pure functions over plain data (dates, counts, pairs), with the readers of their
input files beside them. Days are calendar dates in local time (the authority's
reporting day); intervals are in whole days. Randomness (the bootstrap) comes from
a ``numpy.random.Generator`` passed in, so results repeat with a seed.
"""

from __future__ import annotations

from chaincut.analytics.reproduction import (
    RtPosterior,
    RtWindow,
    discretised_serial_interval,
    estimate_rt,
    infectiousness,
)
from chaincut.analytics.reproduction_service import ReproductionNumbers, RtReport

__all__ = [
    "ReproductionNumbers",
    "RtPosterior",
    "RtReport",
    "RtWindow",
    "discretised_serial_interval",
    "estimate_rt",
    "infectiousness",
]
