"""Registering people: validation, keyed hashing of documents, sealed details."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from chaincut.clock import Clock, to_epoch
from chaincut.domain import Person, PersonalDetails
from chaincut.domain.ids import new_public_id
from chaincut.errors import Conflict, FieldError, InvalidInput, NotFound
from chaincut.security import IdentityHasher
from chaincut.store import Store

__all__ = ["PeopleRegistry", "PersonDraft", "validate_person_fields"]

# \Z, not $: "$" would let a final newline in.
REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}\Z")
PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-]{3,19}\Z")


@dataclass(frozen=True)
class PersonDraft:
    """A person as submitted, before validation; its repr shows the refs only, never personal data."""

    ref: str
    id_document: str | None = field(default=None, repr=False)
    name: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    address: str | None = field(default=None, repr=False)
    household: str | None = None


def validate_person_fields(draft: PersonDraft) -> list[FieldError]:
    """Every problem with the draft's fields (none means it can be stored)."""
    errors: list[FieldError] = []
    if not REF_PATTERN.match(draft.ref or ""):
        errors.append(
            FieldError("ref", "expected 1-64 letters, digits or . _ : - starting with a letter or digit")
        )
    if draft.household is not None and not REF_PATTERN.match(draft.household):
        errors.append(FieldError("household", "expected a household reference like the ref"))
    if draft.phone is not None and not PHONE_PATTERN.match(draft.phone):
        errors.append(FieldError("phone", "expected a phone number of digits, optionally with +"))
    for name, value, limit in (("name", draft.name, 200), ("address", draft.address, 300)):
        if value is not None and (not value.strip() or len(value) > limit):
            errors.append(FieldError(name, f"expected non-empty text of at most {limit} characters"))
    return errors


class PeopleRegistry:
    """Registers people and finds them again, by ref or by identity document."""

    def __init__(self, store: Store, hasher: IdentityHasher, clock: Clock) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock

    def register(self, draft: PersonDraft) -> Person:
        errors = validate_person_fields(draft)
        if errors:
            first = errors[0]
            raise InvalidInput(first.message, field=first.field)
        doc_hash = self._hasher.hash(draft.id_document) if draft.id_document else None
        person = Person(
            ref=draft.ref,
            public_id=new_public_id(),
            details=PersonalDetails(draft.name, draft.phone, draft.address),
            id_document_hash=doc_hash,
            household_ref=draft.household,
        )
        try:
            with self._store.write() as uow:
                if uow.people.id_for_ref(draft.ref) is not None:
                    raise Conflict("a person with this ref is already registered", field="ref")
                household_id = (
                    uow.households.ensure([draft.household])[draft.household] if draft.household else None
                )
                person_id = uow.people.add(person, household_id, to_epoch(self._clock.now()))
                stored = uow.people.get(person_id)
        except IntegrityError as exc:
            raise Conflict("a person with this ref is already registered", field="ref") from exc
        assert stored is not None
        return stored

    def get(self, ref: str) -> Person:
        with self._store.read() as uow:
            person = uow.people.get_by_ref(ref)
        if person is None:
            raise NotFound("no such person", field="ref")
        return person

    def find_by_id_document(self, id_document: str) -> list[Person]:
        """The people registered with this document number (matched by keyed hash)."""
        doc_hash = self._hasher.hash(id_document)
        with self._store.read() as uow:
            found = [uow.people.get(i) for i in uow.people.ids_for_document(doc_hash)]
        return [p for p in found if p is not None]
