"""The cache feed: chunked snapshots from CSV files, published to a site's edges.

``smartlib gateway import --items CSV --patrons CSV`` reads the files, validates every row
into the shared cache models, and publishes ``CacheSnapshotChunk`` messages at QoS 1 on
``smartlib/v1/{site}/cache/snapshot``; it returns once the broker acknowledged every
chunk. The chunks are also stored in the ledger database, and a gateway answers an
edge's snapshot request (late join, ``smartlib db rebuild-cache``) with them. Deltas
after applied transactions are sent by the gateway service.

CSV columns (a header line is required; only the id columns are mandatory):

* items: ``item_id, title, usage, value, parts, location, owner_isil``
* patrons: ``patron_id, display_name, blocked, block_reason, loan_limit, pin_hash, expires_on,
  card_uid``
* loans: ``item_id, patron_id, due_date, loaned_at``
* holds: ``item_id, patron_id, ready, pickup_location, position``

The files ``smartlib sim ils export`` (and ILS reports like it) write are accepted as they
are: ``name`` is read as ``display_name``, ``expires`` as ``expires_on`` (its date), a
hold's ``state`` (``shelf``/``queued``) as ``ready``, a missing hold ``position`` is the
hold's rank on its item in file order, and holds in other states are skipped. Other
columns are ignored, with one logged note per file naming them.

Gates get their own feed (``cache/gate/snapshot`` and ``cache/gate/delta``): items, and
loans without patron ids; no patrons, no holds (:func:`gate_chunks`, :func:`gate_delta`).
"""

from __future__ import annotations

import csv
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from sync import topics
from sync.errors import GatewayError, ImportDataError
from sync.messages import (
    CacheDelta,
    CacheHold,
    CacheItem,
    CacheKind,
    CacheLoan,
    CachePatron,
    CacheSnapshotChunk,
    encode,
)
from sync.mqtt import connect_properties, make_client

log = logging.getLogger(__name__)

MODELS: dict[str, type[CacheItem] | type[CachePatron] | type[CacheLoan] | type[CacheHold]] = {
    "items": CacheItem, "patrons": CachePatron, "loans": CacheLoan, "holds": CacheHold}
_BOOLS = {"blocked", "offline", "ready"}
_ALIASES = {"patrons": {"name": "display_name", "expires": "expires_on"}}
GATE_KINDS: tuple[CacheKind, ...] = ("items", "loans")
"""What gates receive of the cache (loans without their patron)."""


