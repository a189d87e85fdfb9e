"""Evaluation: clusters inferred from Hong Kong's building list, 17 December 2020, against the CHP's.

    python bench/hk_clusters.py                      # ../shared/data/hk, the shipped policy
    python bench/hk_clusters.py --merge-min-shared 3 # try another policy value
    python bench/hk_clusters.py --store              # through the store, as an authority would

With ``--store`` the files go through ``chaincut import hk-cases`` and ``hk-buildings`` into a
fresh embedded store, and the clusters come from ``chaincut analytics clusters`` (the service
behind it), the way an authority would get them; the scores must equal the pure path's.

Reads the case list (``enhanced_sur_covid_19_eng.2020-12-17.csv``) and the building list
(``building_list_eng.2020-12-17.csv``); the CHP's large clusters
(``large_clusters_eng.2020-12-17.csv``) are read only to score. The building list relates
buildings to case numbers with no times: each (building, case) becomes a coarse exposure. Rows
are aggregated by district and building name (without "(non-residential)", case-insensitive);
each building's kind comes from the policy's ``[clusters.building_kinds]`` words, else
``venue`` (non-residential) or ``residence``.

Scoring (issue 11): the CHP clusters with at least half their members in the building list (11 of
41) are scored over those members: for each, the Jaccard similarity of its best-matching inferred
cluster (recovered when at least 0.5); the pairwise precision and recall of "same cluster" over
the pairs of scored members; the largest inferred cluster. The naive baseline in the same run
unions the cases listed at each non-residential building whose onsets (else report dates) are
within 14 days of each other.

Prints one JSON line on stdout (with the machine), then a table on stderr.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
import sys
import time
import time as time_module
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from chaincut.analytics.clusters import ClusterCase, Exposure, Setting, building_kind, infer_clusters
from chaincut.policy.loading import default_policy_text, parse_policy

__all__ = ["HkData", "evaluate", "hk_clusters", "load_hk", "naive_baseline"]

_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hk"
_NON_RESIDENTIAL = re.compile(r"\s*\(non-residential\)\s*$", re.IGNORECASE)
TODAY = date(2020, 12, 17)


@dataclasses.dataclass(frozen=True)
class HkData:
    cases: dict[str, ClusterCase]
    settings: list[Setting]
    exposures: list[Exposure]
    chp: list[tuple[str, frozenset[str]]]  # the CHP's large clusters, only to score
    visited_rows: list[tuple[str, ...]]  # each non-residential row's cases, as listed (the baseline's input)


def _day(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def _rows(path: Path) -> Iterable[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def load_hk(folder: Path, building_kinds: Sequence[tuple[str, Sequence[str]]]) -> HkData:
    """The case list, the building list as settings and coarse exposures, and the CHP's clusters."""
    cases: dict[str, ClusterCase] = {}
    for line, row in enumerate(_rows(folder / "enhanced_sur_covid_19_eng.2020-12-17.csv"), start=2):
        reported = _day(row["Report date"])
        if reported is None:
            raise ValueError(f"case list line {line}, column 'Report date': expected dd/mm/yyyy")
        ref = f"hk-{row['Case no.'].strip()}"
        cases[ref] = ClusterCase(ref, _day(row["Date of onset"]), reported, row["Case classification*"])
    settings: dict[str, Setting] = {}
    pairs: set[tuple[str, str]] = set()
    visited_rows: list[tuple[str, ...]] = []
    for row in _rows(folder / "building_list_eng.2020-12-17.csv"):
        name = row["Building name"].strip()
        visited = bool(_NON_RESIDENTIAL.search(name))
        clean = _NON_RESIDENTIAL.sub("", name).strip()
        sid = f"{row['District'].strip()}|{clean}".casefold()
        kind = building_kind(clean, building_kinds, otherwise="venue" if visited else "residence")
        settings.setdefault(sid, Setting(sid, kind, clean))
        refs = tuple(f"hk-{n}" for n in re.findall(r"\d+", row["Related probable/confirmed cases"]))
        pairs.update((ref, sid) for ref in refs)
        if visited:
            visited_rows.append(refs)
    exposures = [Exposure(ref, sid) for ref, sid in sorted(pairs)]
    chp = [
        (row["Cluster"], frozenset(f"hk-{n}" for n in re.findall(r"\d+", row["Involved case number"])))
        for row in _rows(folder / "large_clusters_eng.2020-12-17.csv")
    ]
    return HkData(cases, sorted(settings.values(), key=lambda s: s.id), exposures, chp, visited_rows)


