"""A private PostgreSQL server: ``initdb`` in a temp dir, started on a free port.

Used by ``smartlib soak`` (its two gateways' ledger), the tests' fixtures
(``tests/support/postgres.py`` re-exports it) and the benches that need a PostgreSQL ledger.
It needs only the server's programs (Debian: the ``postgresql`` package, which
``scripts/setup.sh`` installs as root); no cluster of the machine has to run. Run as root,
the server runs as the ``postgres`` user (PostgreSQL refuses root).

Must not do: use or touch the machine's own server (5432); what it starts it stops.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smartlib_demo.processes import free_ports

INSTALL_HINT = ("install PostgreSQL's server (Debian: run `make test` as root, which runs "
                "scripts/setup.sh, or `apt-get install postgresql`), or set $SMARTLIB_TEST_PG "
                "to an admin DSN")


class PostgresUnavailable(RuntimeError):
    """No private PostgreSQL could be started: the message says what was missing or failed."""


def pg_bin(name: str) -> str | None:
    """The newest ``/usr/lib/postgresql/*/bin/NAME`` (Debian keeps them off PATH), else PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return found[-1] if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    """Run ``args`` as the ``postgres`` user when we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


class PrivatePostgres:
    """``start()`` makes a cluster in a temp dir and starts it on 127.0.0.1; ``stop()`` removes it."""

    def __init__(self, max_connections: int = 50) -> None:
        self.max_connections = max_connections
        self.root: Path | None = None
        self.port: int | None = None
        self._pg_ctl: str | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PrivatePostgres:
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise PostgresUnavailable(f"PostgreSQL's initdb/pg_ctl are not installed: {INSTALL_HINT}")
        self._pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="smartlib-pg-"))
        self.port = free_ports(1)[0]
        data = self.root / "data"
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(f"running as root but there is no `postgres` user to "
                                          f"run the server as: {INSTALL_HINT}") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        try:
            # --no-locale: the C locale exists everywhere (a fresh root may have no other).
            subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                                         "--no-sync", "-E", "UTF8", "--no-locale"]),
                           check=True, capture_output=True, timeout=120)
            # pg_ctl daemonizes the server: it is not a child of this process. Its Unix socket
            # goes in our directory, never in /run/postgresql.
            subprocess.run(_as_postgres([
                pg_ctl, "-D", str(data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o",
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections={self.max_connections}", "start"]),
                check=True, capture_output=True, timeout=90)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            out = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")
            log = self.root / "log"
            if log.exists():
                out += "\n" + log.read_text(errors="replace")
            self.stop()
            raise PostgresUnavailable(f"could not start a private PostgreSQL ({exc}): "
                                      f"{out[-1000:]}") from exc
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        if self._pg_ctl is not None and (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(_as_postgres([self._pg_ctl, "-D", str(self.root / "data"),
                                         "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


@contextmanager
def private_postgres(max_connections: int = 50) -> Iterator[str]:
    """A :class:`PrivatePostgres` for a ``with`` block: yields its admin DSN, then stops it."""
    server = PrivatePostgres(max_connections).start()
    try:
        yield server.admin_url
    finally:
        server.stop()
