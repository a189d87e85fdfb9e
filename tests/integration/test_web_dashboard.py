"""The epidemiologists' dashboard (both backends): the curve, R_t, the unlinked share and the active
clusters, counted from a small outbreak whose onsets are known, with no case named."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient

from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Principal
from support.outbreak import seed, tracers_outbreak
from support.web_forms import signed_in

BROWSER = {"Accept": "text/html", "Accept-Language": "en-GB"}


def test_the_dashboard_counts_the_outbreak_and_lists_its_active_cluster(services: Services) -> None:
    # Onsets: B, C, D on 21 Oct; E, F, G on 13, 14, 15 Nov; A on 18 Nov. Today is 20 Nov.
    tracers_outbreak(services)
    seed(services, {ref: (onset, [("v-gym", 1, 10)], None) for ref, onset in (("E", 3), ("F", 4), ("G", 5))})
    refresh_clusters_and_chains(services.clusters, services.chains, Principal.system("tests"))
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "sam")
        html = client.get("/console/dashboard", headers=BROWSER).text
        assert "3 cases with onset in the last 7 days" in html  # F, G and A
        assert "7 in all" in html
        bars = re.findall(r'<rect class="cases"[^>]*><title>([^<]+)</title>', html)
        assert bars == [
            "21 Oct 2026: 3",
            "13 Nov 2026: 1",
            "14 Nov 2026: 1",
            "15 Nov 2026: 1",
            "18 Nov 2026: 1",
        ]
        rt = services.reproduction.estimate(from_day=date(2026, 8, 23), to_day=date(2026, 11, 20))
        estimated = [w for w in rt.windows if w.posterior is not None]
        if estimated:
            assert f"for the week to {estimated[-1].end:%-d %b %Y}" in html
        else:  # seven cases, four weeks apart: too few for a window
            assert "Too few cases with an onset date to estimate R_t." in html
        (summary,) = services.clusters.page()[0]
        assert f'<tr data-cluster="{summary.id}">' in html and "Iron Gym" in html
        for ref in ("p-A", ">A<", ">E<"):  # counts only: no case or person is named
            assert ref not in html
        zh = client.get("/console/dashboard", headers={**BROWSER, "Accept-Language": "zh-HK"}).text
        assert "流行曲線" in zh and "活躍群組" in zh

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        signed_in(client, "tess")  # a tracer reads no epidemic-wide analytics
        assert client.get("/console/dashboard", headers=BROWSER).status_code == 404
    with services.store.read() as uow:
        reads = [r.event for r in uow.audit.find() if r.event.resource == "analytics.dashboard"]
    assert [e.actor for e in reads] == ["staff:sam", "staff:sam"]
