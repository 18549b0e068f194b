"""``smartlib enroll`` takes its one-time code without putting it on the command line: from
stdin (``--code -``), a file (``--code-file``), ``SMARTLIB_ENROL_CODE`` or a hidden prompt on
a terminal; ``--code CODE`` still works. The real command runs against a stub console that
records the code it receives (and refuses it, so nothing is written)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CODE = "ABCD-EFGH-IJKL-MNOP"


class _Console(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append(body["code"])
        answer = json.dumps({"reason": "code_unknown", "detail": "stub"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def console() -> Iterator[tuple[str, list[str]]]:
    received: list[str] = []
    handler = type("Console", (_Console,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _enroll(url: str, out: Path, *args: str, stdin: object = None, input_text: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SMARTLIB_ENROL_CODE"}
    full_env.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run([sys.executable, "-m", "smartlib.cli", "enroll", "--central", url,
                           "--out", str(out), *args], input=input_text, stdin=stdin,
                          capture_output=True, text=True, env=full_env, timeout=60, check=False)


def test_the_code_from_stdin_a_file_or_the_environment(
        console: tuple[str, list[str]], tmp_path: Path) -> None:
    url, received = console
    piped = _enroll(url, tmp_path / "a", "--code", "-", input_text=CODE + "\n")
    assert "code_unknown" in piped.stderr, piped.stderr
    code_file = tmp_path / "code.txt"
    code_file.write_text(CODE + "\n")
    code_file.chmod(0o600)
    from_file = _enroll(url, tmp_path / "b", "--code-file", str(code_file))
    assert "code_unknown" in from_file.stderr, from_file.stderr
    from_env = _enroll(url, tmp_path / "c", env={"SMARTLIB_ENROL_CODE": CODE},
                       stdin=subprocess.DEVNULL)
    assert "code_unknown" in from_env.stderr, from_env.stderr
    visible = _enroll(url, tmp_path / "d", "--code", CODE)  # still works, visibly
    assert "code_unknown" in visible.stderr, visible.stderr
    assert received == [CODE] * 4


def _controlling_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is its stdin (the pty),
    as on a console login (getpass reads /dev/tty)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_a_terminal_is_prompted_without_echo(console: tuple[str, list[str]],
                                             tmp_path: Path) -> None:
    url, received = console
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartlib.cli", "enroll", "--central", url, "--out",
             str(tmp_path / "box")], stdin=slave, stdout=slave, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
            preexec_fn=_controlling_terminal)
        seen = b""
        while b"enrolment code" not in seen:
            chunk = os.read(master, 1024)
            assert chunk, "no prompt"
            seen += chunk
        os.write(master, (CODE + "\n").encode())
        _, err = proc.communicate(timeout=60)
        os.close(slave)
        slave = -1
        rest = b""
        while True:
            try:
                chunk = os.read(master, 1024)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            rest += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert "code_unknown" in err, err
    assert received == [CODE]
    assert CODE.encode() not in seen + rest  # not echoed


def test_no_code_and_no_terminal_is_a_usage_error(console: tuple[str, list[str]],
                                                   tmp_path: Path) -> None:
    url, received = console
    done = _enroll(url, tmp_path / "a", stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "no code" in done.stderr
    both = _enroll(url, tmp_path / "b", "--code", CODE, "--code-file", "x")
    assert both.returncode == 2 and "not both" in both.stderr
    assert received == []
