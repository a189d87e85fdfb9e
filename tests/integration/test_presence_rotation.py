"""Entry codes that change every day, on every backend: a server-based venue registered with
``rotate_daily`` gets a new code each local day, so that its visitors' records on different days
cannot be linked; yesterday's code is refused by phones; a warning across midnight reaches the
visitors of both days; the venue may have a door display (a device token), unlike other
decentralised venues.

Hong Kong time is UTC+8: a local day runs from 16:00 UTC to 16:00 UTC.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.presence.client import entry_payload_in
from chaincut.presence.protocol import InvalidPresenceData, pre_identity
from support.auth import resident_headers
from support.presence_api import client, phone, review, staff, warn

__all__ = ["client", "staff"]  # fixtures

DAY_ONE = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # 18:00 in Hong Kong, 18 November
MIDNIGHT = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)  # 00:00 in Hong Kong, 19 November


def _code(venue: dict[str, str]) -> str:
    """The entry code in a poster's address (its signature, ES256, differs each time)."""
    return venue["entry_url"].split("#", 1)[1].split(".")[1]


def _register(client: TestClient, owner: dict[str, str], **changes: object) -> object:
    body = {
        "ref": "V-DAILY",
        "venue_type": "bar",
        "name_en": "Night Owl Bar",
        "name_zh": "夜貓酒吧",
        "checkin_mode": "crowdnotifier",
        "crowdnotifier_variant": "server",
        "rotate_daily": True,
        **changes,
    }
    return client.post("/venues", json=body, headers=owner)


