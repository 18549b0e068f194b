"""``smartlib sim ils``: run the demo ILS on its own, export its data, read its statistics."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

import click

from hardware_sim.ils.data import connect, open_demo_db
from smartlib.shutdown import stop_on_signals
from sync.sip2.profiles import PROFILES


@click.group(name="ils")
def ils() -> None:
    """The demo ILS: a SIP2 server over its own SQLite database."""


@ils.command()
@click.option("--port", type=int, default=6001, show_default=True, help="TCP port (0 = any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite file (created with demo data if missing; default: a temporary file).")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="generic",
              show_default=True, help="Emulate this ILS profile's charset and terminator.")
@click.option("--idle-timeout", type=float, default=None, help="Drop connections idle this long (s).")
@click.option("--latency", type=float, default=0.0, help="Seconds to wait before each answer.")
@click.option("--seed", type=int, default=7, show_default=True, help="Demo data seed.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Serve SIP2 over TLS with this PEM certificate (chain).")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The PEM private key of --tls-cert (if not inside it).")
@click.option("--tls-client-ca", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Require a client certificate issued by this CA (PEM); needs --tls-cert.")
@click.option("--cpu", type=click.IntRange(min=0), default=None,
              help="Run on this CPU only (its number; see below).")
def serve(port: int, host: str, db_path: str | None, profile: str, idle_timeout: float | None,
          latency: float, seed: int, tls_cert: str | None, tls_key: str | None,
          tls_client_ca: str | None, cpu: int | None) -> None:
    """Serve SIP2 until SIGINT/SIGTERM; print one JSON line with login, patrons and items.

    A port that is in use (or any other listen failure) is a one-line error, exit 1.

    ``--cpu``: the server's threads (one per connection) share one interpreter lock, so
    it never runs more than one core's worth of Python. Spread over several cores, its
    busy connections' threads hand that lock from core to core at every request (a
    wake-up on another core each time), which on a fast machine costs more than the work
    itself; on one CPU they take turns without it. A real ILS serves its connections in
    processes of their own, so ``bench/sync.py`` runs the demo ILS with ``--cpu``.
    """
    import os

    from hardware_sim.errors import IlsError
    from hardware_sim.ils.server import DemoIlsServer, server_tls_context

    if (tls_key is not None or tls_client_ca is not None) and tls_cert is None:
        raise click.UsageError("--tls-key and --tls-client-ca need --tls-cert")
    if cpu is not None:
        try:  # before any thread starts: the server's threads inherit it
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:
            raise click.UsageError(f"--cpu {cpu}: {exc.strerror or exc}") from exc
    try:
        tls = (server_tls_context(tls_cert, tls_key, client_ca=tls_client_ca)
               if tls_cert is not None else None)
    except IlsError as exc:
        raise click.ClickException(str(exc)) from exc

    tmp: tempfile.TemporaryDirectory[str] | None = None
    if db_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="demo-ils-")
        db_path = str(Path(tmp.name) / "ils.sqlite")
    server: DemoIlsServer | None = None
    try:
        server = DemoIlsServer(db_path, host=host, port=port, profile=profile,
                               idle_timeout=idle_timeout, latency=latency, seed=seed, tls=tls)
        server.start()
    except IlsError as exc:
        if server is not None:
            server.stop()
        if tmp is not None:
            tmp.cleanup()
        raise click.ClickException(str(exc)) from exc
    with stop_on_signals() as stop:
        try:
            info = server.login_info()
            info["db"] = str(db_path)
            click.echo(json.dumps(info, ensure_ascii=False))
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
        if tmp is not None:
            tmp.cleanup()


# a hold that still counts: queued or on the shelf and not expired (local time, as stored)
_ACTIVE = ("h.state IN ('queued','shelf')"
           " AND h.expires_at >= strftime('%Y-%m-%dT%H:%M:%S', 'now', 'localtime')")

_EXPORTS = {
    "items": ("SELECT i.id AS item_id, i.title, i.author, i.owner_isil, i.location, i.media_type,"
              " i.parts, i.status, i.call_number, l.patron_id AS loaned_to, l.due_at AS due_date,"
              f" (SELECT COUNT(*) FROM holds h WHERE h.item_id=i.id AND {_ACTIVE})"
              " AS hold_count FROM items i LEFT JOIN loans l ON l.item_id=i.id ORDER BY i.id"),
    "patrons": ("SELECT id AS patron_id, name, blocked, block_reason, fines, loan_limit, expires,"
                " home_location, pin_hash FROM patrons ORDER BY id"),
    "loans": ("SELECT item_id, patron_id, loaned_at, due_at AS due_date, renewals FROM loans"
              " ORDER BY item_id"),
    "holds": ("SELECT h.id AS hold_id, h.item_id, h.patron_id, h.placed_at, h.pickup_location,"
              f" h.expires_at, h.state FROM holds h WHERE {_ACTIVE} ORDER BY h.id"),
}


@ils.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for items.csv, patrons.csv, loans.csv and holds.csv.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite file (created with demo data if missing; default: fresh demo data).")
@click.option("--pin-hash/--no-pin-hash", default=True, show_default=True,
              help="Include the patrons' salted scrypt PIN hashes (for offline PIN login).")
@click.option("--seed", type=int, default=7, show_default=True, help="Demo data seed.")
def export(out_dir: str, db_path: str | None, pin_hash: bool, seed: int) -> None:
    """Write the demo data as CSV for the edge cache's bulk load; print a JSON summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="demo-ils-") as tmp:
        path = db_path or str(Path(tmp) / "ils.sqlite")
        db = open_demo_db(path, seed=seed)
        counts: dict[str, int] = {}
        try:
            for name, sql in _EXPORTS.items():
                cur = db.execute(sql)
                cols = [d[0] for d in cur.description]
                if name == "patrons" and not pin_hash:
                    cols = cols[:-1]
                with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(cols)
                    n = 0
                    for row in cur:
                        w.writerow(list(row)[:len(cols)])
                        n += 1
                counts[name] = n
        finally:
            db.close()
    click.echo(json.dumps({"out": str(out), "rows": counts}))


@ils.command()
@click.option("--db", "db_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The demo ILS's SQLite file.")
def stats(db_path: str) -> None:
    """Print record, application and duplicate counts as one JSON object."""
    from hardware_sim.ils.circulation import Circulation

    db = connect(db_path)
    try:
        click.echo(json.dumps(Circulation(db).stats()))
    finally:
        db.close()
