"""What a cluster read answers: settings, summaries, membership evidence, details, and a run's outcome.

Frozen views over the stored clusters (``analytics.cluster_service`` builds them), each with the
``as_dict`` that the command line's ``--json`` and the API both print.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chaincut.clock import from_epoch
from chaincut.store.inferred_clusters import DecisionRow

__all__ = ["ClusterDetail", "ClusterRun", "ClusterSummary", "MemberEvidence", "SettingView"]


@dataclass(frozen=True, slots=True)
class SettingView:
    """A setting of a cluster: ``venue:<ref>`` or ``building:<ref>``, its kind and names."""

    id: str
    kind: str
    name_en: str
    name_zh: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "name_en": self.name_en, "name_zh": self.name_zh}


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    id: int
    name: str | None
    status: str
    size: int
    first_onset: date | None
    last_onset: date | None
    last_reported: date | None
    merged_into: int | None
    cases: tuple[str, ...]
    settings: tuple[SettingView, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "size": self.size,
            "first_onset": _iso(self.first_onset),
            "last_onset": _iso(self.last_onset),
            "last_reported": _iso(self.last_reported),
            "merged_into": self.merged_into,
            "cases": list(self.cases),
            "settings": [s.as_dict() for s in self.settings],
        }


@dataclass(frozen=True, slots=True)
class MemberEvidence:
    """Why a case is a member: a setting (a timed stay, or days), a direct link, or a tracer's decision."""

    case: str
    setting: str | None
    linked_case: str | None
    link: str | None  # household, encounter, linked_case; "decision" for a tracer's confirmation
    start: datetime | None
    end: datetime | None
    first_day: date | None
    last_day: date | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "setting": self.setting,
            "linked_case": self.linked_case,
            "link": self.link,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "first_day": _iso(self.first_day),
            "last_day": _iso(self.last_day),
        }


@dataclass(frozen=True, slots=True)
class ClusterDetail:
    summary: ClusterSummary
    confirmed: tuple[str, ...]  # members a tracer's decision placed
    size_by_day: tuple[tuple[date, int], ...]  # members by their day (onset, else report date)
    evidence: tuple[MemberEvidence, ...]
    decisions: tuple[DecisionRow, ...]
    case_refs: dict[int, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary.as_dict(),
            "confirmed_members": list(self.confirmed),
            "size_by_day": [{"day": d.isoformat(), "cases": n} for d, n in self.size_by_day],
            "evidence": [e.as_dict() for e in self.evidence],
            "decisions": [
                {
                    "case": self.case_refs.get(d.case_id, str(d.case_id)),
                    "decision": d.decision,
                    "by": d.decided_by,
                    "at": from_epoch(d.decided_at).isoformat(),
                    "note": d.note,
                }
                for d in self.decisions
            ],
        }


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """What one run did: clusters kept, created, merged and dissolved, and what linked no cases."""

    clusters: int
    created: int
    merged: tuple[tuple[int, int], ...]
    dissolved: tuple[int, ...]
    left_out: dict[str, int]  # reason -> how many exposures or links

    def as_dict(self) -> dict[str, Any]:
        return {
            "clusters": self.clusters,
            "created": self.created,
            "merged": [{"cluster": a, "into": b} for a, b in self.merged],
            "dissolved": list(self.dissolved),
            "left_out": dict(sorted(self.left_out.items())),
        }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
