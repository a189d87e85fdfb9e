"""Decentralised check-in end to end over the API, on every backend: venues registered in CrowdNotifier
mode (basic and server-based), phones (``chaincut.presence.client``) that keep their check-ins and send
nothing, a tracer's warning reviewed by another supervisor, the signed pages phones download and match,
and retention.

The clock is fixed at 2026-11-20T04:00Z; the case's onset on 2026-11-18 opens its infectious window
on 2026-11-16 (Hong Kong time), by the default policy.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock
from chaincut.presence.client import CheckInLimit
from chaincut.presence.messages import QRCodeTrace
from chaincut.presence.protocol import (
    InvalidPresenceData,
    b64decode,
    b64encode,
    setup_location,
    setup_server_location,
)
from chaincut.presence.wire import SIGNATURE_HEADER
from support.presence_api import (
    MESSAGE,
    REGISTERED_AT,
    VISIT_END,
    VISIT_START,
    client,
    phone,
    register,
    review,
    staff,
    warn,
)

__all__ = ["client", "staff"]  # fixtures


def test_a_basic_venue_is_warned_with_its_owners_tracing_code_and_only_its_visitors_learn_it(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    basic = register(client, staff["owner"], "V-BASIC", "basic")
    other = register(client, staff["owner"], "V-OTHER", "basic")
    assert basic["checkin_mode"] == "crowdnotifier"
    assert basic["entry_url"].startswith("https://chaincut.example.org/v#CROWDNOTIFIER:3:")
    assert basic["tracing_code"], "a basic venue's owner gets its tracing code once"
    # The authority keeps the entry code only: the owner's share of the key is in no table.
    share = QRCodeTrace.decode(b64decode(basic["tracing_code"])).master_secret_key_location
    assert len(share) == 32
    with services.store.read() as uow:
        conn = uow.connection
        kept = [bytes(r[0]) for r in conn.exec_driver_sql("SELECT entry_payload FROM presence_codes")]
        kept += [
            bytes(c)
            for r in conn.exec_driver_sql("SELECT * FROM presence_keys")
            for c in r
            if isinstance(c, bytes | memoryview)
        ]
    assert len(kept) >= 2 and not any(share in blob for blob in kept)
    assert client.get("/venues/V-BASIC/token", headers=staff["owner"]).status_code == 409

    there, later, elsewhere = phone(client), phone(client), phone(client)
    there.check_in(there.scan(basic["entry_url"]), VISIT_START + timedelta(minutes=50), VISIT_END)
    later.check_in(
        later.scan(basic["entry_url"]), VISIT_END + timedelta(hours=2), VISIT_END + timedelta(hours=3)
    )
    elsewhere.check_in(elsewhere.scan(other["entry_url"]), VISIT_START, VISIT_END)

    # Refusals, each naming its field, and nothing stored.
    without = warn(client, staff["sam"], "V-BASIC")
    assert without.status_code == 422 and without.json()["field"] == "tracing_code"
    foreign = warn(client, staff["sam"], "V-BASIC", tracing_code=other["tracing_code"])
    assert foreign.status_code == 422 and "another venue" in foreign.json()["message"]
    too_long = warn(
        client,
        staff["sam"],
        "V-BASIC",
        tracing_code=basic["tracing_code"],
        end=(VISIT_START + timedelta(hours=25)).isoformat(),
    )
    assert too_long.status_code == 422 and too_long.json()["field"] == "end"
    assert "24 hours" in too_long.json()["message"]
    early = warn(
        client,
        staff["sam"],
        "V-BASIC",
        tracing_code=basic["tracing_code"],
        start="2026-11-10T10:00:00+00:00",
        end="2026-11-10T11:00:00+00:00",
    )
    assert early.status_code == 422 and early.json()["field"] == "start"
    assert client.get("/presence/proposals", headers=staff["sue"]).json()["count"] == 0

    proposed = warn(client, staff["sam"], "V-BASIC", tracing_code=basic["tracing_code"])
    assert proposed.status_code == 201, proposed.text
    warning = proposed.json()
    assert warning["status"] == "proposed" and warning["traces"] == 2  # 10:00-11:00 and 11:00-12:00
    assert there.check(now=services.clock.now()) == [], (
        "nothing is published before a second supervisor reviews it"
    )

    assert review(client, staff["sam"], warning["id"]).status_code == 403, "never one's own proposal"
    assert review(client, staff["tina"], warning["id"]).status_code == 403, "a tracer does not publish"
    published = review(client, staff["sue"], warning["id"])
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert review(client, staff["sue"], warning["id"]).status_code == 409

    found = there.check(now=services.clock.now())
    assert len(found) == 1
    assert found[0].exposure.message == MESSAGE
    assert found[0].exposure.trace_start == int(VISIT_START.timestamp())
    assert found[0].exposure.arrival == int((VISIT_START + timedelta(minutes=50)).timestamp())
    assert later.check(now=services.clock.now()) == [], (
        "a record that opens but does not overlap warns nobody"
    )
    assert elsewhere.check(now=services.clock.now()) == []
    assert there.check(now=services.clock.now()) == [], "a trace is downloaded once"

    with services.store.read() as uow:
        actions = [r.event.action for r in uow.audit.find()]
    assert "presence.warnings.propose" in actions and "presence.warnings.publish" in actions


def test_a_server_based_venue_is_warned_by_the_authority_alone(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services
) -> None:
    venue = register(client, staff["owner"], "V-SERVER", "server")
    assert venue["tracing_code"] is None
    config = client.get("/presence/config").json()
    device = phone(client)
    scanned = device.scan(venue["entry_url"])
    assert b64encode(scanned.public_key) == config["master_public_key"]
    device.check_in(scanned, VISIT_START, VISIT_END)

    proposed = warn(client, staff["sam"], "V-SERVER")
    assert proposed.status_code == 201, proposed.text
    rejected = review(client, staff["sue"], proposed.json()["id"], "reject")
    assert rejected.json()["status"] == "rejected"
    assert device.check(now=services.clock.now()) == []

    again = warn(client, staff["sam"], "V-SERVER", message="Get tested within 3 days.")
    assert review(client, staff["sue"], again.json()["id"]).status_code == 200
    found = device.check(now=services.clock.now())
    assert [f.exposure.message for f in found] == ["Get tested within 3 days."]


def test_pages_are_signed_cacheable_and_a_forged_page_is_ignored_and_logged(
    client: TestClient,
    staff: dict[str, dict[str, str]],
    services: Services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue = register(client, staff["owner"], "V-SERVER", "server")
    device = phone(client)
    device.check_in(device.scan(venue["entry_url"]), VISIT_START, VISIT_END)
    for hour in range(3):
        start = VISIT_START + timedelta(hours=hour)
        made = warn(
            client,
            staff["sam"],
            "V-SERVER",
            start=start.isoformat(),
            end=(start + timedelta(minutes=30)).isoformat(),
        )
        assert review(client, staff["sue"], made.json()["id"]).status_code == 200

    first = client.get("/presence/warnings", params={"since": 0, "limit": 2})
    assert first.status_code == 200 and first.headers["Cache-Control"] == "public, max-age=3600"
    assert [item["seq"] for item in first.json()["data"]] == [1, 2] and first.json()["more"]
    rest = client.get("/presence/warnings", params={"since": 2, "limit": 2})
    assert [item["seq"] for item in rest.json()["data"]] == [3] and not rest.json()["more"]
    assert rest.headers["Cache-Control"] == "public, max-age=60"
    cached = client.get(
        "/presence/warnings",
        params={"since": 0, "limit": 2},
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert cached.status_code == 304

    class Tampering:
        """The network between the phone and the authority changes a byte of every page."""

        def get(self, url: str, **kwargs: Any) -> Any:
            response = client.get(url, **kwargs)
            if url == "/presence/warnings":
                response._content = response.content.replace(b'"seq":1', b'"seq":7')
            return response

    device.http = Tampering()
    with caplog.at_level(logging.WARNING, logger="chaincut.presence.client"):
        assert device.check(now=services.clock.now()) == []
    assert device.ignored_pages == 1 and device.last_seq == 0
    assert "signature does not check" in caplog.text

    device.http = client
    assert len(device.check(now=services.clock.now())) == 2, "the visit overlaps two of the three windows"
    signature = client.get("/presence/warnings").headers[SIGNATURE_HEADER]
    assert signature.count(".") == 2 and ".." in signature


def test_phones_refuse_forged_codes_and_cap_check_ins_per_day(
    client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    venue = register(client, staff["owner"], "V-SERVER", "server")
    device = phone(client)
    prefix = "https://chaincut.example.org/v#CROWDNOTIFIER:3:"
    header, payload_b64, signature = venue["entry_url"].partition(":3:")[2].split(".")
    payload = b64decode(payload_b64)
    for bad, reason in (
        (prefix + "AAAA", "no signed payload"),
        ("https://chaincut.example.org/v#", "not a CrowdNotifier poster"),
        ("not a poster", "not a CrowdNotifier poster"),
        (f"{prefix}{header}.{b64encode(payload[:-1] + bytes([payload[-1] ^ 1]))}.{signature}", "not signed"),
    ):
        with pytest.raises(InvalidPresenceData, match=reason):
            device.scan(bad)
    # A poster someone made with their own keys: a valid CrowdNotifier code, but not the authority's.
    forged = setup_server_location(
        b64decode(client.get("/presence/config").json()["master_public_key"]),
        "Harbour Noodles",
        "Wan Chai",
        REGISTERED_AT,
        REGISTERED_AT + timedelta(days=30),
    )
    with pytest.raises(InvalidPresenceData, match="not signed by the health authority"):
        device.scan(f"{prefix}{header}.{b64encode(forged)}.{signature}")

    scanned = device.scan(venue["entry_url"])
    limit = client.get("/presence/config").json()["max_checkins_per_day"]
    for n in range(limit):
        at = VISIT_START + timedelta(minutes=n)
        device.check_in(scanned, at, at + timedelta(minutes=1))
    with pytest.raises(CheckInLimit):
        device.check_in(scanned, VISIT_END, VISIT_END + timedelta(minutes=5))
    device.check_in(scanned, VISIT_START + timedelta(days=1), VISIT_START + timedelta(days=1, hours=1))


def test_warnings_expire_with_the_policy_and_phones_forget_old_visits(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services, clock: FixedClock
) -> None:
    venue = register(client, staff["owner"], "V-SERVER", "server")
    device = phone(client)
    device.check_in(device.scan(venue["entry_url"]), VISIT_START, VISIT_END)
    made = warn(client, staff["sam"], "V-SERVER")
    assert review(client, staff["sue"], made.json()["id"]).status_code == 200
    records_days = services.policy.presence.records_days

    clock.advance(VISIT_END + timedelta(days=records_days) - clock.now() - timedelta(seconds=1))
    services.purge_expired()
    assert len(client.get("/presence/warnings").json()["data"]) == 2
    clock.advance(timedelta(seconds=2))
    records = services.purge_expired()
    assert {r.kind: r.deleted for r in records}["warnings"] == 1
    assert client.get("/presence/warnings").json()["data"] == []
    assert device.forget_old(clock.now()) == 1 and device.visits == []


def test_a_decentralised_venue_has_no_kiosks_tokens_or_central_poster(
    client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    register(client, staff["owner"], "V-SERVER", "server")
    refused = client.post("/venues/V-SERVER/device-tokens", headers=staff["owner"])
    assert refused.status_code == 409 and refused.json()["field"] == "ref"
    poster = client.get("/venues/V-SERVER/poster.png", headers=staff["owner"])
    read = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(poster.content)), formats=zxingcpp.BarcodeFormat.QRCode
    )
    assert read[0].text.startswith("https://chaincut.example.org/v#CROWDNOTIFIER:3:")


def test_an_owners_own_entry_code_must_name_its_venue_be_valid_and_be_its_own(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services, clock: FixedClock
) -> None:
    authority = b64decode(client.get("/presence/config").json()["authority_public_key"])
    now = clock.now()

    def owners(ref: str, description: str, days: int = 30) -> Any:
        since = now - timedelta(days=20)  # from before the case's visit
        codes = setup_location(authority, description, "Wan Chai", since, now + timedelta(days=days))
        body = {
            "ref": ref,
            "venue_type": "restaurant",
            "name_en": "Harbour Noodles",
            "name_zh": "海港麵家",
            "district": "Wan Chai",
            "checkin_mode": "crowdnotifier",
            "entry_payload": b64encode(codes.entry),
        }
        return client.post("/venues", json=body, headers=staff["owner"]), codes

    wrong, _ = owners("V-A", "Someone Else's Clinic")
    assert wrong.status_code == 422 and wrong.json()["field"] == "entry_payload"
    too_long, _ = owners("V-A", "Harbour Noodles 海港麵家", days=400)
    assert too_long.status_code == 422 and too_long.json()["field"] == "entry_payload"
    made, codes = owners("V-A", "Harbour Noodles 海港麵家")
    assert made.status_code == 201, made.text
    assert made.json()["tracing_code"] is None, "the owner made the code: the authority never saw their key"
    again = client.post(
        "/venues",
        json={
            "ref": "V-COPY",
            "venue_type": "restaurant",
            "name_en": "Harbour Noodles",
            "name_zh": "海港麵家",
            "district": "Wan Chai",
            "checkin_mode": "crowdnotifier",
            "entry_payload": b64encode(codes.entry),
        },
        headers=staff["owner"],
    )
    assert again.status_code == 409 and again.json()["field"] == "entry_payload"
    with services.store.read() as uow:
        assert uow.venues.get_by_ref("V-COPY") is None, "nothing stored"

    # The owner's tracing code warns; one whose key share is not a scalar is refused by name.
    assert warn(client, staff["sam"], "V-A", tracing_code=b64encode(codes.tracing)).status_code == 201
    broken = QRCodeTrace.decode(codes.tracing)
    broken = QRCodeTrace(
        version=broken.version,
        qr_code_payload=broken.qr_code_payload,
        master_secret_key_location=broken.master_secret_key_location[:31],
        cipher_text_health_authority=broken.cipher_text_health_authority,
    )
    refused = warn(client, staff["sam"], "V-A", tracing_code=b64encode(broken.encode()))
    assert refused.status_code == 422 and refused.json()["field"] == "tracing_code"


def test_a_warning_is_read_only_by_those_who_may_see_its_case(
    client: TestClient, staff: dict[str, dict[str, str]]
) -> None:
    register(client, staff["owner"], "V-SERVER", "server")
    made = warn(client, staff["sam"], "V-SERVER").json()
    assert client.get(f"/presence/warnings/{made['id']}", headers=staff["sam"]).status_code == 200
    unassigned = client.get(f"/presence/warnings/{made['id']}", headers=staff["tina"])
    assert unassigned.status_code == 404 and unassigned.json()["field"] == "public_id"


def test_a_purge_anywhere_in_the_numbering_leaves_no_trace_served(
    client: TestClient, staff: dict[str, dict[str, str]], services: Services, clock: FixedClock
) -> None:
    register(client, staff["owner"], "V-SERVER", "server")
    later = VISIT_START + timedelta(days=1)
    for start in (later, VISIT_START):  # the older window is published last: the highest numbers
        made = warn(
            client,
            staff["sam"],
            "V-SERVER",
            start=start.isoformat(),
            end=(start + timedelta(minutes=30)).isoformat(),
        )
        assert review(client, staff["sue"], made.json()["id"]).status_code == 200
    assert [i["seq"] for i in client.get("/presence/warnings").json()["data"]] == [1, 2]
    records_days = services.policy.presence.records_days
    clock.set(VISIT_START + timedelta(days=records_days, hours=1))  # past the older one's retention only
    services.purge_expired()
    assert [i["seq"] for i in client.get("/presence/warnings").json()["data"]] == [1]
    huge = client.get("/presence/warnings", params={"since": 2**62})
    assert huge.status_code == 200 and huge.json()["next"] == 2
