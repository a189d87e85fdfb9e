"""Retention: whereabouts, replaced details and ended credentials past the policy's limits are purged.

What each purge covers (the policy's ``[retention]`` keys):

- ``visits``, ``encounters``: whereabouts that ended more than ``visits_days`` /
  ``encounters_days`` ago, in SQL and in the embedded Parquet archive.
- ``corrections``: the values a correction replaced, ``corrected_values_days``
  after it; the row itself (field, reason, who, when) stays as the record.
- ``sessions``, ``tokens``, ``approvals``: web sessions, bearer tokens and export
  approvals ``ended_access_days`` after they expired or were revoked.
- ``signed_codes``: the record of each signed health code issued (its id, person and
  expiry, kept to revoke it by id), once the code has expired and the largest clock
  leeway a verifier may allow has passed too: nobody can use the code any more.
- ``rate_counts``: the requests per client (resident, staff member or address) counted for
  rate limits, once the window after theirs has ended too (they no longer count). Workers
  drop them as they add; this catches them when traffic stops.
- ``warnings``: decentralised check-in's published warnings and their traces, once
  ``presence.records_days`` have passed since their window ended: phones have deleted every record
  they could open.
- ``exposure_reports``: residents' reports that their phone matched a warning, ``visits_days`` after
  the exposure, as whereabouts are kept.

The audit log is not purged: it is append-only by design (triggers refuse
UPDATE and DELETE) and is the lasting record of who accessed whose data.
"""

from __future__ import annotations

from datetime import timedelta

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain.code_validity import MAX_CODE_LEEWAY_SECONDS
from chaincut.policy import Policy
from chaincut.store import PurgeRecord, Store
from chaincut.store.purges import delete_ended_approvals, delete_ended_credentials
from chaincut.store.rate_counts import WINDOW_SECONDS

__all__ = ["purge_expired"]


def purge_expired(store: Store, policy: Policy, clock: Clock) -> list[PurgeRecord]:
    """Delete what is past its retention: whereabouts first, then replaced details and ended credentials.

    Each kind's purge is recorded (kind, how many, the cut-off, when, the
    policy version), never what was deleted.
    """
    now = clock.now()
    rules = policy.retention
    records: list[PurgeRecord] = []
    for kind, days in (("visits", rules.visits_days), ("encounters", rules.encounters_days)):
        cutoff = now - timedelta(days=days)
        with store.write() as uow:
            repo = uow.visits if kind == "visits" else uow.encounters
            deleted = repo.delete_ended_before(to_epoch(cutoff))
            if store.archive is not None:
                deleted += store.archive.purge(kind, to_epoch(cutoff))  # type: ignore[arg-type]
            record = PurgeRecord(kind, deleted, cutoff, now, policy.version)
            uow.purges.record(record)
        records.append(record)

    corrected_cutoff = now - timedelta(days=rules.corrected_values_days)
    ended_cutoff = now - timedelta(days=rules.ended_access_days)
    with store.write() as uow:
        dropped = uow.corrections.drop_old_values(to_epoch(corrected_cutoff))
        sessions, tokens = delete_ended_credentials(uow.connection, to_epoch(ended_cutoff))
        approvals = delete_ended_approvals(uow.connection, to_epoch(ended_cutoff))
        codes_cutoff = now - timedelta(seconds=MAX_CODE_LEEWAY_SECONDS)
        codes = uow.issued_codes.delete_expired(to_epoch(codes_cutoff))
        current = to_epoch(now) - to_epoch(now) % WINDOW_SECONDS
        counts_cutoff = current - WINDOW_SECONDS
        counts = uow.rate_counts.delete_before(counts_cutoff)
        warnings_cutoff = now - timedelta(days=policy.presence.records_days)
        warnings = uow.presence.delete_ended_before(to_epoch(warnings_cutoff))
        reports_cutoff = now - timedelta(days=rules.visits_days)
        reports = uow.presence.delete_reports_before(to_epoch(reports_cutoff))
        more = [
            PurgeRecord("corrections", dropped, corrected_cutoff, now, policy.version),
            PurgeRecord("sessions", sessions, ended_cutoff, now, policy.version),
            PurgeRecord("tokens", tokens, ended_cutoff, now, policy.version),
            PurgeRecord("approvals", approvals, ended_cutoff, now, policy.version),
            PurgeRecord("signed_codes", codes, codes_cutoff, now, policy.version),
            PurgeRecord("rate_counts", counts, from_epoch(counts_cutoff), now, policy.version),
            PurgeRecord("warnings", warnings, warnings_cutoff, now, policy.version),
            PurgeRecord("exposure_reports", reports, reports_cutoff, now, policy.version),
        ]
        for record in more:
            uow.purges.record(record)
    return records + more
