"""The policy editor's pages: the policy in force, new versions, what they change, and activation.

- ``/console/policy``: the policy in force, every value with the source its experts cited,
  and the versions (files deployed, versions uploaded, their status);
- ``/console/policy/upload``: paste or upload a policy file; it is checked whole, and every
  problem is shown at its key path; nothing is kept while any remains;
- ``/console/policy/versions/{id}``: a version's diff against the policy in force; "what this
  changes": a sample of cases re-traced under it, and whose standing changes (contacts are never
  named; cases are named only to those who may read cases, and only they may choose them: a
  policy editor sees the cases registered last, numbered); asking for its activation; a
  supervisor's approval or refusal (never of one's own upload or request).

Activation goes through ``PolicyChanges`` (``chaincut.access.policy_changes``): it is audited,
flagged ``policy_change``; this worker follows it at once and every other within seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from chaincut.access.policy_changes import MAX_POLICY_BYTES
from chaincut.clock import from_epoch
from chaincut.domain import Tier
from chaincut.domain.access import Permission
from chaincut.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyError
from chaincut.guards import Caller, requires
from chaincut.policy.diff import diff_policies
from chaincut.policy.sources import policy_values
from chaincut.store.policy_versions import PolicyVersionRecord
from chaincut.web.i18n import N_, Localizer
from chaincut.web.labels import TIERS, label
from chaincut.web.pages import PageRoute, back_to, localizer_for, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

Reader = Annotated[Caller, requires(Permission.POLICY_READ)]
Editor = Annotated[Caller, requires(Permission.POLICY_EDIT)]
Approver = Annotated[Caller, requires(Permission.POLICY_APPROVE)]

MAX_IMPACT_CASES = 50
DEFAULT_IMPACT_CASES = 5  # 10 traces: well under 300 ms at a million cases (bench/console_pages.py)
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

_STATUSES = {
    "draft": N_("draft"),
    "pending": N_("awaiting a supervisor"),
    "active": N_("in force"),
    "superseded": N_("superseded"),
    "rejected": N_("refused"),
    "withdrawn": N_("withdrawn"),
}
_SOURCES = {"file": N_("policy file"), "console": N_("uploaded in the console")}
_CHANGES = {"added": N_("added"), "removed": N_("removed"), "changed": N_("changed")}
_DONE = {
    "uploaded": N_(
        "The version passed every check and is kept as a draft: "
        "nothing changes until a supervisor approves it."
    ),
    "requested": N_("Activation asked: a supervisor decides."),
    "withdrawn": N_("The version is withdrawn: it can no longer be activated."),
    "activated": N_("Activated: this version is in force now, and the audit log records who approved it."),
    "rejected": N_("Refused: the policy in force is unchanged."),
}
_PROBLEMS = {
    "reason": N_("Nothing was done: give a reason of 5 to 500 characters."),
    "own": N_("Nothing was decided: another supervisor than the one who uploaded or asked must decide."),
    "gone": N_("Nothing was done: the version is no longer in that state."),
    "venue_types": N_("Nothing was activated: the store now holds venues of a type this version lacks."),
    "invalid": N_("Nothing was activated: this version no longer passes this chaincut's checks."),
}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _version_row(record: PolicyVersionRecord, words: Localizer, zone: Any) -> dict[str, Any]:
    def when(epoch: int | None) -> str:
        return "" if epoch is None else words.datetime(from_epoch(epoch).astimezone(zone), "short")

    return {
        "id": record.id,
        "version": record.version,
        "digest": record.digest,
        "source": words.message(_SOURCES, record.source),
        "uploaded_by": record.uploaded_by,
        "uploaded_at": when(record.uploaded_at),
        "status": record.status,
        "status_label": words.message(_STATUSES, record.status),
        "requested_by": record.requested_by,
        "requested_at": when(record.requested_at),
        "request_reason": record.request_reason,
        "decided_by": record.decided_by,
        "decided_at": when(record.decided_at),
        "decision_reason": record.decision_reason,
        "activated_at": when(record.activated_at),
    }


@router.get("/console/policy")
def policy_in_force(request: Request, caller: Reader) -> HTMLResponse:
    """The policy in force, each value with its cited source, and the versions."""
    services = caller.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    record = services.policy_changes.in_force()
    sections: list[dict[str, Any]] = []
    if record is not None:
        for value in policy_values(record.text):
            section, _, key = value.path.partition(".")
            if not sections or sections[-1]["name"] != section:
                sections.append({"name": section, "values": []})
            sections[-1]["values"].append({"key": key, "value": _shown(value.value), "source": value.source})
    versions = services.policy_changes.versions(limit=30)
    caller.audit("policy", "in_force", details={"version": record.version if record else None})
    return page(
        request,
        caller,
        "policy.html",
        in_force=_version_row(record, words, zone) if record else None,
        sections=sections,
        versions=[_version_row(v, words, zone) for v in versions],
        may_edit=caller.principal.may(Permission.POLICY_EDIT),
    )


@router.get("/console/policy/upload")
def upload_form(request: Request, caller: Editor) -> HTMLResponse:
    """Paste a policy or choose its file."""
    return page(request, caller, "policy_upload.html", text="", problems=[], max_kib=MAX_POLICY_BYTES // 1024)


def _problem_rows(problems: list[str]) -> list[dict[str, str]]:
    rows = []
    for problem in problems:
        path, sep, what = problem.partition(": ")
        rows.append({"path": path, "what": what} if sep else {"path": "", "what": problem})
    return rows


@router.post("/console/policy/upload")
async def upload(
    request: Request,
    caller: Editor,
    text: Annotated[str, Form()] = "",
    policy_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check the policy whole; keep it as a draft, or show every problem at its key path."""
    words = localizer_for(request, caller)
    problems: list[str] = []
    too_long = f"(file): expected a policy of at most {MAX_POLICY_BYTES // 1024} KiB"
    if policy_file is not None and policy_file.filename:
        raw = await policy_file.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            problems, text = [too_long], ""
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems = [f"(file): not UTF-8 text at byte {exc.start}"]
    elif len(text) > MAX_POLICY_BYTES:
        problems, text = [too_long], ""
    if not problems:
        try:
            # Checking a policy and storing it blocks: off the event loop.
            record = await asyncio.to_thread(caller.services.policy_changes.upload, caller.principal, text)
        except PolicyError as exc:
            problems = exc.problems or [exc.message]
        except (InvalidInput, Conflict) as exc:
            problems = [f"(file): {exc.message}"]
        else:
            return back_to(f"/console/policy/versions/{record.id}", done="uploaded")
    rows = _problem_rows(problems)
    return page(
        request,
        caller,
        "policy_upload.html",
        status=400,
        text=text,
        problems=rows,
        summary=words.ngettext(
            "The policy was not kept: %(count)s problem to fix.",
            "The policy was not kept: %(count)s problems to fix.",
            len(rows),
        )
        % {"count": len(rows)},
        max_kib=MAX_POLICY_BYTES // 1024,
    )


