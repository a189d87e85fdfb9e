"""The situation report's clusters and chains, from the clusters and chains the store keeps.

Clusters are read as the last run left them (``chaincut analytics clusters``, ``POST
/analytics/clusters/refresh``), seen on the report's day: a cluster is active on that day when
one of its members was reported within the policy's ``[clusters] active_days`` before it, and
only the members reported by then are counted. The chain graphs of the largest are the infector
links among those members (confirmed links as they stand, inferred ones from the last run). With
no run ever made, the report says the clusters were not computed.
"""

from __future__ import annotations

from datetime import date

from chaincut.analytics.chain_service import ChainService
from chaincut.analytics.cluster_service import ClusterService
from chaincut.analytics.situation import (
    ChainEdge,
    ChainGraph,
    ChainNode,
    ClusterSection,
    ClusterSummary,
    LinkEvidence,
)

__all__ = ["CHAIN_GRAPHS", "LISTED", "StoredClusters"]

LISTED = 20  # active clusters the report lists, largest first
CHAIN_GRAPHS = 3  # of which the report draws the chains


class StoredClusters:
    """A :data:`~chaincut.analytics.situation.ClusterProvider` over the stored clusters and chains."""

    def __init__(self, clusters: ClusterService, chains: ChainService) -> None:
        self._clusters = clusters
        self._chains = chains

    def __call__(self, day: date) -> ClusterSection | None:
        seen = self._clusters.active_on(day, LISTED)
        if seen is None:
            return None
        summaries = []
        graphs = []
        for rank, (summary, members) in enumerate(seen):
            summaries.append(
                ClusterSummary(
                    id=str(summary.id),
                    name=summary.name,
                    status="active",
                    size=len(members),
                    first_onset=summary.first_onset,
                    last_onset=summary.last_onset,
                    settings=tuple((s.name_en, s.name_zh) for s in summary.settings),
                )
            )
            if rank < CHAIN_GRAPHS:
                graph = self._chains.graph_among(members)
                nodes = tuple(
                    ChainNode(n["case"], n["generation"] if n["generation"] is not None else 0)
                    for n in graph["nodes"]
                )
                edges = tuple(
                    ChainEdge(
                        e["infector"],
                        e["infectee"],
                        LinkEvidence.CONFIRMED if e["confirmed"] else LinkEvidence.INFERRED,
                    )
                    for e in graph["edges"]
                )
                graphs.append(ChainGraph(str(summary.id), nodes, edges))
        return ClusterSection(tuple(summaries), tuple(graphs))
