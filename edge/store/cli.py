"""``smartlib db``: backup, restore, rebuild-cache, stats of the edge store."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _path(config: str | None, db: str | None) -> Path:
    if db:
        return Path(db)
    from smartlib.config import load_settings

    return Path(load_settings(config).store.path)


_config = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                       help="the site configuration (for store.path)")
_db = click.option("--db", "db", type=click.Path(dir_okay=False), default=None,
                   help="the database file (instead of --config)")


@click.group()
def db() -> None:
    """Maintain the edge's SQLite store."""


@db.command()
@_config
@_db
@click.argument("dest", type=click.Path(dir_okay=False))
def backup(config: str | None, db: str | None, dest: str) -> None:
    """Write an online, consistent copy of the store to DEST."""
    from edge.store import open_store

    with open_store(_path(config, db)) as store:
        store.backup(dest)
    click.echo(f"backed up to {dest}")


def processes_using(path: Path) -> list[str]:
    """Which of ``smartlib serve`` ("edge") and ``smartlib sync`` ("agent") hold this store.

    Each binds its doorbell while it runs, so a bell we cannot bind is in use.
    """
    import socket

    from edge.store.doorbell import bell_address

    busy = []
    for name in ("edge", "agent"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(bell_address(path, name))
        except OSError:
            busy.append(name)
        finally:
            s.close()
    return busy



@db.command()
@_config
@_db
@click.argument("src", type=click.Path(dir_okay=False, exists=True))
def restore(config: str | None, db: str | None, src: str) -> None:
    """Replace the store with SRC (refused while ``smartlib serve`` or ``smartlib sync`` runs).

    The copy goes through SQLite's backup API under the target's own locks, so the WAL of
    the old store is folded in or discarded consistently instead of being deleted by hand.
    """
    import sqlite3

    from edge.store import StoreError, open_store

    path = _path(config, db)
    busy = processes_using(path)
    if busy:
        names = " and ".join({"edge": "smartlib serve", "agent": "smartlib sync"}[b] for b in busy)
        raise click.ClickException(f"{names} has this store open; stop it first")
    try:
        with open_store(src) as check:
            check.table_counts()
    except StoreError as exc:
        raise click.ClickException(f"{src} is not a usable store: {exc}") from exc
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
        target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise click.ClickException(f"restore of {path} from {src} failed: {exc}") from exc
    finally:
        target.close()
        source.close()
    click.echo(f"restored {path} from {src}")


@db.command("rebuild-cache")
@_config
@_db
def rebuild_cache(config: str | None, db: str | None) -> None:
    """Empty the cache so the agent loads the central snapshot again."""
    from edge.store import open_store, utcnow

    with open_store(_path(config, db)) as store:
        store.cache.clear()
        store.meta.set("cache.rebuild_requested_at", utcnow())
        store.ring("agent")
    click.echo("cache cleared; the sync agent requests a new snapshot "
               "(meta cache.rebuild_requested_at)")


@db.command()
@_config
@_db
def stats(config: str | None, db: str | None) -> None:
    """Print row counts, journal backlog and schema version as JSON."""
    from edge.store import open_store

    with open_store(_path(config, db)) as store:
        b = store.outbox.backlog()
        click.echo(json.dumps({"path": str(store.path), "schema_version": store.schema_version,
                               "tables": store.table_counts(), "outbox": b.by_state,
                               "oldest_open_at": b.oldest_open_at,
                               "security_tasks_open": len(store.security.open())}))
