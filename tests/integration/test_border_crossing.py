"""A border crossing end to end with real signed codes: book, test, hold a code, be cleared or refused.

Nothing is faked: the resident's app asks for a freshly signed code (ES256, HCERT wire
format), the border officer's scan goes through the real verifier, online over HTTP and
offline from a synced bundle with the command line, on every storage backend.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.cli.app import app as chaincut_cli
from chaincut.clock import FixedClock
from chaincut.codes.base45 import b45decode, b45encode
from chaincut.domain.access import Principal, Role
from chaincut.people import PersonDraft
from support.auth import resident_headers, staff_headers

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong: the afternoon slot
CHECKPOINT = "shenzhen_bay"
OPERATOR = Principal.system("test")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    services.code_keys.init(OPERATOR)
    with TestClient(create_app(services)) as http:
        yield http


def _traveller(
    services: Services, http: TestClient, ref: str, doc: str, *, tested_hours_ago: float | None
) -> dict[str, str]:
    """A registered resident with a booking this afternoon (and a negative PCR test, if given)."""
    services.people.register(PersonDraft(ref=ref, id_document=doc, name=f"Traveller {ref}"))
    app = resident_headers(services, ref)
    booked = http.post(
        "/border/bookings",
        headers=app,
        json={
            "request_id": f"r-{ref}",
            "id_document": doc,
            "day": TODAY.isoformat(),
            "checkpoint": CHECKPOINT,
            "slot": "afternoon",
        },
    )
    assert booked.status_code == 201, booked.text
    if tested_hours_ago is not None:
        taken = (NOW - timedelta(hours=tested_hours_ago)).isoformat()
        recorded = http.post(
            f"/people/{ref}/tests",
            headers=staff_headers(
                services, Role.SUPERVISOR, username="lab-desk", purpose="recording a test result"
            ),
            json={"taken_at": taken, "kind": "pcr", "result": "negative"},
        )
        assert recorded.status_code == 201, recorded.text
    return app


def _code(http: TestClient, app: dict[str, str]) -> dict[str, Any]:
    signed = http.get("/me/code/signed", headers=app)
    assert signed.status_code == 200, signed.text
    body: dict[str, Any] = signed.json()
    return body


def _clear(services: Services, http: TestClient, qr: str) -> dict[str, Any]:
    officer = staff_headers(services, Role.BORDER_OFFICER, username="officer-1", purpose=None)
    decided = http.post("/border/clearances", headers=officer, json={"qr": qr, "checkpoint": CHECKPOINT})
    assert decided.status_code == 201, decided.text
    body: dict[str, Any] = decided.json()
    return body


def _codes_of(decision: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in decision["reasons"]}


def test_a_green_traveller_with_a_booking_and_a_test_is_cleared_once(
    services: Services, client: TestClient
) -> None:
    app = _traveller(services, client, "T1", "M123456(7)", tested_hours_ago=20)
    code = _code(client, app)
    assert code["qr"].startswith("CC1:") and code["colour"] == "green"
    assert datetime.fromisoformat(code["expires_at"]) == NOW + timedelta(hours=24)  # the policy's valid_hours
    first = _clear(services, client, code["qr"])
    assert first["cleared"] is True, first
    again = _clear(services, client, code["qr"])
    assert again["cleared"] is False and "code_replayed" in _codes_of(again)
    # A new code for the same traveller cannot cross twice on one booking either.
    second = _clear(services, client, _code(client, app)["qr"])
    assert second["cleared"] is False and "booking_used" in _codes_of(second)


def test_refusals_name_their_reasons(services: Services, client: TestClient, clock: FixedClock) -> None:
    untested = _code(client, _traveller(services, client, "T2", "N7654321", tested_hours_ago=None))
    assert _codes_of(_clear(services, client, untested["qr"])) == {"no_negative_test"}
    stale = _code(client, _traveller(services, client, "T3", "P1111111", tested_hours_ago=60))
    assert _codes_of(_clear(services, client, stale["qr"])) == {"no_negative_test"}
    # A supervisor turns T4 red: the code says why, and the checkpoint refuses it with that reason.
    app = _traveller(services, client, "T4", "Q2222222", tested_hours_ago=5)
    supervisor = staff_headers(services, Role.SUPERVISOR, username="sup-1", purpose="manual review")
    overridden = client.post(
        "/people/T4/code/override",
        headers=supervisor,
        json={"colour": "red", "reason": "positive test reported by a private clinic"},
    )
    assert overridden.status_code in (200, 201), overridden.text
    red = _code(client, app)
    assert red["colour"] == "red"
    refused = _clear(services, client, red["qr"])
    assert "colour_not_cleared" in _codes_of(refused)
    # Tampered with, a code is refused as invalid: one base45 character changed inside the signature.
    qr = _code(client, _traveller(services, client, "T5", "R3333333", tested_hours_ago=5))["qr"]
    raw = bytearray(b45decode(qr[4:]))
    raw[-5] ^= 0x01
    forged = _clear(services, client, "CC1:" + b45encode(bytes(raw)))
    assert forged["cleared"] is False and _codes_of(forged) == {"invalid_code"}
    # A day later the code has expired, whatever else holds.
    clock.advance(timedelta(hours=25))
    expired = _clear(services, client, qr)
    assert "invalid_code" in _codes_of(expired) and "expired" in json.dumps(expired).lower()


def test_the_qr_image_decodes_to_the_signed_text(services: Services, client: TestClient) -> None:
    app = _traveller(services, client, "T6", "S4444444", tested_hours_ago=5)
    png = client.get("/me/code/signed.png", headers=app)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(found) == 1 and found[0].text.startswith("CC1:")
    verified = services.trusted_codes.verify(found[0].text, NOW)
    assert verified.valid and verified.claims is not None and verified.claims.colour == "green"


def test_an_offline_checkpoint_clears_with_the_synced_bundle(
    services: Services, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _traveller(services, client, "T7", "U5555555", tested_hours_ago=5)
    code = _code(client, app)
    qr = code["qr"]
    bundle = tmp_path / "bundle.json"
    document = services.clearances.bundle(OPERATOR, CHECKPOINT, TODAY).to_dict()
    bundle.write_text(json.dumps(document))
    runner = CliRunner()
    obj = {"clock": FixedClock(NOW)}
    log = tmp_path / "decisions.jsonl"
    cleared = runner.invoke(
        chaincut_cli, ["border", "clear", "--bundle", str(bundle), "--log", str(log), qr], obj=obj
    )
    assert cleared.exit_code == 0, cleared.output
    replayed = runner.invoke(
        chaincut_cli, ["border", "clear", "--bundle", str(bundle), "--log", str(log), qr], obj=obj
    )
    assert replayed.exit_code == 1 and "code_replayed" in replayed.output
    # Its signer revoked, the next bundle no longer trusts the code, offline too.
    services.code_keys.revoke(code["kid"], "key compromised", OPERATOR)
    stale_qr = _code(client, _traveller(services, client, "T8", "V6666666", tested_hours_ago=5))["qr"]
    assert stale_qr  # signed by the new signer: still good
    fresh = tmp_path / "fresh.json"
    fresh.write_text(json.dumps(services.clearances.bundle(OPERATOR, CHECKPOINT, TODAY).to_dict()))
    revoked = runner.invoke(
        chaincut_cli,
        ["border", "clear", "--bundle", str(fresh), "--log", str(tmp_path / "l2.jsonl"), stale_qr],
        obj=obj,
    )
    assert revoked.exit_code == 0, revoked.output
    old = runner.invoke(
        chaincut_cli,
        ["border", "clear", "--bundle", str(fresh), "--log", str(tmp_path / "l3.jsonl"), qr],
        obj=obj,
    )
    assert old.exit_code == 1 and "revoked" in old.output
