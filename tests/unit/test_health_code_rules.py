"""The health-code rules: hand-written scenarios, a loop-by-loop oracle, and the policy's checks.

The oracle restates the shipped policy's rules (Hong Kong Health Code, Dec 2021) one
fact at a time; Hypothesis checks ``evaluate`` against it on random facts, at every hour
of the next 40 days, and checks that ``until`` is exactly the first hour the colour changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.codes.rules import (
    ArrivalFact,
    CaseFact,
    ExposureFact,
    OrderFact,
    OverrideFact,
    PersonFacts,
    TestFact,
    evaluate,
)
from chaincut.errors import PolicyError
from chaincut.policy import default_policy_text, load_policy, parse_policy

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
RULES = load_policy(None).health_codes


def code(facts: PersonFacts, at: datetime = NOW):  # type: ignore[no-untyped-def]
    return evaluate(facts, RULES, at, policy_version="test")


# --- hand-written scenarios -----------------------------------------------------------------

SCENARIOS: list[tuple[str, PersonFacts, str, list[str], datetime | None]] = [
    ("nothing", PersonFacts(1), "green", [], None),
    ("open case", PersonFacts(1, cases=[CaseFact("C-7", "confirmed")]), "red", ["confirmed_case"], None),
    ("probable case", PersonFacts(1, cases=[CaseFact("C-7", "probable")]), "red", ["confirmed_case"], None),
    ("suspected case", PersonFacts(1, cases=[CaseFact("C-7", "suspected")]), "green", [], None),
    (
        "discharged 3 days ago",
        PersonFacts(1, cases=[CaseFact("C-7", "confirmed", NOW - 3 * D)]),
        "red",
        ["recently_discharged"],
        NOW + 11 * D,
    ),
    (
        "discharged 15 days ago",
        PersonFacts(1, cases=[CaseFact("C-7", "confirmed", NOW - 15 * D)]),
        "green",
        [],
        None,
    ),
    (
        "close contact 2 days ago",
        PersonFacts(1, exposures=[ExposureFact("C-7", "close", "venue", NOW - 2 * D, "V-1")]),
        "red",
        ["close_contact"],
        NOW + 12 * D,
    ),
    (
        "close and exposed: red until the close one ends, then amber",
        PersonFacts(
            1,
            exposures=[
                ExposureFact("C-7", "close", "household", NOW - 2 * D),
                ExposureFact("C-8", "exposed", "venue", NOW - 1 * D, "V-2"),
            ],
        ),
        "red",
        ["close_contact", "exposed_contact"],
        NOW + 12 * D,
    ),
    (
        "exposed, lifted by a negative test after it",
        PersonFacts(
            1,
            exposures=[ExposureFact("C-7", "exposed", "venue", NOW - 2 * D, "V-1")],
            tests=[TestFact(NOW - 10 * H, "pcr", "negative")],
        ),
        "green",
        [],
        NOW + 62 * H,
    ),
    (
        "exposed, a negative test before it lifts nothing",
        PersonFacts(
            1,
            exposures=[ExposureFact("C-7", "exposed", "venue", NOW - 2 * D, "V-1")],
            tests=[TestFact(NOW - 3 * D, "pcr", "negative")],
        ),
        "amber",
        ["exposed_contact"],
        NOW + 19 * D,
    ),
    (
        "quarantine order in force",
        PersonFacts(1, orders=[OrderFact("quarantine", "Q1", NOW - D, NOW + 5 * D, "C-7")]),
        "red",
        ["quarantine"],
        NOW + 5 * D,
    ),
    (
        "testing notice answered by a negative test",
        PersonFacts(
            1,
            orders=[OrderFact("testing_notice", "T1", NOW - D, NOW + D, "C-7")],
            tests=[TestFact(NOW - H, "rat", "negative")],
        ),
        "green",
        [],
        None,  # the lift outlasts the notice
    ),
    (
        "positive test",
        PersonFacts(1, tests=[TestFact(NOW - 2 * H, "rat", "positive")]),
        "red",
        ["positive_test"],
        NOW + 166 * H,
    ),
    (
        "arrived 20 days ago",
        PersonFacts(1, arrivals=[ArrivalFact(NOW - 20 * D, "GB")]),
        "amber",
        ["arrival"],
        NOW + D,
    ),
    (
        "override green over a close contact, for 2 hours",
        PersonFacts(
            1,
            exposures=[ExposureFact("C-7", "close", "venue", NOW - D, "V-1")],
            override=OverrideFact("green", "laboratory error", NOW + 2 * H),
        ),
        "green",
        ["manual_override", "close_contact"],
        NOW + 2 * H,
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "colour", "rules", "until"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_scenarios(
    name: str, facts: PersonFacts, colour: str, rules: list[str], until: datetime | None
) -> None:
    got = code(facts)
    assert got.colour == colour
    assert [r.rule for r in got.reasons] == rules
    assert got.until == until
    assert got.overridden == (rules[:1] == ["manual_override"])


def test_reasons_read_as_the_issue_asks() -> None:
    got = code(PersonFacts(1, exposures=[ExposureFact("C-7", "close", "venue", NOW - D, "V-1")]))
    assert got.reasons[0].text == "close contact (visit to venue V-1 with case C-7)"
    assert got.reasons[0].until == NOW + 13 * D
    assert got.reasons[0].case_ref == "C-7" and got.reasons[0].venue_ref == "V-1"
    second = code(
        PersonFacts(1, exposures=[ExposureFact("C-7", "exposed", "encounter", NOW - D, generation=2)])
    )
    assert second.reasons[0].text == "exposed contact (encounter with a contact of case C-7)"
    case = code(
        PersonFacts(1, cases=[CaseFact("C-7", "confirmed")], tests=[TestFact(NOW - H, "pcr", "positive")])
    )
    assert [r.text for r in case.reasons] == ["confirmed case C-7", "positive pcr test"]


def test_the_most_restrictive_colour_wins_and_reasons_are_ordered() -> None:
    got = code(
        PersonFacts(
            1,
            arrivals=[ArrivalFact(NOW - D, "SG")],
            orders=[OrderFact("quarantine", "Q1", NOW - D, NOW + D)],
        )
    )
    assert got.colour == "red"
    assert [r.colour for r in got.reasons] == ["red", "amber"]
    # The quarantine ends first: the colour changes then (amber for the arrival), not when all end.
    assert got.until == NOW + D


def test_vaccination_rule_when_enabled() -> None:
    text = default_policy_text().replace("min_doses = 2\nenabled = false", "min_doses = 2\nenabled = true")
    rules = parse_policy(text).health_codes
    one = PersonFacts(1, vaccine_doses=[NOW - 60 * D])
    assert evaluate(one, rules, NOW).colour == "amber"
    assert evaluate(one, rules, NOW).reasons[0].text == "fewer than 2 vaccine doses"
    two = PersonFacts(1, vaccine_doses=[NOW - 60 * D, NOW - 30 * D])
    assert evaluate(two, rules, NOW).colour == "green"
    # Disabled in the shipped policy: nobody is amber for want of doses.
    assert code(PersonFacts(1)).colour == "green"


# --- the oracle -----------------------------------------------------------------------------


def oracle(f: PersonFacts, t: datetime) -> str:
    """The shipped policy's colour at ``t``, restated fact by fact."""
    if f.override is not None and (f.override.until is None or t < f.override.until):
        return f.override.colour

    def lifted(start: datetime) -> bool:
        return any(n.result == "negative" and start <= n.taken_at <= t < n.taken_at + 72 * H for n in f.tests)

    red = amber = False
    for c in f.cases:
        if c.status in ("confirmed", "probable") and (c.discharged_at is None or t < c.discharged_at):
            red = True
        if c.discharged_at is not None and c.discharged_at <= t < c.discharged_at + 14 * D:
            red = True
    for e in f.exposures:
        if e.tier == "close" and e.last_exposure_at <= t < e.last_exposure_at + 14 * D:
            red = True
        if e.tier in ("exposed", "risky_visit") and e.last_exposure_at <= t < e.last_exposure_at + 21 * D:
            amber = amber or not lifted(e.last_exposure_at)
    for o in f.orders:
        if o.issued_at <= t < o.ends_at:
            if o.kind == "quarantine":
                red = True
            elif not lifted(o.issued_at):
                amber = True
    for n in f.tests:
        if n.result == "positive" and n.taken_at <= t < n.taken_at + 168 * H:
            red = True
    for a in f.arrivals:
        if a.arrived_at <= t < a.arrived_at + 21 * D:
            amber = True
    return "red" if red else "amber" if amber else "green"


