"""A tracer's case page, and what they do from it.

- ``/console/cases/{ref}``: the case, its infectious window, its timeline on a time axis, and its
  contacts (filtered by tier, sorted, a page at a time, each one's evidence expandable);
- ``/console/cases/{ref}/purpose``: why the member needs this case's personal data, asked once per
  case and session and then recorded with every access, as the API's purpose header is;
- ``/console/cases/{ref}/orders``: the orders tracing would issue, with their dates, then issued;
- ``/console/cases/{ref}/exports``: a request for a supervisor's approval of the contact list, and
  the list itself (CSV, Excel) once approved.

Each calls the service the API calls, under the same permission, and is audited the same way. A
case one may not see answers as a missing one.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from chaincut.domain import Contact, Evidence, EvidenceKind, Interval, Tier
from chaincut.domain.access import Permission
from chaincut.domain.audit import AuditFlag
from chaincut.errors import InvalidInput, PermissionDenied
from chaincut.guards import Caller, requires
from chaincut.tracing.exports import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    case_contact_rows,
    iter_contacts_csv,
    iter_file,
    spool_contacts_xlsx,
)
from chaincut.tracing.timeline import CaseTimeline, VisitEntry
from chaincut.tracing.trace import ContactOrder, Trace
from chaincut.web.i18n import N_, Language, Localizer
from chaincut.web.labels import (
    CASE_CLASSIFICATIONS,
    CASE_STATUSES,
    EVIDENCE_KINDS,
    ORDER_KINDS,
    TIERS,
    VISIT_SOURCES,
    label,
)
from chaincut.web.pages import PageRoute, fragment, localizer_for, page
from chaincut.web.purposes import keep_purpose, purpose_form, stated, with_stated_purpose
from chaincut.web.timeline_chart import timeline_chart

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["web"])

RefPath = Annotated[str, Path(min_length=1, max_length=64)]
WhereaboutsReader = Annotated[Caller, requires(Permission.WHEREABOUTS_READ)]
OrderIssuer = Annotated[Caller, requires(Permission.ORDERS_ISSUE)]
ExportRequester = Annotated[Caller, requires(Permission.EXPORTS_REQUEST)]

CONTACTS_PER_PAGE = 50
PREVIEW_ROWS = 200  # the orders' preview shows this many of them, and counts them all
_ORDERS = {o.value: o for o in ContactOrder}
_ORDER_LABELS = {
    ContactOrder.STRENGTH: N_("Strongest first"),
    ContactOrder.LONGEST: N_("Longest exposure first"),
    ContactOrder.GENERATION: N_("Own contacts first"),
}
_PURPOSE_SUGGESTIONS = (
    N_("Tracing this case's contacts"),
    N_("Issuing orders to this case's contacts"),
    N_("Checking this case's evidence for a supervisor"),
)
_CASE_EXPLANATION = N_(
    "This case's whereabouts and contacts are personal data. Say why you need them: you are asked "
    "once for this case while you are signed in, and your reason is recorded in the audit log with "
    "every page of it you open."
)
_EXPORT_STATUSES = {
    "pending": N_("awaiting a supervisor"),
    "approved": N_("approved: ready to download once"),
    "rejected": N_("refused"),
    "used": N_("downloaded"),
}


def _record(ref: str) -> str:
    return f"cases/{ref}"


def _with_purpose(caller: Caller, ref: str) -> Caller | None:
    return with_stated_purpose(caller, _record(ref))


def _purpose_form(
    request: Request, caller: Caller, ref: str, *, next_path: str, problem: bool = False
) -> HTMLResponse:
    words = localizer_for(request, caller)
    return purpose_form(
        request,
        caller,
        heading=words.gettext(N_("Case %(ref)s: why do you need it?")) % {"ref": ref},
        explanation=words.gettext(_CASE_EXPLANATION),
        action=f"/console/cases/{ref}/purpose",
        submit=words.gettext(N_("Open the case")),
        next_path=next_path,
        suggestions=_PURPOSE_SUGGESTIONS,
        problem=problem,
    )


@router.post("/console/cases/{ref}/purpose")
def state_purpose(
    request: Request,
    ref: RefPath,
    caller: WhereaboutsReader,
    purpose: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Keep why the member needs this case's data (the Guard has checked the form's CSRF token).

    The case is looked up with the purpose, so the access is audited with it; a case the member
    may not see answers as a missing one, and nothing is kept.
    """
    back = next if next.startswith(f"/console/cases/{ref}") else f"/console/cases/{ref}"
    cleaned = stated(caller, purpose)
    if cleaned is None:
        return _purpose_form(request, caller, ref, next_path=back, problem=True)
    dataclasses.replace(caller, purpose=cleaned).case(ref, details={"purpose_stated": True})
    keep_purpose(caller, _record(ref), cleaned)
    return RedirectResponse(back, status_code=303)


