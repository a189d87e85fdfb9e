"""The health-code rules, evaluated: a person's facts and the policy's rules give a colour and reasons.

Pure: no store, no clock; ``now`` is passed in. Every enabled rule whose fact
holds at ``now`` gives one ``CodeReason`` per fact (for instance one per case a
person is a close contact of), with the instant that fact stops holding. A rule
with ``lifted_by_negative_test_hours`` does not hold while a negative test taken
after the fact began is no older than that. The code's colour is the most
restrictive colour of its reasons (the policy's default colour when none holds),
unless a supervisor's override is in force. The code's ``until`` is the first
instant at which the colour would change by itself, found by evaluating again at
each instant where some reason starts or stops holding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chaincut.domain.health_codes import CodeReason, HealthCode
from chaincut.policy import CodeRule, CodeRuleKind, HealthCodeRules

__all__ = [
    "OVERRIDE_RULE",
    "ArrivalFact",
    "CaseFact",
    "ExposureFact",
    "OrderFact",
    "OverrideFact",
    "PersonFacts",
    "ReasonParts",
    "TestFact",
    "change_points",
    "evaluate",
    "reason_parts",
    "reasons_at",
]

OVERRIDE_RULE = "manual_override"
_OPEN_STATUSES = frozenset({"confirmed", "probable"})


@dataclass(frozen=True)
class CaseFact:
    """The person is (or was) this case; ``discharged_at`` None while not discharged."""

    ref: str
    status: str  # confirmed, probable or suspected
    discharged_at: datetime | None = None


@dataclass(frozen=True)
class ExposureFact:
    """Tracing found the person exposed to a case: how closely, where, and when last.

    ``tier`` is close, exposed or risky_visit (same day at a venue the case visited);
    ``evidence`` is venue, encounter or household; ``generation`` above 1 means a
    contact of a contact of the case.
    """

    case_ref: str
    tier: str
    evidence: str
    last_exposure_at: datetime
    venue_ref: str | None = None
    generation: int = 1


@dataclass(frozen=True)
class OrderFact:
    """An open quarantine order or testing notice, in force from issue to ``ends_at``."""

    kind: str  # quarantine or testing_notice
    public_id: str
    issued_at: datetime
    ends_at: datetime
    case_ref: str | None = None


@dataclass(frozen=True)
class TestFact:
    """A test the person took: when, which kind (pcr, rat, ...), and its result."""

    __test__ = False  # not a pytest test class

    taken_at: datetime
    kind: str
    result: str  # positive or negative


@dataclass(frozen=True)
class ArrivalFact:
    """The person arrived from elsewhere."""

    arrived_at: datetime
    origin: str


@dataclass(frozen=True)
class OverrideFact:
    """A supervisor set the colour by hand, with a reason, until ``until`` (None: until cleared)."""

    colour: str
    reason: str
    until: datetime | None = None


@dataclass(frozen=True)
class PersonFacts:
    """Everything the rules read about one person."""

    person_id: int
    cases: Sequence[CaseFact] = ()
    exposures: Sequence[ExposureFact] = ()
    orders: Sequence[OrderFact] = ()
    tests: Sequence[TestFact] = ()
    vaccine_doses: Sequence[datetime] = ()  # when each dose was given
    arrivals: Sequence[ArrivalFact] = ()
    override: OverrideFact | None = None


@dataclass(frozen=True)
class _Holding:
    """One fact under one rule: the text, and from when until when it holds."""

    text: str
    start: datetime | None
    until: datetime | None
    case_ref: str | None = None
    venue_ref: str | None = None


def _exposure_text(label: str, e: ExposureFact) -> str:
    via = f"case {e.case_ref}" if e.generation <= 1 else f"a contact of case {e.case_ref}"
    if e.tier == "risky_visit":
        return f"{label} (venue {e.venue_ref}, the same day as {via})"
    if e.evidence == "venue":
        return f"{label} (visit to venue {e.venue_ref} with {via})"
    if e.evidence == "household":
        return f"{label} (household of {via})"
    return f"{label} ({e.evidence} with {via})"


def _holdings(rule: CodeRule, facts: PersonFacts) -> Iterator[_Holding]:
    """Every fact of the rule's kind, with the span over which it holds (before any lifting)."""
    kind = rule.when
    days = timedelta(days=rule.within_days or 0)
    if kind is CodeRuleKind.OPEN_CASE:
        for c in facts.cases:
            if c.status in _OPEN_STATUSES:
                yield _Holding(f"{c.status} case {c.ref}", None, c.discharged_at, case_ref=c.ref)
    elif kind is CodeRuleKind.DISCHARGED:
        for c in facts.cases:
            if c.discharged_at is not None:
                yield _Holding(
                    f"discharged from case {c.ref} under {rule.within_days} days",
                    c.discharged_at,
                    c.discharged_at + days,
                    case_ref=c.ref,
                )
    elif kind in (CodeRuleKind.CLOSE_CONTACT, CodeRuleKind.EXPOSED_CONTACT, CodeRuleKind.RISKY_VISIT):
        tier, label = {
            CodeRuleKind.CLOSE_CONTACT: ("close", "close contact"),
            CodeRuleKind.EXPOSED_CONTACT: ("exposed", "exposed contact"),
            CodeRuleKind.RISKY_VISIT: ("risky_visit", "visited a high-risk place"),
        }[kind]
        for e in facts.exposures:
            if e.tier == tier:
                yield _Holding(
                    _exposure_text(label, e),
                    e.last_exposure_at,
                    e.last_exposure_at + days,
                    case_ref=e.case_ref,
                    venue_ref=e.venue_ref,
                )
    elif kind in (CodeRuleKind.QUARANTINE_ORDER, CodeRuleKind.TESTING_NOTICE):
        order_kind = "quarantine" if kind is CodeRuleKind.QUARANTINE_ORDER else "testing_notice"
        label = "quarantine order in force" if order_kind == "quarantine" else "compulsory testing notice"
        for o in facts.orders:
            if o.kind == order_kind:
                text = f"{label} {o.public_id}" + (f" (case {o.case_ref})" if o.case_ref else "")
                yield _Holding(text, o.issued_at, o.ends_at, case_ref=o.case_ref)
    elif kind is CodeRuleKind.POSITIVE_TEST:
        hours = timedelta(hours=rule.within_hours or 0)
        for t in facts.tests:
            if t.result == "positive":
                yield _Holding(f"positive {t.kind} test", t.taken_at, t.taken_at + hours)
    elif kind is CodeRuleKind.VACCINATION:
        wanted = rule.min_doses or 1
        doses = sorted(facts.vaccine_doses)
        # Fewer than ``wanted`` doses until the wanted-th dose is given.
        until = doses[wanted - 1] if len(doses) >= wanted else None
        yield _Holding(f"fewer than {wanted} vaccine doses", None, until)
    elif kind is CodeRuleKind.ARRIVAL:
        for a in facts.arrivals:
            yield _Holding(f"arrived from {a.origin}", a.arrived_at, a.arrived_at + days)


