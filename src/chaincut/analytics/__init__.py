"""Outbreak analytics: clusters, transmission chains, serial intervals, the epidemic curve, R_t
and the situation report.

Pure functions over plain data (dates, counts, pairs), with the readers of their
input files beside them. Days are calendar dates in local time (the authority's
reporting day); intervals are in whole days. Randomness (the bootstrap) comes from
a ``numpy.random.Generator`` passed in, so results repeat with a seed.
"""

from __future__ import annotations

from chaincut.analytics.chain_inputs import (
    ChainCase,
    ChainCaseColumns,
    EvidenceColumns,
    EvidenceKind,
    SerialIntervalDensity,
    Together,
)
from chaincut.analytics.chains import (
    Candidate,
    CaseCandidates,
    ChainEdge,
    ChainGraph,
    ChainLeftOut,
    ChainNode,
    ChainProblem,
    CycleBreak,
    EvidenceShown,
    LinkSource,
    TransmissionChains,
    infer_chains,
)
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
from chaincut.analytics.reads import AnalyticsRead, epicurve_read, rt_read, serial_interval_read
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
    parse_onset_windows,
    serial_interval_days,
)
from chaincut.analytics.serial_interval_service import (
    SerialIntervalReport,
    SerialIntervals,
    serial_interval_report,
)
from chaincut.analytics.situation import (
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
    "AnalyticsRead",
    "Axis",
    "Candidate",
    "CaseCandidates",
    "CaseColumns",
    "CaseTally",
    "ChainCase",
    "ChainCaseColumns",
    "ChainEdge",
    "ChainGraph",
    "ChainLeftOut",
    "ChainNode",
    "ChainProblem",
    "Cluster",
    "ClusterCase",
    "ClusterInference",
    "ClusterProvider",
    "ClusterSection",
    "ClusterStatus",
    "ClusterSummary",
    "CycleBreak",
    "DirectLink",
    "DistributionFit",
    "EpidemicCurve",
    "EpidemicCurves",
    "EvidenceColumns",
    "EvidenceKind",
    "EvidenceShown",
    "Exposure",
    "Growth",
    "Headline",
    "LeftOut",
    "LinkEvidence",
    "LinkKind",
    "LinkSource",
    "Membership",
    "OnsetPair",
    "OnsetWindow",
    "PairsFile",
    "ReportFormat",
    "ReproductionNumbers",
    "RtPosterior",
    "RtReport",
    "RtWindow",
    "SerialIntervalDensity",
    "SerialIntervalEstimate",
    "SerialIntervalReport",
    "SerialIntervals",
    "Setting",
    "SituationReport",
    "SituationReports",
    "Together",
    "TracingCounts",
    "TransmissionChains",
    "Trend",
    "UnlinkedShare",
    "building_kind",
    "discretised_serial_interval",
    "epicurve_read",
    "epidemic_curve",
    "estimate_rt",
    "estimate_serial_interval",
    "fit_growth",
    "fit_serial_interval",
    "infectiousness",
    "infer_chains",
    "infer_clusters",
    "no_clusters",
    "pairs_with_onsets",
    "parse_onset_windows",
    "read_pairs_file",
    "rt_read",
    "serial_interval_days",
    "serial_interval_read",
    "serial_interval_report",
]
