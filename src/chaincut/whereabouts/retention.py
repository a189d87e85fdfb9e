"""Retention: whereabouts older than the policy allows are deleted, and each purge recorded."""

from __future__ import annotations

from datetime import timedelta

from chaincut.clock import Clock, to_epoch
from chaincut.policy import Policy
from chaincut.store import PurgeRecord, Store

__all__ = ["purge_expired"]


def purge_expired(store: Store, policy: Policy, clock: Clock) -> list[PurgeRecord]:
    """Delete visits and encounters that ended before their retention cut-off.

    Each kind's purge is recorded (kind, how many, the cut-off, when, the
    policy version), never what was deleted.
    """
    now = clock.now()
    records: list[PurgeRecord] = []
    for kind, days in (
        ("visits", policy.retention.visits_days),
        ("encounters", policy.retention.encounters_days),
    ):
        cutoff = now - timedelta(days=days)
        with store.write() as uow:
            repo = uow.visits if kind == "visits" else uow.encounters
            deleted = repo.delete_ended_before(to_epoch(cutoff))
            if store.archive is not None:
                deleted += store.archive.purge(kind, to_epoch(cutoff))  # type: ignore[arg-type]
            record = PurgeRecord(kind, deleted, cutoff, now, policy.version)
            uow.purges.record(record)
        records.append(record)
    return records