def _impact(caller: Caller, words: Localizer, record: PolicyVersionRecord, refs: list[str]) -> dict[str, Any]:
    """Chosen cases traced under the policy in force and under ``record``: whose standing changes.

    Contacts are never named. Cases are named only to those who may read cases; to a policy
    editor they are numbered in the sample's order (the latest registered first).
    """
    services = caller.services
    named = caller.principal.may(Permission.CASES_READ)
    draft = services.policy_changes.parse(record)

    def tier(value: Tier | None) -> str:
        return label(words, TIERS, value.value) if value else words.gettext("not a contact")

    rows: list[dict[str, Any]] = []
    changed = 0
    moves: Counter[tuple[str, str]] = Counter()
    missing = []
    untraced = []
    for number, ref in enumerate(refs, start=1):
        shown = ref if named else f"#{number}"
        try:
            before, after, changes = services.tracing.comparison(ref, draft)
        except NotFound:
            missing.append(shown)
            continue
        except InvalidInput as exc:  # no window to trace (no onset or specimen date), a type unknown
            untraced.append({"case": shown, "why": exc.message})
            continue
        moves.update((tier(c.before), tier(c.after)) for c in changes)
        changed += len(changes)
        rows.append(
            {
                "case": shown,
                "before": before,
                "after": after,
                "changed": len(changes),
                "changes": [
                    {
                        "before": tier(c.before),
                        "after": tier(c.after),
                        "minutes_before": words.number(round(c.minutes_before)),
                        "minutes_after": words.number(round(c.minutes_after)),
                    }
                    for c in changes
                ],
            }
        )
    caller.audit(
        "policy.impact",
        str(record.id),
        details={
            "cases": len(rows),
            "untraced": len(untraced),
            "changed": changed,
            "refs": " ".join(refs)[:1000],
        },
    )
    return {
        "cases": rows,
        "missing": missing,
        "untraced": untraced,
        "changed": changed,
        "moves": [
            {"before": before, "after": after, "count": count}
            for (before, after), count in sorted(moves.items(), key=lambda m: -m[1])
        ],
    }


