"""Commands for quarantine orders and testing notices: list, set-status.

Each command acts as the operator (``CHAINCUT_STAFF``, else the OS user; audited as
``cli:<name>``) and appends an audit entry, as the API does for its callers.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from rich.table import Table

from chaincut.access.audit import event_for
from chaincut.cli.console import console, print_json, services
from chaincut.cli.users import operator
from chaincut.domain import OrderStatus
from chaincut.domain.access import Permission
from chaincut.domain.audit import AuditFlag
from chaincut.store import OrderEntry

__all__ = ["list_orders", "set_status"]


class StatusChoice(enum.StrEnum):
    """OrderStatus, as typer lists it in --help."""

    issued = "issued"
    delivered = "delivered"
    in_force = "in_force"
    completed = "completed"
    breached = "breached"
    released = "released"


def _json(entry: OrderEntry) -> dict[str, object]:
    o = entry.order
    out: dict[str, object] = {
        "public_id": o.public_id,
        "kind": o.kind.value,
        "person": entry.person_ref,
        "case": entry.case_ref,
        "tier": o.tier.value,
        "starts_on": o.starts_on.isoformat(),
        "ends_on": o.ends_on.isoformat(),
        "status": o.status.value,
        "issued_at": o.issued_at.isoformat(),
        "issued_by": o.issued_by,
        "policy_version": o.policy_version,
    }
    if entry.history:
        out["history"] = [
            {
                "status": e.status.value,
                "changed_at": e.changed_at.isoformat(),
                "changed_by": e.changed_by,
                "note": e.note,
            }
            for e in entry.history
        ]
    return out


def list_orders(
    status: Annotated[StatusChoice | None, typer.Option(help="only orders in this status")] = None,
    case: Annotated[str | None, typer.Option(help="only orders from this case (its ref)")] = None,
    person: Annotated[str | None, typer.Option(help="only this person's orders (their ref)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="one JSON object: data and count")] = False,
) -> None:
    """List quarantine orders and testing notices, soonest ending first."""
    with services() as svc:
        entries, count = svc.orders.list(
            person_ref=person,
            case_ref=case,
            status=None if status is None else OrderStatus(status.value),
            offset=offset,
            limit=limit,
        )
        filters = (("case", case), ("person", person), ("status", status))
        subject = None
        if person is not None:
            with svc.store.read() as uow:
                subject = uow.people.id_for_ref(person)
        svc.audit.record(
            event_for(
                operator(),
                Permission.ORDERS_READ,
                "orders",
                record=",".join(f"{k}={v}" for k, v in filters if v is not None),
                details={"count": count},
                subject_person_id=subject,
            )
        )
    if json_output:
        print_json({"data": [_json(e) for e in entries], "count": count})
        return
    table = Table(title=f"{count:,} orders")
    for column in ("id", "kind", "person", "case", "from", "to", "status"):
        table.add_column(column)
    for e in entries:
        o = e.order
        table.add_row(
            o.public_id,
            o.kind.value,
            e.person_ref,
            e.case_ref or "",
            str(o.starts_on),
            str(o.ends_on),
            o.status.value,
        )
    console.print(table)


def set_status(
    public_id: Annotated[str, typer.Argument(help="the order's public id")],
    status: Annotated[StatusChoice, typer.Argument(help="the new status")],
    note: Annotated[str | None, typer.Option(help="why (kept in the order's history)")] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="required to release someone early: why (5+ characters; audited)"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Move an order to a new status; refused when the change is not allowed.

    Releasing someone early is a manual change of their status: it needs ``--reason``, and
    the audit log flags it (manual_status_change).
    """
    new_status = OrderStatus(status.value)
    release = new_status is OrderStatus.RELEASED
    why = " ".join((reason or "").split())
    if release and len(why) < 5:
        raise typer.BadParameter(
            "releasing someone early needs the reason (5+ characters)", param_hint="--reason"
        )
    acting = operator()
    with services() as svc:
        entry = svc.orders.change_status(public_id, new_status, acting.name, note or why or None)
        svc.audit.record(
            event_for(
                acting,
                Permission.ORDERS_UPDATE,
                "orders",
                record=public_id,
                purpose=why,
                flags=(AuditFlag.MANUAL_STATUS_CHANGE,) if release else (),
                details={"status": new_status.value, "reason": why or None},
                subject_person_id=entry.order.person_id,
            )
        )
    if json_output:
        print_json(_json(entry))
    else:
        console.print(f"order {entry.order.public_id}: {entry.order.status.value}")
