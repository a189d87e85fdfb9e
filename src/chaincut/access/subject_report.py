"""The data-access report's content and layout: JSON for machines, a printable page for the person.

Rows hold plain values: instants as local time with their UTC offset (the zone is
named in the report), dates as ISO dates. The HTML page escapes every value and
carries headings in English and Traditional Chinese. Another person's identity is
never shown (PDPO s.20(1)(b)): encounters say when, not with whom.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from chaincut.clock import from_epoch
from chaincut.domain import Case, Person, VisitSource
from chaincut.domain.audit import AuditRecord
from chaincut.store import FollowUpEntry, OrderEntry
from chaincut.store.corrections import CorrectionRecord, TokenSummary
from chaincut.store.health_codes import StoredCode

__all__ = [
    "OTHER_CASE",
    "Row",
    "SubjectAccessReport",
    "audit_row",
    "case_row",
    "code_row",
    "correction_row",
    "day",
    "follow_up_row",
    "instant",
    "order_row",
    "person_row",
    "source_name",
    "token_row",
]

Row = dict[str, Any]


@dataclass(frozen=True)
class SubjectAccessReport:
    """Everything the authority holds about one person, as their data-access request is answered."""

    generated_at: datetime
    zone: ZoneInfo
    policy_version: str
    retention: Mapping[str, int]
    person: Row
    household: Row | None
    visits: Sequence[Row]
    encounters: Sequence[Row]
    cases: Sequence[Row]
    orders: Sequence[Row]
    follow_ups: Sequence[Row]
    resident_tokens: Sequence[Row]
    corrections: Sequence[Row]
    audit: Sequence[Row]
    border: Mapping[str, Sequence[Row]] = field(default_factory=dict)  # see access/subject_border.py
    health_codes: Sequence[Row] = ()  # every change of the person's code, newest first
    # tests, vaccinations, arrivals, and the signed codes issued (kept until they expire, to revoke them)
    health_records: Mapping[str, Sequence[Row]] = field(default_factory=dict)

    def __repr__(self) -> str:  # personal data: never in a log
        return f"SubjectAccessReport(person={self.person['ref']!r})"

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data; instants are local time with their UTC offset."""
        return {
            "generated_at": instant(self.generated_at, self.zone),
            "time_zone": self.zone.key,
            "policy_version": self.policy_version,
            "retention_days": dict(self.retention),
            "person": self.person,
            "household": self.household,
            "visits": list(self.visits),
            "encounters": list(self.encounters),
            "cases": list(self.cases),
            "orders": list(self.orders),
            "follow_ups": list(self.follow_ups),
            "resident_tokens": {"count": len(self.resident_tokens), "tokens": list(self.resident_tokens)},
            "corrections": list(self.corrections),
            **{key: list(self.border.get(key, ())) for key in _BORDER_KEYS},
            "health_codes": list(self.health_codes),
            "health_records": {k: list(v) for k, v in self.health_records.items()},
            "audit": list(self.audit),
            "notes": list(_NOTES),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def to_html(self) -> str:
        """A printable page: every value escaped, headings in English and Traditional Chinese."""
        return "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f"<title>Personal data held / 所持個人資料 — {escape(self.person['ref'])}</title>",
                "</head><body>",
                "<h1>Personal data held about you / 我們持有關於你的個人資料</h1>",
                self.body_html(),
                "</body></html>",
            ]
        )

    def body_html(self) -> str:
        """The report's content below its heading, for a page to show within its own."""
        data = self.as_dict()
        parts = [
            f"<p>Prepared {escape(_shown(data['generated_at']))} ({escape(self.zone.key)}); "
            f"policy {escape(self.policy_version)}.</p>",
        ]
        for key, english, chinese in _SECTIONS:
            value = data[key]
            parts.append(f"<h2>{escape(english)} / {escape(chinese)}</h2>")
            if key == "resident_tokens":
                parts.append(f"<p>{value['count']} token(s); the tokens themselves are never kept.</p>")
                value = value["tokens"]
            parts.append(_html_value(value))
            if key == "visits" and any(v["clipped"] for v in value):
                parts.append(f"<p>{escape(_CLIPPED_EN)} / {escape(_CLIPPED_ZH)}</p>")
        parts.append("<h2>Notes / 附註</h2><ul>")
        parts.extend(f"<li>{escape(note)}</li>" for note in _NOTES)
        parts.append("</ul>")
        return "\n".join(parts)