hours_ago = st.integers(min_value=0, max_value=30 * 24).map(lambda h: NOW - h * H)
facts_strategy = st.builds(
    PersonFacts,
    person_id=st.just(1),
    cases=st.lists(
        st.builds(
            CaseFact,
            ref=st.sampled_from(["C1", "C2"]),
            status=st.sampled_from(["confirmed", "probable", "suspected"]),
            discharged_at=st.none() | hours_ago,
        ),
        max_size=2,
    ),
    exposures=st.lists(
        st.builds(
            ExposureFact,
            case_ref=st.just("C1"),
            tier=st.sampled_from(["close", "exposed", "risky_visit"]),
            evidence=st.sampled_from(["venue", "encounter", "household"]),
            last_exposure_at=hours_ago,
            venue_ref=st.just("V1"),
        ),
        max_size=3,
    ),
    orders=st.lists(
        st.builds(
            OrderFact,
            kind=st.sampled_from(["quarantine", "testing_notice"]),
            public_id=st.just("O1"),
            issued_at=hours_ago,
            ends_at=st.integers(min_value=-5 * 24, max_value=14 * 24).map(lambda h: NOW + h * H),
        ),
        max_size=2,
    ),
    tests=st.lists(
        st.builds(
            TestFact,
            taken_at=hours_ago,
            kind=st.just("pcr"),
            result=st.sampled_from(["positive", "negative"]),
        ),
        max_size=3,
    ),
    arrivals=st.lists(st.builds(ArrivalFact, arrived_at=hours_ago, origin=st.just("GB")), max_size=2),
    override=st.none()
    | st.builds(
        OverrideFact,
        colour=st.sampled_from(["green", "amber", "red"]),
        reason=st.just("review"),
        until=st.none() | st.integers(min_value=-24, max_value=10 * 24).map(lambda h: NOW + h * H),
    ),
)


