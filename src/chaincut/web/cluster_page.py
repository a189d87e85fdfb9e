"""Clusters for epidemiologists and tracers: the list, and a cluster's page with its chain graph.

- ``/console/clusters``: the inferred clusters of the last run, largest first (a tracer: those
  holding one of their assigned cases), active ones or all;
- ``/console/clusters/{id}``: its settings, members, the evidence of each membership, its size by
  day, the tracers' decisions, and the chain graph among its members, drawn with Cytoscape.js
  (vendored; a table lists the same edges), each case opening its page as in Go.Data.

The clusters' case references are personal data: the purpose is asked once per session for the
clusters and every read is audited with it, as the API's ``/analytics/clusters`` are.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chaincut.analytics.cluster_views import ClusterSummary
from chaincut.domain.access import Permission
from chaincut.errors import NotFound
from chaincut.guards import Caller, requires
from chaincut.web.i18n import N_, Language, Localizer
from chaincut.web.labels import DECISIONS, label
from chaincut.web.pages import PageRoute, localizer_for, page
from chaincut.web.purposes import keep_purpose, purpose_form, stated, with_stated_purpose

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

ClusterReader = Annotated[Caller, requires(Permission.CLUSTERS_READ)]
RECORD = "clusters"
PER_PAGE = 50
WHOLE_UP_TO = 2_000  # a larger cluster's page shows its first members, graph among them, no evidence
SETTINGS_SHOWN = 20
EVIDENCE_SHOWN = 500
_STATUSES = {
    "active": N_("still active"),
    "inactive": N_("no longer active"),
    "merged": N_("merged"),
    "dissolved": N_("dissolved"),
}
_LINKS = {
    "household": N_("same household"),
    "encounter": N_("near each other"),
    "linked_case": N_("linked by a tracer"),
    "decision": N_("placed by a tracer's decision"),
}
_EXPLANATION = N_(
    "Clusters name their cases, and a case's reference is personal data. Say why you need them: "
    "you are asked once while you are signed in, and your reason is recorded in the audit log with "
    "every cluster page you open."
)
_SUGGESTIONS = (N_("Reviewing today's clusters"), N_("Investigating an outbreak at a setting"))


def _form(request: Request, caller: Caller, *, next_path: str, problem: bool = False) -> HTMLResponse:
    words = localizer_for(request, caller)
    return purpose_form(
        request,
        caller,
        heading=words.gettext(N_("Clusters: why do you need them?")),
        explanation=words.gettext(_EXPLANATION),
        action="/console/clusters/purpose",
        submit=words.gettext(N_("Open the clusters")),
        next_path=next_path,
        suggestions=_SUGGESTIONS,
        problem=problem,
    )


@router.post("/console/clusters/purpose")
def state_purpose(
    request: Request,
    caller: ClusterReader,
    purpose: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Keep why the member needs the clusters (the Guard has checked the form's CSRF token)."""
    back = next if next.startswith("/console/clusters") else "/console/clusters"
    cleaned = stated(caller, purpose)
    if cleaned is None:
        return _form(request, caller, next_path=back, problem=True)
    keep_purpose(caller, RECORD, cleaned)
    return RedirectResponse(back, status_code=303)


def _settings(words: Localizer, summary: ClusterSummary) -> list[dict[str, str]]:
    chinese = words.language is Language.ZH_HANT
    return [
        {
            "id": s.id,
            "kind": s.kind,
            "name": (s.name_zh or s.name_en) if chinese else (s.name_en or s.name_zh),
            "other": s.name_en if chinese else s.name_zh,
        }
        for s in summary.settings
    ]


def _status(words: Localizer, status: str) -> str:
    return words.gettext(_STATUSES[status]) if status in _STATUSES else status


