"""``/analytics/clusters`` and ``/analytics/chains`` over HTTP (both backends): who sees what, the
answers, decisions and names through the API, the audit, and bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Role
from support.auth import assign, staff_headers
from support.outbreak import TRACER, seed

PURPOSE = "cluster review"


@pytest.fixture
def outbreak(services: Services) -> Services:
    seed(
        services,
        {
            "A": (0, [("v-dragon", -1, 19)], None),
            "B": (2, [("v-dragon", -1, 19)], None),
            "C": (2, [("v-gym", 0, 7)], "h-1"),
            "D": (3, [("v-gym", 0, 7)], None),
            "G": (5, [], "h-1"),
        },
    )
    services.clusters.refresh(TRACER)
    services.chains.refresh(TRACER)
    return services


@pytest.fixture
def client(outbreak: Services) -> Iterator[TestClient]:
    with TestClient(create_app(outbreak, schedule_maintenance=False), raise_server_exceptions=False) as c:
        yield c


def ids_by_member(services: Services) -> dict[str, int]:
    found, _ = services.clusters.page()
    return {ref: c.id for c in found for ref in c.cases}


def reads(services: Services, actor: str) -> list[tuple[str, str, str]]:
    with services.store.read() as uow:
        events = [r.event for r in uow.audit.find(limit=100)]
    return sorted((e.action, e.resource, e.purpose) for e in events if e.actor == actor)


def test_an_epidemiologist_lists_every_cluster_and_reads_one_with_its_chain_graph(
    client: TestClient, outbreak: Services
) -> None:
    headers = staff_headers(outbreak, Role.EPIDEMIOLOGIST, username="epi", purpose=PURPOSE)
    listed = client.get("/analytics/clusters", headers=headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["count"] == 2
    assert sorted(tuple(c["cases"]) for c in body["data"]) == [("A", "B"), ("C", "D", "G")]

    gym = ids_by_member(outbreak)["C"]
    one = client.get(f"/analytics/clusters/{gym}", headers=headers)
    assert one.status_code == 200, one.text
    detail = one.json()
    assert detail["settings"] == [
        {"id": "venue:v-gym", "kind": "gym", "name_en": "Iron Gym", "name_zh": "鐵館"}
    ]
    assert {(e["case"], e["setting"]) for e in detail["evidence"] if e["setting"]} == {
        ("C", "venue:v-gym"),
        ("D", "venue:v-gym"),
    }
    graph = detail["chain_graph"]
    assert graph["computed_at"] == "2026-11-20T04:00:00+00:00"  # the last run's, read not inferred
    assert {n["case"]: n["generation"] for n in graph["nodes"]} == {"C": 0, "D": 1, "G": 1}
    assert {(e["infector"], e["infectee"], e["confirmed"]) for e in graph["edges"]} == {
        ("C", "D", False),
        ("C", "G", False),
    }
    assert [r for r in reads(outbreak, "staff:epi") if r[0] == "clusters.read"] == [
        ("clusters.read", "analytics.clusters", PURPOSE),
        ("clusters.read", f"analytics.clusters/{gym}", PURPOSE),
    ]


def test_a_tracer_sees_only_the_clusters_and_chains_of_assigned_cases(
    client: TestClient, outbreak: Services
) -> None:
    headers = staff_headers(outbreak, Role.TRACER, username="tracer-1", purpose=PURPOSE)
    assert client.get("/analytics/clusters", headers=headers).json() == {"data": [], "count": 0}
    assign(outbreak, "D", "tracer-1")

    listed = client.get("/analytics/clusters", headers=headers).json()
    assert [c["cases"] for c in listed["data"]] == [["C", "D", "G"]]
    ids = ids_by_member(outbreak)
    assert client.get(f"/analytics/clusters/{ids['C']}", headers=headers).status_code == 200
    hidden = client.get(f"/analytics/clusters/{ids['A']}", headers=headers)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert client.get("/analytics/chains/D", headers=headers).status_code == 200
    assert client.get("/analytics/chains/A", headers=headers).status_code == 404
    assert client.post("/analytics/clusters/refresh", headers=headers).status_code == 403
    named = client.put(f"/analytics/clusters/{ids['A']}/name", headers=headers, json={"name": "x"})
    assert named.status_code == 404


def test_names_decisions_and_confirmed_infectors_through_the_api_are_kept_and_audited(
    client: TestClient, outbreak: Services
) -> None:
    headers = staff_headers(outbreak, Role.TRACER, username="tracer-2", purpose=PURPOSE)
    assign(outbreak, "C", "tracer-2")
    gym = ids_by_member(outbreak)["C"]

    named = client.put(f"/analytics/clusters/{gym}/name", headers=headers, json={"name": "Iron Gym cluster"})
    assert named.status_code == 200, named.text
    assert named.json()["name"] == "Iron Gym cluster"
    rejected = client.post(
        f"/analytics/clusters/{gym}/decisions",
        headers=headers,
        json={"case": "D", "decision": "rejected", "note": "different class"},
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["cases"] == ["C", "G"]
    refreshed = client.post(
        "/analytics/clusters/refresh", headers=staff_headers(outbreak, Role.SUPERVISOR, purpose=PURPOSE)
    )
    assert refreshed.status_code == 200, refreshed.text
    again = outbreak.clusters.summaries([gym])[0]
    assert (again.name, again.cases) == ("Iron Gym cluster", ("C", "G"))

    confirmed = client.put("/analytics/chains/C/infector", headers=headers, json={"infector": "A"})
    assert confirmed.status_code == 200, confirmed.text
    chain = client.get("/analytics/chains/C", headers=headers).json()
    assert (chain["infector"]["infector"], chain["infector"]["source"]) == ("A", "confirmed")
    actions = [a for a, _, _ in reads(outbreak, "staff:tracer-2")]
    assert actions.count("clusters.name") == 1
    assert actions.count("clusters.decide") == 1
    assert actions.count("chains.confirm") == 1


def test_bad_input_is_named(client: TestClient, outbreak: Services) -> None:
    headers = staff_headers(outbreak, Role.EPIDEMIOLOGIST, username="epi-3", purpose=PURPOSE)
    gym = ids_by_member(outbreak)["C"]
    bad_status = client.get("/analytics/clusters?status=open", headers=headers)
    assert (bad_status.status_code, bad_status.json()["field"]) == (422, "status")
    bad_decision = client.post(
        f"/analytics/clusters/{gym}/decisions", headers=headers, json={"case": "D", "decision": "maybe"}
    )
    assert bad_decision.status_code == 422
    assert "decision" in bad_decision.text
    unknown_case = client.post(
        f"/analytics/clusters/{gym}/decisions", headers=headers, json={"case": "Z", "decision": "confirmed"}
    )
    assert unknown_case.status_code == 404
    own = client.put("/analytics/chains/C/infector", headers=headers, json={"infector": "C"})
    assert (own.status_code, own.json()["field"]) == (422, "infector")
    assert client.get("/analytics/clusters/999", headers=headers).status_code == 404
    huge = client.get(f"/analytics/clusters/{2**70}", headers=headers)  # beyond any database integer
    assert (huge.status_code, huge.json()["field"]) == (422, "path.cluster_id")
    no_purpose = staff_headers(outbreak, Role.EPIDEMIOLOGIST, username="epi-3", purpose=None)
    refused = client.get("/analytics/clusters", headers=no_purpose)
    assert (refused.status_code, refused.json()["field"]) == (403, "X-Chaincut-Purpose")