def _lift(rule: CodeRule, holding: _Holding, tests: Sequence[TestFact], now: datetime) -> datetime | None:
    """Until when a negative test lifts this holding at ``now`` (None: it is not lifted)."""
    hours = rule.lifted_by_negative_test_hours
    if hours is None:
        return None
    span = timedelta(hours=hours)
    best: datetime | None = None
    for t in tests:
        if t.result != "negative" or t.taken_at > now:
            continue
        if holding.start is not None and t.taken_at < holding.start:
            continue
        if now < t.taken_at + span and (best is None or t.taken_at + span > best):
            best = t.taken_at + span
    return best


def _holds(h: _Holding, now: datetime) -> bool:
    return (h.start is None or h.start <= now) and (h.until is None or now < h.until)


_Held = list[tuple[CodeRule, list[_Holding]]]


def _held(facts: PersonFacts, rules: HealthCodeRules) -> _Held:
    return [(rule, list(_holdings(rule, facts))) for rule in rules.enabled_rules]


@dataclass(frozen=True)
class ReasonParts:
    """What a reason's text says, as fields a page can put in its own language.

    ``kind``: case, discharged, exposure, order, positive_test, vaccination, arrival, override.
    """

    kind: str
    fields: dict[str, str] = field(default_factory=dict)


