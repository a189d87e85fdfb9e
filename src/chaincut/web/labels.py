"""The words pages show for the domain's values (case statuses, tiers, order kinds...), for translation.

Each maps a stored value to its English label, marked for the catalogs; a page shows it through
its :class:`~chaincut.web.i18n.Localizer` (``label(words, CASE_STATUSES, value)``).
"""

from __future__ import annotations

from collections.abc import Mapping

from chaincut.web.i18n import N_, Localizer

__all__ = [
    "CASE_CLASSIFICATIONS",
    "CASE_STATUSES",
    "EVIDENCE_KINDS",
    "ORDER_KINDS",
    "TIERS",
    "label",
]

CASE_STATUSES: dict[str, str] = {
    "confirmed": N_("confirmed"),
    "probable": N_("probable"),
    "suspected": N_("suspected"),
}
CASE_CLASSIFICATIONS: dict[str, str] = {
    "imported": N_("imported"),
    "local": N_("local"),
    "linked": N_("linked"),
    "unlinked": N_("unlinked"),
    "possibly_local": N_("possibly local"),
    "unknown": N_("unknown"),
}
TIERS: dict[str, str] = {"close": N_("close contact"), "exposed": N_("exposed")}
EVIDENCE_KINDS: dict[str, str] = {
    "venue": N_("same venue"),
    "encounter": N_("near each other"),
    "household": N_("same household"),
}
ORDER_KINDS: dict[str, str] = {"quarantine": N_("quarantine order"), "testing_notice": N_("testing notice")}


def label(words: Localizer, labels: Mapping[str, str], value: str) -> str:
    """``value``'s label in the page's language; a value without one is shown as it is stored."""
    return words.gettext(labels[value]) if value in labels else value
