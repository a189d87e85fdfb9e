"""Commands for transmission chains: ``chaincut analytics chains [CASE]`` and ``confirm-infector``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.cli.console import console, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.access import Permission

_PURPOSE_HELP = "why you read these: recorded in the audit log with your name"
_PURPOSE = "outbreak analytics from the command line"

__all__ = ["chains", "confirm_infector", "register"]


def chains(
    case: Annotated[
        str | None, typer.Argument(help="a case's reference: its candidate infectors and chain")
    ] = None,
    largest: Annotated[
        int, typer.Option(min=1, max=10_000, help="without CASE: how many chains to show")
    ] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    purpose: Annotated[str, typer.Option(help=_PURPOSE_HELP)] = _PURPOSE,
) -> None:
    """Transmission chains: a case's candidate infectors ranked by the serial interval, with the
    evidence, its infector and generation; or, without CASE, the largest chains."""
    with services() as svc:
        principal = operator()
        if case is not None:
            found = svc.chains.for_case(case)
            svc.audit.record(
                event_for(
                    principal,
                    Permission.CLUSTERS_READ,
                    f"analytics.chains/{case}",
                    record=case,
                    purpose=" ".join(purpose.split()),
                )
            )
        else:
            overview = svc.chains.overview(largest)
            svc.audit.record(
                event_for(
                    principal,
                    Permission.CLUSTERS_READ,
                    "analytics.chains",
                    purpose=" ".join(purpose.split()),
                    details={"largest": largest},
                )
            )
    if case is not None:
        if json_output:
            print_json(found.as_dict())
            return
        node = found.node
        source = f"{node.infector} ({node.source.value}" + (
            f", likelihood {node.likelihood:.2f})" if node.likelihood is not None else ")"
        )
        console.print(
            f"{case}: infector {source if node.infector else 'none (a root)'}, generation "
            f"{node.generation}, chain {node.chain} of {found.chain.size} cases",
            highlight=False,
        )
        table = Table("candidate", "interval (days)", "likelihood", "evidence")
        for k in found.candidates.candidates:
            evidence = "; ".join(f"{e.kind.value} {e.setting_id or ''}".strip() for e in k.evidence)
            table.add_row(k.ref, str(k.interval_days), f"{k.likelihood:.2f}", evidence)
        console.print(table)
        return
    if json_output:
        print_json(overview.as_dict())
        return
    console.print(f"{overview.chains} chains (a case with no link is a chain of one)", highlight=False)
    table = Table("chain", "root", "cases", "generations", "active", "last reported")
    for g in overview.largest:
        depth = max((n.generation or 0 for n in g.nodes), default=0)
        table.add_row(
            str(g.chain),
            g.root,
            str(g.size),
            str(depth + 1),
            "yes" if g.active else "no",
            str(g.last_reported),
        )
    console.print(table)
    body = overview.as_dict()["unlinked_share"]
    recent = [d for d in body if d["local"]][-7:]
    for d in recent:
        console.print(
            f"reported {d['reported']}: {d['no_known_source']} of {d['local']} local cases "
            "with no known source",
            highlight=False,
        )


def confirm_infector(
    case: Annotated[str, typer.Argument(help="the infected case")],
    infector: Annotated[str, typer.Argument(help="the case that infected it ('-' clears the link)")],
) -> None:
    """Record a case's infector as a tracer confirmed it (linked_case); it wins over inference (audited)."""
    with services() as svc:
        svc.chains.confirm(operator(), case, None if infector == "-" else infector)
    console.print(f"{case}: infector {infector}", highlight=False)


def register(group: typer.Typer) -> None:
    """Add the chain commands to the ``chaincut analytics`` group."""
    group.command("chains")(chains)
    group.command("confirm-infector")(confirm_infector)
