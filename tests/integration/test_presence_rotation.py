"""Entry codes that change every day, on every backend: a server-based venue registered with
``rotate_daily`` gets a new code each local day, so that its visitors' records on different days
cannot be linked; yesterday's code is refused by phones; a warning across midnight reaches the
visitors of both days; the venue may have a door display (a device token), unlike other
decentralised venues.

Hong Kong time is UTC+8: a local day runs from 16:00 UTC to 16:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.presence.client import entry_payload_in
from chaincut.presence.protocol import InvalidPresenceData, pre_identity
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
    assert proposed.json()["traces"] == 4, "each day's code, for its own hour and the one it ends in"
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
