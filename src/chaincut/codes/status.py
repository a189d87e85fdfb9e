"""Each resident's health code, kept up to date from the facts, with its history.

``HealthCodeService`` recomputes the codes of the people a change touches and
stores them (a history row only when the colour or the reasons change). When a
person's colour worsens (a later colour of the policy's ``[health_codes] colours``),
every signed code of theirs still outstanding is revoked by code id in the same
transaction, and the code-revocation list's sequence is raised. A case
registered or changed is traced (the tracer is passed in: ``codes`` does not
import ``tracing``), its exposures stored, and the case's person and every
contact recomputed at once, so contacts turn red within seconds. Time-based
changes (a quarantine ending, a negative test getting old) are picked up when a
code is read after its ``refresh_at`` and by ``refresh`` (``chaincut codes
refresh``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.codes.facts import CaseTrace, exposure_rows, load_facts, local_midnight, risky_visit_rows
from chaincut.codes.rules import change_points, evaluate
from chaincut.domain.health_codes import CodeReason, HealthCode
from chaincut.errors import ChaincutError, InvalidInput, NotFound
from chaincut.policy import Policy
from chaincut.store import Store, UnitOfWork
from chaincut.store.health_codes import OverrideRow, StoredCode

__all__ = ["TEST_RESULTS", "CaseTracer", "CodeChange", "HealthCodeService"]

log = logging.getLogger("chaincut.codes")

TEST_RESULTS = ("positive", "negative")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,15}\Z")
_OPEN = ("confirmed", "probable")
_BATCH = 5000


class CaseTracer(Protocol):
    """Traces one registered case (``chaincut.tracing.service.TracingService`` does)."""

    def trace_case(self, case_ref: str) -> CaseTrace: ...


@dataclass(frozen=True)
class CodeChange:
    """A stored code as its history keeps it, with who (or what) changed it."""

    code: HealthCode
    changed_by: str


def _reasons_json(reasons: Sequence[CodeReason]) -> str:
    return json.dumps(
        [
            {
                "rule": r.rule,
                "colour": r.colour,
                "text": r.text,
                "until": None if r.until is None else to_epoch(r.until),
                "case": r.case_ref,
                "venue": r.venue_ref,
            }
            for r in reasons
        ],
        sort_keys=True,
        ensure_ascii=False,
    )


def _code(stored: StoredCode) -> HealthCode:
    reasons = tuple(
        CodeReason(
            rule=r["rule"],
            colour=r["colour"],
            text=r["text"],
            until=None if r["until"] is None else from_epoch(r["until"]),
            case_ref=r.get("case"),
            venue_ref=r.get("venue"),
        )
        for r in json.loads(stored.reasons)
    )
    return HealthCode(
        person_id=stored.person_id,
        colour=stored.colour,
        reasons=reasons,
        until=None if stored.until is None else from_epoch(stored.until),
        computed_at=from_epoch(stored.computed_at),
        policy_version=stored.policy_version,
        overridden=stored.overridden,
    )


def _text(value: str, field: str, most: int) -> str:
    cleaned = " ".join((value or "").split())
    if not cleaned or len(cleaned) > most:
        raise InvalidInput(f"expected 1-{most} characters", field=field)
    return cleaned


class HealthCodeService:
    """Computes, stores and reads residents' health codes; records the facts staff report."""

    def __init__(
        self, store: Store, policy: Policy, clock: Clock, zone: ZoneInfo, tracer: CaseTracer | None = None
    ) -> None:
        self._store = store
        self._policy = policy
        self._rules = policy.health_codes
        self._clock = clock
        self._zone = zone
        self._tracer = tracer

    @property
    def colours(self) -> tuple[str, ...]:
        """The policy's colours, least to most restrictive."""
        return self._rules.colours

    # --- reading ----------------------------------------------------------------------------

    def _person_id(self, uow: UnitOfWork, person_ref: str) -> int:
        person_id = uow.people.id_for_ref(person_ref)
        if person_id is None:
            raise NotFound("no such person", field="person")
        return person_id

    def current(self, person_ref: str) -> HealthCode:
        """The person's code now: recomputed first when a reason may have changed since it was stored."""
        with self._store.read() as uow:
            person_id = self._person_id(uow, person_ref)
        return self.current_for(person_id)

    def current_for(self, person_id: int) -> HealthCode:
        """As ``current``, by the store's person id."""
        now = to_epoch(self._clock.now())
        with self._store.read() as uow:
            stored = uow.health_codes.current([person_id]).get(person_id)
        fresh = (
            stored is not None
            and (stored.refresh_at is None or stored.refresh_at > now)
            and stored.policy_version == self._policy.version
        )
        if stored is not None and fresh:
            return _code(stored)
        return self.recompute([person_id])[person_id]

    def own_code(self, person_id: int) -> HealthCode:
        """The person's current code as they see it themselves: other people's cases are "a case"."""
        code = self.current_for(person_id)
        with self._store.read() as uow:
            own = {c.ref for c in uow.cases.get_by_person(person_id)}
        reasons = tuple(
            r
            if r.case_ref is None or r.case_ref in own
            else replace(r, text=r.text.replace(f"case {r.case_ref}", "a case"), case_ref=None)
            for r in code.reasons
        )
        return replace(code, reasons=reasons)

    def last_negative_test_at(self, person_ref: str, kinds: Iterable[str] | None = None) -> datetime | None:
        """When the person's latest negative test (of ``kinds``, e.g. ("pcr",)) was taken, or None."""
        with self._store.read() as uow:
            person_id = self._person_id(uow, person_ref)
        return self.last_negative_test_for(person_id, kinds)

    def last_negative_test_for(self, person_id: int, kinds: Iterable[str] | None = None) -> datetime | None:
        """As ``last_negative_test_at``, by the store's person id."""
        with self._store.read() as uow:
            at = uow.health_codes.last_negative_test(person_id, kinds)
        return None if at is None else from_epoch(at)

    def history(self, person_ref: str, *, offset: int = 0, limit: int = 100) -> tuple[list[CodeChange], int]:
        """The person's code changes, newest first, and how many there are."""
        with self._store.read() as uow:
            rows, count = uow.health_codes.history(
                self._person_id(uow, person_ref), offset=offset, limit=limit
            )
        return [CodeChange(_code(r), r.changed_by or "system") for r in rows], count

    # --- recomputing ------------------------------------------------------------------------

    def recompute(self, person_ids: Iterable[int], *, actor: str = "system") -> dict[int, HealthCode]:
        """Compute and store these people's codes now; history rows for those that changed."""
        ids = sorted(set(person_ids))
        out: dict[int, HealthCode] = {}
        for start in range(0, len(ids), _BATCH):
            out.update(self._recompute(ids[start : start + _BATCH], actor))
        return out

    def _recompute(self, ids: list[int], actor: str) -> dict[int, HealthCode]:
        """One batch: compute, store, append history, revoke the signed codes of those who worsened."""
        now = self._clock.now()
        out: dict[int, HealthCode] = {}
        with self._store.write() as uow:
            facts = load_facts(uow, ids, self._zone)
            before = uow.health_codes.current(ids)
            rows: list[StoredCode] = []
            changed: list[StoredCode] = []
            worsened: list[int] = []
            for person_id, person_facts in facts.items():
                code = evaluate(person_facts, self._rules, now, policy_version=self._policy.version)
                points = change_points(person_facts, self._rules, now)
                row = StoredCode(
                    person_id=person_id,
                    colour=code.colour,
                    reasons=_reasons_json(code.reasons),
                    until=None if code.until is None else to_epoch(code.until),
                    refresh_at=to_epoch(points[0]) if points else None,
                    computed_at=to_epoch(now),
                    policy_version=self._policy.version,
                    overridden=code.overridden,
                    changed_by=actor[:80],
                )
                old = before.get(person_id)
                if (
                    old is None
                    or old.colour != row.colour
                    or old.reasons != row.reasons
                    or old.overridden != row.overridden
                ):
                    changed.append(row)
                if old is not None and self._rules.rank(row.colour) > self._rules.rank(old.colour):
                    worsened.append(person_id)
                rows.append(row)
                out[person_id] = code
            uow.health_codes.save(rows, changed)
            # A signed code out there still shows the better colour: revoke each by id, in this
            # transaction, so no checkpoint that has synced since clears it.
            revoked = uow.issued_codes.revoke_outstanding(worsened, to_epoch(now))
        if revoked:
            log.info("%d signed codes revoked: %d people's colour worsened", revoked, len(worsened))
        return out

    def people_changed(self, person_ids: Iterable[int]) -> None:
        """Facts about these people changed (an order issued or ended): recompute them."""
        self.recompute(person_ids)

    def case_changed(self, case_ref: str) -> int:
        """A case was registered or changed: trace it, store its exposures, recompute everyone touched.

        Returns how many codes were recomputed. A case that is no longer confirmed or
        probable leaves no exposures behind; a discharged one keeps them (its window closed
        at isolation), and its contacts stay red for the rule's days from their last exposure.
        """
        now = to_epoch(self._clock.now())
        with self._store.read() as uow:
            case = uow.cases.get_by_ref(case_ref)
        if case is None or case.id is None:
            raise NotFound("no such case", field="case")
        rows: list[dict[str, Any]] = []
        if case.status.value in _OPEN and self._tracer is not None:
            trace = self._tracer.trace_case(case_ref)
            rows = exposure_rows(trace)
            rows += risky_visit_rows(
                self._store,
                trace,
                self._zone,
                skip={r["person_id"] for r in rows},
                venue_refs=self._venue_refs,
            )
        if case.status.value in _OPEN:
            rows += self._reported_rows(case.id, case.person_id, rows)
        with self._store.write() as uow:
            before = uow.health_codes.replace_exposures(case.id, rows, now, self._policy.version)
        touched = {case.person_id, *before, *(r["person_id"] for r in rows)}
        self.recompute(touched)
        log.info("case %s: %d exposures stored, %d codes recomputed", case_ref, len(rows), len(touched))
        return len(touched)

    def _reported_rows(
        self, case_id: int, index_person_id: int, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Exposures residents reported from a decentralised venue's warning for this case (their
        phones matched it): ``risky_visit``, unless the trace already gave them that venue."""
        with self._store.read() as uow:
            reported = uow.presence.reported_exposures(case_id)
        have = {(r["person_id"], r["venue_ref"]) for r in rows}
        return [
            {
                "person_id": person_id,
                "tier": "risky_visit",
                "evidence": "venue",
                "venue_ref": venue_ref,
                "generation": 1,
                "last_exposure_at": last,
            }
            for person_id, venue_ref, last in reported
            if person_id != index_person_id and (person_id, venue_ref) not in have
        ]

    def _venue_refs(self, venue_ids: Iterable[int]) -> dict[int, str]:
        with self._store.read() as uow:
            return {v: venue.ref for v, venue in uow.venues.get_many(sorted(venue_ids)).items()}

    def untraced_cases(self) -> list[str]:
        """Confirmed and probable cases never traced for codes (what the next sweep will trace)."""
        with self._store.read() as uow:
            return uow.health_codes.untraced_open_cases()

    def refresh(
        self,
        *,
        person_ref: str | None = None,
        everyone: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """The sweep: trace cases never traced for codes, then recompute codes that are due (or all).

        ``everyone`` recomputes every person's code; ``person_ref`` just that person's.
        ``on_progress(done, total)`` is told as batches finish. Returns how many were recomputed.
        A case whose trace is refused (it meets a venue of a type the policy lacks) is logged
        and stays untraced, for the next sweep to retry; the other cases and the codes due go on.
        """
        if person_ref is not None:
            with self._store.read() as uow:
                self.recompute([self._person_id(uow, person_ref)])
            return 1
        for ref in self.untraced_cases():
            try:
                self.case_changed(ref)
            except ChaincutError as exc:
                log.warning(
                    "case %s: not traced for health codes, the next sweep retries: %s", ref, exc.message
                )
        with self._store.read() as uow:
            if everyone:
                ids = sorted(set(uow.people.ref_index().column("id").to_pylist()))
            else:
                ids = uow.health_codes.due_for_refresh(to_epoch(self._clock.now()))
        done = 0
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            self.recompute(batch)
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(ids))
        return done

    # --- facts recorded by staff ------------------------------------------------------------

    def _past(self, at: datetime, field: str) -> int:
        if at.tzinfo is None:
            raise InvalidInput("expected a time with a UTC offset", field=field)
        if at > self._clock.now():
            raise InvalidInput(f"{field} is in the future", field=field, code="in_future")
        return to_epoch(at)

    def record_test(
        self, person_ref: str, taken_at: datetime, kind: str, result: str, actor: str
    ) -> HealthCode:
        """A test the person took (pcr, rat, ...): positive or negative. Returns their code after."""
        if not _KIND.match(kind or ""):
            raise InvalidInput("expected a test kind such as pcr or rat (lower case, 1-16)", field="kind")
        if result not in TEST_RESULTS:
            raise InvalidInput(f"expected one of {', '.join(TEST_RESULTS)}", field="result")
        at = self._past(taken_at, "taken_at")
        with self._store.write() as uow:
            person_id = self._person_id(uow, person_ref)
            uow.health_codes.add_test(person_id, at, kind, result, to_epoch(self._clock.now()), actor[:80])
        return self.recompute([person_id], actor=actor)[person_id]

    def record_follow_up_test(self, person_id: int, on_date: date, result: str, actor: str) -> None:
        """A test result reported at daily follow-up: taken at the start of that local day (conservative)."""
        at = min(local_midnight(on_date, self._zone), self._clock.now())
        with self._store.write() as uow:
            uow.health_codes.add_test(
                person_id, to_epoch(at), "follow_up", result, to_epoch(self._clock.now()), actor[:80]
            )
        self.recompute([person_id], actor=actor)

    def record_vaccination(self, person_ref: str, dose_on: date, product: str, actor: str) -> HealthCode:
        """A vaccine dose given on a local date."""
        product = _text(product, "product", 64)
        today = self._clock.now().astimezone(self._zone).date()
        if dose_on > today:
            raise InvalidInput(
                f"dose_on is after today ({today.isoformat()})", field="dose_on", code="in_future"
            )
        with self._store.write() as uow:
            person_id = self._person_id(uow, person_ref)
            uow.health_codes.add_vaccination(
                person_id, dose_on, product, to_epoch(self._clock.now()), actor[:80]
            )
        return self.recompute([person_id], actor=actor)[person_id]

    def record_arrival(self, person_ref: str, arrived_at: datetime, origin: str, actor: str) -> HealthCode:
        """The person arrived from elsewhere (``origin``: a place or jurisdiction code)."""
        origin = _text(origin, "origin", 64)
        at = self._past(arrived_at, "arrived_at")
        with self._store.write() as uow:
            person_id = self._person_id(uow, person_ref)
            uow.health_codes.add_arrival(person_id, at, origin, to_epoch(self._clock.now()), actor[:80])
        return self.recompute([person_id], actor=actor)[person_id]

    # --- overrides --------------------------------------------------------------------------

    def set_override(
        self, person_ref: str, colour: str, reason: str, until: datetime | None, actor: str
    ) -> HealthCode:
        """A supervisor sets the colour by hand, with a reason, until a time (or until cleared)."""
        if colour not in self._rules.colours:
            raise InvalidInput(f"expected one of {', '.join(self._rules.colours)}", field="colour")
        reason = _text(reason, "reason", 500)
        if len(reason) < 5:
            raise InvalidInput("expected a reason of 5-500 characters", field="reason")
        now = self._clock.now()
        if until is not None and (until.tzinfo is None or until <= now):
            raise InvalidInput("expected a future time with a UTC offset", field="until")
        with self._store.write() as uow:
            person_id = self._person_id(uow, person_ref)
            uow.health_codes.set_override(
                OverrideRow(
                    person_id,
                    colour,
                    reason,
                    None if until is None else to_epoch(until),
                    to_epoch(now),
                    actor[:80],
                )
            )
        return self.recompute([person_id], actor=actor)[person_id]

    def clear_override(self, person_ref: str, actor: str) -> HealthCode:
        """End a supervisor's override: the rules decide again."""
        with self._store.write() as uow:
            person_id = self._person_id(uow, person_ref)
            if not uow.health_codes.clear_override(person_id):
                raise NotFound("this person's code has no override", field="override")
        return self.recompute([person_id], actor=actor)[person_id]
