"""The /codes routes over HTTP: the public trust list, and administrators' keys and partners."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.codes.signing_keys import new_root
from chaincut.codes.trust_list import read_trust_list
from chaincut.domain.access import Principal, Role
from chaincut.store import tables as t
from support.auth import staff_headers


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def test_before_init_the_trust_list_is_missing_and_rotating_initialises(
    client: TestClient, services: Services
) -> None:
    assert client.get("/codes/trust-list").status_code == 404
    admin = staff_headers(services, Role.ADMINISTRATOR, username="keys-admin")
    rotated = client.post("/codes/keys/rotate", headers=admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["status"] == "active" and rotated.json()["role"] == "dsc"
    assert client.get("/codes/trust-list").status_code == 200


def test_keys_rotate_revoke_and_the_published_list_follows(client: TestClient, services: Services) -> None:
    admin = staff_headers(services, Role.ADMINISTRATOR, username="keys-admin")
    rotated = client.post("/codes/keys/rotate", headers=admin).json()
    first_list = client.get("/codes/trust-list")  # anonymous: only certificates
    assert first_list.status_code == 200
    trust = read_trust_list(first_list.text)
    assert trust.issuer == "HK" and len(trust.signers) == 1

    second = client.post("/codes/keys/rotate", headers=admin).json()
    keys = client.get("/codes/keys", headers=admin).json()
    assert keys["count"] == 3
    assert {k["kid"]: k["status"] for k in keys["data"] if k["role"] == "dsc"} == {
        rotated["kid"]: "retired",
        second["kid"]: "active",
    }
    assert all("private" not in json.dumps(k).lower() for k in keys["data"])

    kid_in_url = rotated["kid"].replace("+", "-").replace("/", "_").rstrip("=")
    revoked = client.post(f"/codes/keys/{kid_in_url}/revoke", json={"reason": "lost laptop"}, headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_reason"] == "lost laptop"
    document = client.get("/codes/trust-list").json()
    assert rotated["kid"] in document["revoked"] and rotated["kid"] not in document["signers"]
    assert document["sequence"] > json.loads(first_list.text)["sequence"]

    again = client.post(f"/codes/keys/{kid_in_url}/revoke", json={"reason": "lost laptop"}, headers=admin)
    assert again.status_code == 409
    unknown = client.post("/codes/keys/AAAAAAAAAAA/revoke", json={"reason": "no such key"}, headers=admin)
    assert unknown.status_code == 404 and unknown.json()["field"] == "kid"
    malformed = client.post("/codes/keys/not-a-kid!/revoke", json={"reason": "bad id"}, headers=admin)
    assert malformed.status_code == 422 and malformed.json()["code"] == "invalid_kid"
    root = next(k for k in keys["data"] if k["role"] == "root")["kid"].replace("/", "_").replace("+", "-")
    assert client.post(f"/codes/keys/{root}/revoke", json={"reason": "try"}, headers=admin).status_code == 409
    no_reason = client.post(f"/codes/keys/{kid_in_url}/revoke", json={"reason": ""}, headers=admin)
    assert no_reason.status_code == 422

    with services.db.engine.connect() as conn:
        actions = conn.execute(
            sa.select(t.audit_log.c.action, t.audit_log.c.actor).where(t.audit_log.c.resource == "code_keys")
        ).all()
    assert [a.action for a in actions] == ["codes.keys.rotate", "codes.keys.rotate", "codes.keys.revoke"]
    assert {a.actor for a in actions} == {"staff:keys-admin"}


def test_partners_list_and_sync_answer_even_when_a_partner_is_unreachable(
    client: TestClient, services: Services
) -> None:
    admin = staff_headers(services, Role.ADMINISTRATOR, username="keys-admin")
    assert client.post("/codes/partners/sync", headers=admin).json() == {"data": [], "count": 0}

    root = new_root("MO", services.clock.now())

    pem = root.certificate.public_bytes(Encoding.PEM)
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    services.code_partners.add("MO", "http://127.0.0.1:9/codes/trust-list", pem, Principal.system("tests"))
    synced = client.post("/codes/partners/sync", headers=admin)
    assert synced.status_code == 200, synced.text
    (outcome,) = synced.json()["data"]
    assert outcome["name"] == "MO" and outcome["accepted"] is False
    assert outcome["reason"].startswith("fetching the trust list failed")
    (partner,) = client.get("/codes/partners", headers=admin).json()["data"]
    assert partner["sequence"] is None and partner["last_error"] == outcome["reason"]
