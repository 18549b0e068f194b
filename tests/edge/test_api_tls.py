"""The edge API off loopback: ``smartlib serve`` with ``[api] tls_cert``/``tls_key`` (a server
certificate from the site CA) serves HTTPS; a client trusting the site CA reaches the staff
page, one trusting another CA is refused. Plain HTTP on an address that is not loopback is
refused by the configuration (unless ``allow_plain_http``); loopback is the default."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from smartlib.config import Settings, load_settings
from smartlib.errors import ConfigError
from sync import pki
from tests.support.procs import free_port, stop_process, wait_port

REPO = Path(__file__).resolve().parents[2]
SMARTLIB = str(REPO / ".venv" / "bin" / "smartlib")


def _config(tmp_path: Path, api: str) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(f"""
[device]
id = "kiosk-01"
[reader]
enabled = false
[card_reader]
enabled = false
[store]
path = "{tmp_path / 'edge.db'}"
[api]
device_token = "tls-test-device-token"
staff_token = "tls-test-staff-token"
{api}
""", encoding="utf-8")
    return path


def test_loopback_is_the_default_and_plain_http_elsewhere_is_refused(tmp_path: Path) -> None:
    assert Settings().api.host == "127.0.0.1"
    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path, 'host = "0.0.0.0"'))
    assert "not loopback" in str(err.value.problems) and "tls_cert" in str(err.value.problems)
    assert load_settings(_config(tmp_path, 'host = "0.0.0.0"\nallow_plain_http = true')).api.host
    with pytest.raises(ConfigError, match="1 problem"):
        load_settings(_config(tmp_path, f'tls_cert = "{tmp_path / "x.crt"}"'))  # no key
    res = subprocess.run([SMARTLIB, "serve", "--config", str(_config(tmp_path, "")),
                          "--host", "192.0.2.10"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "not loopback" in res.stderr, res.stderr


def test_serve_over_https_with_the_site_ca(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path / "ca", "s1")
    srv = pki.issue_server(ca, ["127.0.0.1"], tmp_path / "certs")
    port = free_port()
    cfg = _config(tmp_path, f'host = "127.0.0.1"\nport = {port}\n'
                            f'tls_cert = "{srv.cert_path}"\ntls_key = "{srv.key_path}"')
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen([SMARTLIB, "serve", "--config", str(cfg)], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_port("127.0.0.1", port, timeout=60, proc=proc)
        trusted = ssl.create_default_context(cafile=str(ca.cert_path))
        with httpx.Client(verify=trusted, timeout=10) as client:
            res = client.get(f"https://127.0.0.1:{port}/staff")
        assert res.status_code == 200 and "<html" in res.text.lower()
        other = pki.init_ca(tmp_path / "other", "elsewhere")
        with (httpx.Client(verify=ssl.create_default_context(cafile=str(other.cert_path)),
                           timeout=10) as client,
              pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED")):
            client.get(f"https://127.0.0.1:{port}/staff")
        with httpx.Client(timeout=10) as client, pytest.raises(httpx.RemoteProtocolError):
            client.get(f"http://127.0.0.1:{port}/staff")  # no plain HTTP on the HTTPS port
    finally:
        stop_process(proc, timeout=10)


def test_serve_on_a_taken_port_says_so_and_ends(tmp_path: Path) -> None:
    # The port is bound before the devices and the store start: the command ended only
    # after starting and stopping them (over 90 s once), and said nothing clear.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cfg = _config(tmp_path, f'port = {port}')
        res = subprocess.run([SMARTLIB, "serve", "--config", str(cfg)], capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 1, res.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr and "api_port_unavailable" \
        in res.stderr, res.stderr
    assert not (tmp_path / "edge.db").exists()  # nothing was started
