"""When a signed credential (a health code, an EU DCC) may be accepted: its issue and expiry times,
read with a leeway for clocks that disagree.

A checkpoint's clock is never exactly the issuer's. Without leeway, a checkpoint whose clock
runs one second behind the server refuses a code fetched at the gate ("issued after the
validation time"), and one running ahead refuses a code in its last second. Every verifier
(our own codes, partners' codes, EU DCCs, the test double) asks this module, so they agree:
a credential is accepted from ``iat - leeway`` to ``exp + leeway``, and its signer from its
certificate's start minus the leeway to its end plus the leeway. The leeway is an operational
setting (``CHAINCUT_CODE_LEEWAY_SECONDS``), not epidemiology; it widens the window a stolen
code can be used by at most that long, which is why it is bounded.

Times are epoch seconds (what CWT ``iat``/``exp`` hold).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CODE_LEEWAY_SECONDS",
    "MAX_CODE_LEEWAY_SECONDS",
    "signer_time_problem",
    "validity_problem",
]

DEFAULT_CODE_LEEWAY_SECONDS = 300  # as CHAINCUT_CHECKIN_MAX_FUTURE_SECONDS: five minutes of skew
MAX_CODE_LEEWAY_SECONDS = 3600  # beyond an hour a clock is wrong, not skewed; a bigger leeway is refused


def validity_problem(
    issued_at: float | None, expires_at: float | None, at: float, leeway: float, *, noun: str
) -> str | None:
    """Why a credential (``noun``: "code", "certificate") is not valid at ``at``; None when it is."""
    if issued_at is None or expires_at is None:
        return f"the {noun} lacks a numeric issue time (iat) or expiry time (exp)"
    if at < issued_at - leeway:
        return f"the {noun} was issued after the validation time"
    if at > expires_at + leeway:
        return f"the {noun} has expired"
    return None


def signer_time_problem(not_before: float, not_after: float, at: float, leeway: float) -> str | None:
    """Why the signer's certificate is not valid at ``at`` (read with the same leeway); None when it is."""
    if not not_before - leeway <= at <= not_after + leeway:
        return "the signer certificate is not valid at the validation time"
    return None
