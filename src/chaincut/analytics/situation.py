"""The situation report's content: the CHP's daily report as plain frozen data, aggregates only.

A :class:`SituationReport` holds what one day's report shows and nothing else: counts, the
epidemic curve, R_t, the unlinked share, tracing activity, and, where a provider computed
them, the active clusters and the chain graphs of the largest (case references only). No
name, phone, address or document number of anyone is ever part of it, so whatever renders
it (HTML, PDF) cannot leak one.

Clusters and chains come from a :data:`ClusterProvider`; the default, :func:`no_clusters`,
has none, and the report then says "not computed" rather than showing an empty list as if
there were no clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from chaincut.analytics.epicurve import EpidemicCurve, UnlinkedShare
from chaincut.analytics.reproduction_service import RtReport
from chaincut.domain import CaseClassification

__all__ = [
    "ChainEdge",
    "ChainGraph",
    "ChainNode",
    "ClusterProvider",
    "ClusterSection",
    "ClusterSummary",
    "Headline",
    "LinkEvidence",
    "ReportFormat",
    "SituationReport",
    "TracingCounts",
    "no_clusters",
]


@dataclass(frozen=True)
class Headline:
    """The day's numbers: confirmed and probable cases reported on ``day`` (local date).

    ``new_by_classification`` covers every classification (zero included); ``new_no_onset``
    counts the day's new cases with no onset date (asymptomatic or not yet known), which the
    onset curve cannot place. ``cumulative`` counts every case reported up to and including
    ``day``; ``no_report_date`` the cases with no report date at all (on no day's count).
    ``suspected`` is the day's suspected cases, never counted as cases.
    """

    day: date
    new_by_classification: Mapping[CaseClassification, int]
    new_no_onset: int
    cumulative: int
    cumulative_no_onset: int
    no_report_date: int
    suspected: int

    @property
    def new_total(self) -> int:
        return sum(self.new_by_classification.values())


@dataclass(frozen=True)
class TracingCounts:
    """Tracing on the day and to date: cases traced, distinct contacts, orders issued by kind.

    ``contacts_by_tier`` is keyed by tier (``close``, ``exposed``, ``risky_visit``),
    ``orders_by_kind`` by order kind (``quarantine``, ``testing_notice``).
    """

    cases_traced: int
    contacts: int
    contacts_by_tier: Mapping[str, int]
    orders_by_kind: Mapping[str, int]
    cases_traced_to_date: int
    contacts_to_date: int
    contacts_to_date_by_tier: Mapping[str, int]
    orders_to_date_by_kind: Mapping[str, int]


@dataclass(frozen=True)
class ClusterSummary:
    """One active cluster as the report lists it: its id, name, status, size, onsets, settings.

    ``settings`` are the places it grew at, each as (English name, Chinese name); ``size`` is
    its member cases; ``first_onset``/``last_onset`` are None when no member has an onset.
    """

    id: str
    name: str | None
    status: str
    size: int
    first_onset: date | None
    last_onset: date | None
    settings: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"cluster {self.id}: size: expected 0 or more, got {self.size}")
        if self.first_onset and self.last_onset and self.last_onset < self.first_onset:
            raise ValueError(f"cluster {self.id}: last_onset is before first_onset")


class ReportFormat(StrEnum):
    """The document a report is rendered as."""

    HTML = "html"
    PDF = "pdf"

    @property
    def media_type(self) -> str:
        return "text/html; charset=utf-8" if self is ReportFormat.HTML else "application/pdf"


class LinkEvidence(StrEnum):
    """Why an edge of a chain graph is there."""

    CONFIRMED = "confirmed"  # a tracer confirmed the infector (the case's linked_case)
    INFERRED = "inferred"  # ranked most likely from the evidence and the serial interval


@dataclass(frozen=True)
class ChainNode:
    """A case in a chain graph, by reference, with its generation (0: the chain's first case)."""

    case_ref: str
    generation: int


@dataclass(frozen=True)
class ChainEdge:
    """Infector to infectee, by case reference, and whether a tracer confirmed it."""

    infector: str
    infectee: str
    evidence: LinkEvidence


@dataclass(frozen=True)
class ChainGraph:
    """The transmission chains within one cluster: nodes and edges, case references only."""

    cluster_id: str
    nodes: tuple[ChainNode, ...]
    edges: tuple[ChainEdge, ...]

    def __post_init__(self) -> None:
        refs = [n.case_ref for n in self.nodes]
        if len(set(refs)) != len(refs):
            raise ValueError(f"chain graph of cluster {self.cluster_id}: a case appears twice among nodes")
        known = set(refs)
        for edge in self.edges:
            for ref in (edge.infector, edge.infectee):
                if ref not in known:
                    raise ValueError(
                        f"chain graph of cluster {self.cluster_id}: edge names {ref}, which is not a node"
                    )
        infectees = [e.infectee for e in self.edges]
        if len(set(infectees)) != len(infectees):
            raise ValueError(f"chain graph of cluster {self.cluster_id}: a case has two infectors")


@dataclass(frozen=True)
class ClusterSection:
    """What a cluster provider computed: the active clusters, and the chains of the largest."""

    clusters: tuple[ClusterSummary, ...]
    chains: tuple[ChainGraph, ...]


ClusterProvider = Callable[[date], ClusterSection | None]
"""Given the report's day, the clusters active on it and their chains; None when not computed."""


def no_clusters(day: date) -> ClusterSection | None:
    """The provider while cluster inference is not wired in: nothing computed (said so, never faked)."""
    del day
    return None


@dataclass(frozen=True)
class SituationReport:
    """One day's situation report, aggregates and case references only.

    ``curve`` is by onset date (cases with no onset counted apart in the headline);
    ``unlinked`` is by report date over ``unlinked_days``; ``rt`` holds the windows ending
    on or before ``day``; ``clusters`` is None when no provider computed them.
    """

    day: date
    generated_at: datetime
    policy_version: str
    headline: Headline
    curve: EpidemicCurve
    unlinked_days: tuple[date, ...]
    unlinked: UnlinkedShare
    rt: RtReport
    tracing: TracingCounts
    clusters: ClusterSection | None
