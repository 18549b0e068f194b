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

    ``serve`` holds the serve lock (:class:`edge.store.db.ServeLock`) from its start, idle or
    not; each process also binds its doorbell while it runs, so a bell we cannot bind is in
    use too (the agent's is bound at its start).
    """
    import socket

    from edge.store.db import serve_lock_holder
    from edge.store.doorbell import bell_address

    busy = []
    if serve_lock_holder(path) is not None:
        busy.append("edge")
    for name in ("edge", "agent"):
        if name in busy:
            continue
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(bell_address(path, name))
        except OSError:
            busy.append(name)
        finally:
            s.close()
    return busy


_HOLDERS = {"edge": "smartlib serve", "agent": "smartlib sync"}


@db.command()
@_config
@_db
@click.argument("src", type=click.Path(dir_okay=False, exists=True))
def restore(config: str | None, db: str | None, src: str) -> None:
    """Replace the store with SRC (refused while ``smartlib serve`` or ``smartlib sync`` runs).

    SRC is checked read-only (integrity check, schema version) and never written to. The
    copy goes through SQLite's backup API under the target's own locks, so the WAL of the
    old store is folded in or discarded consistently instead of being deleted by hand; the
    serve lock is held meanwhile, so ``serve`` cannot start in the middle.
    """
    import sqlite3

    from edge.store import StoreBusy, StoreError
    from edge.store.db import ServeLock, backup_uri, check_backup

    path = _path(config, db)
    if Path(src).resolve() == path.resolve():
        raise click.ClickException(f"{src} is the store itself")
    busy = processes_using(path)
    if busy:
        names = " and ".join(_HOLDERS[b] for b in busy)
        verb = "have" if len(busy) > 1 else "has"
        raise click.ClickException(f"{names} {verb} this store open; stop it first")
    try:
        version = check_backup(src)
    except StoreError as exc:
        raise click.ClickException(f"{src} is not a usable store: {exc}") from exc
    try:
        lock = ServeLock(path).acquire()
    except StoreBusy as exc:
        raise click.ClickException(f"smartlib serve has this store open; stop it first ({exc})") \
            from exc
    try:
        source = sqlite3.connect(backup_uri(src), uri=True)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise click.ClickException(f"restore of {path} from {src} failed: {exc}") from exc
        finally:
            target.close()
            source.close()
    finally:
        lock.release()
    click.echo(f"restored {path} from {src} (schema version {version}; older versions are "
               "migrated when the store is next opened)")


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