_SECTIONS = (
    ("person", "Your details", "你的個人資料"),
    ("household", "Household", "住戶"),
    ("retention_days", "How long records are kept (days)", "記錄保留期（日）"),
    ("visits", "Visits to venues", "到訪場所記錄"),
    ("encounters", "Close encounters (the other person is not shown)", "近距離接觸（不顯示對方身分）"),
    ("cases", "Cases", "個案"),
    ("orders", "Quarantine orders and testing notices", "檢疫令及檢測通知"),
    ("follow_ups", "Daily follow-ups", "每日跟進"),
    ("resident_tokens", "App tokens", "應用程式憑證"),
    ("corrections", "Corrections of your details", "個人資料更正記錄"),
    ("border_bookings", "Border crossing bookings", "過境預約"),
    ("ballot_entries", "Border crossing ballot entries", "過境抽籤登記"),
    ("border_clearances", "Checks at border checkpoints", "口岸查驗記錄"),
    ("health_codes", "Your health code and its history", "你的健康碼及其記錄"),
    (
        "health_records",
        "Tests, vaccinations, arrivals and signed codes",
        "檢測、疫苗接種、抵港及已簽發健康碼記錄",
    ),
    ("audit", "Who accessed your data, when and why", "查閱你資料的人員、時間及目的"),
)
# Beside the visits when one was clipped: its left_at is not the time the person gave.
_CLIPPED_EN = (
    "clipped = yes: the stay as given (a phone's stuck clock, a check-out days late) ran past the "
    "longest believable stay at that type of venue, so left_at was brought back to it and is not "
    "the time given"
)
_CLIPPED_ZH = (
    "clipped = yes：所提供的逗留時間（例如手機時鐘停頓，或數日後才登記離開）超過該類場所的"
    "最長可信逗留時間，因此離開時間（left_at）已縮短至該時間，並非所提供的時間"
)
_NOTES = (
    "Only a keyed hash of your identity document number is held, never the number itself.",
    "Visits and encounters are deleted once older than the retention period above.",
    "A visit marked clipped ran, as given, past the longest believable stay at its type of venue "
    "(a phone's stuck clock, a check-out days late): its left_at was brought back to that stay, "
    "and is not the time given.",
    "A corrected detail's old value is deleted after the corrections retention period; "
    "the record that a correction was made (field, reason, who, when) is kept.",
    "The audit log is append-only and is not purged: it is the lasting record of each access.",
    "Staff are named by their staff id.",
    "Border bookings and ballot entries made for you by another app do not say whose app it was, "
    "nor who the other companions are (only how many); "
    "checkpoint checks keep only the general reason for a refusal.",
    "Every change of your health code is kept, with its reasons, as the record of how it was decided.",
    "Each signed code issued to you is kept by its id until it expires, so that it can be revoked "
    "if your code's colour worsens before then.",
)
_BORDER_KEYS = ("border_bookings", "ballot_entries", "border_clearances")


OTHER_CASE = "a case"  # another person's case, as the person's own report names it


def instant(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).isoformat()


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    text = str(value)
    # "2026-11-20T12:00:00+08:00" reads better on paper as "2026-11-20 12:00:00+08:00".
    return text.replace("T", " ", 1) if len(text) >= 19 and text[10:11] == "T" else text


def _html_value(value: Any) -> str:
    if value is None or value == []:
        return "<p>None held / 沒有記錄</p>"
    if isinstance(value, dict):
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(_shown(v))}</td></tr>" for k, v in value.items())
        return f"<table>{rows}</table>"
    columns = list(value[0])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_shown(row.get(c)))}</td>" for c in columns) + "</tr>" for row in value
    )
    return f'<table border="1"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def source_name(code: int) -> str:
    return VisitSource.from_code(code).value


