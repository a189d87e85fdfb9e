"""Border reopening: quota-controlled crossings booked by checkpoint, day and slot, or drawn by ballot,
and clearance at the checkpoint, online or offline."""

from chaincut.border.ballot import DrawOutcome, draw_ballot, draw_time
from chaincut.border.bookings import BookingService
from chaincut.border.bundle import ClearanceBundle, decision_from_dict, decision_to_dict
from chaincut.border.clearance import decide
from chaincut.border.clearances import ClearanceService
from chaincut.border.draws import BallotDraws
from chaincut.border.ports import (
    CheckedCode,
    CodeCheck,
    CodeStanding,
    CodeVerifier,
    KnownStanding,
    RevokedCodesProvider,
    StandingLookup,
    TrustListProvider,
    VerifierFactory,
)
from chaincut.border.types import BookingRequest

__all__ = [
    "BallotDraws",
    "BookingRequest",
    "BookingService",
    "CheckedCode",
    "ClearanceBundle",
    "ClearanceService",
    "CodeCheck",
    "CodeStanding",
    "CodeVerifier",
    "DrawOutcome",
    "KnownStanding",
    "RevokedCodesProvider",
    "StandingLookup",
    "TrustListProvider",
    "VerifierFactory",
    "decide",
    "decision_from_dict",
    "decision_to_dict",
    "draw_ballot",
    "draw_time",
]
