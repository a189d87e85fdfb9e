"""Reading and checking the policy file, reporting every problem by key path."""

from __future__ import annotations

import hashlib
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from chaincut.errors import PolicyError
from chaincut.policy.border_loading import CLEARANCE_KEYS, clearance_rules
from chaincut.policy.checker import Checker
from chaincut.policy.cluster_loading import cluster_rules
from chaincut.policy.health_code_loading import health_code_rules
from chaincut.policy.model import (
    BookingMode,
    BorderRules,
    CheckpointRule,
    ContactRule,
    ContactsOfContactsRule,
    EncounterRule,
    EpidemicCurveRules,
    HouseholdRule,
    InfectiousWindowRule,
    OrderRules,
    Policy,
    PresenceRules,
    RetentionRules,
    SignedCodeRules,
    TracingTargetRules,
    UploadRules,
    VenueTypeRule,
)
from chaincut.policy.reproduction_loading import reproduction_number_rules

__all__ = ["default_policy_text", "load_policy", "parse_policy", "policy_text"]


def default_policy_text() -> str:
    """The policy chaincut ships, with a source cited for every value."""
    return (resources.files("chaincut.policy") / "default.toml").read_text(encoding="utf-8")


def policy_text(path: Path | None) -> str:
    """The text of the policy file at ``path``, or of the shipped default when ``path`` is None."""
    if path is None:
        return default_policy_text()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"{path}: not UTF-8 text (byte {exc.start})", [f"(file): not UTF-8 text at byte {exc.start}"]
        ) from exc


def load_policy(path: Path | None) -> Policy:
    """The policy at ``path``, or the shipped default when ``path`` is None."""
    return parse_policy(policy_text(path), source="default policy" if path is None else str(path))


