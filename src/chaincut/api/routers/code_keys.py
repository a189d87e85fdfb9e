"""Signed health codes: the authority's published trust list and code-revocation list (anyone), and
for administrators its code-signing keys (list, rotate, revoke) and its partners' lists (list, sync)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from chaincut.codes.key_service import CodeKeyInfo
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/codes", tags=["codes"])


class CodeKeyPublic(BaseModel):
    kid: str = Field(description="key id: base64 of the first 8 bytes of the certificate's SHA-256")
    role: str = Field(description="root or dsc (document signer)")
    status: str = Field(description="active, retired (listed until its codes expire), expired or revoked")
    created_at: datetime
    created_by: str
    not_after: datetime
    retired_at: datetime | None = None
    trusted_until: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


class CodeKeysPublic(BaseModel):
    data: list[CodeKeyPublic]
    count: int


class CodeKeyRevoke(BaseModel):
    reason: str = Field(min_length=3, max_length=300, description="why the key is revoked (audited)")


class PartnerPublic(BaseModel):
    name: str
    url: str
    issuer: str | None
    sequence: int | None
    signers: int
    synced_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    revocations_url: str | None = None
    revocations_sequence: int | None = None
    revocations_synced_at: datetime | None = None


class PartnersPublic(BaseModel):
    data: list[PartnerPublic]
    count: int


class SyncOutcomePublic(BaseModel):
    name: str
    accepted: bool
    sequence: int | None
    reason: str
    revocations_sequence: int | None = Field(
        default=None, description="the sequence of the partner's code-revocation list held now"
    )
    revocations_reason: str = Field(default="", description="what became of its code-revocation list")


class SyncOutcomesPublic(BaseModel):
    data: list[SyncOutcomePublic]
    count: int


def _key(info: CodeKeyInfo) -> CodeKeyPublic:
    return CodeKeyPublic(**vars(info))


@router.get("/trust-list", response_model=dict[str, Any])
def trust_list(caller: Annotated[Caller, requires(Permission.PUBLIC)]) -> dict[str, Any]:
    """The authority's trust list, signed by its root: only certificates, so anyone may fetch it."""
    return dict(caller.services.code_keys.trust_list())


@router.get("/revocations", response_model=dict[str, Any])
def revocations(caller: Annotated[Caller, requires(Permission.PUBLIC)]) -> dict[str, Any]:
    """The authority's code-revocation list, signed by its root: the ids of signed codes revoked
    (their holder's colour worsened after issue) with their expiry, and a sequence that only grows.
    Only code ids, so anyone may fetch it."""
    return dict(caller.services.code_revocations.revocation_list())


@router.get("/keys", response_model=CodeKeysPublic)
def list_keys(caller: Annotated[Caller, requires(Permission.CODE_KEYS)]) -> CodeKeysPublic:
    """Every code-signing key with its status (never a private key)."""
    keys = [_key(k) for k in caller.services.code_keys.list_keys()]
    return CodeKeysPublic(data=keys, count=len(keys))


@router.post("/keys/rotate", response_model=CodeKeyPublic)
def rotate(caller: Annotated[Caller, requires(Permission.CODE_KEYS)]) -> CodeKeyPublic:
    """A new document signer becomes active; the old one stays listed until its codes expire."""
    return _key(caller.services.code_keys.rotate(caller.principal))


@router.post("/keys/{kid}/revoke", response_model=CodeKeyPublic)
def revoke(
    kid: Annotated[str, Path(min_length=8, max_length=16, description="the key id, base64 or base64url")],
    body: CodeKeyRevoke,
    caller: Annotated[Caller, requires(Permission.CODE_KEYS)],
) -> CodeKeyPublic:
    """Take a document signer out of the trust list at once (a new one replaces an active one)."""
    return _key(caller.services.code_keys.revoke(kid, body.reason, caller.principal))


@router.get("/partners", response_model=PartnersPublic)
def list_partners(caller: Annotated[Caller, requires(Permission.CODE_KEYS)]) -> PartnersPublic:
    """The partner jurisdictions whose codes are accepted, and how their last sync went."""
    partners = [PartnerPublic(**vars(p)) for p in caller.services.code_partners.list_partners()]
    return PartnersPublic(data=partners, count=len(partners))


@router.post("/partners/sync", response_model=SyncOutcomesPublic)
def sync_partners(caller: Annotated[Caller, requires(Permission.CODE_KEYS)]) -> SyncOutcomesPublic:
    """Fetch every partner's trust list now; a list that fails keeps the previous one, with why."""
    outcomes = [SyncOutcomePublic(**vars(o)) for o in caller.services.code_partners.sync(caller.principal)]
    return SyncOutcomesPublic(data=outcomes, count=len(outcomes))
