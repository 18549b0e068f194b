"""The edge's applier of remote configurations: live keys applied to the running services,
the others named for a restart, an invalid configuration refused with its reason and the
old one kept, and the overlay read again by load_settings after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.services.container import EdgeServices
from edge.services.remote_config import RemoteConfigApplier
from edge.store import open_store
from smartlib.config import load_settings, overlay_path
from smartlib.errors import ConfigError
from smartlib.remote import document_hash


def receive(services: EdgeServices, version: int, document: str, sha: str | None = None) -> None:
    """What the agent does with a configuration message."""
    assert services.store.remote_config.receive(version, sha or document_hash(document),
                                                document, "boss")


def test_live_keys_apply_at_once_and_the_rest_waits_for_a_restart(
        services: EdgeServices) -> None:
    assert services.circulation.policy.offline_max_items == 2
    receive(services, 1, "[gate]\ndebounce_s = 3.0\n\n[policy]\noffline_max_items = 7\n")
    done = services.remote_config.apply_pending()
    assert done is not None and done.state == "applied"
    assert done.needs_restart == ("gate.debounce_s",)
    # The services read these at each use: the running objects carry the new value.
    assert services.circulation.policy.offline_max_items == 7
    assert services.sessions.policy.offline_max_items == 7
    assert services.settings.gate.debounce_s == 10.0          # only after a restart
    overlay = overlay_path(services.store.path)
    assert overlay.read_text() == "[gate]\ndebounce_s = 3.0\n\n[policy]\noffline_max_items = 7\n"
    assert [a.version for a in services.store.remote_config.acks_to_send()] == [1]
    assert services.remote_config.apply_pending() is None    # nothing else waits
    events = [e.kind for e in services.store.events.recent()]
    assert "config_applied" in events


@pytest.mark.parametrize(("document", "reason"), [
    ("[policy]\noffline_max_items = -1\n", "policy.offline_max_items"),
    ("[broker]\nhost = 'evil'\n", "broker: not remotely configurable"),
    ("[policy]\nsession_idle_s = 'soon'\n", "policy.session_idle_s"),
    ("[policy\n", "not valid TOML"),
])
def test_an_invalid_configuration_is_refused_and_the_old_one_kept(
        services: EdgeServices, document: str, reason: str) -> None:
    receive(services, 1, "[policy]\noffline_max_items = 7\n")
    services.remote_config.apply_pending()
    overlay = overlay_path(services.store.path)
    before = overlay.read_text()

    receive(services, 2, document)
    done = services.remote_config.apply_pending()
    assert done is not None and done.state == "failed" and reason in (done.reason or "")
    assert services.circulation.policy.offline_max_items == 7
    assert overlay.read_text() == before
    applied = services.store.remote_config.applied()
    assert applied is not None and applied.version == 1


def test_an_overlay_that_cannot_be_written_refuses_the_change(services: EdgeServices) -> None:
    overlay = overlay_path(services.store.path)
    overlay.mkdir()                                   # a directory where the file should be
    receive(services, 1, "[policy]\noffline_max_items = 9\n")
    done = services.remote_config.apply_pending()
    assert done is not None and done.state == "failed"
    assert "cannot write the overlay" in (done.reason or "")
    assert services.circulation.policy.offline_max_items == 2


def test_a_damaged_document_is_refused(services: EdgeServices) -> None:
    receive(services, 1, "[policy]\noffline_max_items = 9\n", sha="0" * 64)
    done = services.remote_config.apply_pending()
    assert done is not None and done.state == "failed" and "sha256" in (done.reason or "")
    assert services.circulation.policy.offline_max_items == 2


def test_versions_only_move_forward(services: EdgeServices) -> None:
    doc = "[policy]\noffline_max_items = 4\n"
    receive(services, 3, doc)
    repo = services.store.remote_config
    assert not repo.receive(3, document_hash(doc), doc)      # a replayed retained copy
    assert not repo.receive(2, document_hash(doc), doc)      # an older version
    services.remote_config.apply_pending()
    assert repo.acks_to_send()[0].version == 3


def test_the_overlay_survives_a_restart_between_file_and_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_path = tmp_path / "box.db"
    cfg = tmp_path / "smartlib.toml"
    cfg.write_text(f'[store]\npath = "{store_path}"\n\n[policy]\noffline_max_items = 3\n'
                   "session_idle_s = 80\n")
    settings = load_settings(cfg)
    store = open_store(store_path)
    try:
        applier = RemoteConfigApplier(store, settings, device_id="kiosk-01")
        doc = "[policy]\noffline_max_items = 6\n"
        store.remote_config.receive(1, document_hash(doc), doc)
        assert applier.apply_pending().state == "applied"  # type: ignore[union-attr]
    finally:
        store.close()
    again = load_settings(cfg)                                 # the box restarts
    assert (again.policy.offline_max_items, again.policy.session_idle_s) == (6, 80)
    assert load_settings(cfg, remote=False).policy.offline_max_items == 3
    monkeypatch.setenv("SMARTLIB_POLICY__OFFLINE_MAX_ITEMS", "11")
    assert load_settings(cfg).policy.offline_max_items == 11  # the environment wins
    overlay_path(store_path).write_text("[policy\n")
    with pytest.raises(ConfigError, match="remote overlay"):
        load_settings(cfg)
