"""Border booking tests' common ground: one small test checkpoint, residents to book, and requests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from chaincut.bootstrap import Services
from chaincut.border import BookingRequest
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.people import PersonDraft
from chaincut.policy import BorderRules, CheckpointRule

__all__ = [
    "DAY",
    "NOW",
    "POINT",
    "booking_request",
    "code_claims",
    "companions_of",
    "register_people",
    "small_checkpoint_rules",
]

DAY = date(2026, 11, 21)  # the day after the fixed clock's local date (12:00 in Hong Kong)
POINT = "test_point"
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong: the afternoon slot


def code_claims(subject: str | None, **changes: object) -> HealthCodeClaims:
    """A green health code of ``subject``'s, issued an hour before NOW with a test 10 hours old (and
    ``changes``), as a verifier would read it."""
    base = HealthCodeClaims(
        code_id="code-1",
        issuer="HK",
        subject=subject,
        name=None,
        colour="green",
        reasons=(),
        status_until=None,
        last_negative_test_at=NOW - timedelta(hours=10),
        issued_at=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(hours=23),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def small_checkpoint_rules(services: Services, quota: int, **changes: object) -> BorderRules:
    """The default border rules with one checkpoint of ``quota`` seats per slot (and ``changes``)."""
    small = CheckpointRule(
        POINT, "Test Point", "測試口岸", {"morning": quota, "afternoon": quota, "night": quota}
    )
    return replace(services.policy.border, checkpoints={POINT: small}, **changes)  # type: ignore[arg-type]


def register_people(services: Services, count: int, prefix: str) -> list[int]:
    """``count`` registered residents (refs ``prefix`` + index): their person ids."""
    ids = []
    for i in range(count):
        services.people.register(PersonDraft(ref=f"{prefix}{i}"))
        with services.store.read() as uow:
            person_id = uow.people.id_for_ref(f"{prefix}{i}")
        assert person_id is not None
        ids.append(person_id)
    return ids


def booking_request(person_id: int, doc: str, request_id: str, **changes: object) -> BookingRequest:
    """A request for the test checkpoint's morning slot on DAY, no companions, unless ``changes`` say else."""
    base = BookingRequest(
        person_id=person_id,
        id_document=doc,
        day=DAY,
        checkpoint=POINT,
        slot="morning",
        companions=(),
        request_id=request_id,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def companions_of(doc: str, count: int) -> tuple[str, ...]:
    """``count`` companions' document numbers, made from the named traveller's ``doc`` (each unique)."""
    stem = "".join(ch for ch in doc if ch.isalnum())
    return tuple(f"{stem}C{i}" for i in range(count))
