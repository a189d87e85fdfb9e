"""Decentralised check-in over the API, for its tests: the staff, the case C1 (onset 2026-11-18),
venues registered in CrowdNotifier mode, phones, and warnings proposed and reviewed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.domain.access import Role
from chaincut.presence.client import PresenceClient
from support.auth import staff_headers

__all__ = [
    "MESSAGE",
    "REGISTERED_AT",
    "VISIT_END",
    "VISIT_START",
    "client",
    "phone",
    "register",
    "review",
    "staff",
    "warn",
]

VISIT_START = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
VISIT_END = datetime(2026, 11, 18, 11, 30, tzinfo=UTC)
MESSAGE = "A person with COVID-19 was here. Get tested today and watch for symptoms."


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def staff(services: Services, client: TestClient) -> dict[str, dict[str, str]]:
    heads = {
        "owner": staff_headers(services, Role.VENUE_OPERATOR, username="owner"),
        "sam": staff_headers(services, Role.SUPERVISOR, username="sam", purpose="tracing case C1's venues"),
        "sue": staff_headers(services, Role.SUPERVISOR, username="sue", purpose="reviewing warnings"),
        "tina": staff_headers(services, Role.TRACER, username="tina"),
    }
    assert client.post("/people", json={"ref": "p-case"}, headers=heads["sam"]).status_code == 201
    case = {"ref": "C1", "person": "p-case", "classification": "local", "onset_on": "2026-11-18"}
    assert client.post("/cases", json=case, headers=heads["sam"]).status_code == 201
    return heads


REGISTERED_AT = datetime(2026, 11, 1, tzinfo=UTC)


def register(client: TestClient, owner: dict[str, str], ref: str, variant: str) -> dict[str, Any]:
    """Register a venue as its operator did on 1 November (its entry code valid from then)."""
    clock: FixedClock = client.app.state.services.clock  # type: ignore[attr-defined]
    now = clock.now()
    clock.set(REGISTERED_AT)
    body = {
        "ref": ref,
        "venue_type": "restaurant",
        "name_en": f"Harbour Noodles {ref}",
        "name_zh": "海港麵家",
        "district": "Wan Chai",
        "checkin_mode": "crowdnotifier",
        "crowdnotifier_variant": variant,
    }
    response = client.post("/venues", json=body, headers=owner)
    clock.set(now)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


def phone(client: TestClient) -> PresenceClient:
    device = PresenceClient(client)
    device.configure()
    return device


def warn(client: TestClient, headers: dict[str, str], venue: str, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "case": "C1",
        "venue": venue,
        "start": VISIT_START.isoformat(),
        "end": VISIT_END.isoformat(),
        "message": MESSAGE,
    }
    body.update(changes)
    return client.post("/presence/warnings", json=body, headers=headers)


def review(client: TestClient, headers: dict[str, str], warning: str, decision: str = "publish") -> Any:
    body = {"decision": decision, "reason": "the case confirmed the visit by phone"}
    return client.post(f"/presence/warnings/{warning}/review", json=body, headers=headers)
