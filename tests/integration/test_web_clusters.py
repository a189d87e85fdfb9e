"""Cluster pages (both backends): the list of the last run's clusters and a cluster's page with its
members, evidence and chain graph (its JSON for Cytoscape.js, and the same edges as a table), for a
stated purpose; a tracer sees only the clusters of their cases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Principal, Role
from chaincut.web import cluster_page
from support.auth import PASSWORD
from support.outbreak import seed, tracers_outbreak
from support.web_forms import form_token, signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}
EPI = Principal.system("tests")


@pytest.fixture
def clustered(services: Services) -> Services:
    """E, F and G were at the Iron Gym on 11 Nov, falling ill on the 13th, 14th and 15th; a tracer
    confirmed that E infected F. Case A (tess's) was there on the 19th and fell ill on the 18th,
    and lives with D: one cluster of five."""
    tracers_outbreak(services)
    seed(services, {ref: (onset, [("v-gym", 1, 10)], None) for ref, onset in (("E", 3), ("F", 4), ("G", 5))})
    services.chains.confirm(EPI, "F", "E")
    refresh_clusters_and_chains(services.clusters, services.chains, EPI)
    return services


@pytest.fixture
def client(clustered: Services) -> Iterator[TestClient]:
    app = create_app(clustered, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _open(client: TestClient, username: str, path: str = "/console/clusters") -> str:
    signed_in(client, username)
    asked = client.get(path, headers=BROWSER)
    assert 'action="/console/clusters/purpose"' in asked.text
    client.post(
        "/console/clusters/purpose",
        data={"purpose": "reviewing today's clusters", "next": path, "csrf_token": form_token(asked)},
        headers=BROWSER,
    )
    return client.get(path, headers=BROWSER).text


def test_the_cluster_page_shows_members_evidence_and_the_chain_graph(
    clustered: Services, client: TestClient
) -> None:
    listed = _open(client, "sam")
    (cluster_id,) = re.findall(r'<tr data-cluster="(\d+)"', listed)
    assert "Iron Gym" in listed

    html = client.get(f"/console/clusters/{cluster_id}", headers=BROWSER).text
    members = ["A", "D", "E", "F", "G"]
    assert sorted(re.findall(r'<tr data-case="([^"]+)"', html)) == members
    data = re.search(r'<script type="application/json" id="chain-data">(.*?)</script>', html, re.S)
    assert data is not None
    graph = json.loads(data.group(1))
    expected = clustered.chains.graph_among(members)
    assert graph == {"nodes": expected["nodes"], "edges": expected["edges"]}
    assert {"infector": "E", "infectee": "F", "confirmed": True, "likelihood": None} in graph["edges"]
    f_row = html[html.index('<tr data-case="F"') :].split("</tr>")[0]
    assert "E <span" in f_row and "confirmed by a tracer" in f_row
    assert '<script src="/static/vendor/cytoscape.min.js" defer></script>' in html
    assert "Why each case is a member" in html and html.count("Iron Gym") >= 2

    with clustered.store.read() as uow:
        reads = [r.event for r in uow.audit.find() if r.event.resource.startswith("analytics.clusters")]
    assert {e.purpose for e in reads} == {"reviewing today's clusters"}


def test_a_tracer_sees_only_the_clusters_of_their_cases(clustered: Services, client: TestClient) -> None:
    (summary,) = clustered.clusters.page()[0]
    assert f'data-cluster="{summary.id}"' in _open(client, "tess")  # it holds her case A
    with TestClient(client.app, base_url="https://testserver", raise_server_exceptions=False) as other:
        assert "No cluster here" in _open(other, "ursula")
        assert other.get(f"/console/clusters/{summary.id}", headers=BROWSER).status_code == 404


def test_a_large_clusters_page_shows_its_first_members_and_reads_no_evidence(
    clustered: Services, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_page, "WHOLE_UP_TO", 3)  # five cases: "large" for this test
    read: list[int] = []
    monkeypatch.setattr(type(clustered.clusters), "detail", lambda self, i: read.append(i))
    listed = _open(client, "sam")
    (cluster_id,) = re.findall(r'<tr data-cluster="(\d+)"', listed)
    html = client.get(f"/console/clusters/{cluster_id}", headers=BROWSER).text
    assert re.findall(r'<tr data-case="([^"]+)"', html) == ["A", "D", "E"]  # the first three by ref
    assert 'id="large-cluster"' in html and "GET /analytics/clusters/" in html
    assert "Why each case is a member" not in html and read == []
    data = re.search(r'<script type="application/json" id="chain-data">(.*?)</script>', html, re.S)
    assert data is not None
    graph = json.loads(data.group(1))
    assert graph["edges"] == clustered.chains.graph_among(["A", "D", "E"])["edges"]


def test_an_epidemiologist_reads_the_graph_without_links_to_case_pages_they_may_not_open(
    clustered: Services, client: TestClient
) -> None:
    clustered.accounts.add("eve", PASSWORD, frozenset({Role.EPIDEMIOLOGIST}), EPI)
    listed = _open(client, "eve")
    (cluster_id,) = re.findall(r'<tr data-cluster="(\d+)"', listed)
    html = client.get(f"/console/clusters/{cluster_id}", headers=BROWSER).text
    assert sorted(re.findall(r'<tr data-case="([^"]+)"', html)) == ["A", "D", "E", "F", "G"]
    assert 'href="/console/cases/' not in html and "data-case-url" not in html
    assert client.get("/console/cases/E", headers=BROWSER).status_code == 404  # why: not theirs to open
