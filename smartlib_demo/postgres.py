"""A private PostgreSQL server: ``initdb`` in a temp directory, started on a free port.

Used by ``smartlib soak`` (its two gateways' ledger), the ledger tests' fixtures
(``tests/support/postgres.py`` re-exports it) and the benches that need a PostgreSQL ledger.

Must not do: touch the machine's own server; what it starts it stops.
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


class PostgresUnavailable(RuntimeError):
    """No private PostgreSQL could be started (not installed, or initdb/pg_ctl failed)."""


def pg_bin(name: str) -> str | None:
    """The newest installed PostgreSQL binary ``name`` (Debian keeps them per version)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    # postgres refuses to run as root: drop to the 'postgres' user.
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@contextmanager
def private_postgres(max_connections: int = 50) -> Iterator[str]:
    """Start a throw-away server and yield its admin DSN; stop and delete it afterwards.

    Raises:
        PostgresUnavailable: initdb or pg_ctl is missing, or the server did not start.
    """
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable("initdb/pg_ctl not found: install Debian's 'postgresql'")
    root = Path(tempfile.mkdtemp(prefix="smartlib-pg-"))
    data, port = root / "data", free_ports(1)[0]
    try:
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                                     "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True, timeout=120)
        # pg_ctl daemonizes the server: it is not a child of this process.
        subprocess.run(_as_postgres([
            pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections={max_connections}", "start"]),
            check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, KeyError) as exc:
        out = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"could not start a private PostgreSQL ({exc}): "
                                  f"{out.decode(errors='replace')[-1000:]}") from exc
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
