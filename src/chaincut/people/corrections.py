"""Correcting a person's details on request, keeping the history of each change (PDPO DPP2, DPP6).

A correction is checked as registration checks the same fields, then the new
values are stored and one history row per changed field (old and new values
sealed, the reason, who and when) is appended, in one transaction. The caller
may add its own writes to that transaction (the audit entry) through ``on_write``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chaincut.clock import Clock, to_epoch
from chaincut.errors import InvalidInput, NotFound
from chaincut.people.registry import PersonDraft, validate_person_fields
from chaincut.store import Store, UnitOfWork
from chaincut.store.corrections import CORRECTABLE_FIELDS

__all__ = ["Correction", "PersonCorrections", "validate_reason"]

_REASON_CHARS = (5, 500)


@dataclass(frozen=True)
class Correction:
    """The details to correct (None: leave as held) and why; its repr shows no personal data."""

    reason: str
    name: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    address: str | None = field(default=None, repr=False)
    household: str | None = None

    def values(self) -> dict[str, str]:
        """The fields given, by name."""
        given = {"name": self.name, "phone": self.phone, "address": self.address, "household": self.household}
        return {name: value for name, value in given.items() if value is not None}


def validate_reason(reason: str) -> str:
    """The reason with its whitespace tidied, or InvalidInput saying what a reason needs."""
    tidy = " ".join(reason.split())
    low, high = _REASON_CHARS
    if not low <= len(tidy) <= high:
        raise InvalidInput(
            f"say why the details are corrected ({low}-{high} characters)", field="reason", code="required"
        )
    return tidy


# Called inside the correction's transaction with the person's id and the fields changed.
OnWrite = Callable[[UnitOfWork, int, list[str]], None]


class PersonCorrections:
    """Corrects people's details and answers for the history of corrections."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def correct(
        self, person_id: int, correction: Correction, actor: str, *, on_write: OnWrite | None = None
    ) -> list[str]:
        """Apply ``correction`` to the person; the fields that changed, in report order.

        Values equal to those held are no change; a correction that changes
        nothing is refused, so every history row records a real change.
        """
        reason = validate_reason(correction.reason)
        given = correction.values()
        if not given:
            raise InvalidInput(
                f"give at least one of {', '.join(CORRECTABLE_FIELDS)} to correct", code="required"
            )
        with self._store.write() as uow:
            held = uow.corrections.current(person_id, for_update=True)
            if held is None:
                raise NotFound("no such person", field="ref")
            ref = uow.people.refs_for([person_id])[person_id]
            errors = validate_person_fields(PersonDraft(ref=ref, **given))
            if errors:
                raise InvalidInput(errors[0].message, field=errors[0].field)
            changes = {
                name: (held.values[name], value)
                for name in CORRECTABLE_FIELDS
                if (value := given.get(name)) is not None and value != held.values[name]
            }
            if not changes:
                raise InvalidInput("the details given are those already held", code="unchanged")
            household_id = None
            if "household" in changes:
                household_id = uow.households.ensure([given["household"]])[given["household"]]
            uow.corrections.apply(
                person_id,
                changes,
                household_id=household_id,
                reason=reason,
                by=actor,
                at=to_epoch(self._clock.now()),
            )
            if on_write is not None:
                on_write(uow, person_id, list(changes))
        return list(changes)
