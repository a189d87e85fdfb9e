"""Administrators' keys, partners and purges pages (both backends): each change only once
confirmed, through the same services as the API, and refused to other roles as a missing page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Principal, Role
from support.auth import PASSWORD
from support.web_forms import form_token, signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
ADMIN = Principal.system("tests")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    services.accounts.add("ada", PASSWORD, frozenset({Role.ADMINISTRATOR}), ADMIN)
    services.accounts.add("tess", PASSWORD, frozenset({Role.TRACER}), ADMIN)
    services.code_keys.init(ADMIN)
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _signers(services: Services) -> dict[str, str]:
    return {k.kid: k.status for k in services.code_keys.list_keys() if k.role == "dsc"}


def test_keys_are_rotated_and_revoked_only_once_confirmed(services: Services, client: TestClient) -> None:
    signed_in(client, "ada")
    page = client.get("/console/keys", headers=BROWSER)
    (first,) = _signers(services)
    assert f'data-kid="{first}"' in page.text and "No partner is configured." in page.text
    token = form_token(page)

    unconfirmed = client.post("/console/keys/rotate", data={"csrf_token": token}, headers=BROWSER)
    assert "tick the box to confirm" in unconfirmed.text and len(_signers(services)) == 1
    rotated = client.post(
        "/console/keys/rotate", data={"csrf_token": token, "confirm": "yes"}, headers=BROWSER
    )
    assert "A new document signer is active" in rotated.text
    signers = _signers(services)
    assert signers[first] == "retired" and sorted(signers.values()) == ["active", "retired"]

    revoke = f"/console/keys/{first.replace('+', '-').replace('/', '_')}/revoke"
    short = client.post(revoke, data={"csrf_token": token, "confirm": "yes", "reason": "x"}, headers=BROWSER)
    assert "give a reason" in short.text and _signers(services)[first] == "retired"
    done = client.post(
        revoke, data={"csrf_token": token, "confirm": "yes", "reason": "laptop lost"}, headers=BROWSER
    )
    assert "The key is revoked" in done.text and _signers(services)[first] == "revoked"
    synced = client.post("/console/partners/sync", data={"csrf_token": token}, headers=BROWSER)
    assert synced.status_code == 200 and "No partner is configured." in synced.text


def test_a_purge_runs_only_once_confirmed_and_lists_its_counts(
    services: Services, client: TestClient
) -> None:
    signed_in(client, "ada")
    page = client.get("/console/purges", headers=BROWSER)
    assert "No purge has run yet." in page.text
    assert f"keeps visits {services.policy.retention.visits_days} days" in page.text
    token = form_token(page)
    client.post("/console/purges", data={"csrf_token": token}, headers=BROWSER)
    with services.store.read() as uow:
        assert uow.purges.recent() == []
    done = client.post("/console/purges", data={"csrf_token": token, "confirm": "yes"}, headers=BROWSER)
    assert "Purged: each kind" in done.text
    with services.store.read() as uow:
        kinds = {r.kind for r in uow.purges.recent()}
        audited = [
            r.event for r in uow.audit.find() if r.event.resource == "purges" and r.event.record != "list"
        ]
    assert {"visits", "sessions"} <= kinds
    assert audited[-1].actor == "staff:ada" and "visits" in audited[-1].details


def test_other_roles_find_no_such_pages(client: TestClient) -> None:
    signed_in(client, "tess")
    for path in ("/console/keys", "/console/purges"):
        assert client.get(path, headers=BROWSER).status_code == 404
