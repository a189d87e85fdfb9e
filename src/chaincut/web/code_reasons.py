"""A health code's reasons in the page's language.

The codes service words each reason in English as it computes it (the API and the signed code
carry that text); ``codes.rules.reason_parts`` reads the text back into its fields, and each
form is written here in the page's language, with venues named in it. A text of no known form
(a rule chaincut may add later) is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaincut.bootstrap import Services
from chaincut.codes.rules import reason_parts
from chaincut.domain.health_codes import HealthCode
from chaincut.errors import NotFound
from chaincut.web.i18n import N_, Language, Localizer
from chaincut.web.labels import CASE_STATUSES, label

__all__ = ["COLOURS", "code_view", "reason_text"]

COLOURS = {"green": N_("green"), "yellow": N_("yellow"), "amber": N_("amber"), "red": N_("red")}

_EXPOSURES = {
    "close contact": N_("Close contact"),
    "exposed contact": N_("Exposed contact"),
    "visited a high-risk place": N_("Visited a high-risk place"),
}
_ORDERS = {
    "quarantine order in force": N_("Quarantine order in force"),
    "compulsory testing notice": N_("Compulsory testing notice"),
}
_TESTS = {"pcr": N_("PCR"), "rat": N_("rapid antigen")}


def reason_text(words: Localizer, text: str, venue_name: Callable[[str], str]) -> str:
    """``text`` (a reason as the codes service words it) in ``words``' language; ``venue_name``
    names a venue by its ref in that language."""
    parts = reason_parts(text)
    if parts is None:
        return text
    f = parts.fields
    if parts.kind == "case":
        return words.gettext("Case %(case)s, %(status)s") % {
            "status": label(words, CASE_STATUSES, f["status"]),
            "case": f["case"],
        }
    if parts.kind == "discharged":
        return words.gettext("Discharged from case %(case)s less than %(days)s days ago") % f
    if parts.kind == "exposure":
        if "unnamed" in f:  # a resident's own code: other people's cases go unnamed
            via = (
                words.gettext("a case") if f["unnamed"] == "a case" else words.gettext("a contact of a case")
            )
        elif f["via"] == "case":
            via = words.gettext("case %(case)s") % {"case": f["case"]}
        else:
            via = words.gettext("a contact of case %(case)s") % {"case": f["case"]}
        named = {"label": label(words, _EXPOSURES, f["label"]), "via": via}
        if "risky_venue" in f:
            return words.gettext("%(label)s: %(venue)s, the same day as %(via)s") % {
                **named,
                "venue": venue_name(f["risky_venue"]),
            }
        if "venue" in f:
            return words.gettext("%(label)s: a visit to %(venue)s with %(via)s") % {
                **named,
                "venue": venue_name(f["venue"]),
            }
        if "household" in f:
            return words.gettext("%(label)s: the household of %(via)s") % named
        return words.gettext("%(label)s: near %(via)s") % named
    if parts.kind == "order":
        named = {"label": label(words, _ORDERS, f["label"]), "id": f["id"]}
        if "case" in f:
            return words.gettext("%(label)s %(id)s (case %(case)s)") % {**named, "case": f["case"]}
        if "unnamed" in f:
            return words.gettext("%(label)s %(id)s (a case)") % named
        return words.gettext("%(label)s %(id)s") % named
    if parts.kind == "positive_test":
        return words.gettext("Positive %(test)s test") % {"test": label(words, _TESTS, f["test"])}
    if parts.kind == "vaccination":
        return words.gettext("Fewer than %(doses)s vaccine doses") % f
    if parts.kind == "arrival":
        return words.gettext("Arrived from %(origin)s") % f
    return words.gettext("Set by hand by a supervisor: %(reason)s") % f


def code_view(words: Localizer, services: Services, current: HealthCode) -> dict[str, Any]:
    """A health code as a page shows it: its colour and each reason, in ``words``' language, with
    the times the colour and each reason end in the authority's zone."""
    zone = services.settings.zone
    chinese = words.language is Language.ZH_HANT
    named: dict[str, str] = {}

    def venue_name(ref: str) -> str:
        if ref not in named:
            try:
                venue = services.venues.get(ref)
            except NotFound:
                named[ref] = ref
            else:
                named[ref] = venue.name_zh if chinese else venue.name_en
        return named[ref]

    return {
        "colour": current.colour,
        "colour_label": label(words, COLOURS, current.colour),
        "until": current.until.astimezone(zone) if current.until else None,
        "overridden": current.overridden,
        "policy_version": current.policy_version,
        "reasons": [
            {
                "colour": label(words, COLOURS, r.colour),
                "text": reason_text(words, r.text, venue_name),
                "until": r.until.astimezone(zone) if r.until else None,
                "case": r.case_ref,
            }
            for r in current.reasons
        ],
    }