def read_csv(path: Path, kind: str) -> Iterator[Any]:
    """Yield validated cache rows of ``kind`` from a CSV file.

    Raises:
        ImportDataError: the file is unreadable or a line is invalid (the line is named).
    """
    model = MODELS[kind]
    known = set(model.model_fields) - {"v"}
    aliases = _ALIASES.get(kind, {})
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ImportDataError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        names = {h: aliases.get(h, h) for h in header}
        if kind == "holds" and "state" in header:
            names["state"] = "state"
        ignored = sorted(h for h, n in names.items() if n not in known and n != "state")
        if ignored:
            log.info("%s: columns %s are not part of the %s cache; ignored", path.name,
                     ", ".join(ignored), kind)
        ranks: dict[str, int] = {}
        for lineno, raw in enumerate(reader, start=2):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                if k is None or v is None or v == "":
                    continue
                name = names.get(k.strip(), k.strip())
                if name not in known and name != "state":
                    continue
                row[name] = (v.strip().lower() in ("1", "true", "y", "yes")) if name in _BOOLS else v
            if kind == "patrons" and isinstance(row.get("expires_on"), str):
                row["expires_on"] = row["expires_on"][:10]
            if kind == "holds":
                state = row.pop("state", None)
                if state is not None:
                    if state not in ("queued", "shelf"):
                        continue
                    row.setdefault("ready", state == "shelf")
                if "position" not in row and "item_id" in row:
                    ranks[row["item_id"]] = ranks.get(row["item_id"], 0) + 1
                    row["position"] = ranks[row["item_id"]]
            try:
                yield model.model_validate(row)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ImportDataError(
                    f"{path}:{lineno}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def chunks(site: str, kind: CacheKind, rows: Iterable[Any], chunk_size: int) -> list[CacheSnapshotChunk]:
    """Split rows into the chunks of one snapshot."""
    it = iter(rows)
    batches: list[list[Any]] = []
    while batch := list(islice(it, chunk_size)):
        batches.append(batch)
    if not batches:
        batches = [[]]
    sid = str(uuid.uuid4())
    return [CacheSnapshotChunk(snapshot_id=sid, site=site, kind=kind, seq=i, total=len(batches),
                               **{kind: b}) for i, b in enumerate(batches)]


def gate_rows(kind: str, rows: Iterable[Any]) -> list[Any]:
    """The gates' form of cache rows: loans lose their patron; patrons and holds are dropped."""
    if kind == "items":
        return list(rows)
    if kind == "loans":
        return [r.model_copy(update={"patron_id": None}) for r in rows]
    return []


def gate_chunks(site: str, kind: CacheKind, rows: Iterable[Any],
                chunk_size: int) -> list[CacheSnapshotChunk]:
    """:func:`chunks` of :func:`gate_rows` (``items`` and ``loans`` only)."""
    return chunks(site, kind, gate_rows(kind, rows), chunk_size)


def gate_delta(delta: CacheDelta) -> CacheDelta | None:
    """The gates' form of a delta (no patron data); None when nothing is left for gates."""
    if not (delta.items or delta.loans or delta.deleted_items or delta.returned_items):
        return None
    return CacheDelta(site=delta.site, key=delta.key, items=delta.items,
                      loans=gate_rows("loans", delta.loans), deleted_items=delta.deleted_items,
                      returned_items=delta.returned_items, returned_at=delta.returned_at,
                      at=delta.at)


def publish_chunks(client: mqtt.Client, site: str, parts: list[CacheSnapshotChunk],
                   timeout: float = 120.0, *, gate: bool = False) -> None:
    """Publish chunks at QoS 1 and wait for every PUBACK.

    Raises:
        GatewayError: the broker did not acknowledge in time.
    """
    topic = topics.gate_cache_snapshot(site) if gate else topics.cache_snapshot(site)
    infos = [client.publish(topic, encode(p), qos=1) for p in parts]
    for info in infos:
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise GatewayError(f"the broker did not acknowledge snapshot chunk mid {info.mid}")


def publish_snapshot_files(settings: Any, site: str, *, items: Path | None = None,
                           patrons: Path | None = None, loans: Path | None = None,
                           holds: Path | None = None, chunk_size: int = 5000,
                           store: bool = True) -> dict[str, tuple[int, int]]:
    """Read the CSV files and publish one snapshot per file; returns rows and chunks per kind.

    With ``store`` (default) the chunks are also kept in the ledger database (``[gateway]
    ledger``), replacing the previous import of each kind, for later snapshot requests.
    """

    topics.check_id(site, "site")
    plan: list[tuple[CacheKind, list[CacheSnapshotChunk], int]] = []
    gate_plan: list[tuple[CacheKind, list[CacheSnapshotChunk]]] = []
    for kind, path in (("items", items), ("patrons", patrons), ("loans", loans),
                       ("holds", holds)):
        if path is None:
            continue
        rows = list(read_csv(path, kind))
        plan.append((kind, chunks(site, kind, rows, chunk_size), len(rows)))  # type: ignore[arg-type]
        if kind in GATE_KINDS:
            gate_plan.append((kind, gate_chunks(site, kind, rows, chunk_size)))  # type: ignore[arg-type]
    if store:
        # Kept in the ledger database, so that a gateway can answer a late-joining edge's
        # snapshot request (``…/snapshot/request``) with this import later.
        from sync.gateway.ledger import open_ledger

        ledger = open_ledger(settings.gateway.ledger, "import", settings.gateway.lease_s)
        try:
            for kind, parts, _n in plan:
                ledger.store_snapshot(site, kind, [(p.snapshot_id, p.seq, p.total, encode(p).decode())
                                                   for p in parts])
            for kind, parts in gate_plan:
                ledger.store_snapshot(site, f"gate/{kind}", [
                    (p.snapshot_id, p.seq, p.total, encode(p).decode()) for p in parts])
        finally:
            ledger.close()
    client = make_client(settings.broker, f"smartlib-import-{uuid.uuid4().hex[:8]}")
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            failure.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(settings.broker.host, settings.broker.port,
                       properties=connect_properties(0))
    except OSError as exc:
        raise GatewayError(f"cannot reach the broker {settings.broker.host}:{settings.broker.port}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(30) or failure:
            raise GatewayError(f"the broker refused the import connection: {failure or 'timeout'}")
        out: dict[str, tuple[int, int]] = {}
        for kind, parts, n in plan:
            publish_chunks(client, site, parts)
            out[kind] = (n, len(parts))
            log.info("snapshot of %d %s sent in %d chunk(s) to site %s", n, kind, len(parts), site)
        for _kind, parts in gate_plan:
            publish_chunks(client, site, parts, gate=True)
        return out
    finally:
        client.disconnect()
        client.loop_stop()
