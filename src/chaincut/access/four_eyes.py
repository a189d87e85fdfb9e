"""Four eyes: a decision on another's request is a supervisor's, and never the requester's own."""

from __future__ import annotations

from chaincut.domain.access import Principal, Role
from chaincut.errors import PermissionDenied

__all__ = ["require_someone_else", "require_supervisor"]


def require_supervisor(principal: Principal, decides: str) -> None:
    """PermissionDenied (``supervisor_required``) unless ``principal`` is a supervisor; ``decides``
    completes "only a supervisor ...", naming the decision."""
    if not principal.has_role(Role.SUPERVISOR):
        raise PermissionDenied(f"only a supervisor {decides}", code="supervisor_required")


def require_someone_else(principal: Principal, *authors: str | None, message: str) -> None:
    """PermissionDenied (``own_request``) when ``principal`` is one of the request's ``authors``."""
    if principal.name in authors:
        raise PermissionDenied(message, code="own_request")
