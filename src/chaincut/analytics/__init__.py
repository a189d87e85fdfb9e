"""Outbreak analytics: serial intervals, the epidemic curve, the reproduction number, the situation report.

Pure functions over plain data (dates, counts, pairs), with the readers of their
input files beside them. Days are calendar dates in local time (the authority's
reporting day); intervals are in whole days. Randomness (the bootstrap) comes from
a ``numpy.random.Generator`` passed in, so results repeat with a seed.
"""

from __future__ import annotations

from chaincut.analytics.clusters import (
    Cluster,
    ClusterCase,
    ClusterInference,
    ClusterStatus,
    DirectLink,
    Exposure,
    LeftOut,
    LinkKind,
    Membership,
    Setting,
    building_kind,
    infer_clusters,
)
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
from chaincut.analytics.pairs_file import PairsFile, read_pairs_file
from chaincut.analytics.reproduction import (
    RtPosterior,
    RtWindow,
    discretised_serial_interval,
    estimate_rt,
    infectiousness,
)
from chaincut.analytics.reproduction_service import ReproductionNumbers, RtReport
from chaincut.analytics.serial_interval import (
    DistributionFit,
    OnsetPair,
    OnsetWindow,
    SerialIntervalEstimate,
    estimate_serial_interval,
    fit_serial_interval,
    pairs_with_onsets,
    serial_interval_days,
)
from chaincut.analytics.situation import (
    ChainEdge,
    ChainGraph,
    ChainNode,
    ClusterProvider,
    ClusterSection,
    ClusterSummary,
    Headline,
    LinkEvidence,
    ReportFormat,
    SituationReport,
    TracingCounts,
    no_clusters,
)
from chaincut.analytics.situation_service import SituationReports

__all__ = [
    "Axis",
    "CaseColumns",
    "CaseTally",
    "ChainEdge",
    "ChainGraph",
    "ChainNode",
    "Cluster",
    "ClusterCase",
    "ClusterInference",
    "ClusterProvider",
    "ClusterSection",
    "ClusterStatus",
    "ClusterSummary",
    "DirectLink",
    "DistributionFit",
    "EpidemicCurve",
    "EpidemicCurves",
    "Exposure",
    "Growth",
    "Headline",
    "LeftOut",
    "LinkEvidence",
    "LinkKind",
    "Membership",
    "OnsetPair",
    "OnsetWindow",
    "PairsFile",
    "ReportFormat",
    "ReproductionNumbers",
    "RtPosterior",
    "RtReport",
    "RtWindow",
    "SerialIntervalEstimate",
    "Setting",
    "SituationReport",
    "SituationReports",
    "TracingCounts",
    "Trend",
    "UnlinkedShare",
    "building_kind",
    "discretised_serial_interval",
    "epidemic_curve",
    "estimate_rt",
    "estimate_serial_interval",
    "fit_growth",
    "fit_serial_interval",
    "infectiousness",
    "infer_clusters",
    "no_clusters",
    "pairs_with_onsets",
    "read_pairs_file",
    "serial_interval_days",
]