# The reason texts above, read back (a test renders every kind of fact and reads it again). A resident
# reads their own with other people's cases unnamed ("a case": codes.status), which reads back too.
_VIA = r"(?:(?P<via>case|a contact of case) (?P<case>\S+)|(?P<unnamed>a case|a contact of a case))"
_REASON_FORMS = (
    ("case", re.compile(r"(?P<status>confirmed|probable) case (?P<case>\S+)")),
    ("discharged", re.compile(r"discharged from case (?P<case>\S+) under (?P<days>\d+) days")),
    (
        "exposure",
        re.compile(
            r"(?P<label>close contact|exposed contact|visited a high-risk place) \("
            r"(?:venue (?P<risky_venue>\S+), the same day as|visit to venue (?P<venue>\S+) with"
            rf"|(?P<household>household) of|(?P<evidence>\S+) with) {_VIA}\)"
        ),
    ),
    (
        "order",
        re.compile(
            r"(?P<label>quarantine order in force|compulsory testing notice) (?P<id>\S+)"
            r"(?: \((?:case (?P<case>\S+)|(?P<unnamed>a case))\))?"
        ),
    ),
    ("positive_test", re.compile(r"positive (?P<test>\S+) test")),
    ("vaccination", re.compile(r"fewer than (?P<doses>\d+) vaccine doses")),
    ("arrival", re.compile(r"arrived from (?P<origin>.+)")),
    ("override", re.compile(r"manual override by a supervisor: (?P<reason>.*)", re.DOTALL)),
)


def reason_parts(text: str) -> ReasonParts | None:
    """The fields of a reason's text (None: a text of no known form, shown as it is)."""
    for kind, form in _REASON_FORMS:
        found = form.fullmatch(text)
        if found is not None:
            return ReasonParts(kind, {k: v for k, v in found.groupdict().items() if v is not None})
    return None


def reasons_at(facts: PersonFacts, rules: HealthCodeRules, now: datetime) -> list[CodeReason]:
    """The reasons that hold at ``now``, most restrictive colour first (the override first of all)."""
    return _reasons(_held(facts, rules), facts, rules, now)


def _reasons(held: _Held, facts: PersonFacts, rules: HealthCodeRules, now: datetime) -> list[CodeReason]:
    reasons: list[CodeReason] = []
    for rule, holdings in held:
        for h in holdings:
            if not _holds(h, now) or _lift(rule, h, facts.tests, now) is not None:
                continue
            reasons.append(CodeReason(rule.name, rule.colour, h.text, h.until, h.case_ref, h.venue_ref))
    reasons.sort(key=lambda r: (-rules.rank(r.colour), r.rule, r.text))
    override = _override_at(facts, now)
    if override is not None:
        text = f"manual override by a supervisor: {override.reason}"
        reasons.insert(0, CodeReason(OVERRIDE_RULE, override.colour, text, override.until))
    return reasons


def _override_at(facts: PersonFacts, now: datetime) -> OverrideFact | None:
    o = facts.override
    if o is None or (o.until is not None and now >= o.until):
        return None
    return o


def _colour(reasons: Sequence[CodeReason], rules: HealthCodeRules) -> str:
    if reasons and reasons[0].rule == OVERRIDE_RULE:
        return reasons[0].colour
    return max((r.colour for r in reasons), key=rules.rank, default=rules.default_colour)


def change_points(facts: PersonFacts, rules: HealthCodeRules, now: datetime) -> list[datetime]:
    """Every instant after ``now`` at which some reason may start or stop holding, in order."""
    return _change_points(_held(facts, rules), facts, now)


def _change_points(held: _Held, facts: PersonFacts, now: datetime) -> list[datetime]:
    points: set[datetime] = set()
    for rule, holdings in held:
        for h in holdings:
            points.update(p for p in (h.start, h.until) if p is not None)
        if holdings and rule.lifted_by_negative_test_hours is not None:
            span = timedelta(hours=rule.lifted_by_negative_test_hours)
            points.update(t.taken_at + span for t in facts.tests if t.result == "negative")
    if facts.override is not None and facts.override.until is not None:
        points.add(facts.override.until)
    return sorted(p for p in points if p > now)


def evaluate(
    facts: PersonFacts, rules: HealthCodeRules, now: datetime, *, policy_version: str = ""
) -> HealthCode:
    """The person's code at ``now``: colour, reasons, and when the colour may change by itself."""
    held = _held(facts, rules)
    reasons = _reasons(held, facts, rules, now)
    colour = _colour(reasons, rules)
    until = None
    for point in _change_points(held, facts, now):
        if _colour(_reasons(held, facts, rules, point), rules) != colour:
            until = point
            break
    return HealthCode(
        person_id=facts.person_id,
        colour=colour,
        reasons=tuple(reasons),
        until=until,
        computed_at=now,
        policy_version=policy_version,
        overridden=bool(reasons) and reasons[0].rule == OVERRIDE_RULE,
    )
