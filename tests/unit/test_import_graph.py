"""chaincut's imports form no cycle: between modules, or between its top-level packages.

The import contracts in pyproject.toml (``lint-imports``) hold the layers; these tests
find any cycle, also among modules the contracts do not name, and imports made only for
type checking or inside a function count too (grimp sees them all).
"""

from __future__ import annotations

from collections.abc import Callable

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("chaincut", cache_dir=None)


def _edges(graph: grimp.ImportGraph, node: Callable[[str], str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        if not module.startswith("chaincut"):
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("chaincut") and node(imported) != node(module):
                edges.setdefault(node(module), set()).add(node(imported))
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_no_module_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    assert _cycles(_edges(graph, lambda m: m)) == []


def test_no_top_level_package_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    # chaincut.api and chaincut.web once imported each other; both now build on chaincut.guards.
    assert _cycles(_edges(graph, lambda m: ".".join(m.split(".")[:2]))) == []