def person_row(person: Person, zone: ZoneInfo) -> Row:
    return {
        "ref": person.ref,
        "public_id": person.public_id,
        "name": person.details.name,
        "phone": person.details.phone,
        "address": person.details.address,
        "household": person.household_ref,
        "id_document_held": person.id_document_hash is not None,
        "registered_at": instant(person.created_at, zone),
    }


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def case_row(case: Case, linked: Mapping[int, str], zone: ZoneInfo, *, for_subject: bool = False) -> Row:
    """A case as the report lists it; for the person themselves a linked case (someone else's)
    is named only as "a case"."""
    linked_ref = linked.get(case.linked_case_id) if case.linked_case_id is not None else None
    if for_subject and linked_ref is not None:
        linked_ref = OTHER_CASE
    return {
        "ref": case.ref,
        "status": case.status.value,
        "classification": case.classification.value,
        "reported_on": day(case.reported_on),
        "onset_on": day(case.onset_on),
        "specimen_on": day(case.specimen_on),
        "isolated_at": instant(case.isolated_at, zone),
        "linked_case": linked_ref,
        "recorded_at": instant(case.created_at, zone),
        "recorded_by": case.created_by,
    }


def order_row(entry: OrderEntry, zone: ZoneInfo, *, own_cases: frozenset[str] | None = None) -> Row:
    """An order as the report lists it; with ``own_cases`` (the person reads their own report),
    a case that is not one of theirs is named only as "a case": it identifies someone else."""
    order = entry.order
    case = entry.case_ref
    if own_cases is not None and case is not None and case not in own_cases:
        case = OTHER_CASE
    return {
        "id": order.public_id,
        "kind": order.kind.value,
        "case": case,
        "tier": order.tier.value,
        "starts_on": day(order.starts_on),
        "ends_on": day(order.ends_on),
        "status": order.status.value,
        "issued_at": instant(order.issued_at, zone),
        "issued_by": order.issued_by,
        "history": [
            {
                "status": e.status.value,
                "at": instant(e.changed_at, zone),
                "by": e.changed_by,
                "note": e.note,
            }
            for e in entry.history
        ],
    }


def follow_up_row(entry: FollowUpEntry) -> Row:
    f = entry.follow_up
    return {
        "on_date": day(f.on_date),
        "symptoms": list(f.symptoms),
        "test_result": f.test_result.value if f.test_result else None,
        "note": f.note,
        "order": entry.order_public_id,
        "recorded_by": f.recorded_by,
    }


def code_row(code: StoredCode, zone: ZoneInfo, *, own_cases: frozenset[str] | None = None) -> Row:
    """One change of the person's health code; for the person's own report, other cases are "a case"."""
    reasons = []
    for r in json.loads(code.reasons):
        case, text = r.get("case"), r["text"]
        if own_cases is not None and case is not None and case not in own_cases:
            text, case = text.replace(f"case {case}", OTHER_CASE), None
        until = r.get("until")
        reasons.append(
            {
                "rule": r["rule"],
                "colour": r["colour"],
                "text": text,
                "until": None if until is None else instant(from_epoch(until), zone),
            }
            | ({} if own_cases is not None else {"case": case})
        )
    return {
        "colour": code.colour,
        "reasons": reasons,
        "until": None if code.until is None else instant(from_epoch(code.until), zone),
        "computed_at": instant(from_epoch(code.computed_at), zone),
        "policy_version": code.policy_version,
        "overridden": code.overridden,
        "changed_by": code.changed_by,
    }


def token_row(token: TokenSummary, zone: ZoneInfo) -> Row:
    return {
        "issued_at": instant(token.created_at, zone),
        "expires_at": instant(token.expires_at, zone),
        "revoked_at": instant(token.revoked_at, zone),
    }


def correction_row(c: CorrectionRecord, zone: ZoneInfo) -> Row:
    return {
        "field": c.field,
        "old_value": c.old_value,
        "new_value": c.new_value,
        "old_value_deleted": c.old_value_dropped,
        "reason": c.reason,
        "corrected_by": c.corrected_by,
        "corrected_at": instant(c.corrected_at, zone),
    }


def audit_row(record: AuditRecord, zone: ZoneInfo) -> Row:
    e = record.event
    return {
        "seq": record.seq,
        "at": instant(record.at, zone),
        "actor": e.actor,
        "action": e.action,
        "resource": e.resource,
        "purpose": e.purpose,
        "outcome": e.outcome,
        "flags": list(e.flags),
    }
