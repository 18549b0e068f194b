"""No import cycles between the project's modules.

The graph is built by grimp (import-linter's engine) over every package listed in
pyproject's ``[tool.importlinter] root_packages``, imports under ``TYPE_CHECKING``
included. A cycle is a strongly connected component of more than one module; it fails
the test when any of its modules is in :data:`ACYCLIC_PACKAGES`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOT_PACKAGES: tuple[str, ...] = tuple(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"])

ACYCLIC_PACKAGES: frozenset[str] = frozenset(ROOT_PACKAGES)
"""The packages kept free of cycles: every root package (issue 16: no import cycles
between the project's modules)."""


def import_graph(packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports directly (grimp, no cache)."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def cycles(graph: Mapping[str, Collection[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for nxt in targets:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
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
    return sorted(found)


def _describe(component: list[str], graph: Mapping[str, Collection[str]]) -> str:
    members = set(component)
    edges = [f"    {a} -> {b}" for a in component for b in sorted(graph[a]) if b in members]
    return "\n".join([f"  cycle of {len(component)} modules:", *edges])


def test_the_checked_packages_are_root_packages() -> None:
    assert ACYCLIC_PACKAGES <= set(ROOT_PACKAGES), sorted(ACYCLIC_PACKAGES - set(ROOT_PACKAGES))


def test_no_import_cycles_in_the_checked_packages() -> None:
    graph = import_graph(ROOT_PACKAGES)
    bad = [c for c in cycles(graph) if any(m.partition(".")[0] in ACYCLIC_PACKAGES for m in c)]
    assert not bad, "import cycles:\n" + "\n".join(_describe(c, graph) for c in bad)


def test_a_cycle_is_found_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "cyclic"
    (pkg / "store").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "store" / "__init__.py").write_text("")
    (pkg / "store" / "db.py").write_text(
        "def open_store():\n    from cyclic.store import outbox\n    return outbox\n")
    (pkg / "store" / "outbox.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclic.store.db import x\n")
    (pkg / "cli.py").write_text("import cyclic.store.db\n")
    (pkg / "a.py").write_text("import cyclic.b\n")
    (pkg / "b.py").write_text("import cyclic.c\n")
    (pkg / "c.py").write_text("import cyclic.a\nimport cyclic.cli\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = import_graph(["cyclic"])
    # A lazy import and a TYPE_CHECKING import make a cycle too; the chain a -> b -> c -> a
    # is one component, and cli (imported by it, importing none of it) is not in it.
    assert cycles(graph) == [["cyclic.a", "cyclic.b", "cyclic.c"],
                             ["cyclic.store.db", "cyclic.store.outbox"]]
    assert "    cyclic.c -> cyclic.a" in _describe(["cyclic.a", "cyclic.b", "cyclic.c"], graph)
