"""The experts' policy file: the shipped default, its cited sources, and error reporting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from chaincut.errors import PolicyError, UnknownVenueType
from chaincut.policy import Tier, default_policy_text, load_policy, parse_policy
from chaincut.settings import Settings

VALUE_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=")
SECTION_LINE = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")


CITED_SECTIONS = (
    "retention",
    "uploads",
    "infectious_window",
    "household",
    "encounters",
    "contacts_of_contacts",
    "orders",
    "border",
    "reproduction_number",
    "clusters",
    "clusters.building_kinds",
)


def uncited_values(text: str) -> list[str]:
    """The value lines that carry no ``#`` comment giving their source.

    Checked: every ``key = value`` in the sections of CITED_SECTIONS and in each venue
    type's [contact] rule, and every venue type's ``default_stay_minutes`` and
    ``max_stay_minutes``. A value is
    cited by a comment on its own line, or by the comment heading its paragraph (the
    lines above it with no blank line between).
    """
    uncited: list[str] = []
    section = ""
    paragraph_has_comment = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            paragraph_has_comment = False
            continue
        header = SECTION_LINE.match(line)
        if header:
            section = header.group(1).strip()
            paragraph_has_comment = False
            continue
        if stripped.startswith("#"):
            paragraph_has_comment = True
            continue
        value = VALUE_LINE.match(line)
        if value is None:
            continue
        key = value.group(1)
        checked = (
            section in CITED_SECTIONS
            or section.endswith((".contact", ".slots"))
            or (section.startswith("venue_types.") and key in ("default_stay_minutes", "max_stay_minutes"))
        )
        inline = "#" in line.split("=", 1)[1] and line.split("#", 1)[1].strip()
        if checked and not inline and not paragraph_has_comment:
            uncited.append(f"line {number}: {section}.{key}")
    return uncited


def test_the_shipped_default_parses() -> None:
    policy = load_policy(None)
    assert policy.version == "2026.11-default"
    assert policy.retention.visits_days == 31
    assert policy.retention.encounters_days == 31
    assert policy.uploads.max_records_per_batch == 10_000
    assert policy.uploads.history_days == 21
    assert "taxi" in policy.venue_types
    restaurant = policy.venue_rule("restaurant")
    assert restaurant.default_stay == timedelta(minutes=90)
    assert restaurant.label_zh == "食肆"
    with pytest.raises(UnknownVenueType) as caught:
        policy.venue_rule("karaoke")
    assert caught.value.venue_type == "karaoke"
    assert caught.value.field == "venue_type"
    assert "'karaoke'" in caught.value.message and "restaurant" in caught.value.message
    assert len(policy.digest) == 16
    assert parse_policy(default_policy_text()).digest == policy.digest


def test_every_shipped_value_cites_its_source() -> None:
    text = default_policy_text()
    assert uncited_values(text) == []
    for key in ("default_stay_minutes", "max_stay_minutes"):
        stays = [line for line in text.splitlines() if line.strip().startswith(key)]
        assert len(stays) == len(load_policy(None).venue_types)
        for line in stays:
            assert re.search(r"#\s*\S", line), line  # each venue type's stays carry their own comment


def test_the_citation_check_finds_an_uncited_value() -> None:
    text = default_policy_text()
    stripped = re.sub(r"(default_stay_minutes = 30)\s+#.*", r"\1", text, count=1)
    assert stripped != text
    bare = text.replace("[retention]\n", "[retention]\n\nextra_days = 4\n", 1)
    assert uncited_values(stripped) == [
        f"line {stripped.splitlines().index('default_stay_minutes = 30') + 1}: "
        "venue_types.supermarket.default_stay_minutes"
    ]
    assert [u.split(": ")[1] for u in uncited_values(bare)] == ["retention.extra_days"]


def broken(*edits: tuple[str, str]) -> str:
    """The shipped default with each ``(old, new)`` text replaced once."""
    text = default_policy_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


BROKEN = broken(
    ("visits_days = 31\n", ""),
    ("encounters_days = 31", 'encounters_days = "thirty"'),
    ("history_days = 21", "history_days = 0"),
    ("default_stay_minutes = 120   # chaincut default: dine-in", "default_stay_minutes = -30  # dine-in"),
    ('label_en = "Fitness centre"', 'label_en = ""'),
    ("default_stay_minutes = 90    # chaincut default\n", "default_stay_minutes = 90.5\n"),
    ("default_stay_minutes = 30    # chaincut default: a typical", "default_stay_minutes = true # a typical"),
    ("[policy]\n", "[contact_rules]\nmin_overlap_minutes = 15\n\n[policy]\n"),
)


def test_a_broken_policy_lists_every_problem_by_key_path() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(BROKEN, source="broken.toml")
    problems = caught.value.problems
    paths = [p.split(":", 1)[0] for p in problems]
    assert sorted(paths) == sorted(
        [
            "retention.visits_days",
            "retention.encounters_days",
            "uploads.history_days",
            "venue_types.bar.default_stay_minutes",
            "venue_types.gym.label_en",
            "venue_types.gym.default_stay_minutes",
            "venue_types.taxi.default_stay_minutes",
            "contact_rules",
        ]
    ), problems
    by_path = dict(p.split(": ", 1) for p in problems)
    assert by_path["retention.visits_days"] == "missing; expected a whole number of days"
    assert "'thirty'" in by_path["retention.encounters_days"]
    assert "-30" in by_path["venue_types.bar.default_stay_minutes"]
    assert by_path["venue_types.gym.default_stay_minutes"] == "expected a whole number of minutes, got 90.5"
    assert "unknown section" in by_path["contact_rules"]
    message = str(caught.value)
    assert message.startswith("broken.toml: 8 problem(s)")
    assert caught.value.code == "invalid_policy"


def test_every_venue_type_has_a_longest_believable_stay() -> None:
    """A stay past max_stay_minutes is clipped; the default stay must fit inside it."""
    policy = load_policy(None)
    for rule in policy.venue_types.values():
        assert rule.default_stay_minutes <= rule.max_stay_minutes <= 7 * 24 * 60, rule.name
    assert policy.venue_rule("restaurant").max_stay == timedelta(hours=12)
    assert policy.venue_rule("hotel").max_stay == timedelta(days=7)
    restaurant = policy.venue_rule("restaurant")
    entered = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    assert restaurant.clip(entered, entered + timedelta(hours=12)) == (entered + timedelta(hours=12), False)
    assert restaurant.clip(entered, entered + timedelta(days=9)) == (entered + timedelta(hours=12), True)

    text = broken(
        ("max_stay_minutes = 720    # chaincut default, a judgement: a cook's", "max_stay_minutes = 60 #"),
        ("max_stay_minutes = 10080", "max_stay_minutes = 20000"),
        ("max_stay_minutes = 1440   # chaincut default, a judgement: a doctor's", "# a doctor's"),
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    by_path = dict(p.split(": ", 1) for p in caught.value.problems)
    assert set(by_path) == {
        "venue_types.restaurant.max_stay_minutes",
        "venue_types.hotel.max_stay_minutes",
        "venue_types.hospital.max_stay_minutes",
    }
    assert by_path["venue_types.restaurant.max_stay_minutes"].startswith(
        "60 minutes is shorter than default_stay_minutes = 90"
    )
    assert by_path["venue_types.hotel.max_stay_minutes"] == "expected at most 10080, got 20000"
    assert by_path["venue_types.hospital.max_stay_minutes"] == "missing; expected a whole number of minutes"


def test_missing_sections_and_bad_toml() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy('[policy]\nversion = "x"\n')
    paths = {p.split(":", 1)[0] for p in caught.value.problems}
    for section in ("retention", "uploads", "infectious_window", "household", "encounters", "orders"):
        assert section in paths
    assert {"retention.visits_days", "uploads.history_days", "orders.quarantine_days"} <= paths
    assert "venue_types" in paths

    with pytest.raises(PolicyError) as caught:
        parse_policy("[retention\nvisits_days = 31\n", source="typo.toml")
    assert str(caught.value).startswith("typo.toml: not valid TOML")
    assert len(caught.value.problems) == 1


def test_load_policy_from_a_file(tmp_path: Path) -> None:
    edited = default_policy_text().replace("visits_days = 31", "visits_days = 28", 1)
    path = tmp_path / "policy.toml"
    path.write_text(edited, encoding="utf-8")
    policy = load_policy(path)
    assert policy.retention.visits_days == 28
    assert policy.digest != load_policy(None).digest

    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "absent.toml")


def test_the_local_time_zone_is_an_operator_setting(tmp_path: Path) -> None:
    """The time zone left the policy (experts' rules only); settings refuse an unknown one."""
    assert "local_timezone" not in default_policy_text()
    assert Settings(data_dir=tmp_path, local_timezone="Asia/Singapore").zone.key == "Asia/Singapore"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus_Mons'") as caught:
        Settings(data_dir=tmp_path, local_timezone="Mars/Olympus_Mons")
    assert caught.value.errors()[0]["loc"] == ("local_timezone",)


def test_unknown_keys_are_reported_with_their_path() -> None:
    from chaincut.policy import default_policy_text, parse_policy

    text = default_policy_text().replace("visits_days = 31", "visits_days = 31\nvisit_days = 30")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert any(p.startswith("retention.visit_days: unknown key") for p in caught.value.problems)


def test_the_tracing_rules_of_the_shipped_default() -> None:
    policy = load_policy(None)
    assert policy.infectious_window.days_before_onset == 2
    assert policy.infectious_window.days_before_specimen == 2
    assert policy.household.tier is Tier.CLOSE
    assert policy.encounters.cumulative_seconds == 15 * 60
    assert policy.contacts_of_contacts.depth == 1
    assert policy.contacts_of_contacts.from_tiers == frozenset({Tier.CLOSE})
    assert policy.orders.quarantine_days == 14
    taxi = policy.venue_rule("taxi")
    assert taxi.contact.after_leave_seconds == 30 * 60
    assert all(t.contact.tier in set(Tier) for t in policy.venue_types.values())
    assert policy.longest_after_leave_seconds == 120 * 60
    assert Tier.CLOSE.rank > Tier.EXPOSED.rank


def test_tracing_rules_wrong_values_and_units_are_named() -> None:
    text = broken(
        ("cumulative_minutes = 15", 'cumulative_minutes = "15m"'),
        (
            'household are close contacts by default.\ntier = "close"',
            'household are close contacts by default.\ntier = "quarantine"',
        ),
        (
            'min_overlap_minutes = 15\nafter_leave_minutes = 30\ntier = "exposed"',
            'min_overlap_minutes = 0.25\nafter_leave_minutes = 30\ntier = "exposed"\nseats = 4',
        ),
        ('from_tiers = ["close"]', 'from_tiers = ["close", "nearby"]'),
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    by_path = dict(p.split(": ", 1) for p in caught.value.problems)
    assert by_path["encounters.cumulative_minutes"] == "expected a whole number of minutes, got '15m'"
    assert by_path["household.tier"] == "expected one of 'close', 'exposed', got 'quarantine'"
    assert by_path["venue_types.restaurant.contact.min_overlap_minutes"].endswith("got 0.25")
    assert by_path["venue_types.restaurant.contact.seats"].startswith("unknown key")
    assert "'nearby'" in by_path["contacts_of_contacts.from_tiers[1]"]
    assert len(caught.value.problems) == 5


def test_contradictory_rules_are_refused() -> None:
    text = broken(
        ("days_before_onset = 2", "days_before_onset = 40"),
        ("history_days = 21", "history_days = 45"),
        (
            'depth = 1\nfrom_tiers = ["close"]\ntier = "exposed"',
            'depth = 2\nfrom_tiers = []\ntier = "exposed"',
        ),
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    problems = caught.value.problems
    assert any(
        p.startswith("uploads.history_days: 45 days contradicts retention.visits_days") for p in problems
    )
    assert any(p.startswith("infectious_window.days_before_onset: 40 days reaches past") for p in problems)
    assert any(p.startswith("contacts_of_contacts.from_tiers: empty") for p in problems)

    upward = broken(('from_tiers = ["close"]\ntier = "exposed"', 'from_tiers = ["exposed"]\ntier = "close"'))
    with pytest.raises(PolicyError, match="would rank a contact of a contact above"):
        parse_policy(upward)


def test_the_border_quotas_are_the_experts_data() -> None:
    border = load_policy(None).border
    assert border.booking_days_ahead == 7
    assert border.max_companions == 3
    assert border.mode.value == "first_come"
    assert border.full_slot_recheck_seconds == 2
    daily = {p: sum(c.slots.values()) for p, c in border.checkpoints.items()}
    assert sorted(daily.values(), reverse=True) == [35_000, 10_000, 5_000]
    spur = border.checkpoint("lok_ma_chau_spur_line")
    assert spur is not None
    assert spur.name_zh == "落馬洲支線管制站"
    assert set(spur.slots) == {"morning", "afternoon", "night"}
    assert border.checkpoint("airport") is None


def test_a_broken_border_section_names_each_key() -> None:
    text = broken(
        ("booking_days_ahead = 7", 'booking_days_ahead = "a week"'),
        ('mode = "first_come"', 'mode = "lottery"'),
        ("morning = 4000", "morning = -1"),
        ("night = 1000", "night = 1000.5"),
        ('name_zh = "文錦渡管制站"', 'name_zh = ""\nopens_at = "07:00"'),
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    by_path = dict(p.split(": ", 1) for p in caught.value.problems)
    assert by_path["border.booking_days_ahead"] == "expected a whole number of days, got 'a week'"
    assert by_path["border.checkpoints.man_kam_to.slots.night"] == (
        "expected a whole number of travellers, got 1000.5"
    )
    assert by_path["border.mode"] == "expected one of 'first_come', 'ballot', got 'lottery'"
    assert by_path["border.checkpoints.shenzhen_bay.slots.morning"] == "expected at least 0, got -1"
    assert by_path["border.checkpoints.man_kam_to.name_zh"].startswith("expected a non-empty string")
    assert by_path["border.checkpoints.man_kam_to.opens_at"].startswith("unknown key")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-1", "expected at least 0, got -1"),
        ("61", "expected at most 60, got 61"),
        ('"soon"', "expected a whole number of seconds, got 'soon'"),
    ],
)
def test_the_full_slot_recheck_time_is_checked(value: str, problem: str) -> None:
    text = broken(("full_slot_recheck_seconds = 2", f"full_slot_recheck_seconds = {value}"))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    by_path = dict(p.split(": ", 1) for p in caught.value.problems)
    assert by_path["border.full_slot_recheck_seconds"] == problem


def test_a_policy_without_a_border_section_says_so() -> None:
    start = default_policy_text().index("[border]")
    end = default_policy_text().index("# Venue types.")
    with pytest.raises(PolicyError) as caught:
        parse_policy(default_policy_text()[:start] + default_policy_text()[end:])
    assert any(p.startswith("border: expected a table") for p in caught.value.problems)