def _span(words: Localizer, span: Interval | None, zone: Any) -> str:
    """``7 Dec 2026, 14:00 – 15:30``: one day written once."""
    if span is None:
        return ""
    start, end = span.start.astimezone(zone), span.end.astimezone(zone)
    if start.date() == end.date():
        return f"{words.datetime(start, 'short')} – {words.time(end)}"
    return f"{words.datetime(start, 'short')} – {words.datetime(end, 'short')}"


def _evidence_rows(
    words: Localizer, trace: Trace, contacts: list[Contact], refs: dict[int, str], zone: Any
) -> dict[int, list[dict[str, Any]]]:
    venues = trace.venues(e.venue_id for c in contacts for e in c.evidence)
    chinese = words.language is Language.ZH_HANT

    def row(e: Evidence) -> dict[str, Any]:
        venue = venues.get(e.venue_id) if e.venue_id is not None else None
        name = other = ""
        if venue is not None:
            name, other = (venue.name_zh, venue.name_en) if chinese else (venue.name_en, venue.name_zh)
        clipped = [
            words.gettext(text)
            for text, flag in (
                (N_("the case's stay was clipped to the venue type's longest"), e.index_clipped),
                (N_("the contact's stay was clipped to the venue type's longest"), e.contact_clipped),
            )
            if flag
        ]
        return {
            "kind": label(words, EVIDENCE_KINDS, e.kind.value),
            "rule": e.rule,
            "tier": label(words, TIERS, e.tier.value),
            "minutes": words.number(e.minutes) if e.kind is not EvidenceKind.HOUSEHOLD else None,
            "whose": refs.get(e.index_person_id, ""),
            "venue": venue.ref if venue is not None else None,
            "venue_name": name or other,
            "venue_other_name": other if name else "",
            "index_span": _span(words, e.index_interval, zone) if e.kind is EvidenceKind.VENUE else "",
            "contact_span": _span(words, e.contact_interval, zone)
            if e.kind is not EvidenceKind.HOUSEHOLD
            else "",
            "encounters": e.encounters if e.kind is EvidenceKind.ENCOUNTER else None,
            "clipped": clipped,
        }

    return {c.person_id: [row(e) for e in c.evidence] for c in contacts}


