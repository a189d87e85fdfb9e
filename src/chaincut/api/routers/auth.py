"""Signing in and out: bearer tokens for the API, and who the caller is."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_at: datetime | None


class MePublic(BaseModel):
    name: str
    kind: str
    roles: list[str]
    permissions: list[str]


@router.post("/token")
def sign_in(
    body: SignIn, caller: Annotated[Caller, requires(Permission.PUBLIC, rate="sign-in")]
) -> TokenPublic:
    """Sign in as staff: a bearer token for the API. Repeated failures lock the account for a while."""
    issued = caller.services.accounts.issue_staff_token(body.username, body.password)
    return TokenPublic(access_token=issued.secret, expires_at=issued.expires_at)


@router.post("/logout", status_code=204)
def sign_out(request: Request, caller: Annotated[Caller, requires(Permission.SIGNED_IN)]) -> None:
    """End the bearer token this request carries (staff, or a device giving up its token)."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer" and secret:
        caller.services.accounts.revoke_token(secret)
        caller.services.principals.forget(secret)


@router.get("/me")
def who_am_i(caller: Annotated[Caller, requires(Permission.SIGNED_IN)]) -> MePublic:
    principal = caller.principal
    return MePublic(
        name=principal.name,
        kind=principal.kind.value,
        roles=sorted(r.value for r in principal.roles),
        permissions=sorted(p.value for p in principal.permissions()),
    )
