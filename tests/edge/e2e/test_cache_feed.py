"""Feeding an edge cache from the demo ILS: ``smartlib sim ils export`` →
``smartlib gateway import`` → the agent → the edge store.

The import accepts the export as it is (unknown columns are ignored with a logged note,
``name`` is the display name, ``--holds`` sends the holds). The e2e world still bulk-loads
the export with ``CacheRepository`` (see ``conftest.load_cache_from_export``)."""

from __future__ import annotations

import subprocess

from tests.edge.e2e.conftest import REPO, SMARTLIB, World


def test_gateway_import_accepts_the_demo_ils_export(world: World) -> None:
    e = world.export
    proc = subprocess.run(
        [SMARTLIB, "gateway", "import", "--config", str(world.tmp / "gateway.toml"),
         "--site", "e2e", "--items", str(e / "items.csv"), "--patrons", str(e / "patrons.csv"),
         "--loans", str(e / "loans.csv"), "--holds", str(e / "holds.csv")],
        capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
