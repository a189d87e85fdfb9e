"""Importing the Hong Kong Department of Health's open data, on every storage backend.

The files are the CHP's own (../shared/data/hk, see its README): the line list as
published on 2020-12-17 (7,804 cases) and in early February 2022 (15,347 cases),
the building list and the 41 large clusters of 2020-12-17. The tests skip when the
shared folder is absent.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pytest

from chaincut.bootstrap import Services
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.errors import ImportRejected
from chaincut.whereabouts.importing import (
    ImportOptions,
    import_hk_buildings,
    import_hk_cases,
    import_hk_clusters,
)
from support.shared import shared_data

OPTIONS = ImportOptions()


def cases_2020() -> Path:
    return shared_data("hk", "enhanced_sur_covid_19_eng.2020-12-17.csv")


def cases_2022() -> Path:
    return shared_data("hk", "enhanced_sur_covid_19_eng.2022-02.csv")


def buildings() -> Path:
    return shared_data("hk", "building_list_eng.2020-12-17.csv")


def clusters() -> Path:
    return shared_data("hk", "large_clusters_eng.2020-12-17.csv")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def test_the_2020_line_list_gives_7804_cases_and_the_2022_list_adds_to_it(services: Services) -> None:
    first = import_hk_cases(services.store, services.clock, cases_2020(), OPTIONS)

    assert (first.read, first.stored, first.already_present, first.rejected) == (7804, 7804, 0, 0)
    counts = services.store.counts()
    assert (counts.cases, counts.people) == (7804, 7804)  # one anonymous person per case
    with services.store.read() as uow:
        by_number = {
            n: uow.cases.get_by_ref(f"hk-{n}") for n in ("1", "11", "12", "16", "19", "22", "97", "80")
        }
    found = {n: c for n, c in by_number.items() if c is not None}
    assert len(found) == len(by_number)
    # Case 1: imported, reported 23/01/2020, onset 21/01/2020.
    assert (found["1"].classification, found["1"].status) == (
        CaseClassification.IMPORTED,
        CaseStatus.CONFIRMED,
    )
    assert (found["1"].reported_on, found["1"].onset_on) == (date(2020, 1, 23), date(2020, 1, 21))
    assert found["11"].classification is CaseClassification.LINKED  # with an imported case
    assert found["12"].classification is CaseClassification.POSSIBLY_LOCAL
    assert found["16"].classification is CaseClassification.LOCAL
    assert found["19"].classification is CaseClassification.LINKED  # with a local case
    assert found["22"].classification is CaseClassification.LINKED  # with a possibly local case
    assert found["97"].status is CaseStatus.PROBABLE  # the list's only probable case
    assert found["80"].onset_on is None  # "Asymptomatic"

    newer = import_hk_cases(services.store, services.clock, cases_2022(), OPTIONS)

    # 18 case numbers of 2020 are not in the 2022 list; the other 7,786 are already stored.
    assert (newer.read, newer.stored, newer.already_present, newer.rejected) == (15347, 7561, 7786, 0)
    assert services.store.counts().cases == 7804 + 7561
    with services.store.read() as uow:
        repositive, pending = uow.cases.get_by_ref("hk-12819"), uow.cases.get_by_ref("hk-14370")
    assert repositive is not None and repositive.status is CaseStatus.CONFIRMED  # "Re-positive"
    assert pending is not None and pending.status is CaseStatus.SUSPECTED  # "Pending"
    assert pending.classification is CaseClassification.LOCAL  # "Locally acquired case"

    again = import_hk_cases(services.store, services.clock, cases_2020(), OPTIONS)
    assert (again.stored, again.already_present) == (0, 7804)
    assert services.store.counts().cases == 15365


def test_only_non_residential_buildings_become_venues(services: Services) -> None:
    rows = read_csv(buildings())
    visited = {
        (r["District"], r["Building name"].removesuffix(" (non-residential)"))
        for r in rows
        if r["Building name"].endswith("(non-residential)")
    }
    residential_only = {
        (r["District"], r["Building name"])
        for r in rows
        if not r["Building name"].endswith("(non-residential)")
    } - visited

    report = import_hk_buildings(services.store, services.clock, buildings(), OPTIONS)

    assert report.read == len(rows) == 1787
    assert report.stored == len(visited) == 536
    assert services.store.counts().venues == 536
    with services.store.read() as uow:
        venues, total = uow.venues.list(limit=1000)
    assert total == 536
    assert {(v.district, v.name_en) for v in venues} == visited
    assert residential_only and not {(v.district, v.name_en) for v in venues} & residential_only
    assert {v.venue_type for v in venues} <= set(services.policy.venue_types)
    restaurant = next(v for v in venues if v.name_en == "Alliance Building Chuen Cheung Kui Restaurant")
    assert restaurant.venue_type == "restaurant"

    again = import_hk_buildings(services.store, services.clock, buildings(), OPTIONS)
    assert (again.stored, again.already_present) == (0, 536)


def test_the_41_large_clusters_hold_the_cases_the_file_lists(services: Services) -> None:
    import_hk_cases(services.store, services.clock, cases_2020(), OPTIONS)

    report = import_hk_clusters(services.store, services.clock, clusters(), OPTIONS)

    assert (report.read, report.stored, report.rejected) == (41, 41, 0)
    rows = read_csv(clusters())
    with services.store.read() as uow:
        cluster_ids = uow.clusters.ids_for([r["Cluster"] for r in rows])
        assert uow.clusters.count() == 41
        members = {name: uow.clusters.members(cluster_id) for name, cluster_id in cluster_ids.items()}
        case_ids = uow.cases.ids_for(
            [f"hk-{n.strip()}" for r in rows for n in r["Involved case number"].split(",")]
        )
    assert len(cluster_ids) == 41
    agreeing = 0
    for row in rows:
        listed = {n.strip() for n in row["Involved case number"].split(",") if n.strip()}
        assert members[row["Cluster"]] == sorted(case_ids[f"hk-{n}"] for n in listed)
        if len(listed) == int(row["Number of cases"]):
            assert len(members[row["Cluster"]]) == int(row["Number of cases"])
            agreeing += 1
    assert agreeing == 41
    diamond = members["Diamond Princess Cruise Ship"]
    assert len(diamond) == 11

    again = import_hk_clusters(services.store, services.clock, clusters(), OPTIONS)
    assert (again.stored, again.already_present) == (0, 41)


def test_every_listed_building_keeps_its_cases_as_date_level_exposures_in_either_import_order(
    services: Services,
) -> None:
    rows = read_csv(buildings())
    listed = {
        (r["District"].strip(), r["Building name"].strip().removesuffix(" (non-residential)").casefold())
        for r in rows
    }
    pairs = {
        (
            r["District"].strip(),
            r["Building name"].strip().removesuffix(" (non-residential)").casefold(),
            f"hk-{n}",
        )
        for r in rows
        for n in re.findall(r"\d+", r["Related probable/confirmed cases"])
    }

    before = import_hk_buildings(services.store, services.clock, buildings(), OPTIONS)  # no cases yet
    with services.store.read() as uow:
        stored = uow.buildings.all()
        links = uow.buildings.case_links()
    by_ref = {b.ref: b for b in stored}
    assert {(b.district, b.name_en.casefold()) for b in stored} == listed
    assert {(by_ref[b].district, by_ref[b].name_en.casefold(), c) for b, c in links} == pairs
    assert sum(1 for b in stored if not b.residential) == before.stored == 536
    assert all((b.venue_ref is None) == b.residential for b in stored)
    assert f"{len(pairs)} building-case links stored" in "\n".join(before.notes)
    assert "cases not in the store yet (import hk-cases to use them)" in "\n".join(before.notes)

    import_hk_cases(services.store, services.clock, cases_2020(), OPTIONS)
    again = import_hk_buildings(services.store, services.clock, buildings(), OPTIONS)
    assert (
        f"0 building-case links stored as date-level exposures ({len(pairs)} already present)"
        in again.notes[1]
    )
    assert "not in the store" not in again.notes[1]


def test_a_building_row_with_a_bad_case_number_is_named(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "buildings.csv"
    path.write_text(
        "District,Building name,Last date of residence of the case(s),Related probable/confirmed cases\n"
        "Wan Chai,Gordon House,,6398\n"
        'Kwun Tong,"Block 23, Laguna City",,"6398, 64O1"\n',
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as refused:
        import_hk_buildings(services.store, services.clock, path, OPTIONS)
    error = refused.value.errors[0]
    assert (error.line, error.field) == (3, "Related probable/confirmed cases")
    assert "expected case numbers, got '64O1'" in error.message
    with services.store.read() as uow:
        assert uow.buildings.all() == []


def test_clusters_before_their_cases_are_refused(services: Services) -> None:
    with pytest.raises(ImportRejected) as refused:
        import_hk_clusters(services.store, services.clock, clusters(), OPTIONS)

    first = refused.value.errors[0]
    assert (first.line, first.field) == (2, "Involved case number")
    assert "case 14 is not imported; import hk-cases first" in first.message
    assert refused.value.total_errors == 41
    with services.store.read() as uow:
        assert uow.clusters.count() == 0


def test_a_bad_line_list_row_is_named_and_nothing_is_stored(services: Services, tmp_path: Path) -> None:
    header = cases_2020().read_text(encoding="utf-8-sig").splitlines()[0]
    path = tmp_path / "cases.csv"
    path.write_text(
        "\n".join(
            [
                header,
                "1,23/01/2020,21/01/2020,M,39,,Discharged,Non-HK resident,Imported case,Confirmed",
                "2,31/02/2020,18/01/2020,M,56,,Discharged,HK resident,Imported case,Confirmed",
                "3,24/01/2020,20/01/2020,F,62,,Discharged,Non-HK resident,Alien case,Confirmed",
                "1,23/01/2020,21/01/2020,M,39,,Discharged,Non-HK resident,Imported case,Confirmed",
            ]
        )
        + "\n",
        encoding="utf-8",
    )

    with pytest.raises(ImportRejected) as refused:
        import_hk_cases(services.store, services.clock, path, OPTIONS)

    assert [(e.line, e.field) for e in refused.value.errors] == [
        (3, "Report date"),
        (4, "Classification"),
        (5, "Case no."),
    ]
    assert services.store.counts().cases == 0
    skipped = import_hk_cases(
        services.store, services.clock, path, ImportOptions(on_error="skip", rejects=tmp_path / "rejects.csv")
    )
    assert (skipped.stored, skipped.rejected) == (1, 3)
    assert services.store.counts().cases == 1
