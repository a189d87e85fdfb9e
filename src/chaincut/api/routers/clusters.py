"""Inferred clusters and transmission chains: read them, run the inference, and decide on them.

Epidemiologists and supervisors (``analytics.read``) see every cluster and chain; a tracer sees
a cluster holding a case assigned to them, and the chain of an assigned case, and nothing else
(``RecordAccess.may_read_analytics_of``: the others answer as if they did not exist). Reads need
a stated purpose and are audited (``clusters.read``); names, membership decisions and confirmed
infectors are audited by the services (``clusters.name``, ``clusters.decide``,
``chains.confirm``), and a run (``clusters.refresh``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from chaincut.analytics.cluster_ids import Decision
from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.api.deps import AnalyticsReader, PageDep, ServicesDep
from chaincut.domain.access import Permission
from chaincut.errors import NotFound
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/analytics", tags=["analytics"])

ClusterReader = Annotated[Caller, requires(Permission.CLUSTERS_READ, purpose=True)]
ClusterDecider = Annotated[Caller, requires(Permission.CLUSTERS_DECIDE, purpose=True)]
ClusterId = Annotated[int, Path(ge=1, le=2**62, description="the cluster's id")]


class ClusterName(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="the name; null or blank: none")


class MembershipDecisionBody(BaseModel):
    case: str = Field(min_length=1, max_length=64, description="the case's reference")
    decision: Decision
    note: str | None = Field(default=None, max_length=500, description="why, kept with the decision")


class InfectorBody(BaseModel):
    infector: str | None = Field(
        default=None, max_length=64, description="the infector's case reference; null clears the link"
    )


def _visible_cluster(services: ServicesDep, caller: Caller, cluster_id: int) -> list[str]:
    """The cluster's member refs when the caller may see it; else 'no such cluster'."""
    found = services.clusters.summaries([cluster_id])
    if not found or not services.records.may_read_analytics_of(caller.principal, found[0].cases):
        raise NotFound(f"no cluster {cluster_id}", field="id")
    return list(found[0].cases)


def _visible_case(services: ServicesDep, caller: Caller, case_ref: str) -> None:
    if not services.records.may_read_analytics_of(caller.principal, [case_ref]):
        raise NotFound(f"no case {case_ref!r}", field="case")


@router.get("/clusters")
def clusters(
    services: ServicesDep,
    caller: ClusterReader,
    page: PageDep,
    status: Annotated[
        str | None, Query(description="active, inactive, merged or dissolved (default: active and inactive)")
    ] = None,
) -> dict[str, Any]:
    """Inferred clusters, largest first: a tracer's list holds only those with an assigned case."""
    staff_id = services.records.analytics_staff_bound(caller.principal)
    found, total = services.clusters.page(
        status=status, limit=page.limit, offset=page.offset, staff_id=staff_id
    )
    caller.audit(
        "analytics.clusters",
        status or "live",
        details={"offset": page.offset, "limit": page.limit, "count": total, "bounded": staff_id is not None},
    )
    return {"data": [c.as_dict() for c in found], "count": total}


@router.post("/clusters/refresh")
def refresh(services: ServicesDep, caller: AnalyticsReader) -> dict[str, Any]:
    """Infer the clusters afresh (keeping their ids) and the chains (each case's inferred infector,
    which cluster pages draw): epidemiologists and supervisors."""
    return refresh_clusters_and_chains(services.clusters, services.chains, caller.principal).as_dict()


@router.get("/clusters/{cluster_id}")
def cluster(services: ServicesDep, caller: ClusterReader, cluster_id: ClusterId) -> dict[str, Any]:
    """A cluster: members, settings, the evidence of each membership, size by day, decisions, and
    the chain graph among its members (nodes with generations, infector edges)."""
    members = _visible_cluster(services, caller, cluster_id)
    detail = services.clusters.detail(cluster_id)
    caller.audit(f"analytics.clusters/{cluster_id}", str(cluster_id), details={"cases": len(members)})
    return detail.as_dict() | {"chain_graph": services.chains.graph_among(members)}


@router.put("/clusters/{cluster_id}/name")
def name_cluster(
    services: ServicesDep, caller: ClusterDecider, cluster_id: ClusterId, body: ClusterName
) -> dict[str, Any]:
    """Name a cluster (audited); the name survives every later run."""
    _visible_cluster(services, caller, cluster_id)
    services.clusters.rename(caller.principal, cluster_id, body.name)
    return services.clusters.summaries([cluster_id])[0].as_dict()


@router.post("/clusters/{cluster_id}/decisions")
def decide(
    services: ServicesDep, caller: ClusterDecider, cluster_id: ClusterId, body: MembershipDecisionBody
) -> dict[str, Any]:
    """Confirm or reject a case's membership (audited); it holds on every later run."""
    _visible_cluster(services, caller, cluster_id)
    services.clusters.decide(caller.principal, cluster_id, body.case, body.decision, body.note)
    return services.clusters.summaries([cluster_id])[0].as_dict()


@router.get("/chains/{case_ref}")
def chain(services: ServicesDep, caller: ClusterReader, case_ref: str) -> dict[str, Any]:
    """A case's candidate infectors ranked by the serial interval, with the evidence for each,
    its infector (confirmed or inferred), generation, and its chain as nodes and edges."""
    _visible_case(services, caller, case_ref)
    found = services.chains.for_case(case_ref)
    caller.audit(f"analytics.chains/{case_ref}", case_ref, details={"chain_size": found.chain.size})
    return found.as_dict()


@router.put("/chains/{case_ref}/infector")
def confirm_infector(
    services: ServicesDep, caller: ClusterDecider, case_ref: str, body: InfectorBody
) -> dict[str, Any]:
    """Record the case's infector as confirmed (``linked_case``; audited); it wins over inference."""
    _visible_case(services, caller, case_ref)
    services.chains.confirm(caller.principal, case_ref, body.infector)
    return {"case": case_ref, "infector": body.infector}
