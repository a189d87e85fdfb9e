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
    "DECISIONS",
    "EVIDENCE_KINDS",
    "ORDER_KINDS",
    "SYMPTOM_LABELS",
    "TIERS",
    "VISIT_SOURCES",
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
SYMPTOM_LABELS: dict[str, str] = {
    "fever": N_("fever"),
    "chills": N_("chills"),
    "cough": N_("cough"),
    "sore_throat": N_("sore throat"),
    "runny_nose": N_("runny nose"),
    "shortness_of_breath": N_("shortness of breath"),
    "fatigue": N_("fatigue"),
    "headache": N_("headache"),
    "muscle_pain": N_("muscle pain"),
    "loss_of_taste_or_smell": N_("loss of taste or smell"),
    "nausea_or_vomiting": N_("nausea or vomiting"),
    "diarrhoea": N_("diarrhoea"),
}
"""The follow-up's symptoms (``tracing.followups.SYMPTOMS``: a test checks that both name the same)."""
VISIT_SOURCES: dict[str, str] = {
    "qr": N_("checked in with the poster's code"),
    "upload": N_("from the visit history the case uploaded"),
    "interview": N_("told in an interview"),
    "import": N_("imported from another system"),
    "taxi": N_("taxi ride"),
    "crowdnotifier": N_("a private check-in the case chose to send"),
    "encounter": N_("near another person"),
}
DECISIONS: dict[str, str] = {"confirmed": N_("confirmed a member"), "rejected": N_("rejected as a member")}
ORDER_KINDS: dict[str, str] = {"quarantine": N_("quarantine order"), "testing_notice": N_("testing notice")}


def label(words: Localizer, labels: Mapping[str, str], value: str) -> str:
    """``value``'s label in the page's language; a value without one is shown as it is stored."""
    return words.gettext(labels[value]) if value in labels else value