_SECTIONS = {
    "policy",
    "retention",
    "uploads",
    "presence",
    "infectious_window",
    "household",
    "encounters",
    "contacts_of_contacts",
    "orders",
    "tracing_targets",
    "venue_types",
    "border",
    "signed_codes",
    "health_codes",
    "reproduction_number",
    "epidemic_curve",
    "clusters",
}
_SLOTS = ("morning", "afternoon", "night")
_MODES = ", ".join(repr(m.value) for m in BookingMode)
_MAX_DAYS = 3650
_MAX_VERSION = 64  # what every record naming the policy in force keeps (cases, orders, codes, purges)
_MAX_MINUTES = 7 * 24 * 60


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """Check the whole policy text and build a Policy, or raise PolicyError listing all problems."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}", [f"(file): {exc}"]) from exc
    check = Checker()
    days = {"low": 1, "high": _MAX_DAYS}
    head = check.section(data, "policy", {"version", "authority"})
    version = check.get(head, "policy", "version", str)
    if version is not None and not (0 < len(version) <= _MAX_VERSION and version.isprintable()):
        check.problems.append(
            f"policy.version: expected 1 to {_MAX_VERSION} printable characters, got {len(version)}"
        )
        version = None

    ret = check.section(
        data, "retention", {"visits_days", "encounters_days", "corrected_values_days", "ended_access_days"}
    )
    visits_days = check.get(ret, "retention", "visits_days", int, **days)
    encounters_days = check.get(ret, "retention", "encounters_days", int, **days)
    corrected_days = check.get(ret, "retention", "corrected_values_days", int, **days)
    ended_access_days = check.get(ret, "retention", "ended_access_days", int, low=0, high=_MAX_DAYS)

    up = check.section(data, "uploads", {"max_records_per_batch", "history_days"})
    max_records = check.get(up, "uploads", "max_records_per_batch", int, low=1, high=1_000_000)
    history_days = check.get(up, "uploads", "history_days", int, **days)

    pres = check.section(
        data,
        "presence",
        {"records_days", "max_warning_hours", "max_checkins_per_day", "dummy_requests_per_hour"},
    )
    records_days = check.get(pres, "presence", "records_days", int, **days)
    max_warning_hours = check.get(pres, "presence", "max_warning_hours", int, low=1, high=24 * 7)
    max_checkins = check.get(pres, "presence", "max_checkins_per_day", int, low=1, high=10_000)
    dummies = check.get(pres, "presence", "dummy_requests_per_hour", int, low=0, high=3600)

    win = check.section(data, "infectious_window", {"days_before_onset", "days_before_specimen"})
    before_onset = check.get(win, "infectious_window", "days_before_onset", int, low=0, high=60)
    before_specimen = check.get(win, "infectious_window", "days_before_specimen", int, low=0, high=60)

    household_tier = check.tier(check.section(data, "household", {"tier"}), "household")

    enc = check.section(data, "encounters", {"cumulative_minutes", "tier"})
    cumulative = check.get(enc, "encounters", "cumulative_minutes", int, low=0, high=_MAX_MINUTES)
    encounter_tier = check.tier(enc, "encounters")

    coc = check.section(data, "contacts_of_contacts", {"depth", "from_tiers", "tier"})
    depth = check.get(coc, "contacts_of_contacts", "depth", int, low=1, high=5)
    from_tiers = check.tiers(coc, "contacts_of_contacts", "from_tiers")
    coc_tier = check.tier(coc, "contacts_of_contacts")

    orders = check.section(data, "orders", {"quarantine_days", "testing_notice_days", "follow_up_days"})
    quarantine_days = check.get(orders, "orders", "quarantine_days", int, low=1, high=60)
    notice_days = check.get(orders, "orders", "testing_notice_days", int, low=1, high=60)
    follow_up_days = check.get(orders, "orders", "follow_up_days", int, low=1, high=60)
    targets = check.section(
        data, "tracing_targets", {"contacts_traced_within_hours", "indicator_days", "lost_to_follow_up_days"}
    )
    traced_within = check.get(
        targets, "tracing_targets", "contacts_traced_within_hours", int, low=1, high=24 * 14
    )
    indicator_days = check.get(targets, "tracing_targets", "indicator_days", int, low=1, high=366)
    lost_days = check.get(targets, "tracing_targets", "lost_to_follow_up_days", int, low=1, high=60)

    venue_types = _venue_types(check, data)
    border = _border(check, data)
    codes = check.section(data, "signed_codes", {"valid_hours", "bundle_max_age_hours"})
    code_valid_hours = check.get(codes, "signed_codes", "valid_hours", int, low=1, high=24 * 31)
    bundle_max_age = check.get(codes, "signed_codes", "bundle_max_age_hours", int, low=1, high=24 * 7)
    health_codes = health_code_rules(check, data)
    reproduction = reproduction_number_rules(check, data)
    epidemic_curve = _epidemic_curve(check, data)
    clusters = cluster_rules(check, data)

    for extra in sorted(set(data) - _SECTIONS):
        check.problems.append(f"{extra}: unknown section; expected one of {', '.join(sorted(_SECTIONS))}")
    _contradictions(check, visits_days, encounters_days, history_days, before_onset, before_specimen)
    if depth is not None and depth > 1 and from_tiers is not None and not from_tiers:
        check.problems.append(
            f"contacts_of_contacts.from_tiers: empty, which contradicts depth = {depth}; "
            "name the tiers to trace onward from, or set depth = 1"
        )
    if coc_tier is not None and from_tiers and any(coc_tier.rank > t.rank for t in from_tiers):
        check.problems.append(
            f"contacts_of_contacts.tier: {coc_tier.value!r} would rank a contact of a contact above "
            f"the contact it came through ({', '.join(sorted(t.value for t in from_tiers))})"
        )
    if border is not None and health_codes is not None:
        unknown = sorted(border.clearance.cleared_colours - set(health_codes.colours))
        if unknown:
            check.problems.append(
                f"border.cleared_colours: {', '.join(map(repr, unknown))} is not a colour of "
                f"health_codes.colours ({', '.join(health_codes.colours)})"
            )
    if check.problems:
        raise PolicyError(f"{source}: {len(check.problems)} problem(s): {check.problems[0]}", check.problems)
    assert household_tier
    assert encounter_tier
    assert coc_tier
    assert from_tiers is not None
    assert border is not None
    assert health_codes is not None
    assert reproduction is not None
    assert epidemic_curve is not None
    assert clusters is not None
    return Policy(
        version=version,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        retention=RetentionRules(
            visits_days=visits_days,
            encounters_days=encounters_days,
            corrected_values_days=corrected_days,
            ended_access_days=ended_access_days,
        ),
        uploads=UploadRules(max_records_per_batch=max_records, history_days=history_days),
        presence=PresenceRules(records_days, max_warning_hours, max_checkins, dummies),
        venue_types=venue_types,
        infectious_window=InfectiousWindowRule(before_onset, before_specimen),
        household=HouseholdRule(household_tier),
        encounters=EncounterRule(cumulative, encounter_tier),
        contacts_of_contacts=ContactsOfContactsRule(depth, from_tiers, coc_tier),
        orders=OrderRules(quarantine_days, notice_days, follow_up_days),
        tracing_targets=TracingTargetRules(traced_within, indicator_days, lost_days),
        border=border,
        signed_codes=SignedCodeRules(valid_hours=code_valid_hours, bundle_max_age_hours=bundle_max_age),
        health_codes=health_codes,
        reproduction_number=reproduction,
        epidemic_curve=epidemic_curve,
        clusters=clusters,
    )


def _epidemic_curve(check: Checker, data: dict[str, Any]) -> EpidemicCurveRules | None:
    section = check.section(data, "epidemic_curve", {"average_window_days", "growth_fit_days"})
    window = check.get(section, "epidemic_curve", "average_window_days", int, low=1, high=28)
    fit = check.get(section, "epidemic_curve", "growth_fit_days", int, low=3, high=91)
    if window is None or fit is None:
        return None
    return EpidemicCurveRules(average_window_days=window, growth_fit_days=fit)


def _venue_types(check: Checker, data: dict[str, Any]) -> dict[str, VenueTypeRule]:
    types_table = check.table(data.get("venue_types"), "venue_types")
    if not types_table and "venue_types" in data:
        check.problems.append("venue_types: expected at least one venue type")
    venue_types: dict[str, VenueTypeRule] = {}
    for name, raw in types_table.items():
        path = f"venue_types.{name}"
        entry = check.table(raw, path)
        check.only(
            entry, path, {"label_en", "label_zh", "default_stay_minutes", "max_stay_minutes", "contact"}
        )
        label_en = check.get(entry, path, "label_en", str)
        label_zh = check.get(entry, path, "label_zh", str)
        stay = check.get(entry, path, "default_stay_minutes", int, low=1, high=_MAX_MINUTES)
        longest = check.get(entry, path, "max_stay_minutes", int, low=1, high=_MAX_MINUTES)
        if stay is not None and longest is not None and longest < stay:
            check.problems.append(
                f"{path}.max_stay_minutes: {longest} minutes is shorter than default_stay_minutes = {stay}: "
                "a visit nobody checked out of would be closed after a stay longer than believable"
            )
            longest = None
        contact = check.table(entry.get("contact"), f"{path}.contact")
        check.only(contact, f"{path}.contact", {"min_overlap_minutes", "after_leave_minutes", "tier"})
        minutes = {"low": 0, "high": _MAX_MINUTES}
        overlap = check.get(contact, f"{path}.contact", "min_overlap_minutes", int, **minutes)
        after = check.get(contact, f"{path}.contact", "after_leave_minutes", int, **minutes)
        tier = check.tier(contact, f"{path}.contact") if contact else None
        if None not in (label_en, label_zh, stay, longest, overlap, after, tier):
            assert tier is not None
            venue_types[name] = VenueTypeRule(
                name=name,
                label_en=label_en,
                label_zh=label_zh,
                default_stay_minutes=stay,
                max_stay_minutes=longest,
                contact=ContactRule(overlap, after, tier),
            )
    return venue_types


def _border(check: Checker, data: dict[str, Any]) -> BorderRules | None:
    section = check.section(
        data,
        "border",
        {
            "booking_days_ahead",
            "max_companions",
            "full_slot_recheck_seconds",
            "mode",
            "checkpoints",
            *CLEARANCE_KEYS,
        },
    )
    days_ahead = check.get(section, "border", "booking_days_ahead", int, low=0, high=366)
    companions = check.get(section, "border", "max_companions", int, low=0, high=20)
    recheck = check.get(section, "border", "full_slot_recheck_seconds", int, low=0, high=60)
    mode: BookingMode | None = None
    if section:
        raw_mode = section.get("mode")
        try:
            mode = BookingMode(str(raw_mode))
        except ValueError:
            got = "missing" if raw_mode is None else f"got {raw_mode!r}"
            check.problems.append(f"border.mode: expected one of {_MODES}, {got}")
    points = check.table(section.get("checkpoints"), "border.checkpoints") if section else {}
    if section and not points and isinstance(section.get("checkpoints"), dict):
        check.problems.append("border.checkpoints: expected at least one checkpoint")
    checkpoints: dict[str, CheckpointRule] = {}
    for point_id, raw in points.items():
        path = f"border.checkpoints.{point_id}"
        entry = check.table(raw, path)
        check.only(entry, path, {"name_en", "name_zh", "slots"})
        name_en = check.get(entry, path, "name_en", str)
        name_zh = check.get(entry, path, "name_zh", str)
        slots_table = check.table(entry.get("slots"), f"{path}.slots") if entry else {}
        check.only(slots_table, f"{path}.slots", set(_SLOTS))
        quotas = {
            slot: check.count(slots_table, f"{path}.slots", slot, "travellers", low=0, high=10_000_000)
            for slot in (_SLOTS if slots_table else ())
        }
        if name_en is not None and name_zh is not None and quotas and None not in quotas.values():
            checkpoints[point_id] = CheckpointRule(point_id, name_en, name_zh, quotas)
    clearance = clearance_rules(check, section, _SLOTS, days_ahead)
    if days_ahead is None or companions is None or recheck is None or mode is None or not checkpoints:
        return None
    if clearance is None:
        return None
    return BorderRules(days_ahead, companions, mode, checkpoints, clearance, recheck)


def _contradictions(
    check: Checker,
    visits_days: int | None,
    encounters_days: int | None,
    history_days: int | None,
    before_onset: int | None,
    before_specimen: int | None,
) -> None:
    if visits_days is not None and history_days is not None and history_days > visits_days:
        check.problems.append(
            f"uploads.history_days: {history_days} days contradicts retention.visits_days = {visits_days}: "
            "uploaded visits older than retention would be purged at once"
        )
    for key, value in (("days_before_onset", before_onset), ("days_before_specimen", before_specimen)):
        for kept, kept_days in (("visits_days", visits_days), ("encounters_days", encounters_days)):
            if value is not None and kept_days is not None and value >= kept_days:
                check.problems.append(
                    f"infectious_window.{key}: {value} days reaches past retention.{kept} = {kept_days}: "
                    "the window would open before the oldest whereabouts kept"
                )
