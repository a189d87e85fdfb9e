"""A resident's signed health code: the QR text their app shows at a checkpoint, or the QR image.

Each call signs a fresh code from the resident's current colour; it expires after
the policy's ``[signed_codes] valid_hours`` (or sooner, when the colour may
change), so a screenshot soon stops working. Each issue is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from chaincut.bootstrap import Services
from chaincut.codes.issuance import code_qr_png
from chaincut.codes.signed import SignedCode
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires
from chaincut.web.resident_pages import own_signed_code as issue_own_code

__all__ = ["router"]

router = APIRouter(tags=["health codes"])


class SignedCodePublic(BaseModel):
    qr: str = Field(description="the QR text: CC1: then base45 (HCERT wire format, ES256)")
    code_id: str = Field(description="unique per issued code: a checkpoint refuses it a second time")
    kid: str = Field(description="the signer's key id (base64)")
    colour: str
    reasons: list[str]
    expires_at: datetime


def _issue(caller: Caller) -> tuple[Services, SignedCode]:
    return caller.services, issue_own_code(caller)


@router.get("/me/code/signed")
def own_signed_code(caller: Annotated[Caller, requires(Permission.CODES_OWN)]) -> SignedCodePublic:
    """A freshly signed code for the resident whose app asks."""
    services, signed = _issue(caller)
    zone = services.settings.zone
    return SignedCodePublic(
        qr=signed.issued.text,
        code_id=signed.issued.code_id,
        kid=signed.issued.kid,
        colour=signed.code.colour,
        reasons=[reason.text for reason in signed.code.reasons],
        expires_at=signed.issued.expires_at.astimezone(zone),
    )


@router.get(
    "/me/code/signed.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the QR image (alphanumeric mode)"}},
)
def own_signed_code_png(caller: Annotated[Caller, requires(Permission.CODES_OWN)]) -> Response:
    """The same, as a QR image for the app's screen."""
    _services, signed = _issue(caller)
    return Response(code_qr_png(signed.issued.text), media_type="image/png")
