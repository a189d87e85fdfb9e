"""What the audit log records about each access to personal data, and each change of rights."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["AuditEvent", "AuditFlag", "AuditRecord"]


class AuditFlag:
    """Flags that audit reports pick out."""

    MANUAL_STATUS_CHANGE = "manual_status_change"  # a person's status changed by hand
    PERSONAL_EXPORT = "personal_export"  # a bulk export of personal data
    DENIED = "denied"  # an attempt the caller was not allowed to make
    PERMISSION_CHANGE = "permission_change"  # accounts, roles, assignments
    POLICY_CHANGE = "policy_change"


@dataclass(frozen=True)
class AuditEvent:
    """One thing to record: who did what to which record, why, and how it ended.

    ``details`` carries ids and counts only, never names, phones or document numbers.
    """

    actor: str
    roles: str
    action: str
    resource: str
    record: str = ""
    purpose: str = ""
    outcome: str = "ok"
    flags: tuple[str, ...] = ()
    details: Mapping[str, str | int | bool | None] = field(default_factory=dict)
    subject_person_id: int | None = None


@dataclass(frozen=True)
class AuditRecord:
    """An event as stored, with its place in the chain."""

    seq: int
    at: datetime
    event: AuditEvent
