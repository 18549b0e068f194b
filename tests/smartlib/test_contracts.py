"""The import-linter contracts say what the architecture says, and they bite."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import edge

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SYNC_CONTRACT = "sync imports only edge.store from edge"
GATEWAY_CONTRACT = "the gateway and the SIP2 code do not import edge at all"


def _importlinter() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract(name: str) -> dict[str, Any]:
    [found] = [c for c in _importlinter()["contracts"] if c["name"] == name]
    return found


def test_sync_contract_forbids_every_edge_module_but_the_store() -> None:
    # A new module in edge/ must be added to the contract, or sync could import it unchecked.
    edge_modules = {f"edge.{m.name}" for m in pkgutil.iter_modules(edge.__path__)}
    assert "edge.store" in edge_modules
    forbidden = set(_contract(SYNC_CONTRACT)["forbidden_modules"])
    assert edge_modules - {"edge.store"} <= forbidden
    assert "edge.store" not in forbidden and "edge" not in forbidden


def _package(tmp: Path, dotted: str) -> None:
    """Make ``dotted`` a package under ``tmp`` unless it is already a module there."""
    path = tmp
    for part in dotted.split("."):
        if (path / f"{part}.py").exists():
            return
        path = path / part
        path.mkdir(exist_ok=True)
        (path / "__init__.py").touch()


def _fake_tree(tmp: Path, imports: dict[str, str]) -> Path:
    """Our six root packages with edge's real top-level modules; ``imports`` adds modules."""
    cfg = _importlinter()
    for pkg in cfg["root_packages"]:
        (tmp / pkg).mkdir()
        (tmp / pkg / "__init__.py").write_text("")
    for m in pkgutil.iter_modules(edge.__path__):
        if m.ispkg:
            (tmp / "edge" / m.name).mkdir()
            (tmp / "edge" / m.name / "__init__.py").write_text("")
        else:
            (tmp / "edge" / f"{m.name}.py").write_text("")
    contracts = [_contract(SYNC_CONTRACT), _contract(GATEWAY_CONTRACT)]
    named = {m for c in contracts for m in c["source_modules"] + c["forbidden_modules"]}
    for module in sorted(named - set(cfg["root_packages"])):
        _package(tmp, module)
    for module, source in imports.items():
        parent, _, name = module.rpartition(".")
        _package(tmp, parent)
        (tmp.joinpath(*parent.split(".")) / f"{name}.py").write_text(source)
    lines = ["[importlinter]\nroot_packages =\n    " + "\n    ".join(cfg["root_packages"])]
    for i, c in enumerate(contracts):
        lines.append(f"\n[importlinter:contract:{i}]\nname = {c['name']}\ntype = {c['type']}")
        for key in ("source_modules", "forbidden_modules"):
            lines.append(f"{key} =\n    " + "\n    ".join(c[key]))
    (tmp / ".importlinter").write_text("\n".join(lines) + "\n")
    return tmp


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), ".importlinter", "--no-cache"],
                          cwd=tree, capture_output=True, text=True, timeout=120)


def test_contracts_are_kept_when_sync_uses_only_the_store(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path, {
        "sync.agent.service": "from edge.store import db\n",
        "sync.gateway.service": "import sync.messages\n",
        "sync.messages": "",
    })
    res = _lint(tree)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{SYNC_CONTRACT} KEPT" in res.stdout and f"{GATEWAY_CONTRACT} KEPT" in res.stdout


def test_sync_contract_breaks_on_any_other_edge_module(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path, {"sync.agent.service": "from edge import receipt\n"})
    res = _lint(tree)
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"{SYNC_CONTRACT} BROKEN" in res.stdout and f"{GATEWAY_CONTRACT} KEPT" in res.stdout
    assert "sync.agent.service -> edge.receipt" in res.stdout


def test_gateway_contract_breaks_on_edge_store_even_indirectly(tmp_path: Path) -> None:
    tree = _fake_tree(tmp_path, {
        "sync.agent.service": "from edge.store import db\n",
        "sync.gateway.service": "from sync.agent import service\n",
    })
    res = _lint(tree)
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"{SYNC_CONTRACT} KEPT" in res.stdout and f"{GATEWAY_CONTRACT} BROKEN" in res.stdout
    assert "sync.gateway is not allowed to import edge" in res.stdout
