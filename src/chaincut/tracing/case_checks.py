"""Checking a case as a tracer submits it: the fields, dates and isolation time, by the policy.

No lookup in the store: what needs one (the person, the linked case, a duplicate ref) is
checked where the case is stored (``CaseRegistry``, the bulk import). Dates are local
calendar days (``zone``); nothing may be in the future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chaincut.clock import from_epoch, to_epoch
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.errors import InvalidInput
from chaincut.policy import Policy
from chaincut.tracing.windows import window_opening

__all__ = [
    "EARLIEST_DATE",
    "REF_PATTERN",
    "CaseDraft",
    "CaseProblem",
    "check_case_fields",
    "isolation_problems",
]

REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}\Z")
_STATUSES = ", ".join(s.value for s in CaseStatus)
_CLASSIFICATIONS = ", ".join(c.value for c in CaseClassification)
# Earlier dates are typing mistakes; at the calendar's start, the infectious window's arithmetic overflows.
EARLIEST_DATE = date(1900, 1, 1)


@dataclass(frozen=True)
class CaseDraft:
    """A case as a tracer submits it, before validation; ``person`` is the person's ref."""

    ref: str
    person: str
    classification: str
    status: str = CaseStatus.CONFIRMED.value
    onset_on: date | None = None
    specimen_on: date | None = None
    reported_on: date | None = None  # None: reported today
    isolated_at: datetime | None = None
    linked_case: str | None = None  # the ref of the case this one was linked to


@dataclass(frozen=True)
class CaseProblem:
    """One thing wrong with a case draft: the field, why, and a machine-readable code."""

    field: str
    message: str
    code: str = "invalid_input"

    def error(self) -> InvalidInput:
        return InvalidInput(self.message, field=self.field, code=self.code)


def check_case_fields(draft: CaseDraft, policy: Policy, zone: ZoneInfo, now: datetime) -> list[CaseProblem]:
    """Every problem with a draft that needs no lookup in the store (none: it may be stored)."""
    problems: list[CaseProblem] = []
    if not REF_PATTERN.match(draft.ref or ""):
        problems.append(
            CaseProblem("ref", "expected 1-64 letters, digits or . _ : - starting with a letter or digit")
        )
    if not REF_PATTERN.match(draft.person or ""):
        problems.append(CaseProblem("person", "expected the registered person's ref"))
    if draft.status not in {s.value for s in CaseStatus}:
        problems.append(CaseProblem("status", f"expected one of {_STATUSES}, got {draft.status!r}"))
    if draft.classification not in {c.value for c in CaseClassification}:
        problems.append(
            CaseProblem("classification", f"expected one of {_CLASSIFICATIONS}, got {draft.classification!r}")
        )
    if draft.linked_case is not None and not REF_PATTERN.match(draft.linked_case):
        problems.append(CaseProblem("linked_case", "expected the linked case's ref"))
    if draft.onset_on is None and draft.specimen_on is None:
        problems.append(
            CaseProblem(
                "onset_on",
                "a case needs a symptom onset date or a specimen date",
                "case_needs_a_date",
            )
        )
    today = now.astimezone(zone).date()
    for field, day in (
        ("onset_on", draft.onset_on),
        ("specimen_on", draft.specimen_on),
        ("reported_on", draft.reported_on),
    ):
        if day is not None and day > today:
            problems.append(
                CaseProblem(
                    field, f"{day.isoformat()} is after today ({today.isoformat()})", "date_in_future"
                )
            )
        elif day is not None and day < EARLIEST_DATE:
            problems.append(
                CaseProblem(
                    field, f"{day.isoformat()} is before {EARLIEST_DATE.isoformat()}", "date_too_early"
                )
            )
    if draft.isolated_at is not None:
        problems.extend(
            isolation_problems(draft.isolated_at, draft.onset_on, draft.specimen_on, policy, zone, now)
        )
    return problems


def isolation_problems(
    at: datetime,
    onset_on: date | None,
    specimen_on: date | None,
    policy: Policy,
    zone: ZoneInfo,
    now: datetime,
) -> list[CaseProblem]:
    if at.tzinfo is None:
        return [CaseProblem("isolated_at", "expected a time with a UTC offset")]
    if not EARLIEST_DATE.year <= at.year < 9999:  # at the calendar's ends, local times overflow
        return [CaseProblem("isolated_at", f"{at.isoformat()} is out of range", "date_out_of_range")]
    if at > now:
        return [
            CaseProblem(
                "isolated_at",
                f"{at.astimezone(zone).isoformat()} is in the future",
                "isolation_in_future",
            )
        ]
    if onset_on is None and specimen_on is None:
        return []
    opening = window_opening(policy, zone, onset_on, specimen_on)
    if to_epoch(at) < opening:
        opens = from_epoch(opening).astimezone(zone).isoformat()
        return [
            CaseProblem(
                "isolated_at",
                f"isolation at {at.astimezone(zone).isoformat()} is before the infectious window opens "
                f"({opens}, policy {policy.version})",
                "isolation_before_window",
            )
        ]
    return []
