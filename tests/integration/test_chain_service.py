"""Transmission chains on the store (both backends): candidates, evidence, trees, confirmed links."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.errors import InvalidInput, NotFound
from chaincut.settings import Settings
from support.outbreak import DAY, TRACER, at, seed
from support.settings import cli_env


@pytest.fixture
def outbreak(services: Services) -> Services:
    # The policy's infectious window opens 2 days before onset; the serial interval is a normal.
    seed(
        services,
        {
            "A": (0, [("v-dragon", -1, 19)], None),
            "B": (2, [("v-dragon", -1, 19)], None),  # with A while A was infectious: A infected B?
            "C": (2, [("v-gym", 0, 7)], "h-1"),
            "D": (3, [("v-gym", 0, 7)], None),  # with C on day 0, C's window opened that day
            "G": (5, [], "h-1"),  # C's household: always together
            "K": (6, [("v-gym", 0, 7)], None),  # at the gym too, with C and D
        },
    )
    return services


def test_a_case_s_candidates_are_ranked_by_the_serial_interval_with_their_evidence(
    outbreak: Services,
) -> None:
    found = outbreak.chains.for_case("D")

    assert [k.ref for k in found.candidates.candidates] == ["C"]
    (c,) = found.candidates.candidates
    assert (c.interval_days, c.likelihood) == (1, 1.0)
    (evidence,) = c.evidence
    assert (evidence.kind.value, evidence.setting_id) == ("shared_stay", "venue:v-gym")
    assert evidence.case_stay == (at(0, 7), at(0, 8))
    assert (found.node.infector, found.node.source.value, found.node.generation) == ("C", "inferred", 1)

    # C and D were both at the gym with K, but D's window opened on day 1: only C was infectious
    k = outbreak.chains.for_case("K")
    assert [(x.ref, x.interval_days) for x in k.candidates.candidates] == [("C", 4)]


def test_the_chain_is_a_tree_with_generations_and_the_household(outbreak: Services) -> None:
    found = outbreak.chains.for_case("G")
    assert (found.node.infector, found.node.generation) == ("C", 1)
    chain = found.chain
    assert chain.root == "C"
    assert {n.ref: n.generation for n in chain.nodes} == {"C": 0, "D": 1, "G": 1, "K": 1}
    assert {(e.source, e.target, e.confirmed) for e in chain.edges} == {
        ("C", "D", False),
        ("C", "G", False),
        ("C", "K", False),
    }
    a = outbreak.chains.for_case("A")
    assert (a.node.infector, a.node.generation, a.candidates.candidates) == (None, 0, ())
    assert {n.ref for n in a.chain.nodes} == {"A", "B"}


def test_a_confirmed_infector_wins_over_inference_and_is_audited(outbreak: Services) -> None:
    outbreak.chains.confirm(TRACER, "D", "A")

    found = outbreak.chains.for_case("D")
    assert (found.node.infector, found.node.source.value) == ("A", "confirmed")
    assert {n.ref: n.generation for n in found.chain.nodes} == {"A": 0, "B": 1, "D": 1}
    with outbreak.store.read() as uow:
        (event,) = [r.event for r in uow.audit.find(limit=20) if r.event.action == "chains.confirm"]
        assert uow.cases.linked_onsets() == [(DAY, DAY + timedelta(days=3))]
    assert (event.record, event.details["infector"], event.details["previous"]) == ("D", "A", None)

    outbreak.chains.confirm(TRACER, "D", None)  # cleared: inference again
    assert outbreak.chains.for_case("D").node.source.value == "inferred"


def test_bad_confirmations_and_unknown_cases_are_named(outbreak: Services) -> None:
    with pytest.raises(InvalidInput, match="a case cannot be its own infector"):
        outbreak.chains.confirm(TRACER, "D", "D")
    with pytest.raises(InvalidInput, match="infector: no case 'Z'"):
        outbreak.chains.confirm(TRACER, "D", "Z")
    with pytest.raises(NotFound, match="no case 'Z'"):
        outbreak.chains.confirm(TRACER, "Z", "D")
    with pytest.raises(NotFound, match="no confirmed or probable case 'Z'"):
        outbreak.chains.for_case("Z")


def test_the_unlinked_share_counts_local_cases_with_no_known_source_by_report_date(
    outbreak: Services,
) -> None:
    overview = outbreak.chains.overview(5, days=28)
    rows = {d["reported"]: (d["local"], d["no_known_source"]) for d in overview.as_dict()["unlinked_share"]}
    # reported 2 days after onset: A on day 2 (no source), B and C on day 4 (B: A; C: none), D on 5, ...
    day = lambda n: (DAY + timedelta(days=n)).isoformat()  # noqa: E731
    assert rows[day(2)] == (1, 1)
    assert rows[day(4)] == (2, 1)
    assert rows[day(5)] == (1, 0)
    assert sum(n for n, _ in rows.values()) == 6
    assert overview.chains == 2
    assert [g.size for g in overview.largest] == [4, 2]


def test_the_command_prints_a_case_s_chain_and_the_largest_chains(
    outbreak: Services, settings: Settings
) -> None:
    env = cli_env(settings, "epi-1")
    one = CliRunner().invoke(cli_app, ["analytics", "chains", "D", "--json"], env=env)
    assert one.exit_code == 0, one.output
    body = json.loads(one.stdout)
    assert [c["case"] for c in body["candidates"]] == ["C"]
    assert body["candidates"][0]["evidence"][0]["setting"] == "venue:v-gym"
    assert body["infector"]["infector"] == "C"
    assert {(e["infector"], e["infectee"]) for e in body["chain"]["edges"]} >= {("C", "D")}

    every = CliRunner().invoke(cli_app, ["analytics", "chains", "--json"], env=env)
    assert every.exit_code == 0, every.output
    assert json.loads(every.stdout)["chains"] == 2

    confirmed = CliRunner().invoke(cli_app, ["analytics", "confirm-infector", "D", "A"], env=env)
    assert confirmed.exit_code == 0, confirmed.output
    assert outbreak.chains.for_case("D").node.infector == "A"
    missing = CliRunner().invoke(cli_app, ["analytics", "chains", "nobody"], env=env)
    assert missing.exit_code == 1
    assert "no confirmed or probable case 'nobody'" in missing.output


def test_a_run_stores_each_inferred_infector_and_cluster_graphs_read_them_with_confirmed_links_live(
    outbreak: Services,
) -> None:
    built = outbreak.chains.build()
    expected = {
        ref: built.node(ref).infector for ref in built.refs if built.node(ref).source.value == "inferred"
    }
    assert outbreak.chains.refresh(TRACER) == len(expected) == 4  # B, D, G, K
    graph = outbreak.chains.graph_among(["C", "D", "G", "K"])
    assert {(e["infector"], e["infectee"]) for e in graph["edges"]} == {
        (p, ref) for ref, p in expected.items() if ref in {"C", "D", "G", "K"}
    }
    assert {n["case"]: n["generation"] for n in graph["nodes"]} == {"C": 0, "D": 1, "G": 1, "K": 1}

    outbreak.chains.confirm(TRACER, "C", "D")  # a confirmed link wins at once, before any run
    graph = outbreak.chains.graph_among(["C", "D", "G", "K"])
    by_case = {n["case"]: n for n in graph["nodes"]}
    assert (by_case["C"]["infector"], by_case["C"]["source"]) == ("D", "confirmed")
    # C <- D (confirmed) and D <- C (inferred): a cycle within the cluster has no generation
    assert by_case["C"]["generation"] is None and by_case["D"]["generation"] is None
