"""``central.toml``: the sample in docs/central.md loads, and bad keys are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from central.config import load_central_settings
from central.errors import CentralConfigError

REPO = Path(__file__).resolve().parents[2]


def test_the_documented_sample_loads(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "central.md").read_text(encoding="utf-8")
    sample = re.findall(r"```toml\n(.*?)```", doc, re.S)[0]  # "Running it"; later ones: sections
    path = tmp_path / "central.toml"
    path.write_text(sample, encoding="utf-8")
    s = load_central_settings(path)
    assert (s.central.port, s.central.lockout_failures, s.broker.username) == (8090, 5, "central")
    assert load_central_settings(None).central.database == "sqlite:///var/central.db"


def test_bad_keys_and_sites_are_named(tmp_path: Path) -> None:
    path = tmp_path / "central.toml"
    path.write_text('[central]\nport = 0\n[broker]\nport = "x"\n')
    with pytest.raises(CentralConfigError) as exc:
        load_central_settings(path)
    assert {k for k, _ in exc.value.problems} == {"central.port", "broker.port"}
    path.write_text('[central]\nsites = ["Bad Site"]\n')
    with pytest.raises(CentralConfigError, match="central.sites"):
        load_central_settings(path)
    with pytest.raises(CentralConfigError, match="cannot read"):
        load_central_settings(tmp_path / "missing.toml")
