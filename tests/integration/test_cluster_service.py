"""Inferred clusters on the store (both backends): ids that survive runs, merges, names and decisions.

A small outbreak seeded by hand: cases with stays at venues, a household, a tracer's link. Each
run infers afresh; what the tests check is what a tracer relies on between runs.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from typer.testing import CliRunner

from chaincut.analytics import case_evidence
from chaincut.analytics.cluster_ids import Decision
from chaincut.analytics.outbreak_refresh import refresh_clusters_and_chains
from chaincut.bootstrap import Services
from chaincut.cli import app as cli_app
from chaincut.errors import InvalidInput, NotFound
from chaincut.settings import Settings
from chaincut.store.tables import cases, inferred_cluster_evidence, inferred_infectors, visits
from chaincut.whereabouts.importing import ImportOptions, import_encounters, import_visits
from support.outbreak import DAY, TRACER, at, link, seed
from support.settings import cli_env


def clusters_now(services: Services) -> dict[int, tuple[str, ...]]:
    found, _ = services.clusters.page()
    return {c.id: c.cases for c in found}


@pytest.fixture
def outbreak(services: Services) -> Services:
    seed(
        services,
        {
            "A": (0, [("v-dragon", -1, 19)], None),
            "B": (2, [("v-dragon", -1, 19)], None),
            "C": (2, [("v-gym", 0, 7)], "h-1"),
            "D": (3, [("v-gym", 0, 7)], None),
            "E": (4, [("v-dragon", -30, 19)], None),  # a month before: not in its period
            "F": (4, [("v-ward", 1, 10)], None),  # met A and B's ward? a hospital links nobody
            "G": (5, [("v-ward", 1, 10)], "h-1"),  # C's household
        },
    )
    return services


def test_a_run_finds_the_clusters_with_their_settings_in_both_languages_and_the_evidence(
    outbreak: Services,
) -> None:
    run = outbreak.clusters.refresh(TRACER)

    assert clusters_now(outbreak) == {1: ("C", "D", "G"), 2: ("A", "B")} or clusters_now(outbreak) == {
        1: ("A", "B"),
        2: ("C", "D", "G"),
    }
    assert (run.clusters, run.created) == (2, 2)
    assert run.left_out == {"setting kind 'hospital' links no cases": 2}
    found, total = outbreak.clusters.page()
    assert total == 2
    gym = next(c for c in found if "C" in c.cases)
    assert [(s.id, s.kind, s.name_en, s.name_zh) for s in gym.settings] == [
        ("venue:v-gym", "gym", "Iron Gym", "鐵館")
    ]
    assert (gym.first_onset, gym.last_onset, gym.status) == (DAY + timedelta(2), DAY + timedelta(5), "active")
    detail = outbreak.clusters.detail(gym.id)
    stays = {(e.case, e.setting, e.start) for e in detail.evidence if e.setting}
    assert stays == {("C", "venue:v-gym", at(0, 7)), ("D", "venue:v-gym", at(0, 7))}
    links = {(e.case, e.link, e.linked_case) for e in detail.evidence if e.link}
    assert links == {("C", "household", "G"), ("G", "household", "C")}
    assert [(d.isoformat(), n) for d, n in detail.size_by_day] == [
        ("2026-11-12", 1),
        ("2026-11-13", 1),
        ("2026-11-15", 1),
    ]


def test_a_cluster_that_grows_keeps_its_id_and_its_name(outbreak: Services) -> None:
    outbreak.clusters.refresh(TRACER)
    dragon = next(i for i, members in clusters_now(outbreak).items() if "A" in members)
    outbreak.clusters.rename(TRACER, dragon, "  Golden Dragon banquet  ")

    seed(outbreak, {"H": (6, [("v-dragon", 3, 20)], None)})
    run = outbreak.clusters.refresh(TRACER)

    assert run.created == 0
    assert clusters_now(outbreak)[dragon] == ("A", "B", "H")
    assert outbreak.clusters.detail(dragon).summary.name == "Golden Dragon banquet"


def test_when_two_clusters_merge_the_older_id_survives_and_the_other_is_recorded_as_merged(
    outbreak: Services,
) -> None:
    outbreak.clusters.refresh(TRACER)
    ids = clusters_now(outbreak)
    older, younger = sorted(ids)
    a_member, b_member = ids[older][0], ids[younger][0]

    link(outbreak, b_member, a_member)  # a tracer's link joins the two
    run = outbreak.clusters.refresh(TRACER)

    assert run.merged == ((younger, older),)
    assert clusters_now(outbreak) == {older: tuple(sorted(ids[older] + ids[younger]))}
    merged, _ = outbreak.clusters.page(status="merged")
    assert [(c.id, c.merged_into, c.size) for c in merged] == [(younger, older, 0)]


def test_a_rejected_membership_stays_rejected_and_a_confirmed_one_holds_on_every_run(
    outbreak: Services,
) -> None:
    outbreak.clusters.refresh(TRACER)
    gym = next(i for i, members in clusters_now(outbreak).items() if "C" in members)

    outbreak.clusters.decide(TRACER, gym, "D", Decision.REJECTED, "D was at another gym")
    assert clusters_now(outbreak)[gym] == ("C", "G")  # at once
    outbreak.clusters.decide(TRACER, gym, "E", Decision.CONFIRMED)
    assert clusters_now(outbreak)[gym] == ("C", "E", "G")

    outbreak.clusters.refresh(TRACER)
    outbreak.clusters.refresh(TRACER)

    assert clusters_now(outbreak)[gym] == ("C", "E", "G")
    detail = outbreak.clusters.detail(gym)
    assert detail.confirmed == ("E",)
    assert ("E", "decision") in {(e.case, e.link) for e in detail.evidence}
    assert {(detail.case_refs[d.case_id], d.decision, d.decided_by) for d in detail.decisions} == {
        ("D", "rejected", TRACER.name),
        ("E", "confirmed", TRACER.name),
    }
    with outbreak.store.read() as uow:
        decided = [r.event for r in uow.audit.find(limit=50) if r.event.action == "clusters.decide"]
        refreshed = [r.event for r in uow.audit.find(limit=50) if r.event.action == "clusters.refresh"]
    assert sorted((e.record, e.details["decision"], e.actor) for e in decided) == [
        ("D", "rejected", TRACER.name),
        ("E", "confirmed", TRACER.name),
    ]
    assert len(refreshed) == 3


def test_naming_is_audited_with_the_previous_name_and_bad_input_is_named(outbreak: Services) -> None:
    outbreak.clusters.refresh(TRACER)
    cluster_id = min(clusters_now(outbreak))
    outbreak.clusters.rename(TRACER, cluster_id, "First")
    outbreak.clusters.rename(TRACER, cluster_id, "Second")
    with outbreak.store.read() as uow:
        named = [r.event for r in uow.audit.find(limit=50) if r.event.action == "clusters.name"]
    assert sorted((e.details["name"], e.details["previous"]) for e in named) == [
        ("First", None),
        ("Second", "First"),
    ]
    with pytest.raises(NotFound, match="no cluster 999"):
        outbreak.clusters.rename(TRACER, 999, "x")
    with pytest.raises(InvalidInput, match="name: expected at most 200"):
        outbreak.clusters.rename(TRACER, cluster_id, "x" * 201)
    with pytest.raises(NotFound, match="no case 'nobody'"):
        outbreak.clusters.decide(TRACER, cluster_id, "nobody", Decision.CONFIRMED)
    with pytest.raises(InvalidInput, match="status: expected one of"):
        outbreak.clusters.page(status="open")


def test_a_decision_on_a_merged_cluster_is_refused_naming_the_cluster_it_lives_on(outbreak: Services) -> None:
    outbreak.clusters.refresh(TRACER)
    ids = clusters_now(outbreak)
    older, younger = sorted(ids)
    link(outbreak, ids[younger][0], ids[older][0])
    outbreak.clusters.refresh(TRACER)
    with pytest.raises(InvalidInput, match=f"cluster {younger} is merged into {older}"):
        outbreak.clusters.decide(TRACER, younger, "E", Decision.CONFIRMED)


def test_a_cluster_reported_long_ago_is_inactive(outbreak: Services) -> None:
    with outbreak.store.write() as uow:
        uow.connection.execute(update(cases).values(reported_on=date(2026, 9, 1)))
    outbreak.clusters.refresh(TRACER)
    found, _ = outbreak.clusters.page()
    assert {c.status for c in found} == {"inactive"}
    assert outbreak.clusters.page(status="active") == ([], 0)


def test_the_command_prints_the_clusters_as_json(outbreak: Services, settings: Settings) -> None:
    result = CliRunner().invoke(cli_app, ["analytics", "clusters", "--json"], env=cli_env(settings, "epi-1"))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["run"]["clusters"] == body["total"] == 2
    shaped = {frozenset(c["cases"]): c for c in body["clusters"]}
    gym = shaped[frozenset({"C", "D", "G"})]
    assert set(gym) >= {"id", "name", "status", "cases", "settings"}
    assert gym["settings"] == [{"id": "venue:v-gym", "kind": "gym", "name_en": "Iron Gym", "name_zh": "鐵館"}]

    one = CliRunner().invoke(
        cli_app, ["analytics", "cluster", str(gym["id"]), "--json"], env=cli_env(settings, "epi-1")
    )
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["size"] == 3
    bad = CliRunner().invoke(cli_app, ["analytics", "cluster", "999"], env=cli_env(settings, "epi-1"))
    assert bad.exit_code == 1
    assert "no cluster 999" in bad.output


def test_the_situation_report_lists_the_clusters_active_on_its_day_as_they_were_then(
    outbreak: Services,
) -> None:
    assert outbreak.situation_reports.report(DAY + timedelta(days=4)).clusters is None  # never run
    outbreak.clusters.refresh(TRACER)
    outbreak.chains.refresh(TRACER)

    # reported two days after onset: A on day 2, B and C on 4, D on 5, G on 7 (E, F: no cluster)
    then = outbreak.situation_reports.report(DAY + timedelta(days=4)).clusters
    assert then is not None
    assert sorted((c.size, c.first_onset) for c in then.clusters) == [(1, DAY + timedelta(2)), (2, DAY)]
    gym = next(c for c in then.clusters if c.size == 1)
    assert gym.settings == (("Iron Gym", "鐵館"),)

    now = outbreak.situation_reports.report(DAY + timedelta(days=10)).clusters
    assert now is not None
    assert sorted(c.size for c in now.clusters) == [2, 3]
    graphs = {frozenset(n.case_ref for n in g.nodes): g for g in now.chains}
    gym_graph = graphs[frozenset({"C", "D", "G"})]
    assert {(e.infector, e.infectee, e.evidence.value) for e in gym_graph.edges} == {
        ("C", "D", "inferred"),
        ("C", "G", "inferred"),
    }
    before = outbreak.situation_reports.report(DAY + timedelta(days=1)).clusters  # nobody reported yet
    assert before is not None and before.clusters == ()


def test_stays_and_encounters_bulk_imported_into_the_archive_link_cases_too(
    embedded_services: Services, tmp_path: Path
) -> None:
    """On the embedded default a bulk import goes to the Parquet archive, not SQL: clusters and
    chains read it there as the tracing engine does."""
    services = embedded_services
    seed(services, {"P": (2, [], None), "Q": (3, [], None), "R": (3, [], None), "S": (4, [], None)})
    visits = tmp_path / "visits.csv"
    visits.write_text(
        "person,venue,entered_at,left_at\n"
        f"p-P,v-dragon,{at(0, 19).isoformat()},{at(0, 21).isoformat()}\n"
        f"p-Q,v-dragon,{at(0, 19).isoformat()},{at(0, 20).isoformat()}\n",
        encoding="utf-8",
    )
    encounters = tmp_path / "encounters.csv"
    encounters.write_text(
        f"person_a,person_b,start,end\np-R,p-S,{at(1, 9).isoformat()},{at(1, 10).isoformat()}\n",
        encoding="utf-8",
    )
    options = ImportOptions()
    import_visits(services.store, services.policy, services.clock, visits, options)
    import_encounters(services.store, services.policy, services.clock, encounters, options)
    assert services.store.archive is not None
    assert services.store.archive.count("visits") == 2  # in the archive, none in SQL
    assert services.store.archive.count("encounters") == 1

    services.clusters.refresh(TRACER)

    assert sorted(clusters_now(services).values()) == [("P", "Q"), ("R", "S")]
    assert services.chains.for_case("Q").node.infector == "P"


def test_a_large_clusters_evidence_is_kept_in_parts_and_reads_back_whole_and_in_order(
    outbreak: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbreak.clusters.refresh(TRACER)
    gym = next(i for i, members in clusters_now(outbreak).items() if "C" in members)
    whole = outbreak.clusters.detail(gym).evidence

    monkeypatch.setattr("chaincut.store.inferred_clusters._PART_ROWS", 1)
    with outbreak.store.write() as uow:  # the stored parts no longer match: the next run rewrites them
        uow.connection.execute(delete(inferred_cluster_evidence))
    outbreak.clusters.refresh(TRACER)

    with outbreak.store.read() as uow:
        parts = uow.connection.execute(
            select(inferred_cluster_evidence.c.part, inferred_cluster_evidence.c.rows)
            .where(inferred_cluster_evidence.c.cluster_id == gym)
            .order_by(inferred_cluster_evidence.c.part)
        ).all()
    assert [tuple(p) for p in parts] == [(k, 1) for k in range(len(whole))]
    assert outbreak.clusters.detail(gym).evidence == whole
    assert len(whole) == 4  # C's and D's stays at the gym, C and G's household both ways


def test_a_moved_cases_evidence_leaves_the_cluster_at_once_with_the_rows_that_link_to_it(
    outbreak: Services,
) -> None:
    outbreak.clusters.refresh(TRACER)
    gym = next(i for i, members in clusters_now(outbreak).items() if "C" in members)
    dragon = next(i for i, members in clusters_now(outbreak).items() if "A" in members)

    outbreak.clusters.decide(TRACER, dragon, "G", Decision.CONFIRMED)  # G leaves C's cluster

    evidence = {(e.case, e.setting, e.link, e.linked_case) for e in outbreak.clusters.detail(gym).evidence}
    assert evidence == {("C", "venue:v-gym", None, None), ("D", "venue:v-gym", None, None)}
    moved = {(e.case, e.link) for e in outbreak.clusters.detail(dragon).evidence}
    assert ("G", "decision") in moved


def test_a_refresh_of_clusters_and_chains_reads_the_store_once_and_stores_both(
    outbreak: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    real = case_evidence.read_case_evidence

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(case_evidence, "read_case_evidence", counted)
    run = refresh_clusters_and_chains(outbreak.clusters, outbreak.chains, TRACER)

    assert len(reads) == 1
    assert run.clusters.clusters == 2
    with outbreak.store.read() as uow:
        together = sorted(tuple(r) for r in uow.connection.execute(select(inferred_infectors)).all())
    assert run.inferred_infectors == len(together) > 0

    assert outbreak.chains.refresh(TRACER) == run.inferred_infectors  # apart: its own read, same answer
    assert len(reads) == 2
    with outbreak.store.read() as uow:
        apart = sorted(tuple(r) for r in uow.connection.execute(select(inferred_infectors)).all())
    assert [r[:3] for r in apart] == [r[:3] for r in together]


def test_evidence_is_rewritten_when_only_it_changes_and_not_at_all_when_nothing_does(
    outbreak: Services,
) -> None:
    outbreak.clusters.refresh(TRACER)
    gym = next(i for i, members in clusters_now(outbreak).items() if "C" in members)
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INFERRED_CLUSTER_EVIDENCE"):
            inserts.append(statement)

    engine = outbreak.store.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        outbreak.clusters.refresh(TRACER)
        assert inserts == []  # nothing changed: nothing written
        with outbreak.store.write() as uow:  # the same members and settings, other times
            uow.connection.execute(update(visits).values(entered_at=visits.c.entered_at + 600))
        outbreak.clusters.refresh(TRACER)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(inserts) == 2  # both clusters' evidence, one part each
    starts = {e.start for e in outbreak.clusters.detail(gym).evidence if e.setting}
    assert starts == {at(0, 7) + timedelta(minutes=10)}
