"""One run of clusters and chains over one read of the store.

Clusters (:class:`ClusterService`) and chains (:class:`ChainService`) infer from the same cases,
stays, encounters and building list; a refresh of both reads them once
(:meth:`ClusterService.read`) and gives the same read to each, so both
see the store as of one instant and the read (a third of a run at a million cases) is not paid
twice. ``POST /analytics/clusters/refresh`` and ``chaincut analytics clusters --refresh`` run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaincut.analytics.chain_service import ChainService
from chaincut.analytics.cluster_service import ClusterService
from chaincut.analytics.cluster_views import ClusterRun
from chaincut.domain.access import Principal

__all__ = ["OutbreakRun", "refresh_clusters_and_chains"]


@dataclass(frozen=True)
class OutbreakRun:
    """What a run of both did: the clusters' run, and how many inferred infectors it stored."""

    clusters: ClusterRun
    inferred_infectors: int

    def as_dict(self) -> dict[str, Any]:
        return self.clusters.as_dict() | {"inferred_infectors": self.inferred_infectors}


def refresh_clusters_and_chains(
    clusters: ClusterService, chains: ChainService, principal: Principal
) -> OutbreakRun:
    """Infer and store the clusters, then the chains' inferred infectors, from one read (each audited)."""
    read = clusters.read()
    return OutbreakRun(clusters.refresh(principal, read), chains.refresh(principal, read))
