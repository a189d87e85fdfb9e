"""Access control and audit: accounts, credentials, purpose-bound access, approvals, the audit trail."""

from chaincut.access.accounts import NewCredential, StaffAccounts
from chaincut.access.approvals import ExportApprovals
from chaincut.access.audit import AuditTrail
from chaincut.access.principals import PrincipalResolver
from chaincut.access.rate_limit import RateLimiter
from chaincut.access.records import RecordAccess

__all__ = [
    "AuditTrail",
    "ExportApprovals",
    "NewCredential",
    "PrincipalResolver",
    "RateLimiter",
    "RecordAccess",
    "StaffAccounts",
]
