"""Cases: people confirmed or suspected to be infected."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

__all__ = ["Case", "CaseClassification", "CaseStatus"]


class CaseStatus(enum.Enum):
    """How sure the authority is (CHP: confirmed or probable)."""

    CONFIRMED = "confirmed"
    PROBABLE = "probable"
    SUSPECTED = "suspected"


class CaseClassification(enum.Enum):
    """Where the infection came from, in the CHP's daily classification."""

    IMPORTED = "imported"
    LOCAL = "local"
    LINKED = "linked"  # epidemiologically linked with a known case
    UNLINKED = "unlinked"  # local, source unknown: the warning sign
    POSSIBLY_LOCAL = "possibly_local"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Case:
    """A person the authority counts as a case.

    The infectious window opens some days (policy) before ``onset_on``, or before
    ``specimen_on`` when the case has no symptoms, and closes at ``isolated_at``;
    while the case is not yet isolated it stays open until the time of tracing.
    """

    ref: str
    person_id: int
    status: CaseStatus
    classification: CaseClassification
    reported_on: date | None = None
    onset_on: date | None = None  # None when asymptomatic or not yet known
    specimen_on: date | None = None
    isolated_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    policy_version: str | None = None
    id: int | None = None
    linked_case_id: int | None = None  # the case this one was infected by or linked to
    discharged_at: datetime | None = None  # discharged from isolation or hospital: no longer a case
