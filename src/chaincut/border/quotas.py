"""A slot's quota is the policy's in force: stored quotas follow it, and each change is audited.

A slot's row is made with its quota when first booked, and the policy may change
after: the experts lower or raise a checkpoint's quota and deploy a new policy
file. The policy in force decides. At start-up (``apply_policy_quotas``) every
slot from today on is brought to the policy's quota, and every booking and draw
brings the slots it locks there too (a server process still on the old policy
may have made them meanwhile). Nobody is bumped when a quota falls below the
seats already booked: the slot is full, ``GET /border/slots`` shows the excess,
and the change is audited (flagged ``policy_change``) with the seats booked and
the excess.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from chaincut.clock import Clock, to_epoch
from chaincut.domain.audit import AuditEvent, AuditFlag
from chaincut.domain.border import QuotaChange
from chaincut.policy import BorderRules
from chaincut.store import Store, UnitOfWork

__all__ = ["QUOTA_ACTION", "apply_policy_quotas", "audit_quota_changes"]

QUOTA_ACTION = "border.slot.quota"

log = logging.getLogger(__name__)


def audit_quota_changes(uow: UnitOfWork, changes: Sequence[QuotaChange], clock: Clock) -> None:
    """One audit entry per slot whose stored quota was brought to the policy's, in ``uow``'s transaction."""
    if not changes:
        return
    events = [
        AuditEvent(
            actor="system:policy",
            roles="system",
            action=QUOTA_ACTION,
            resource="border/slots",
            record=f"{c.checkpoint}/{c.day.isoformat()}/{c.slot}",
            flags=(AuditFlag.POLICY_CHANGE,),
            details={
                "checkpoint": c.checkpoint,
                "day": c.day.isoformat(),
                "slot": c.slot,
                "quota_before": c.before,
                "quota": c.quota,
                "booked": c.booked,
                "excess": c.excess,
            },
        )
        for c in changes
    ]
    uow.audit.append(events, at=to_epoch(clock.now()))
    for c in changes:
        if c.excess:
            log.warning(
                "border: the policy's quota of %s %s %s (%d) is %d below the seats booked (%d); "
                "the slot is full and nobody is bumped",
                c.checkpoint,
                c.day,
                c.slot,
                c.quota,
                c.excess,
                c.booked,
            )


def apply_policy_quotas(store: Store, rules: BorderRules, clock: Clock, today: date) -> list[QuotaChange]:
    """Bring every stored slot from ``today`` on to the policy's quota, auditing each change; the changes.

    Several processes starting at once change (and audit) each slot once: a row is only
    updated while it still holds the quota it was read with.
    """
    quotas = {
        (point.id, slot): quota for point in rules.checkpoints.values() for slot, quota in point.slots.items()
    }
    with store.read() as uow:
        wanted = uow.border.quota_changes(quotas, today)
    if not wanted:
        return []  # the usual start: nothing to write
    with store.write() as uow:
        changes = uow.border.set_quotas(wanted)
        audit_quota_changes(uow, changes, clock)
    return changes
