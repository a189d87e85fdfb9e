"""What changed between two versions of the policy, key by key.

Two policy texts are compared as parsed TOML, so comments, blank lines, key order and
quoting never count as changes; what the experts changed does. A value is reported
by its key path (``venue_types.bar.contact.min_overlap_minutes``); a whole table that
appears or disappears (a venue type added or removed) is reported once, at its own
path. When either side is an already loaded Policy, both sides are compared as the
rules chaincut applies (``policy_document``), which leaves out keys it does not read,
such as ``policy.authority``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any, Literal

from chaincut.errors import PolicyError
from chaincut.policy.loading import parse_policy
from chaincut.policy.model import Policy

__all__ = ["PolicyChange", "diff_policies", "policy_document"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class PolicyChange:
    """One difference: the key path, what happened to it, and its value before and after.

    ``old`` is None for an added key, ``new`` for a removed one.
    """

    path: str
    change: Literal["added", "removed", "changed"]
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "old": self.old, "new": self.new}


def policy_document(policy: Policy) -> dict[str, Any]:
    """The rules of a loaded policy in the layout of the policy file."""
    coc = policy.contacts_of_contacts
    rt = policy.reproduction_number
    return {
        "policy": {"version": policy.version},
        "retention": {
            "visits_days": policy.retention.visits_days,
            "encounters_days": policy.retention.encounters_days,
            "corrected_values_days": policy.retention.corrected_values_days,
            "ended_access_days": policy.retention.ended_access_days,
        },
        "uploads": {
            "max_records_per_batch": policy.uploads.max_records_per_batch,
            "history_days": policy.uploads.history_days,
        },
        "presence": {
            "records_days": policy.presence.records_days,
            "max_warning_hours": policy.presence.max_warning_hours,
            "max_checkins_per_day": policy.presence.max_checkins_per_day,
            "dummy_requests_per_hour": policy.presence.dummy_requests_per_hour,
        },
        "infectious_window": {
            "days_before_onset": policy.infectious_window.days_before_onset,
            "days_before_specimen": policy.infectious_window.days_before_specimen,
        },
        "household": {"tier": policy.household.tier.value},
        "encounters": {
            "cumulative_minutes": policy.encounters.cumulative_minutes,
            "tier": policy.encounters.tier.value,
        },
        "contacts_of_contacts": {
            "depth": coc.depth,
            "from_tiers": sorted(t.value for t in coc.from_tiers),
            "tier": coc.tier.value,
        },
        "orders": {
            "quarantine_days": policy.orders.quarantine_days,
            "testing_notice_days": policy.orders.testing_notice_days,
            "follow_up_days": policy.orders.follow_up_days,
        },
        "venue_types": {
            name: {
                "label_en": rule.label_en,
                "label_zh": rule.label_zh,
                "default_stay_minutes": rule.default_stay_minutes,
                "max_stay_minutes": rule.max_stay_minutes,
                "contact": {
                    "min_overlap_minutes": rule.contact.min_overlap_minutes,
                    "after_leave_minutes": rule.contact.after_leave_minutes,
                    "tier": rule.contact.tier.value,
                },
            }
            for name, rule in policy.venue_types.items()
        },
        "border": {
            "booking_days_ahead": policy.border.booking_days_ahead,
            "max_companions": policy.border.max_companions,
            "mode": policy.border.mode.value,
            "ballot_draw_local_time": f"{policy.border.clearance.ballot_draw_local_time:%H:%M}",
            "ballot_draw_days_before": policy.border.clearance.ballot_draw_days_before,
            "negative_test_hours": policy.border.clearance.negative_test_hours,
            "negative_test_kinds": sorted(policy.border.clearance.negative_test_kinds),
            "cleared_colours": sorted(policy.border.clearance.cleared_colours),
            "slot_hours": {s: str(h) for s, h in policy.border.clearance.slot_hours.items()},
            "checkpoints": {
                point_id: {"name_en": point.name_en, "name_zh": point.name_zh, "slots": dict(point.slots)}
                for point_id, point in policy.border.checkpoints.items()
            },
        },
        "signed_codes": {
            "valid_hours": policy.signed_codes.valid_hours,
            "bundle_max_age_hours": policy.signed_codes.bundle_max_age_hours,
        },
        "reproduction_number": {
            "window_days": rt.window_days,
            "prior_mean": rt.prior_mean,
            "prior_sd": rt.prior_sd,
            "max_posterior_cv": rt.max_posterior_cv,
            "serial_interval_mean_days": rt.serial_interval_mean_days,
            "serial_interval_sd_days": rt.serial_interval_sd_days,
        },
        "clusters": {
            "min_cases": policy.clusters.min_cases,
            "interval_days": policy.clusters.interval_days,
            "active_days": policy.clusters.active_days,
            "coarse_exposure_days_before_onset": policy.clusters.coarse_exposure_days_before_onset,
            "merge_min_shared_cases": policy.clusters.merge_min_shared_cases,
            "non_linking_kinds": sorted(policy.clusters.non_linking_kinds),
            "attach_only_kinds": sorted(policy.clusters.attach_only_kinds),
            "building_kinds": {kind: list(words) for kind, words in policy.clusters.building_kinds},
        },
    }


def _toml(text: str, side: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{side}: not valid TOML: {exc}", [f"(file): {exc}"]) from exc


def _key(path: str, key: str) -> str:
    part = key if _BARE_KEY.match(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{part}" if path else part


def _same(old: Any, new: Any) -> bool:
    # TOML tells 1 from 1.0 from true; Python's == does not.
    if type(old) is not type(new):
        return False
    if isinstance(old, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def _walk(old: dict[str, Any], new: dict[str, Any], path: str, out: list[PolicyChange]) -> None:
    for key in [*old, *(k for k in new if k not in old)]:
        where = _key(path, key)
        if key not in new:
            out.append(PolicyChange(where, "removed", old[key], None))
        elif key not in old:
            out.append(PolicyChange(where, "added", None, new[key]))
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            _walk(old[key], new[key], where, out)
        elif not _same(old[key], new[key]):
            out.append(PolicyChange(where, "changed", old[key], new[key]))


def diff_policies(a: str | Policy, b: str | Policy) -> list[PolicyChange]:
    """Every change from policy ``a`` to policy ``b`` (texts of policy files, or loaded policies)."""
    if isinstance(a, str) and isinstance(b, str):
        old, new = _toml(a, "first policy"), _toml(b, "second policy")
    else:
        first = a if isinstance(a, Policy) else parse_policy(a, source="first policy")
        second = b if isinstance(b, Policy) else parse_policy(b, source="second policy")
        old, new = policy_document(first), policy_document(second)
    changes: list[PolicyChange] = []
    _walk(old, new, "", changes)
    return changes
