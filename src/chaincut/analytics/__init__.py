"""Outbreak analytics: serial intervals, the epidemic curve and the reproduction number.

Pure functions over plain data (dates, counts, pairs), with the readers of their
input files beside them. Days are calendar dates in local time (the authority's
reporting day); intervals are in whole days. Randomness (the bootstrap) comes from
a ``numpy.random.Generator`` passed in, so results repeat with a seed.
"""

from __future__ import annotations

from chaincut.analytics.curves import EpidemicCurves
from chaincut.analytics.epicurve import (
    Axis,
    CaseColumns,
    CaseTally,
    EpidemicCurve,
    Growth,
    Trend,
    UnlinkedShare,
    epidemic_curve,
    fit_growth,
)

__all__: list[str] = [
    "Axis",
    "CaseColumns",
    "CaseTally",
    "EpidemicCurve",
    "EpidemicCurves",
    "Growth",
    "Trend",
    "UnlinkedShare",
    "epidemic_curve",
    "fit_growth",
]
