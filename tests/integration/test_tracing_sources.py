"""The three ways tracing reads the embedded archive agree on a synthetic district.

A small city from ``chaincut synth`` is imported through the real importers; then
cases are traced one by one streaming the archive (the command line), one by one
from the in-memory index (the server), and all together in chunks (a day's batch).
Every contact and every minute must be the same, whichever way was taken.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from chaincut.bootstrap import Services
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.tracing.service import TracingService
from chaincut.whereabouts.importing import (
    ImportOptions,
    import_encounters,
    import_people,
    import_venues,
    import_visits,
)
from chaincut.whereabouts.synth import CityParameters, synthesize_city

CASES = 40


@pytest.fixture
def district(embedded_services: Services, tmp_path: Path) -> Services:
    services = embedded_services
    now = services.clock.now()
    city = tmp_path / "city"
    synthesize_city(
        CityParameters(people=3000, venues=150, days=5, checkins_per_day=6000, seed=7), city, end=now
    )
    options = ImportOptions()
    assert import_people(
        services.store, services.hasher, services.clock, city / "people.parquet", options
    ).stored
    import_venues(services.store, services.policy, services.clock, city / "venues.parquet", options)
    import_visits(services.store, services.policy, services.clock, city / "visits.parquet", options)
    import_encounters(services.store, services.policy, services.clock, city / "encounters.parquet", options)
    assert services.store.archive is not None
    rng = np.random.default_rng(11)
    with services.store.write() as uow:
        people = rng.choice(np.arange(1, 3001), size=CASES, replace=False)
        today = now.date()
        cases = [
            Case(
                ref=f"C{i:03d}",
                person_id=int(p),
                status=CaseStatus.CONFIRMED,
                classification=CaseClassification.LOCAL,
                reported_on=today,
                onset_on=today - timedelta(days=int(rng.integers(0, 3))) if i % 5 else None,
                specimen_on=today if i % 5 == 0 else None,
            )
            for i, p in enumerate(people)
        ]
        uow.cases.add_many(cases, created_at=int(now.timestamp()))
    return services


def contacts_of(service: TracingService, ref: str) -> dict[int, tuple[str, int]]:
    trace = service.trace_case(ref)
    return {c.person_id: (c.tier.value, c.seconds) for c in trace.contacts}


def test_streaming_resident_and_batch_tracing_agree(district: Services) -> None:
    services = district
    streaming = TracingService(services.store, services.policy, services.clock, services.settings.zone)
    resident = TracingService(
        services.store, services.policy, services.clock, services.settings.zone, resident=True
    )
    refs = [f"C{i:03d}" for i in range(CASES)]
    one_by_one = {ref: contacts_of(streaming, ref) for ref in refs}
    assert sum(len(c) for c in one_by_one.values()) > 1000  # a real workload, not empty answers
    assert {ref: contacts_of(resident, ref) for ref in refs} == one_by_one

    with services.store.read() as uow:
        cases, _ = uow.cases.list(reported_from=date.min, limit=CASES)
    batch = streaming.trace_cases(cases, roots_per_chunk=7)
    assert batch.contacts is not None
    together: dict[str, dict[int, tuple[str, int]]] = {c.ref: {} for c in cases}
    tiers = {2: "close", 1: "exposed"}
    for root, person, tier, seconds in zip(
        batch.contacts.root.tolist(),
        batch.contacts.person.tolist(),
        batch.contacts.tier.tolist(),
        batch.contacts.seconds.tolist(),
        strict=True,
    ):
        together[cases[root].ref][person] = (tiers[tier], seconds)
    assert together == one_by_one
    assert batch.contact_count == sum(len(c) for c in one_by_one.values())
