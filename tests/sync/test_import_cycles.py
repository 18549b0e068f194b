"""No import cycles: none in ``sync``, and none new anywhere in the tree.

The whole tree's import graph (grimp, as import-linter builds it) is split into strongly
connected components; each component of more than one module is a cycle. ``sync`` must
have none. Elsewhere the cycles known when this test was written (being removed in other
rooms) may shrink or go, but no new cycle, and no module joining an old one, may appear.
"""

from __future__ import annotations

import grimp

ROOTS = ("smartlib", "drivers", "edge", "sync", "kiosk_ui", "hardware_sim")

KNOWN_CYCLES = [
    {"edge.store.cache", "edge.store.db", "edge.store.lookups", "edge.store.ops",
     "edge.store.outbox", "edge.store.site"},
    {"edge.api.app", "edge.api.staff", "edge.api.staff_console", "edge.cli",
     "edge.stats_export"},
    {"smartlib.demo", "smartlib.scenarios"},
]
"""Cycles outside ``sync`` that may only shrink (issue 16 §3 and §4 remove them)."""


def import_cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: set[str] = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.add(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def test_the_finder_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for m in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(m)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert import_cycles(graph) == [{"a.x", "a.y"}]


def test_no_import_cycle_in_sync_and_no_new_one_elsewhere() -> None:
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    cycles = import_cycles(graph)
    in_sync = [c for c in cycles if any(m.split(".")[0] == "sync" for m in c)]
    assert in_sync == []
    for cycle in cycles:
        assert any(cycle <= known for known in KNOWN_CYCLES), f"new import cycle: {sorted(cycle)}"