@router.get("/console/clusters")
def clusters(
    request: Request,
    caller: ClusterReader,
    status: Annotated[str, Query(max_length=16)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """The clusters of the last run, largest first, live ones unless a status is chosen."""
    purposed = with_stated_purpose(caller, RECORD)
    if purposed is None:
        return _form(request, caller, next_path=str(request.url.path))
    services = purposed.services
    words = localizer_for(request, caller)
    staff_id = services.records.analytics_staff_bound(caller.principal)
    found, total = services.clusters.listing(
        status=status or None, limit=PER_PAGE, offset=(page_number - 1) * PER_PAGE, staff_id=staff_id
    )
    purposed.audit(
        "analytics.clusters",
        status or "live",
        details={"page": page_number, "count": total, "bounded": staff_id is not None},
    )
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "status": _status(words, c.status),
            "size": c.size,
            "first_onset": c.first_onset,
            "last_onset": c.last_onset,
            "settings": _settings(words, c),
            "more_settings": max(0, settings - len(c.settings)),
        }
        for c, settings in found
    ]
    pages = max(1, -(-total // PER_PAGE))
    query = f"status={status}&" if status else ""
    return page(
        request,
        caller,
        "clusters.html",
        rows=rows,
        total=total,
        chosen=status,
        statuses=[{"value": "", "label": words.gettext(N_("Live"))}]
        + [{"value": k, "label": words.gettext(v)} for k, v in _STATUSES.items()],
        previous_href=f"/console/clusters?{query}page={page_number - 1}" if page_number > 1 else None,
        next_href=f"/console/clusters?{query}page={page_number + 1}" if page_number < pages else None,
    )


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` (no ``<``, ``>`` or ``&`` left)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@router.get("/console/clusters/{cluster_id}")
def cluster(
    request: Request, caller: ClusterReader, cluster_id: Annotated[int, Path(ge=1, le=2**62)]
) -> HTMLResponse:
    """A cluster: settings, members, evidence, size by day, decisions, and its chain graph."""
    purposed = with_stated_purpose(caller, RECORD)
    if purposed is None:
        return _form(request, caller, next_path=str(request.url.path))
    services = purposed.services
    words = localizer_for(request, caller)
    brief = services.clusters.glimpse(cluster_id, members_shown=WHOLE_UP_TO, settings_shown=SETTINGS_SHOWN)
    if brief is None or not services.records.may_read_cluster(caller.principal, cluster_id):
        raise NotFound(f"no cluster {cluster_id}", field="id")
    summary, settings_total = brief
    whole = summary.size <= WHOLE_UP_TO
    detail = services.clusters.detail(cluster_id) if whole else None
    members = list(summary.cases)
    graph = services.chains.graph_among(members)
    purposed.audit(f"analytics.clusters/{cluster_id}", str(cluster_id), details={"cases": summary.size})
    settings = {s["id"]: s for s in _settings(words, summary)}
    evidence = [
        {
            "case": e.case,
            "where": settings[e.setting]["name"] if e.setting in settings else (e.setting or ""),
            "how": words.gettext(_LINKS[e.link]) if e.link in _LINKS else (e.link or ""),
            "linked_case": e.linked_case,
            "start": e.start,
            "end": e.end,
            "first_day": e.first_day,
            "last_day": e.last_day,
        }
        for e in (detail.evidence[:EVIDENCE_SHOWN] if detail else ())
    ]
    # Bars on a day axis (days with no case leave a gap), in a chart 700 units wide.
    days = detail.size_by_day if detail else ()
    peak = max((n for _, n in days), default=1)
    span = (days[-1][0] - days[0][0]).days + 1 if days else 1
    unit = 700 / span
    bars = [
        {
            "day": d,
            "cases": n,
            "x": round((d - days[0][0]).days * unit, 1),
            "width": round(max(unit * 0.8, 1.0), 1),
            "height": round(80 * n / peak, 1),
        }
        for d, n in days
    ]
    infected_by = {e["infectee"]: e for e in graph["edges"]}
    return page(
        request,
        caller,
        "cluster.html",
        summary={
            "id": summary.id,
            "name": summary.name,
            "status": _status(words, summary.status),
            "size": summary.size,
            "first_onset": summary.first_onset,
            "last_onset": summary.last_onset,
            "merged_into": summary.merged_into,
        },
        settings=list(settings.values()),
        more_settings=settings_total - len(settings),
        whole=whole,
        members_shown=len(members),
        members=[
            {
                "case": node["case"],
                "generation": node["generation"],
                "infector": node["infector"],
                "confirmed": node["source"] == "confirmed",
                "drawn": node["case"] in infected_by,
                "placed": detail is not None and node["case"] in detail.confirmed,
            }
            for node in graph["nodes"]
        ],
        evidence=evidence,
        evidence_total=len(detail.evidence) if detail else 0,
        bars=bars,
        decisions=[]
        if detail is None
        else [
            {
                "case": detail.case_refs.get(d.case_id, str(d.case_id)),
                "decision": label(words, DECISIONS, d.decision),
                "by": d.decided_by,
                "note": d.note,
            }
            for d in detail.decisions
        ],
        graph_json=_script_json({"nodes": graph["nodes"], "edges": graph["edges"]}),
        # A case's page shows whereabouts: linked only for those who may read them (tracers,
        # supervisors), not for an epidemiologist, whom it would answer "not found".
        may_open_cases=caller.principal.may(Permission.WHEREABOUTS_READ),
        graph_edges=len(graph["edges"]),
        computed_at=graph["computed_at"],
    )
