"""The gateway's revoked-devices list: read from the file the central console writes,
re-read when it changes, a malformed rewrite never unrevokes a device."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sync.errors import SyncError
from sync.gateway.revoked import RevokedDevices


def _write(path: Path, pairs: list[tuple[str, str]], mtime_ns: int) -> None:
    path.write_text(json.dumps({"revoked": [{"site": s, "device": d, "revoked_at": "x"}
                                            for s, d in pairs]}))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_changes_are_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "revoked.json"
    revoked = RevokedDevices(path)  # no file yet: nothing revoked
    assert not revoked.is_revoked("s1", "kiosk-01")
    _write(path, [("s1", "kiosk-01")], 1_000_000_000)
    assert revoked.is_revoked("s1", "kiosk-01")
    assert not revoked.is_revoked("s2", "kiosk-01")  # a device id is per site
    _write(path, [], 2_000_000_000)
    assert not revoked.is_revoked("s1", "kiosk-01")


def test_a_malformed_file_keeps_the_last_list(tmp_path: Path) -> None:
    path = tmp_path / "revoked.json"
    _write(path, [("s1", "kiosk-01")], 1_000_000_000)
    revoked = RevokedDevices(path)
    path.write_text('{"revoked": [')
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    assert revoked.is_revoked("s1", "kiosk-01")


def test_a_malformed_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "revoked.json"
    path.write_text("[]")
    with pytest.raises(SyncError, match="malformed"):
        RevokedDevices(path)
