"""A health code's reasons read back from their English text and written in each page language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaincut.codes.rules import (
    ArrivalFact,
    CaseFact,
    ExposureFact,
    OrderFact,
    OverrideFact,
    PersonFacts,
    TestFact,
    reason_parts,
    reasons_at,
)
from chaincut.policy import default_policy_text, parse_policy
from chaincut.web.code_reasons import reason_text
from chaincut.web.i18n import Language, Localizer

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
D = timedelta(days=1)
# The shipped rules, with the vaccination rule switched on so that every kind of fact can hold.
RULES = parse_policy(
    default_policy_text().replace("min_doses = 2\nenabled = false", "min_doses = 2", 1)
).health_codes
VENUES = {"V-1": ("Golden Dragon", "金龍酒家"), "V-2": ("Iron Gym", "鐵館")}

EVERYTHING = PersonFacts(
    1,
    cases=[CaseFact("C-1", "confirmed"), CaseFact("C-2", "probable", NOW - 3 * D)],
    exposures=[
        ExposureFact("C-7", "close", "venue", NOW - D, "V-1"),
        ExposureFact("C-8", "exposed", "household", NOW - D),
        ExposureFact("C-9", "exposed", "encounter", NOW - D, generation=2),
        ExposureFact("C-6", "risky_visit", "venue", NOW - D, "V-2"),
    ],
    orders=[
        OrderFact("quarantine", "Q1", NOW - D, NOW + 5 * D, "C-7"),
        OrderFact("testing_notice", "T1", NOW - D, NOW + D, None),
    ],
    tests=[TestFact(NOW - 2 * D, "pcr", "positive")],
    arrivals=[ArrivalFact(NOW - D, "Macao SAR")],
    override=OverrideFact("red", "called the hotline: fever", NOW + D),
)


def _venue(language: Language):  # type: ignore[no-untyped-def]
    return lambda ref: VENUES[ref][1 if language is Language.ZH_HANT else 0]


def _texts(language: Language) -> set[str]:
    words = Localizer(language)
    return {reason_text(words, r.text, _venue(language)) for r in reasons_at(EVERYTHING, RULES, NOW)}


def test_every_reason_the_rules_word_is_read_back() -> None:
    reasons = reasons_at(EVERYTHING, RULES, NOW)
    kinds = {reason_parts(r.text).kind for r in reasons}  # type: ignore[union-attr]
    assert kinds == {
        "case",
        "discharged",
        "exposure",
        "order",
        "positive_test",
        "vaccination",
        "arrival",
        "override",
    }
    assert reason_parts("a rule chaincut does not know yet") is None


def test_reasons_are_written_in_english_with_venue_names() -> None:
    assert _texts(Language.EN) >= {
        "Case C-1, confirmed",
        "Discharged from case C-2 less than 14 days ago",
        "Close contact: a visit to Golden Dragon with case C-7",
        "Exposed contact: the household of case C-8",
        "Exposed contact: near a contact of case C-9",
        "Visited a high-risk place: Iron Gym, the same day as case C-6",
        "Quarantine order in force Q1 (case C-7)",
        "Compulsory testing notice T1",
        "Positive PCR test",
        "Fewer than 2 vaccine doses",
        "Arrived from Macao SAR",
        "Set by hand by a supervisor: called the hotline: fever",
    }


def test_reasons_are_written_in_traditional_chinese_with_venue_names() -> None:
    texts = _texts(Language.ZH_HANT)
    assert any("金龍酒家" in t and "C-7" in t for t in texts)
    assert any("鐵館" in t and "C-6" in t for t in texts)
    assert not any("contact" in t or "case" in t or "Golden Dragon" in t for t in texts), texts


def test_a_residents_own_reasons_with_other_peoples_cases_unnamed_are_read_back() -> None:
    # codes.status.own_code writes "a case" for someone else's case: the resident's page reads it back.
    words = {language: Localizer(language) for language in (Language.EN, Language.ZH_HANT)}
    unnamed = {
        "close contact (visit to venue V-1 with a case)": (
            "Close contact: a visit to Golden Dragon with a case",
            "金龍酒家",
        ),
        "exposed contact (household of a contact of a case)": (
            "Exposed contact: the household of a contact of a case",
            "",
        ),
        "quarantine order in force Q1 (a case)": ("Quarantine order in force Q1 (a case)", "Q1"),
    }
    for text, (english, in_chinese) in unnamed.items():
        assert reason_parts(text) is not None, text
        assert reason_text(words[Language.EN], text, _venue(Language.EN)) == english
        chinese = reason_text(words[Language.ZH_HANT], text, _venue(Language.ZH_HANT))
        assert in_chinese in chinese and "case" not in chinese, chinese
