"""What administrators run: code-signing keys, partner jurisdictions and retention purges.

- ``/console/keys``: every signing key and its status; rotate the document signer, or revoke one
  with a reason, each only once a box confirming it is ticked; partners and their last sync, and
  a sync now;
- ``/console/purges``: the policy's retention periods, the recent purges, and a purge now
  (confirmed the same way).

Each calls the service the API calls (``/keys``, ``/partners``, ``/purges``), under the same
permission, and is audited the same way. Nothing here shows a private key or any deleted record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from chaincut.domain.access import Permission
from chaincut.errors import Conflict, InvalidInput, NotFound
from chaincut.guards import Caller, requires
from chaincut.web.i18n import N_
from chaincut.web.pages import PageRoute, back_to, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

KeyKeeper = Annotated[Caller, requires(Permission.CODE_KEYS)]
Purger = Annotated[Caller, requires(Permission.RETENTION_RUN)]

_KEY_STATUSES = {
    "active": N_("active: signs new codes"),
    "retired": N_("retired: listed until its codes expire"),
    "expired": N_("expired"),
    "revoked": N_("revoked"),
}
_DONE = {
    "rotated": N_("A new document signer is active; the old one stays listed until its codes expire."),
    "revoked": N_("The key is revoked: it left the trust list at once."),
    "purged": N_("Purged: each kind's count is below."),
}
_PROBLEMS = {
    "confirm": N_("Nothing was done: tick the box to confirm."),
    "reason": N_("Nothing was done: give a reason of 3 to 300 characters."),
    "kid": N_("Nothing was done: that key is not one that can be revoked."),
}
_PURGE_KINDS = {
    "visits": N_("visits"),
    "encounters": N_("encounters"),
    "corrections": N_("corrected details' old values"),
    "sessions": N_("ended web sessions"),
    "tokens": N_("ended tokens"),
    "approvals": N_("ended export approvals"),
    "signed_codes": N_("expired signed codes"),
    "rate_counts": N_("rate-limit counts"),
    "warnings": N_("expired decentralised check-in warnings"),
    "exposure_reports": N_("residents' reported exposures at decentralised venues"),
}


@router.get("/console/keys")
def keys(
    request: Request,
    caller: KeyKeeper,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The signing keys (never a private one) and the partners, with what may be done to each."""
    services = caller.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    found = services.code_keys.list_keys()
    partners = services.code_partners.list_partners()
    caller.audit("code_keys", "list", details={"keys": len(found), "partners": len(partners)})
    return page(
        request,
        caller,
        "keys.html",
        keys=[
            {
                "kid": k.kid,
                "kid_url": k.kid.replace("+", "-").replace("/", "_"),  # base64url: one path segment
                "role": k.role,
                "status": words.gettext(_KEY_STATUSES[k.status]) if k.status in _KEY_STATUSES else k.status,
                "revocable": k.role == "dsc" and k.status in ("active", "retired"),
                "created_at": k.created_at.astimezone(zone),
                "created_by": k.created_by,
                "not_after": k.not_after.astimezone(zone),
                "revoked_reason": k.revoked_reason,
            }
            for k in found
        ],
        partners=[
            {
                "name": p.name,
                "url": p.url,
                "sequence": p.sequence,
                "signers": p.signers,
                "synced_at": p.synced_at.astimezone(zone) if p.synced_at else None,
                "error": p.last_error,
            }
            for p in partners
        ],
        notice=words.message(_DONE, done),
        problem=words.message(_PROBLEMS, problem),
    )


@router.post("/console/keys/rotate")
def rotate(caller: KeyKeeper, confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    """Rotate the document signer, once confirmed (the Guard has checked the form's CSRF token)."""
    if confirm != "yes":
        return back_to("/console/keys", problem="confirm")
    caller.services.code_keys.rotate(caller.principal)
    return back_to("/console/keys", done="rotated")


@router.post("/console/keys/{kid}/revoke")
def revoke(
    caller: KeyKeeper,
    kid: Annotated[str, Path(min_length=8, max_length=16)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Revoke a document signer with a reason, once confirmed (audited by the service)."""
    if confirm != "yes":
        return back_to("/console/keys", problem="confirm")
    if not 3 <= len(reason.strip()) <= 300:
        return back_to("/console/keys", problem="reason")
    try:
        caller.services.code_keys.revoke(kid, reason.strip(), caller.principal)
    except (InvalidInput, NotFound, Conflict):
        return back_to("/console/keys", problem="kid")
    return back_to("/console/keys", done="revoked")


@router.post("/console/partners/sync")
def sync_partners(request: Request, caller: KeyKeeper) -> HTMLResponse:
    """Fetch every partner's trust list now and show what each sync did."""
    words = localizer_for(request, caller)
    outcomes = caller.services.code_partners.sync(caller.principal)
    return page(
        request,
        caller,
        "partner_sync.html",
        outcomes=[
            {
                "name": o.name,
                "accepted": o.accepted,
                "sequence": o.sequence,
                "reason": o.reason,
                "revocations": o.revocations_reason,
            }
            for o in outcomes
        ],
        nothing=words.gettext(N_("No partner is configured.")) if not outcomes else None,
    )


@router.get("/console/purges")
def purges(
    request: Request,
    caller: Purger,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The retention periods, the recent purges, and a purge now."""
    services = caller.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    with services.store.read() as uow:
        recent = uow.purges.recent()
    caller.audit("purges", "list", details={"count": len(recent)})
    rules = services.policy.retention
    return page(
        request,
        caller,
        "purges.html",
        rules=rules,
        policy_version=services.policy.version,
        every_minutes=max(1, round(services.settings.maintenance_interval_seconds / 60)),
        recent=[
            {
                "kind": words.gettext(_PURGE_KINDS[r.kind]) if r.kind in _PURGE_KINDS else r.kind,
                "deleted": r.deleted,
                "cutoff": r.cutoff.astimezone(zone),
                "run_at": r.run_at.astimezone(zone),
                "policy_version": r.policy_version,
            }
            for r in recent
        ],
        notice=words.message(_DONE, done),
        problem=words.message(_PROBLEMS, problem),
    )


@router.post("/console/purges")
def purge_now(caller: Purger, confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    """Delete what the policy keeps no longer, once confirmed (audited with each kind's count)."""
    if confirm != "yes":
        return back_to("/console/purges", problem="confirm")
    services = caller.services
    records = services.purge_expired()
    caller.audit("purges", details={r.kind: r.deleted for r in records})
    return back_to("/console/purges", done="purged")
