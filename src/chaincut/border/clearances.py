"""Clearing travellers at a checkpoint, online, and taking in what offline checkpoints decided.

Online, the officer's scan is checked by the health-code verifier, its standing
read from the codes' issuer at that moment (revoked? the holder's current code:
a code fetched green hours ago does not clear someone named a close contact since),
decided by ``clearance.decide`` against the traveller's bookings in the store (those
they are named on or listed on as a companion), recorded and audited in one
transaction. A partner jurisdiction's code has no holder in our store: it is decided
on the colour it states, unless the partner's last synced revocation list names it.
A code id, and a booking's traveller, clear one crossing only: when two officers scan
the same code at once, the store's unique index lets one clearance in and the other is
decided again, now as a replay. For offline use a checkpoint syncs a bundle (its day's
bookings with every traveller by border subject id, the rules, the trust list, the
revoked code ids and the bundle's maximum age) and later uploads its decisions, which
are recorded as they were made, idempotently by decision id; an offline clearance
whose code or traveller had already crossed elsewhere is kept with its
``conflict`` and flagged in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chaincut.border.bundle import ClearanceBundle
from chaincut.border.clearance import decide
from chaincut.border.ports import (
    NOTHING_KNOWN,
    CodeStanding,
    CodeVerifier,
    RevokedCodesProvider,
    StandingLookup,
    TrustListProvider,
    check_code,
)
from chaincut.clock import Clock, to_epoch
from chaincut.domain.access import Permission, Principal
from chaincut.domain.audit import AuditEvent
from chaincut.domain.border import Clearance, ClearanceDecision, RefusalCode
from chaincut.domain.ids import new_public_id
from chaincut.errors import Conflict, InvalidInput
from chaincut.policy import BorderRules
from chaincut.security.identity import BorderSubjects
from chaincut.store import Store, UnitOfWork

__all__ = ["CONFLICT_FLAG", "ClearanceService"]

CONFLICT_FLAG = "clearance_conflict"  # an offline clearance of a code or booking that had already crossed


class ClearanceService:
    """Decides and records clearances, and makes the bundles offline checkpoints decide with."""

    def __init__(
        self,
        store: Store,
        rules: BorderRules,
        clock: Clock,
        zone: ZoneInfo,
        subjects: BorderSubjects,
        verifier: CodeVerifier,
        trust_list: TrustListProvider,
        policy_version: str,
        *,
        standing: StandingLookup,
        revoked_codes: RevokedCodesProvider,
        bundle_max_age_hours: int,
    ) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock
        self._zone = zone
        self._subjects = subjects
        self._verifier = verifier
        self._trust_list = trust_list
        self._policy_version = policy_version
        self._standing = standing
        self._revoked_codes = revoked_codes
        self._bundle_max_age_hours = bundle_max_age_hours

    def with_verifier(
        self,
        verifier: CodeVerifier,
        trust_list: TrustListProvider | None = None,
        standing: StandingLookup | None = None,
    ) -> ClearanceService:
        """The same service with another verifier (and trust list): for drills and tests.

        The codes such a verifier accepts were not issued through this store, so their standing
        is what ``standing`` says, or nothing beyond what they state.
        """
        return ClearanceService(
            self._store,
            self._rules,
            self._clock,
            self._zone,
            self._subjects,
            verifier,
            trust_list or self._trust_list,
            self._policy_version,
            standing=standing or _nothing_known,
            revoked_codes=self._revoked_codes,
            bundle_max_age_hours=self._bundle_max_age_hours,
        )

    def _checkpoint(self, checkpoint: str) -> None:
        if self._rules.checkpoint(checkpoint) is None:
            known = ", ".join(sorted(self._rules.checkpoints))
            raise InvalidInput(
                f"no checkpoint {checkpoint!r}; expected one of {known}",
                field="checkpoint",
                code="unknown_checkpoint",
            )

    # --- sync ------------------------------------------------------------------------------------

    def bundle(
        self, principal: Principal, checkpoint: str, day: date, *, purpose: str = ""
    ) -> ClearanceBundle:
        """The checkpoint's bookings on ``day`` with the rules, trust list and revoked code ids; audited
        as a read of the bookings."""
        self._checkpoint(checkpoint)
        now = self._clock.now()
        revoked = {issuer: frozenset(ids) for issuer, ids in self._revoked_codes().items()}
        with self._store.write() as uow:
            uow.clearances.fill_subjects(self._subjects.subject_of)
            bookings = uow.clearances.bookings_at(checkpoint, day)
            codes, crossed = uow.clearances.crossed_on(day)
            _audit(
                uow,
                principal,
                now,
                resource="border/bookings",
                record=f"checkpoint={checkpoint},day={day.isoformat()}",
                purpose=purpose,
                details={"count": len(bookings), "sync": True},
            )
        return ClearanceBundle(
            generated_at=now,
            checkpoint=checkpoint,
            day=day,
            zone=self._zone,
            policy_version=self._policy_version,
            rules=self._rules.clearance,
            bookings=tuple(bookings),
            crossed_codes=frozenset(codes),
            crossed_travellers=frozenset(crossed),
            trust_list=dict(self._trust_list()),
            revoked_codes=revoked,
            max_age_hours=self._bundle_max_age_hours,
        )

    # --- online ----------------------------------------------------------------------------------

    def clear(self, principal: Principal, qr_text: str, checkpoint: str, *, purpose: str = "") -> Clearance:
        """Check the scanned code, decide, record and audit; the record says cleared or every reason not."""
        self._checkpoint(checkpoint)
        now = self._clock.now()
        check = check_code(self._verifier, qr_text, now)
        claims = check.claims if check.valid else None
        standing = NOTHING_KNOWN if claims is None else self._standing(claims)
        with self._store.write() as uow:
            uow.clearances.fill_subjects(self._subjects.subject_of)
            for _attempt in range(3):
                subject = None if claims is None else claims.subject
                bookings = uow.clearances.bookings_of(subject) if subject else []
                # One read for both: a rival's crossing committed meanwhile is seen as a replayed
                # code and a used booking together, never as only one of them.
                used_codes, used_travellers = uow.clearances.crossed(
                    [claims.code_id] if claims else [], [(b.booking_id, subject) for b in bookings if subject]
                )
                decision = decide(
                    check,
                    bookings,
                    checkpoint,
                    now,
                    self._zone,
                    self._rules.clearance,
                    used_codes=used_codes,
                    used_travellers=used_travellers,
                    standing=standing,
                )
                record = Clearance(new_public_id(), decision, principal.name, offline=False, recorded_at=now)
                stored = uow.clearances.add(record)
                if stored is not None:
                    break
                # Another officer's clearance of this code or booking committed first: decide again.
            else:
                raise Conflict("the clearance clashed with others three times; scan again")
            _audit_decision(uow, principal, now, stored, purpose)
        return _with_colour(stored, decision)

    # --- a venue's kiosk -------------------------------------------------------------------------

    def holder_of(self, qr_text: str) -> str:
        """The ref of the person this authority issued the code to, while it is valid: an entrance
        kiosk checks a visitor in by the code they show (their colour plays no part in it)."""
        check = check_code(self._verifier, qr_text, self._clock.now())
        claims = check.claims if check.valid else None
        with self._store.read() as uow:
            issued = uow.issued_codes.get(claims.code_id) if claims is not None else None
            refs = uow.people.refs_for([issued.person_id]) if issued is not None else {}
        if issued is None or issued.person_id not in refs:
            raise InvalidInput(
                "this is not a valid health code of ours: ask the visitor to open their code again",
                field="code",
            )
        return refs[issued.person_id]

    # --- offline decisions uploaded ----------------------------------------------------------------

    def record_offline(
        self,
        principal: Principal,
        decisions: Sequence[tuple[str, ClearanceDecision, str | None]],
        *,
        purpose: str = "",
    ) -> list[Clearance]:
        """Record decisions an offline checkpoint made: (decision id, decision, booking public id).

        A decision id already recorded returns its first record (``replayed``); all or nothing.
        """
        now = self._clock.now()
        out: list[Clearance] = []
        with self._store.write() as uow:
            for i, (decision_id, decision, booking_id) in enumerate(decisions):
                if self._rules.checkpoint(decision.checkpoint) is None:
                    raise InvalidInput(
                        f"decisions[{i}].checkpoint: no checkpoint {decision.checkpoint!r}",
                        field=f"decisions[{i}].checkpoint",
                        code="unknown_checkpoint",
                    )
                first = uow.clearances.by_public_id(decision_id)
                if first is not None:
                    out.append(_replayed(first))
                    continue
                if booking_id is not None and uow.clearances.booking_row_id(booking_id) is None:
                    raise InvalidInput(
                        f"decisions[{i}].booking_id: no booking {booking_id!r}",
                        field=f"decisions[{i}].booking_id",
                        code="unknown_booking",
                    )
                out.append(self._record_one(uow, principal, now, decision_id, decision, booking_id, purpose))
        return out

    def _record_one(
        self,
        uow: UnitOfWork,
        principal: Principal,
        now: datetime,
        decision_id: str,
        decision: ClearanceDecision,
        booking_id: str | None,
        purpose: str,
    ) -> Clearance:
        booking = None if booking_id is None else uow.clearances.booking(booking_id)
        decision = replace(decision, booking=booking)
        for _attempt in range(3):
            conflict = None
            if decision.cleared:
                if decision.code_id is not None and uow.clearances.crossed_codes([decision.code_id]):
                    conflict = RefusalCode.CODE_REPLAYED.value
                elif booking_id is not None and uow.clearances.crossed_travellers(
                    [(booking_id, decision.subject or "")]
                ):
                    conflict = RefusalCode.BOOKING_USED.value
            record = Clearance(
                decision_id, decision, principal.name, offline=True, recorded_at=now, conflict=conflict
            )
            stored = uow.clearances.add(record)
            if stored is not None:
                _audit_decision(uow, principal, now, stored, purpose)
                return _with_colour(stored, decision)
            first = uow.clearances.by_public_id(decision_id)
            if first is not None:
                return _replayed(first)
        raise Conflict(f"decision {decision_id} clashed with others three times; upload again")


def _nothing_known(_claims: object) -> CodeStanding:
    return NOTHING_KNOWN


def _replayed(first: Clearance) -> Clearance:
    return Clearance(
        first.public_id, first.decision, first.officer, first.offline, first.recorded_at, first.conflict, True
    )


def _with_colour(stored: Clearance, decision: ClearanceDecision) -> Clearance:
    """The stored record with what the decision knew but the store does not keep (colour, reason texts)."""
    full = replace(stored.decision, colour=decision.colour, reasons=decision.reasons)
    return Clearance(
        stored.public_id, full, stored.officer, stored.offline, stored.recorded_at, stored.conflict
    )


def _audit(
    uow: UnitOfWork,
    principal: Principal,
    now: datetime,
    *,
    resource: str,
    record: str,
    purpose: str,
    details: dict[str, str | int | bool | None],
    flags: tuple[str, ...] = (),
    subject_person_id: int | None = None,
) -> None:
    event = AuditEvent(
        actor=principal.name,
        roles=principal.role_names,
        action=Permission.BORDER_CLEAR.value,
        resource=resource,
        record=record,
        purpose=purpose,
        flags=flags,
        details=details,
        subject_person_id=subject_person_id,
    )
    uow.audit.append([event], at=to_epoch(now))


def _audit_decision(
    uow: UnitOfWork, principal: Principal, now: datetime, record: Clearance, purpose: str
) -> None:
    d = record.decision
    person = None
    if d.booking is not None:
        person = uow.clearances.traveller_person(d.booking.booking_id, d.subject)
    _audit(
        uow,
        principal,
        now,
        resource="border/clearances",
        record=record.public_id,
        purpose=purpose,
        details={
            "checkpoint": d.checkpoint,
            "day": d.day.isoformat(),
            "slot": d.slot,
            "cleared": d.cleared,
            "reasons": ",".join(d.reason_codes),
            "code_id": d.code_id,
            "booking": None if d.booking is None else d.booking.booking_id,
            "offline": record.offline,
            "decided_at": d.decided_at.isoformat(),
            "conflict": record.conflict,
        },
        flags=(CONFLICT_FLAG,) if record.conflict else (),
        subject_person_id=person,
    )