def _contacts_view(
    words: Localizer,
    caller: Caller,
    ref: str,
    trace: Trace,
    tier: Tier | None,
    order: ContactOrder,
    number: int,
) -> dict[str, Any]:
    zone = caller.services.settings.zone
    total = trace.count(tier)
    pages = max(1, -(-total // CONTACTS_PER_PAGE))
    number = min(number, pages)
    contacts = trace.page((number - 1) * CONTACTS_PER_PAGE, CONTACTS_PER_PAGE, tier, order)
    refs = trace.refs(
        [c.person_id for c in contacts]
        + [c.via_person_id for c in contacts]
        + [e.index_person_id for c in contacts for e in c.evidence]
    )
    evidence = _evidence_rows(words, trace, contacts, refs, zone)

    def href(**change: Any) -> str:
        query = {"tier": tier.value if tier else "", "order": order.value, "page": number} | change
        kept = {k: v for k, v in query.items() if v not in ("", None, 1, ContactOrder.STRENGTH.value)}
        return f"/console/cases/{ref}" + (f"?{urlencode(kept)}" if kept else "") + "#contacts"

    return {
        "tier": tier.value if tier else "",
        "order": order.value,
        "counts": {
            "all": trace.count(),
            "close": trace.count(Tier.CLOSE),
            "exposed": trace.count(Tier.EXPOSED),
        },
        "shown": total,
        "tiers": [
            {"value": "", "label": words.gettext(N_("All")), "href": href(tier="", page=1)},
            {"value": "close", "label": label(words, TIERS, "close"), "href": href(tier="close", page=1)},
            {
                "value": "exposed",
                "label": label(words, TIERS, "exposed"),
                "href": href(tier="exposed", page=1),
            },
        ],
        "orders": [
            {"value": o.value, "label": words.gettext(text), "href": href(order=o.value, page=1)}
            for o, text in _ORDER_LABELS.items()
        ],
        "rows": [
            {
                "person": refs.get(c.person_id, ""),
                "tier": c.tier.value,
                "tier_label": label(words, TIERS, c.tier.value),
                "generation": c.generation,
                "via": refs.get(c.via_person_id) if c.via_person_id is not None else None,
                "minutes": words.number(c.minutes) if c.seconds else None,
                "evidence": evidence[c.person_id],
            }
            for c in contacts
        ],
        "page": number,
        "pages": pages,
        "previous_href": href(page=number - 1) if number > 1 else None,
        "next_href": href(page=number + 1) if number < pages else None,
        "policy_version": trace.policy_version,
        "as_of": words.datetime(trace.as_of.astimezone(zone), "short"),
    }


@router.get("/console/cases/{ref}")
def case_page(
    request: Request,
    ref: RefPath,
    caller: WhereaboutsReader,
    tier: Annotated[str, Query(max_length=16)] = "",
    order: Annotated[str, Query(max_length=16)] = "strength",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    issued: Annotated[int | None, Query(ge=0)] = None,
    already: Annotated[int | None, Query(ge=0)] = None,
    requested: bool = False,
    unusable: bool = False,
) -> HTMLResponse:
    """The case, its window and timeline, and its contacts with their evidence."""
    if tier not in ("", "close", "exposed") or order not in _ORDERS:
        raise InvalidInput("tier or order: not one the page offers", field="tier")
    purposed = _with_purpose(caller, ref)
    if purposed is None:
        return _purpose_form(request, caller, ref, next_path=str(request.url.path))
    services = purposed.services
    words = localizer_for(request, caller)
    chosen_tier = Tier(tier) if tier else None
    case = purposed.case(ref, details={"tier": tier or None, "order": order, "page": page_number})
    # htmx swapping the contacts in; never a history restore, which wants the whole page (and
    # htmx keeps no page in the browser's storage: historyCacheSize 0, base.html).
    if request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers:
        trace = services.tracing.trace_case(ref)
        contacts = _contacts_view(words, purposed, ref, trace, chosen_tier, _ORDERS[order], page_number)
        return fragment(request, caller, "case_contacts.html", ref=ref, contacts=contacts)
    registry, zone = services.cases, services.settings.zone
    # The timeline reads the case's stays from the archive while the trace runs on the index
    # (at 140M check-ins: about 0.2 s each, so the page takes one of them, not both).
    with ThreadPoolExecutor(1, thread_name_prefix="case-timeline") as beside:
        reading = beside.submit(registry.timeline, ref)
        trace = services.tracing.trace_case(ref)
        contacts = _contacts_view(words, purposed, ref, trace, chosen_tier, _ORDERS[order], page_number)
        timeline = reading.result()
    record = registry.describe([case])[0]
    chart = timeline_chart(timeline, zone, chinese_first=words.language is Language.ZH_HANT)
    may = caller.principal.may
    exports = (
        [
            {
                "id": r.public_id,
                "status": words.gettext(_EXPORT_STATUSES.get(r.status, r.status)),
                "ready": r.status == "approved",
                "requested_at": words.datetime(datetime.fromtimestamp(r.requested_at, zone), "short"),
                "reason": r.decision_reason,
            }
            for r in services.approvals.requested_for(caller.principal, case)
        ]
        if may(Permission.EXPORTS_REQUEST)
        else []
    )
    notices = []
    if issued is not None:
        notices.append(
            words.ngettext("%(num)s order issued.", "%(num)s orders issued.", issued) % {"num": issued}
        )
        if already:
            notices.append(
                words.ngettext(
                    "%(num)s contact already had an open order from this case.",
                    "%(num)s contacts already had an open order from this case.",
                    already,
                )
                % {"num": already}
            )
    if requested:
        notices.append(words.gettext(N_("Export requested: a supervisor will decide on it.")))
    if unusable:
        notices.append(
            words.gettext(N_("That export can no longer be downloaded: each approval serves one download."))
        )
    return page(
        request,
        caller,
        "case.html",
        ref=ref,
        case={
            "person": record.person_ref,
            "status": label(words, CASE_STATUSES, case.status.value),
            "classification": label(words, CASE_CLASSIFICATIONS, case.classification.value),
            "onset_on": case.onset_on,
            "specimen_on": case.specimen_on,
            "reported_on": case.reported_on,
            "isolated_at": case.isolated_at.astimezone(zone) if case.isolated_at else None,
            "linked_case": record.linked_case_ref,
            "discharged_at": case.discharged_at.astimezone(zone) if case.discharged_at else None,
        },
        window={
            "start": record.window.start.astimezone(zone),
            "end": record.window.end.astimezone(zone),
            "ongoing": record.window.ongoing,
            "policy_version": record.window.policy_version,
        },
        purpose=purposed.purpose,
        chart=chart,
        timeline=timeline_rows(words, timeline, zone),
        contacts=contacts,
        may_issue=may(Permission.ORDERS_ISSUE),
        may_export=may(Permission.EXPORTS_REQUEST),
        may_warn=may(Permission.PRESENCE_WARN),
        exports=exports,
        notices=notices,
    )


def timeline_rows(words: Localizer, timeline: CaseTimeline, zone: Any) -> list[dict[str, Any]]:
    """The timeline's entries as a table's rows, beside the chart (which a screen reader skips)."""
    chinese = words.language is Language.ZH_HANT
    rows: list[dict[str, Any]] = []
    for e in timeline.entries:
        if isinstance(e, VisitEntry):
            name, other = (e.name_zh, e.name_en) if chinese else (e.name_en, e.name_zh)
            end = e.left_at if e.left_at is not None else timeline.end
            rows.append(
                {
                    "what": name or other,
                    "other": other if name else "",
                    "venue": e.venue_ref,
                    "span": _span(words, Interval(e.entered_at, end), zone),
                    "inferred": e.left_inferred,
                    "clipped": e.clipped,
                    "source": label(words, VISIT_SOURCES, e.source.value),
                }
            )
        else:
            rows.append(
                {
                    "what": words.gettext(N_("Near %(person)s")) % {"person": e.other_person_ref},
                    "other": "",
                    "venue": None,
                    "span": _span(words, Interval(e.start, e.end), zone),
                    "inferred": False,
                    "clipped": False,
                    "source": label(words, VISIT_SOURCES, "encounter"),
                }
            )
    return rows


@router.get("/console/cases/{ref}/orders")
def order_preview(request: Request, ref: RefPath, caller: OrderIssuer) -> HTMLResponse:
    """The orders tracing would issue for this case's contacts now, each with its dates."""
    purposed = _with_purpose(caller, ref)
    if purposed is None:
        return _purpose_form(request, caller, ref, next_path=str(request.url.path))
    services = purposed.services
    words = localizer_for(request, caller)
    case = purposed.case(ref, details={"preview": True})
    trace = services.tracing.trace_case(ref)
    preview = services.orders.preview_for_contacts(trace.contacts, case.id)
    # A wave's busiest case has tens of thousands of contacts: every one is counted and issued,
    # the first PREVIEW_ROWS are shown (new orders first, quarantines before notices).
    shown = sorted(preview, key=lambda p: (p.already_open, p.kind.value, p.person_id))[:PREVIEW_ROWS]
    refs = trace.refs(p.person_id for p in shown)
    zone = services.settings.zone
    rows = [
        {
            "person": refs.get(p.person_id, ""),
            "kind": label(words, ORDER_KINDS, p.kind.value),
            "starts_on": words.date(p.starts_on),
            "ends_on": words.date(p.ends_on),
            "exposure": words.datetime(p.last_exposure_at.astimezone(zone), "short")
            if p.last_exposure_at
            else "",
            "already_open": p.already_open,
        }
        for p in shown
    ]
    new = [p for p in preview if not p.already_open]
    policy = services.policy.orders
    return page(
        request,
        caller,
        "case_orders.html",
        ref=ref,
        rows=rows,
        all_count=len(preview),
        new_count=len(new),
        quarantines=sum(1 for p in new if p.kind.value == "quarantine"),
        notices=sum(1 for p in new if p.kind.value != "quarantine"),
        quarantine_days=policy.quarantine_days,
        testing_days=policy.testing_notice_days,
        policy_version=services.policy.version,
    )


@router.post("/console/cases/{ref}/orders")
def issue_orders(ref: RefPath, caller: OrderIssuer) -> Response:
    """Issue the orders the preview showed (the Guard has checked the form's CSRF token)."""
    purposed = _with_purpose(caller, ref)
    if purposed is None:
        return RedirectResponse(f"/console/cases/{ref}/orders", status_code=303)
    services = purposed.services
    purposed.case(ref)
    trace = services.tracing.trace_case(ref)
    summary = services.orders.issue_for_contacts(trace.contacts, trace.case_id, caller.name)
    query = urlencode({"issued": summary.issued, "already": summary.already_open})
    return RedirectResponse(f"/console/cases/{ref}?{query}", status_code=303)


@router.post("/console/cases/{ref}/exports")
def request_export(ref: RefPath, caller: ExportRequester) -> Response:
    """Ask a supervisor to approve an export of the contact list, for the purpose stated."""
    purposed = _with_purpose(caller, ref)
    if purposed is None:
        return RedirectResponse(f"/console/cases/{ref}", status_code=303)
    purposed.services.approvals.request(caller.principal, ref, purposed.purpose)
    return RedirectResponse(f"/console/cases/{ref}?requested=1#exports", status_code=303)


@router.get("/console/cases/{ref}/contacts.{fmt}")
def export_contacts(
    ref: RefPath,
    fmt: Annotated[str, Path(pattern="^(csv|xlsx)$")],
    caller: ExportRequester,
    approval: Annotated[str, Query(min_length=1, max_length=32)],
) -> Response:
    """The approved contact list with names, streamed: the approval is spent as it starts."""
    purposed = _with_purpose(caller, ref)
    if purposed is None:
        return RedirectResponse(f"/console/cases/{ref}", status_code=303)
    services = purposed.services
    details = {"approval": approval, "format": fmt}
    case = purposed.case(ref, details=details)
    try:
        services.approvals.use(caller.principal, approval, case, purpose=purposed.purpose)
    except PermissionDenied:  # spent, expired, refused or another's: the case page says which it is
        return RedirectResponse(f"/console/cases/{ref}?unusable=1#exports", status_code=303)
    purposed.audit(
        "cases", ref, subject_person_id=case.person_id, flags=(AuditFlag.PERSONAL_EXPORT,), details=details
    )
    rows = case_contact_rows(services.tracing.trace_case(ref), services.store)
    zone = services.settings.zone
    headers = {"Content-Disposition": f'attachment; filename="contacts-{ref}.{fmt}"'}
    if fmt == "csv":
        return StreamingResponse(iter_contacts_csv(rows, zone), media_type=CSV_MEDIA_TYPE, headers=headers)
    return StreamingResponse(
        iter_file(spool_contacts_xlsx(rows, zone)), media_type=XLSX_MEDIA_TYPE, headers=headers
    )