@settings(max_examples=300, deadline=None)
@given(facts_strategy)
def test_evaluate_agrees_with_the_oracle_hour_by_hour(facts: PersonFacts) -> None:
    got = code(facts)
    assert got.colour == oracle(facts, NOW)
    # Every fact is on the hour grid, so the first hour the oracle's colour differs is exactly ``until``.
    first_change = None
    for h in range(1, 40 * 24):
        at = NOW + h * H
        if oracle(facts, at) != got.colour:
            first_change = at
            break
    assert got.until == first_change
    later = code(facts, NOW + 100 * H)
    assert later.colour == oracle(facts, NOW + 100 * H)


# --- the policy's checks name the key -------------------------------------------------------


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    return info.value.problems


def test_policy_problems_name_the_key() -> None:
    text = default_policy_text()
    assert any(
        p.startswith("health_codes.rules.close_contact.colour: expected one of health_codes.colours")
        for p in _problems(
            text.replace(
                'when = "close_contact"\ncolour = "red"', 'when = "close_contact"\ncolour = "crimson"'
            )
        )
    )
    assert any(
        p.startswith("health_codes.rules.arrival.when: expected one of")
        for p in _problems(text.replace('when = "arrival"', 'when = "arriving"'))
    )
    assert any(
        p.startswith("health_codes.rules.arrival.within_days: missing; expected a whole number of days")
        for p in _problems(
            text.replace(
                'when = "arrival"\ncolour = "amber"\nwithin_days = 21', 'when = "arrival"\ncolour = "amber"'
            )
        )
    )
    assert any(
        p.startswith("health_codes.rules.confirmed_case.within_days: unknown key")
        for p in _problems(
            text.replace(
                'when = "open_case"\ncolour = "red"', 'when = "open_case"\ncolour = "red"\nwithin_days = 3'
            )
        )
    )
    assert any(
        p.startswith("health_codes.default_colour: expected one of the colours")
        for p in _problems(text.replace('default_colour = "green"', 'default_colour = "blue"'))
    )
    assert any(
        p.startswith("health_codes.colours[2]: 'green' is listed twice")
        for p in _problems(
            text.replace('colours = ["green", "amber", "red"]', 'colours = ["green", "amber", "green"]')
        )
    )
    assert any(
        p.startswith(
            "health_codes.rules.exposed_contact.lifted_by_negative_test_hours: "
            "expected a whole number of hours"
        )
        for p in _problems(
            text.replace("lifted_by_negative_test_hours = 72", 'lifted_by_negative_test_hours = "3 days"', 1)
        )
    )
    assert any(
        p.startswith("health_codes.rules.unvaccinated.enabled: expected true or false")
        for p in _problems(text.replace("enabled = false", 'enabled = "no"'))
    )
    start, end = text.index("[health_codes]"), text.index("# Venue types.")
    assert any(
        p.startswith("health_codes: expected a table, missing") for p in _problems(text[:start] + text[end:])
    )


def test_the_shipped_rules_cite_their_source() -> None:
    text = default_policy_text()
    section = text[text.index("[health_codes]") : text.index("# Venue types.")]
    for block in section.split("[health_codes.rules.")[1:]:
        lines = block.splitlines()
        assert lines[1].startswith("#"), f"rule {lines[0]} needs a source comment"
