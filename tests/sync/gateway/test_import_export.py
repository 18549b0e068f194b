"""``smartlib gateway import`` reads the files ``smartlib sim ils export`` writes, as they are."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
from pathlib import Path

import pytest

from sync.gateway.cachefeed import gate_rows, read_csv
from tests.sync.gateway.harness import REPO, SMARTLIB


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    proc = subprocess.run([SMARTLIB, "sim", "ils", "export", "--out", str(out)],
                          capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["rows"]["items"] > 0
    return out


def _raw(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_export_file_is_read_with_unknown_columns_noted(
        export: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sync.gateway.cachefeed")
    for kind in ("items", "patrons", "loans", "holds"):
        rows = list(read_csv(export / f"{kind}.csv", kind))
        raw = _raw(export / f"{kind}.csv")
        assert len(rows) == len([r for r in raw if r.get("state", "queued") in ("queued", "shelf")])
    notes = " ".join(r.getMessage() for r in caplog.records)
    assert "author" in notes and "renewals" in notes
    assert "owner_isil" not in notes  # kept: offline transit hints need it (issue 21 §4)
    items = {r.item_id: r for r in read_csv(export / "items.csv", "items")}
    assert items["30000031"].owner_isil == "VN-HCM0002"
    assert items["30000100"].owner_isil == "VN-HN0001"


def test_export_columns_map_to_the_cache(export: Path) -> None:
    raw = _raw(export / "patrons.csv")[0]
    patron = next(read_csv(export / "patrons.csv", "patrons"))
    assert patron.display_name == raw["name"] and patron.display_name
    assert patron.expires_on == raw["expires"][:10]
    assert patron.blocked is (raw["blocked"] == "1")
    holds = list(read_csv(export / "holds.csv", "holds"))
    raw_holds = _raw(export / "holds.csv")
    assert [h.ready for h in holds] == [r["state"] == "shelf" for r in raw_holds]
    by_item: dict[str, list[int]] = {}
    for h in holds:
        by_item.setdefault(h.item_id, []).append(h.position)
    assert all(p == list(range(1, len(p) + 1)) for p in by_item.values())


def test_gates_get_loans_without_patrons(export: Path) -> None:
    loans = list(read_csv(export / "loans.csv", "loans"))
    assert loans and all(r.patron_id for r in loans)
    assert all(r.patron_id is None for r in gate_rows("loans", loans))
    assert gate_rows("patrons", read_csv(export / "patrons.csv", "patrons")) == []
