"""A private Mosquitto broker on a free loopback port, with its own config and ACL, and
optionally a TLS listener (:class:`TlsListener`: the server certificate, client certificates
required, the common name as user name, a revocation list)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import free_port, require_binary, start, stop_process, wait_port


def _give_to_broker_user(workdir: Path) -> None:
    # Started as root, mosquitto drops to the 'mosquitto' user, which must read its files.
    if os.geteuid() != 0:
        return
    try:
        pw = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for p in [workdir, *workdir.iterdir()]:
        os.chown(p, pw.pw_uid, pw.pw_gid)


@dataclass(frozen=True)
class TlsListener:
    """TLS on the broker's listener. The files are copied into the broker's work directory
    (Mosquitto, dropped to its own user, cannot read pytest's); :meth:`MosquittoBroker.start`
    copies them again, so a new CRL takes effect at a restart, as in production."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    crl_file: Path | None = None
    require_certificate: bool = True
    """Client certificates required, their common name used as the user name."""


@dataclass
class MosquittoBroker:
    """One private broker. ``users`` maps user name to password; ``acl`` is acl_file text."""

    users: dict[str, str] | None = None
    acl: str | None = None
    port: int = 0
    host: str = "127.0.0.1"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="smartlib-mqtt-")))
    proc: subprocess.Popen | None = None
    extra_config: str = ""
    tls: TlsListener | None = None

    def _tls_lines(self, tls: TlsListener) -> list[str]:
        names = {"ca_file": "tls-ca.crt", "cert_file": "tls-server.crt",
                 "key_file": "tls-server.key", "crl_file": "tls-crl.pem"}
        copied: dict[str, Path] = {}
        for attr, name in names.items():
            src = getattr(tls, attr)
            if src is not None:
                copied[attr] = self.workdir / name
                shutil.copyfile(src, copied[attr])
        copied["key_file"].chmod(0o600)
        lines = [f"cafile {copied['ca_file']}", f"certfile {copied['cert_file']}",
                 f"keyfile {copied['key_file']}", "tls_version tlsv1.2"]
        if tls.require_certificate:
            lines += ["require_certificate true", "use_identity_as_username true"]
        if "crl_file" in copied:
            lines.append(f"crlfile {copied['crl_file']}")
        return lines

    def write_config(self) -> Path:
        if not self.port:
            self.port = free_port()
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.tls is not None:
            lines += [*self._tls_lines(self.tls), "log_type notice"]
        if self.users is not None:
            pwfile = self.workdir / "passwd"
            pwfile.write_text("")
            pwfile.chmod(0o600)
            passwd = require_binary("mosquitto_passwd", "mosquitto")
            for user, pw in self.users.items():
                subprocess.run([passwd, "-b", str(pwfile), user, pw], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            aclfile = self.workdir / "acl"
            aclfile.write_text(self.acl)
            aclfile.chmod(0o600)
            lines.append(f"acl_file {aclfile}")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n" + self.extra_config)
        _give_to_broker_user(self.workdir)
        return conf

    @property
    def log_path(self) -> Path:
        """The broker's own log (errors and warnings), appended across restarts."""
        return self.workdir / "mosquitto.log"

    def start(self) -> MosquittoBroker:
        """Start (or restart on the same port and persistence directory)."""
        binary = require_binary("mosquitto", "mosquitto")
        conf = self.write_config()
        with self.log_path.open("ab") as log:
            self.proc = start([binary, "-c", str(conf)], stdout=log)
        wait_port(self.host, self.port, proc=self.proc)
        return self

    def log_text(self) -> str:
        """What the broker logged so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