def test_a_daily_venue_gets_a_new_unlinkable_code_each_local_day(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    now = clock.now()
    clock.set(DAY_ONE)
    made = _register(client, staff["owner"])
    assert made.status_code == 201, made.text  # type: ignore[attr-defined]
    first = made.json()  # type: ignore[attr-defined]
    assert first["rotates_daily"] is True
    assert first["entry_valid_to"] == MIDNIGHT.isoformat().replace("+00:00", "Z")
    clock.set(MIDNIGHT - timedelta(minutes=1))
    assert _code(client.get("/venues/V-DAILY", headers=staff["owner"]).json()) == _code(first)

    clock.set(MIDNIGHT + timedelta(hours=1))
    second = client.get("/venues/V-DAILY", headers=staff["owner"]).json()
    assert _code(second) != _code(first)
    assert second["entry_valid_to"] == (MIDNIGHT + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert _code(client.get("/venues/V-DAILY", headers=staff["owner"]).json()) == _code(second)

    device = phone(client)
    keys = device.signing_keys
    codes = [entry_payload_in(x["entry_url"], keys) for x in (first, second)]
    assert pre_identity(codes[0]) != pre_identity(codes[1]), "a day's visitors cannot be linked to another's"
    with pytest.raises(InvalidPresenceData, match="valid"):
        device.scan(first["entry_url"], MIDNIGHT + timedelta(hours=1))  # yesterday's code, photographed

    # Phones at the bar either side of midnight; a warning across it reaches both, and no other.
    before, after, earlier = phone(client), phone(client), phone(client)
    before.check_in(
        before.scan(first["entry_url"], DAY_ONE),
        MIDNIGHT - timedelta(minutes=50),
        MIDNIGHT - timedelta(minutes=10),
    )
    after.check_in(
        after.scan(second["entry_url"], MIDNIGHT + timedelta(hours=1)),
        MIDNIGHT + timedelta(minutes=10),
        MIDNIGHT + timedelta(minutes=40),
    )
    earlier.check_in(earlier.scan(first["entry_url"], DAY_ONE), DAY_ONE, DAY_ONE + timedelta(hours=1))
    clock.set(now)
    proposed = warn(
        client,
        staff["sam"],
        "V-DAILY",
        start=(MIDNIGHT - timedelta(hours=1)).isoformat(),
        end=(MIDNIGHT + timedelta(hours=1)).isoformat(),
    )
    assert proposed.status_code == 201, proposed.text
    # The first day's code to the window's end (its visitors may stay past midnight): three hours;
    # the second's from midnight: two.
    assert proposed.json()["traces"] == 5
    assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200
    assert len(before.check(now=now)) == 1 and len(after.check(now=now)) == 1
    assert earlier.check(now=now) == []


def test_only_a_server_based_decentralised_venue_rotates_and_only_it_gets_a_door_display(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    owner = staff["owner"]
    basic = _register(client, owner, ref="V-B", crowdnotifier_variant="basic")
    assert basic.status_code == 422 and basic.json()["field"] == "rotate_daily"  # type: ignore[attr-defined]
    central = _register(client, owner, ref="V-C", checkin_mode="central")
    assert central.status_code == 422 and central.json()["field"] == "rotate_daily"  # type: ignore[attr-defined]
    assert _register(client, owner).status_code == 201  # type: ignore[attr-defined]
    assert _register(client, owner, ref="V-S", rotate_daily=False).status_code == 201  # type: ignore[attr-defined]

    assert client.post("/venues/V-S/device-tokens", headers=owner).status_code == 409
    issued = client.post("/venues/V-DAILY/device-tokens", headers=owner)
    assert issued.status_code == 201, issued.text
    display = {"Authorization": f"Bearer {issued.json()['token']}"}
    (own,) = client.get("/venues", headers=display).json()["data"]
    assert (own["ref"], own["checkin_mode"]) == ("V-DAILY", "crowdnotifier")
    assert client.get("/venues/V-DAILY/poster.png", headers=display).headers["content-type"] == "image/png"
    # A display only shows the code: it can neither check anyone in nor read another venue.
    assert client.get("/venues/V-DAILY/token", headers=display).status_code == 409
    assert client.get("/venues/V-S", headers=display).status_code == 404


def test_a_visitor_who_stays_past_midnight_is_warned_under_the_code_they_scanned(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    now = clock.now()
    clock.set(DAY_ONE)
    first = _register(client, staff["owner"]).json()  # type: ignore[attr-defined]
    clock.set(MIDNIGHT + timedelta(hours=2))
    assert _code(client.get("/venues/V-DAILY", headers=staff["owner"]).json()) != _code(first)
    late = phone(client)  # scanned before midnight, stayed until one in the morning
    late.check_in(
        late.scan(first["entry_url"], DAY_ONE),
        MIDNIGHT - timedelta(minutes=30),
        MIDNIGHT + timedelta(hours=1),
    )
    clock.set(now)
    # The case came after midnight: only the next day's code was on the door then.
    proposed = warn(
        client,
        staff["sam"],
        "V-DAILY",
        start=(MIDNIGHT + timedelta(minutes=15)).isoformat(),
        end=(MIDNIGHT + timedelta(hours=1)).isoformat(),
    )
    assert proposed.status_code == 201, proposed.text
    assert review(client, staff["sue"], proposed.json()["id"]).status_code == 200
    assert len(late.check(now=now)) == 1


def test_two_workers_asking_at_once_make_one_code_for_the_day(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    clock.set(DAY_ONE)
    assert _register(client, staff["owner"]).status_code == 201  # type: ignore[attr-defined]
    clock.set(MIDNIGHT + timedelta(hours=1))
    venue = services.venues.get("V-DAILY")
    start = threading.Barrier(4)

    def ask() -> bytes:
        start.wait()
        code = services.presence.entry_code(venue)
        assert code is not None
        return code.entry_payload

    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: ask(), range(4)))
    assert len(set(made)) == 1, "every worker shows the same code of the day"
    with services.store.read() as uow:
        assert venue.id is not None
        assert len(uow.presence.entry_codes(venue.id)) == 2  # registration's day, and this one


def test_a_decentralised_taxi_takes_no_check_in_by_plate(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    made = _register(client, staff["owner"], ref="T-1", venue_type="taxi", plate="AB1234")
    assert made.status_code == 201, made.text  # type: ignore[attr-defined]
    rider = resident_headers(services, "p-case")
    answer = client.post("/checkins", json={"client_id": "ride-1", "plate": "AB1234"}, headers=rider)
    assert answer.status_code == 409 and answer.json()["field"] == "plate"
    issued = client.post("/venues/T-1/device-tokens", headers=staff["owner"]).json()["token"]
    display = {"Authorization": f"Bearer {issued}"}
    by_device = client.post(
        "/checkins", json={"client_id": "ride-2", "plate": "AB1234", "person": "p-case"}, headers=display
    )
    assert by_device.status_code == 409, "a door display checks nobody in"
    with services.store.read() as uow:
        assert uow.connection.exec_driver_sql("SELECT count(*) FROM visits").scalar_one() == 0