def _case_refs(caller: Caller, cases: str, latest: int) -> list[str]:
    typed = [r for r in re.split(r"[\s,;]+", cases) if r]
    if typed and not caller.principal.may(Permission.CASES_READ):
        # Naming cases would tell one who may not read them whether each exists.
        raise InvalidInput("cases: only those who may read cases choose them", field="cases")
    if typed:
        if len(typed) > MAX_IMPACT_CASES or not all(_REF.fullmatch(r) for r in typed):
            raise InvalidInput(f"cases: expected up to {MAX_IMPACT_CASES} case references", field="cases")
        return list(dict.fromkeys(typed))
    return caller.services.policy_changes.latest_case_refs(latest)


@router.get("/console/policy/versions/{version_id}")
def version_page(
    request: Request,
    caller: Reader,
    version_id: Annotated[int, Path(ge=1, le=2**62)],
    impact: Annotated[str | None, Query(max_length=8)] = None,
    cases: Annotated[str, Query(max_length=2000)] = "",
    latest: Annotated[int, Query(ge=1, le=MAX_IMPACT_CASES)] = DEFAULT_IMPACT_CASES,
    done: Annotated[str | None, Query(max_length=16)] = None,
    problem: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """One version: its diff against the policy in force, what it changes, and its activation."""
    services = caller.services
    words = localizer_for(request, caller)
    zone = services.settings.zone
    record = services.policy_changes.get(version_id)
    in_force = services.policy_changes.in_force()
    changes = []
    if in_force is not None and in_force.id != record.id:
        changes = [
            {
                "path": c.path,
                "change": words.message(_CHANGES, c.change),
                "before": _shown(c.old),
                "after": _shown(c.new),
            }
            for c in diff_policies(in_force.text, record.text)
        ]
    caller.audit("policy", str(record.id), details={"version": record.version, "changes": len(changes)})
    result = None
    if impact == "show" and in_force is not None and in_force.id != record.id:
        result = _impact(caller, words, record, _case_refs(caller, cases, latest))
    principal = caller.principal
    return page(
        request,
        caller,
        "policy_version.html",
        version=_version_row(record, words, zone),
        in_force=_version_row(in_force, words, zone) if in_force else None,
        is_in_force=in_force is not None and in_force.id == record.id,
        changes=changes,
        impact=result,
        cases=cases,
        latest=latest,
        max_cases=MAX_IMPACT_CASES,
        may_name_cases=principal.may(Permission.CASES_READ),
        may_request=principal.may(Permission.POLICY_EDIT) and record.status == "draft",
        may_withdraw=principal.may(Permission.POLICY_EDIT) and record.status in ("draft", "pending"),
        may_decide=principal.may(Permission.POLICY_APPROVE) and record.status == "pending",
        own=principal.name in (record.uploaded_by, record.requested_by),
        notice=words.message(_DONE, done),
        problem=words.message(_PROBLEMS, problem),
    )


@router.post("/console/policy/versions/{version_id}/request")
def ask_activation(
    caller: Editor,
    version_id: Annotated[int, Path(ge=1, le=2**62)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Ask a supervisor to activate a draft (the Guard has checked the form's CSRF token)."""
    path = f"/console/policy/versions/{version_id}"
    try:
        caller.services.policy_changes.request(caller.principal, version_id, reason)
    except InvalidInput:
        return back_to(path, problem="reason")
    except Conflict:
        return back_to(path, problem="gone")
    return back_to(path, done="requested")


@router.post("/console/policy/versions/{version_id}/withdraw")
def withdraw(caller: Editor, version_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    """Set a draft or a pending version aside."""
    path = f"/console/policy/versions/{version_id}"
    try:
        caller.services.policy_changes.withdraw(caller.principal, version_id)
    except Conflict:
        return back_to(path, problem="gone")
    return back_to(path, done="withdrawn")


@router.post("/console/policy/versions/{version_id}/decision")
def decide(
    request: Request,
    caller: Approver,
    version_id: Annotated[int, Path(ge=1, le=2**62)],
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A supervisor approves (the version is in force at once) or refuses, with a reason."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision: expected approve or reject", field="decision")
    path = f"/console/policy/versions/{version_id}"
    services = caller.services
    try:
        policy = services.policy_changes.decide(
            caller.principal, version_id, approve=decision == "approve", reason=reason
        )
    except InvalidInput:
        return back_to(path, problem="reason")
    except PermissionDenied as exc:
        if exc.code != "own_request":
            raise
        return back_to(path, problem="own")
    except Conflict:
        return back_to(path, problem="gone")
    except PolicyError as exc:
        unknown_types = all(p.startswith("venue_types.") for p in exc.problems)
        return back_to(path, problem="venue_types" if exc.problems and unknown_types else "invalid")
    if policy is None:
        return back_to(path, done="rejected")
    services.policy_follower.activated(request.app.state, policy)
    return back_to(path, done="activated")