def naive_baseline(data: HkData, days: int = 14) -> list[frozenset[str]]:
    """Union the cases at each non-residential building whose days are within ``days`` of each other.

    As the issue states it: each row of the list marked "(non-residential)", as listed (no
    aggregation of rows, no setting kinds), every pair of its cases within ``days``.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for listed in data.visited_rows:
        refs = [ref for ref in listed if ref in data.cases]
        for i, a in enumerate(refs):
            for b in refs[i + 1 :]:
                if abs((data.cases[a].day - data.cases[b].day).days) <= days:
                    parent[find(a)] = find(b)
    groups: dict[str, set[str]] = defaultdict(set)
    for x in list(parent):
        groups[find(x)].add(x)
    return [frozenset(g) for g in groups.values() if len(g) >= 2]


def evaluate(groups: Sequence[frozenset[str]], data: HkData) -> dict[str, Any]:
    """Jaccard of each scored CHP cluster's best match, pairwise precision and recall, the largest group."""
    listed = {e.case_ref for e in data.exposures}
    scored = [
        (name, members & listed) for name, members in data.chp if 2 * len(members & listed) >= len(members)
    ]
    rows = []
    for name, members in scored:
        best = max((len(members & g) / len(members | g) for g in groups if g & members), default=0.0)
        rows.append({"cluster": name, "members_listed": len(members), "jaccard": round(best, 3)})
    group_of = {ref: i for i, g in enumerate(groups) for ref in g}
    chp_of = {ref: i for i, (_, m) in enumerate(scored) for ref in m}
    refs = sorted(chp_of)
    tp = fp = fn = 0
    for i, a in enumerate(refs):
        for b in refs[i + 1 :]:
            same_inferred = a in group_of and group_of[a] == group_of.get(b)
            same_chp = chp_of[a] == chp_of[b]
            tp += same_inferred and same_chp
            fp += same_inferred and not same_chp
            fn += same_chp and not same_inferred
    return {
        "scored": len(scored),
        "recovered": sum(r["jaccard"] >= 0.5 for r in rows),
        "pairwise_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "pairwise_recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "largest": max((len(g) for g in groups), default=0),
        "groups": len(groups),
        "clusters": rows,
    }


def hk_clusters(folder: Path, **overrides: Any) -> dict[str, Any]:
    """Infer the clusters with the shipped policy (and ``overrides``), score them and the baseline."""
    rules = dataclasses.replace(parse_policy(default_policy_text()).clusters, **overrides)
    data = load_hk(folder, rules.building_kinds)
    started = time.perf_counter()
    inference = infer_clusters(data.cases.values(), data.settings, data.exposures, (), rules, today=TODAY)
    seconds = time.perf_counter() - started
    inferred = [frozenset(c.cases) for c in inference.clusters]
    return {
        "inferred": evaluate(inferred, data) | {"seconds": round(seconds, 3)},
        "baseline": evaluate(naive_baseline(data), data),
        "left_out": len(inference.left_out),
    }


def hk_clusters_from_store(folder: Path) -> dict[str, Any]:
    """Import the two lists into a fresh embedded store, infer the clusters there, score them."""
    import tempfile
    from datetime import UTC, time

    from chaincut.bootstrap import bootstrap
    from chaincut.clock import FixedClock
    from chaincut.domain.access import Principal
    from chaincut.settings import Settings
    from chaincut.store import Database, upgrade
    from chaincut.whereabouts.importing import ImportOptions, import_hk_buildings, import_hk_cases

    rules = parse_policy(default_policy_text()).clusters
    data = load_hk(folder, rules.building_kinds)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="development", data_dir=Path(tmp) / "data")
        db = Database(settings.resolved_database_url())
        upgrade(db)
        db.dispose()
        svc = bootstrap(settings, clock=FixedClock(datetime.combine(TODAY, time(12), tzinfo=UTC)))
        try:
            options = ImportOptions()
            case_list = folder / "enhanced_sur_covid_19_eng.2020-12-17.csv"
            import_hk_cases(svc.store, svc.clock, case_list, options)
            import_hk_buildings(svc.store, svc.clock, folder / "building_list_eng.2020-12-17.csv", options)
            started = time_module.perf_counter()
            run = svc.clusters.refresh(Principal.system("bench"))
            seconds = time_module.perf_counter() - started
            found, _ = svc.clusters.page(limit=100_000)
        finally:
            svc.close()
    groups = [frozenset(c.cases) for c in found]
    return {"inferred": evaluate(groups, data) | {"seconds": round(seconds, 3)}, "run": run.as_dict()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=_DATA)
    parser.add_argument("--merge-min-shared", type=int, default=None)
    parser.add_argument("--interval-days", type=int, default=None)
    parser.add_argument("--store", action="store_true", help="import into a store and infer there")
    args = parser.parse_args(argv)
    if args.store:
        from _machine import machine

        stored = hk_clusters_from_store(args.data)
        print(json.dumps(stored | {"machine": machine()}, ensure_ascii=False))
        r = stored["inferred"]
        print(
            f"store: recovered {r['recovered']}/{r['scored']}, pairwise precision "
            f"{r['pairwise_precision']}, recall {r['pairwise_recall']}, largest {r['largest']}, "
            f"clusters {r['groups']}, {r['seconds']} s",
            file=sys.stderr,
        )
        return
    overrides: dict[str, Any] = {}
    if args.merge_min_shared is not None:
        overrides["merge_min_shared_cases"] = args.merge_min_shared
    if args.interval_days is not None:
        overrides["interval_days"] = args.interval_days
    result = hk_clusters(args.data, **overrides)
    from _machine import machine  # bench/ is on the path only when run as a script

    print(json.dumps(result | {"machine": machine()}, ensure_ascii=False))
    inferred, baseline = result["inferred"], result["baseline"]
    print(f"{'CHP cluster':60} {'listed':>6} {'inferred':>8} {'baseline':>8}", file=sys.stderr)
    for mine, theirs in zip(inferred["clusters"], baseline["clusters"], strict=True):
        print(
            f"{mine['cluster'][:60]:60} {mine['members_listed']:6} "
            f"{mine['jaccard']:8.2f} {theirs['jaccard']:8.2f}",
            file=sys.stderr,
        )
    for label, r in (("inferred", inferred), ("baseline", baseline)):
        print(
            f"{label}: recovered {r['recovered']}/{r['scored']}, "
            f"pairwise precision {r['pairwise_precision']}, recall {r['pairwise_recall']}, "
            f"largest {r['largest']}, groups {r['groups']}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
