"""Commands for inferred clusters: ``chaincut analytics clusters|cluster|cluster-name|cluster-decide``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.analytics.cluster_ids import Decision
from chaincut.analytics.cluster_service import ClusterSummary
from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.cli.console import console, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission

_PURPOSE_HELP = "why you read these: recorded in the audit log with your name"
_PURPOSE = "outbreak analytics from the command line"

__all__ = ["cluster", "cluster_decide", "cluster_name", "clusters", "register"]


def _settings_text(summary: ClusterSummary, limit: int = 3) -> str:
    names = [s.name_en if s.name_en == s.name_zh else f"{s.name_en} {s.name_zh}" for s in summary.settings]
    more = len(names) - limit
    return "; ".join(names[:limit]) + (f" (+{more})" if more > 0 else "")


def clusters(
    status: Annotated[
        str | None, typer.Option(help="active, inactive, merged or dissolved (default: active and inactive)")
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh/--no-refresh",
            help="infer the clusters (and each case's infector, for chain graphs) afresh before listing",
        ),
    ] = True,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="how many clusters, largest first")] = 1000,
    json_output: Annotated[
        bool, typer.Option("--json", help='one JSON object: {"run", "total", "clusters": [...]}')
    ] = False,
    purpose: Annotated[str, typer.Option(help=_PURPOSE_HELP)] = _PURPOSE,
) -> None:
    """Clusters of cases inferred from where they were and their links, under ids stable across runs."""
    with services() as svc:
        principal = operator()
        run = refresh_clusters_and_chains(svc.clusters, svc.chains, principal) if refresh else None
        found, total = svc.clusters.page(status=status, limit=limit)
        svc.audit.record(
            event_for(
                principal,
                Permission.CLUSTERS_READ,
                "analytics.clusters",
                record=status or "live",
                purpose=" ".join(purpose.split()),
                details={"status": status, "clusters": len(found), "total": total},
            )
        )
    if json_output:
        print_json(
            {
                "run": None if run is None else run.as_dict(),
                "total": total,
                "clusters": [c.as_dict() for c in found],
            }
        )
        return
    if run is not None:
        done = run.clusters
        console.print(
            f"{done.clusters} clusters ({done.created} new, {len(done.merged)} merged, "
            f"{len(done.dissolved)} dissolved); {run.inferred_infectors} inferred infectors",
            highlight=False,
        )
        for reason, n in sorted(done.left_out.items()):
            console.print(f"  left out: {n} ({reason})", highlight=False)
    table = Table("id", "name", "status", "cases", "first onset", "last onset", "settings")
    for c in found:
        table.add_row(
            str(c.id),
            c.name or "",
            c.status,
            str(c.size),
            c.first_onset.isoformat() if c.first_onset else "",
            c.last_onset.isoformat() if c.last_onset else "",
            _settings_text(c),
        )
    console.print(table)
    if total > len(found):
        console.print(f"{total - len(found)} more (--limit)", highlight=False)


def cluster(
    cluster_id: Annotated[int, typer.Argument(help="the cluster's id")],
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    purpose: Annotated[str, typer.Option(help=_PURPOSE_HELP)] = _PURPOSE,
) -> None:
    """One cluster: members, settings, evidence for each membership, size by day, decisions."""
    with services() as svc:
        detail = svc.clusters.detail(cluster_id)
        svc.audit.record(
            event_for(
                operator(),
                Permission.CLUSTERS_READ,
                f"analytics.clusters/{cluster_id}",
                record=str(cluster_id),
                purpose=" ".join(purpose.split()),
            )
        )
    if json_output:
        print_json(detail.as_dict())
        return
    s = detail.summary
    console.print(
        f"cluster {s.id} {s.name or ''} ({s.status}): {s.size} cases, onsets "
        f"{s.first_onset or '?'} to {s.last_onset or '?'}",
        highlight=False,
    )
    for setting in s.settings:
        console.print(f"  {setting.kind}: {setting.name_en} {setting.name_zh}", highlight=False)
    table = Table("case", "evidence", "when")
    for e in detail.evidence:
        what = e.setting or (f"{e.link} with {e.linked_case}" if e.linked_case else (e.link or ""))
        if e.start is not None:
            when = f"{e.start:%Y-%m-%d %H:%M} to {e.end:%H:%M}" if e.end else f"{e.start:%Y-%m-%d %H:%M}"
        elif e.first_day is not None:
            when = f"{e.first_day} to {e.last_day}"
        else:
            when = ""
        table.add_row(e.case, what, when)
    console.print(table)


def cluster_name(
    cluster_id: Annotated[int, typer.Argument(help="the cluster's id")],
    name: Annotated[str, typer.Argument(help="the name (empty: no name)")],
) -> None:
    """Name a cluster; the name survives every later run (audited)."""
    with services() as svc:
        svc.clusters.rename(operator(), cluster_id, name)
    console.print(f"cluster {cluster_id} named {name!r}", highlight=False)


def cluster_decide(
    cluster_id: Annotated[int, typer.Argument(help="the cluster's id")],
    case: Annotated[str, typer.Argument(help="the case's reference")],
    decision: Annotated[Decision, typer.Argument(help="confirmed or rejected")],
    note: Annotated[str | None, typer.Option(help="why (kept with the decision)")] = None,
) -> None:
    """Confirm or reject a case's membership of a cluster; it holds on every later run (audited)."""
    with services() as svc:
        svc.clusters.decide(operator(), cluster_id, case, decision, note)
    console.print(f"{case}: {decision.value} in cluster {cluster_id}", highlight=False)


def register(group: typer.Typer) -> None:
    """Add the cluster commands to the ``chaincut analytics`` group."""
    group.command("clusters")(clusters)
    group.command("cluster")(cluster)
    group.command("cluster-name")(cluster_name)
    group.command("cluster-decide")(cluster_decide)
