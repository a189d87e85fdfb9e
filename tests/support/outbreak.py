"""A small outbreak seeded by hand for the analytics tests: venues, people with a case each, their stays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from chaincut.bootstrap import Services
from chaincut.clock import to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus, PersonalDetails, Venue, Visit, VisitSource
from chaincut.domain.access import Principal, Role
from chaincut.domain.ids import new_public_id
from chaincut.store import NewPersonRow
from support.auth import PASSWORD

__all__ = ["DAY", "TRACER", "VENUES", "at", "link", "seed", "tracers_outbreak"]

TRACER = Principal.system("tracer-1")
DAY = date(2026, 11, 10)  # the tests' clock is 2026-11-20 12:00 in Hong Kong

VENUES = {
    "v-dragon": ("restaurant", "Golden Dragon", "金龍酒家"),
    "v-gym": ("gym", "Iron Gym", "鐵館"),
    "v-ward": ("hospital", "Kwong Wah Hospital", "廣華醫院"),
}


def at(day_offset: int, hour: int) -> datetime:
    """An instant ``day_offset`` days after DAY at ``hour`` in Hong Kong (UTC+8)."""
    return datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=day_offset, hours=hour - 8)


def seed(services: Services, people: dict[str, tuple[int, list[tuple[str, int, int]], str | None]]) -> None:
    """People with a case each: ref -> (onset offset from DAY, [(venue, day offset, hour)], household)."""
    with services.store.write() as uow:
        known = uow.venues.existing("ref", list(VENUES))
        uow.venues.add_many(
            [
                Venue(ref, new_public_id(), kind, en, zh)
                for ref, (kind, en, zh) in VENUES.items()
                if ref not in known
            ],
            0,
        )
        households = uow.households.ensure({h for _, _, h in people.values() if h})
        uow.people.add_many(
            [
                NewPersonRow(f"p-{ref}", new_public_id(), PersonalDetails(), None, households.get(h or ""), 0)
                for ref, (_, _, h) in people.items()
            ]
        )
        person = uow.people.ids_for_refs([f"p-{ref}" for ref in people])
        venue = {ref: uow.venues.get_by_ref(ref) for ref in VENUES}
        uow.visits.add_many(
            [
                Visit(
                    person[f"p-{ref}"],
                    venue[v].id,  # type: ignore[union-attr]
                    at(d, hour),
                    at(d, hour) + timedelta(hours=1),
                    VisitSource.QR,
                )
                for ref, (_, stays, _) in people.items()
                for v, d, hour in stays
            ]
        )
        uow.cases.add_many(
            [
                Case(
                    ref=ref,
                    person_id=person[f"p-{ref}"],
                    status=CaseStatus.CONFIRMED,
                    classification=CaseClassification.LOCAL,
                    reported_on=DAY + timedelta(days=onset + 2),
                    onset_on=DAY + timedelta(days=onset),
                )
                for ref, (onset, _, _) in people.items()
            ],
            0,
        )


def link(services: Services, infectee: str, infector: str) -> None:
    with services.store.write() as uow:
        ids = uow.cases.ids_for([infectee, infector])
        uow.cases.set_links([(ids[infectee], ids[infector])])


def tracers_outbreak(services: Services) -> None:
    """Case A (onset 18 Nov, not isolated) had lunch at the Golden Dragon with B on 19 Nov, went to
    the gym with C that evening, and lives with D. Staff: tess (tracer, assigned A), ursula (a
    tracer with no case) and sam (supervisor)."""
    seed(
        services,
        {
            "A": (8, [("v-dragon", 9, 12), ("v-gym", 9, 18)], "h-a"),
            "B": (-20, [("v-dragon", 9, 12)], None),
            "C": (-20, [("v-gym", 9, 18)], None),
            "D": (-20, [], "h-a"),
        },
    )
    admin = Principal.system("tests")
    tess = services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), admin)
    services.accounts.add("ursula", PASSWORD, frozenset({Role.TRACER}), admin)
    services.accounts.add("sam", PASSWORD, frozenset({Role.SUPERVISOR}), admin)
    with services.store.write() as uow:
        ids = uow.cases.ids_for(["A"])
        uow.assignments.assign(ids["A"], tess.id, at=to_epoch(services.clock.now()), by="staff:sam")
