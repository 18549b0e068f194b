"""The security gate: alarms on unissued items, an item-level alarm log, people counting.

A gate box (``smartlib serve --role gate``) runs one :class:`GateService`. Its poll loop,
back to back on the reader:

1. reads the IR beams (``read_inputs``) and counts people in and out
   (:class:`~edge.services.gate_logic.BeamCounter`; ``visitors_in`` / ``visitors_out``
   counters per hour, a ``counter`` event);
2. looks for tags, by the site's ``gate.detection`` mode:

   * ``eas``: the NXP EAS ALARM command (one exchange); only when it answers is an
     inventory run to find which items are in the gate;
   * ``afi``: an inventory of both gate antennas, then each *new* UID's AFI with Get System
     Information, kept for the whole pass; a secured AFI alarms;
   * ``database``: an inventory, each new tag's item id (its ISO 28560 data, read once per
     pass), and an alarm when the cache does not show the item on loan (for tags whose
     security state is unusable);
   * ``afi+database``: the tag decides; the cache explains the alarm (and decides only when
     the AFI is neither the secured nor the released value);

3. decides the pass direction from the antenna zone that saw the tag first (inner first
   = going out), or from the IR beam order; only ``gate.alarm_directions`` alarm (unset:
   exits only, :data:`DEFAULT_ALARM_DIRECTIONS`);
4. debounces per UID (``gate.debounce_s``), switches the light and buzzer on through the
   reader's outputs *first* (``gate.alarm_duration_ms``), then writes the alarm record
   (store ``alarms`` row of kind ``gate`` plus the ``gate_alarm`` counter, one SQLite
   transaction) and publishes an ``alarm`` event.

The gate never fails open: a tag whose security state (or, in ``database`` modes, item
id) cannot be read, because the reader failed on it or it left the field before it was
asked, alarms with reason ``undetermined``: after ``undetermined_after`` failed attempts
while it is still in the field, or when its pass ends undecided. A read failure on one
tag does not stop the decisions on the others in the same poll.

The alarm record (``detail`` JSON, see :func:`alarm_view`) holds the time, gate,
direction, item id, title and owner library from the cache, the tag's security state (as
read: ``eas`` records say ``unknown``, the EAS answer being field-wide, and how the item
was singled out), the reason, and the related transaction and security task. A secured tag
on a fresh loan (a release that failed at the kiosk) has reason ``loaned_alarm_on``: linked
to the ``loaned_alarm_on`` task when this store holds it (kiosk and gate on one box), else
explained from the cached loan's time (separate boxes). It holds no patron data. With the gateway unreachable, ``eas`` and ``afi`` work unchanged;
``database`` decisions use the last cache and the record says so (``cache.offline``).

Must not do: circulation, security writes, or anything with patrons.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from drivers.errors import ReaderError, TagFormatError, TagNotFound
from drivers.reader import InventoryItem, Reader
from drivers.tags import SecurityPolicy, SecurityState, TagData, decode_tag
from edge.services.events import EventBus
from edge.services.gate_decider import DetectionMode, GateDecider, GateDecision
from edge.services.gate_logic import (
    BeamCounter,
    Debouncer,
    Direction,
    direction_from_zones,
    reason_texts,
)
from edge.store import AlarmRecord, Store, StoreError
from smartlib.config import GateSection

if TYPE_CHECKING:
    from edge.services.container import EdgeServices

log = logging.getLogger(__name__)

OutputValue = Literal["on", "off", "flash"] | None

ALARM_KIND = "gate"
COUNTER_IN = "visitors_in"
COUNTER_OUT = "visitors_out"
COUNTER_UNKNOWN = "visitors_unknown"
COUNTER_ALARM = "gate_alarm"
COUNTER_PASS = "gate_tag_pass"
FIRST_READ_BLOCKS = 8
_OPEN_TASK_STATES = ("alarm_on", "pending")
DEFAULT_ALARM_DIRECTIONS: tuple[Direction, ...] = ("out",)
"""What alarms when ``[gate] alarm_directions`` is not set: exits only."""


def alarm_directions_of(gate: GateSection) -> frozenset[str]:
    """The pass directions that alarm: ``gate.alarm_directions`` when the site set it,
    else :data:`DEFAULT_ALARM_DIRECTIONS` (exits only; ``unknown`` only when configured)."""
    if "alarm_directions" not in gate.model_fields_set:
        return frozenset(DEFAULT_ALARM_DIRECTIONS)
    return frozenset(gate.alarm_directions)


def _parse_time(text: str | None) -> datetime | None:
    """An ISO time from the cache as an aware datetime (naive = UTC), or None."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        log.warning("gate: cannot read the cached loan time %r", text)
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AlarmPattern:
    """The reader outputs switched on for an alarm (``None`` leaves an output alone)."""

    green: OutputValue = "off"
    red: OutputValue = "flash"
    buzzer: OutputValue = "flash"
    relay: OutputValue = None


@dataclass
class _Track:
    """One tag's pass through the gate (forgotten ``pass_gap_s`` after it was last seen)."""

    uid: str
    dsfid: int
    first_zones: set[str]
    first_seen: float
    last_seen: float
    zones: set[str] = field(default_factory=set)
    afi: int | None = None
    tag: TagData | None = None
    item_read: bool = False
    decided: bool = False
    alarmed: bool = False
    direction: Direction = "unknown"
    failures: int = 0
    error: str | None = None
    item_error: str | None = None

    @property
    def item_id(self) -> str | None:
        # A blank tag (empty primary item ID, decoded with a warning) is no library item.
        return (self.tag.primary_item_id or None) if self.tag is not None else None


@dataclass
class GateStats:
    """What the loop did (for ``/devices`` and the bench)."""

    polls: int = 0
    failures: int = 0
    alarms: int = 0
    suppressed: int = 0
    passes_in: int = 0
    passes_out: int = 0
    tags_seen: int = 0
    tag_failures: int = 0
    undetermined: int = 0
    decided: int = 0
    passes_closed: int = 0


class GateService:
    """The gate's poll loop, decisions, outputs, alarm records and people counting.

    Args:
        store: the edge store.
        reader: a :class:`drivers.reader.Reader` with the gate antennas (opened by the
            caller or on first use).
        bus: where ``alarm``, ``counter`` and ``device_status`` events go.
        gate: the ``[gate]`` settings section.
        policy: the site's AFI values (``[security]``).
        gate_id: this gate's device id (in every record).
        site_id: the site (in every record).
        beams: the input numbers of the inner and outer IR beams (IN1, IN2).
        pattern: the outputs of an alarm.
        poll_interval_s: pause between two polls (the loop is otherwise back to back).
        beam_every: read the beams every this many polls while nobody is in them (every
            poll during a pass); 2 halves their cost on the alarm path, and a person
            blocks a beam for far longer than two polls.
        pass_gap_s: a tag unseen this long has left; its next sighting is a new pass.
        undetermined_after: failed reads of one tag, while it is in the field, after which
            it alarms as ``undetermined`` without waiting for its pass to end.
        fresh_loan_s: a cached loan younger than this on a still-secured tag is explained
            as a release that failed at the kiosk (default ``gate.fresh_loan_s``).
        clock: monotonic seconds (injected by tests).
        wall_clock: the current UTC time (how old a cached loan is).
    """

    def __init__(self, store: Store, reader: Reader, bus: EventBus, gate: GateSection,
                 policy: SecurityPolicy,
                 *, gate_id: str, site_id: str = "", beams: tuple[int, int] = (1, 2),
                 pattern: AlarmPattern = AlarmPattern(), poll_interval_s: float = 0.002,
                 beam_every: int = 2,
                 pass_gap_s: float = 1.0, undetermined_after: int = 3,
                 fresh_loan_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.reader = reader
        self.bus = bus
        self.mode: DetectionMode = gate.detection
        self.alarm_directions: frozenset[str] = alarm_directions_of(gate)
        self.alarm_duration_s = gate.alarm_duration_ms / 1000
        self.inner, self.outer = gate.inner_antenna, gate.outer_antenna
        self.gate_id = gate_id
        self.site_id = site_id
        self.beams = beams
        self.pattern = pattern
        self.poll_interval_s = poll_interval_s
        self.beam_every = max(1, beam_every)
        self.pass_gap_s = pass_gap_s
        self.undetermined_after = max(1, undetermined_after)
        self.fresh_loan_s = fresh_loan_s if fresh_loan_s is not None else gate.fresh_loan_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.decider = GateDecider(store, self.mode, policy)
        self.debounce = Debouncer(gate.debounce_s)
        self.counter = BeamCounter()
        self.stats = GateStats()
        names = reader.antennas
        self.antennas = [a for a in (self.inner, self.outer) if a in names] or list(names) or None
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader_ok: bool | None = None
        self._reader_error: str | None = None
        self._alarm_until = 0.0
        self._last_poll_at: str | None = None

    # ---- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the poll loop in a thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"gate-{self.gate_id}", daemon=True)
        self._thread.start()
        log.info("gate %s started: detection %s, alarms on %s, debounce %.1f s", self.gate_id,
                 self.mode, sorted(self.alarm_directions), self.debounce.window_s)

    def stop(self) -> None:
        """Stop the poll loop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def running(self) -> bool:
        """True while the poll loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            ok = self.poll_once()
            self._stop.wait(self.poll_interval_s if ok else 0.5)

    # ---- one poll -----------------------------------------------------------------------

    def poll_once(self) -> bool:
        """One poll of beams and tags; returns False when the reader failed."""
        now = self.clock()
        try:
            if self.counter.active or self.stats.polls % self.beam_every == 0:
                self._poll_beams(now)
            if self.mode == "eas":
                self._poll_eas(now)
            else:
                self._poll_tags(now)
        except ReaderError as exc:
            self.stats.failures += 1
            self._set_reader_state(False, str(exc))
            log.debug("gate poll failed: %s", exc)
            return False
        except StoreError:
            log.exception("gate could not write to the store")
            return False
        self._set_reader_state(True, None)
        try:
            self._expire(now)
        except StoreError:
            log.exception("gate could not write to the store")
            return False
        self.stats.polls += 1
        self._last_poll_at = _now_iso()
        return True

    def _set_reader_state(self, ok: bool, error: str | None) -> None:
        if self._reader_ok == ok:
            self._reader_error = error if not ok else None
            return
        self._reader_ok, self._reader_error = ok, error
        state = "online" if ok else "offline"
        try:
            self.store.events.record(self.gate_id, f"reader_{state}", {"error": error})
        except StoreError as exc:
            log.warning("cannot record the reader state: %s", exc)
        self.bus.publish("device_status", device=self.gate_id, kind="gate", state=state,
                         error=error)

    def _poll_beams(self, now: float) -> None:
        inputs = self.reader.read_inputs()
        done = self.counter.update(inputs[self.beams[0]], inputs[self.beams[1]], now)
        if done is None:
            return
        name = {"in": COUNTER_IN, "out": COUNTER_OUT}.get(done.direction, COUNTER_UNKNOWN)
        self.store.counters.incr(name)
        if done.direction == "in":
            self.stats.passes_in += 1
        elif done.direction == "out":
            self.stats.passes_out += 1
        totals = self.today_counts()
        self.bus.publish("counter", gate=self.gate_id, direction=done.direction,
                         **{"in": totals.get(COUNTER_IN, 0), "out": totals.get(COUNTER_OUT, 0)})

    def _see(self, items: list[InventoryItem], now: float) -> list[_Track]:
        """Update the tracks from an inventory; returns the tracks new in this pass."""
        new: list[_Track] = []
        by_uid: dict[str, set[str]] = {}
        dsfids: dict[str, int] = {}
        for it in items:
            by_uid.setdefault(it.uid, set()).add(it.antenna)
            dsfids[it.uid] = it.dsfid
        with self._lock:
            for uid, zones in by_uid.items():
                tr = self._tracks.get(uid)
                if tr is None:
                    tr = self._tracks[uid] = _Track(uid, dsfids[uid], set(zones), now, now)
                    self.stats.tags_seen += 1
                    new.append(tr)
                tr.zones |= zones
                tr.last_seen = now
        return new

    def _direction(self, tr: _Track, now: float) -> Direction:
        by_zone = direction_from_zones(tr.first_zones, self.inner, self.outer)
        if by_zone is not None:
            return by_zone
        return self.counter.direction_hint(now) or "unknown"

    def _poll_tags(self, now: float) -> None:
        items = self.reader.inventory(antennas=self.antennas)
        self._see(items, now)
        with self._lock:
            todo = [t for t in self._tracks.values() if t.last_seen == now and not t.decided]
        for tr in todo:
            tr.direction = self._direction(tr, now)
            try:
                decision = self._decide(tr)
            except ReaderError as exc:
                # This tag only: the others of this poll are still decided. It is asked
                # again while it stays in the field; it never just expires (see _expire).
                self._tag_failed(tr, exc, now)
                continue
            tr.decided = True
            self.stats.decided += 1
            if decision.alarm:
                self._alarm(tr, decision, now)
            elif tr.direction in ("in", "out"):
                self.store.counters.incr(COUNTER_PASS)

    def _decide(self, tr: _Track) -> GateDecision:
        if self.decider.needs_afi() and tr.afi is None:
            tr.afi = self.reader.system_info(tr.uid).afi
        if self.decider.needs_item(tr.afi):
            self._read_item(tr)
        return self.decider.decide(afi=tr.afi, item_id=tr.item_id)

    def _tag_failed(self, tr: _Track, exc: ReaderError, now: float) -> None:
        tr.failures += 1
        tr.error = str(exc) or type(exc).__name__
        self.stats.tag_failures += 1
        left = isinstance(exc, TagNotFound)
        log.info("gate: tag %s %s (attempt %d): %s", tr.uid,
                 "left before it could be read" if left else "could not be read",
                 tr.failures, exc)
        if tr.failures >= self.undetermined_after:
            self._undetermined(tr, now)

    def _undetermined(self, tr: _Track, now: float, *, identify: bool = True) -> AlarmRecord | None:
        """Alarm for a tag that could not be decided: the safe choice for a library.

        ``identify=False`` when the tag has left (reading its item id would only fail).
        """
        tr.decided = True
        self.stats.undetermined += 1
        if self.mode == "database" or (self.decider.needs_item(tr.afi) and tr.afi is not None):
            what = "item could not be read"
        else:
            what = "security state could not be read"
        error = f"{what}: {tr.error or 'the tag left before it could be read'}"
        state = self.decider.state_of(tr.afi).value if tr.afi is not None else "not_read"
        return self._alarm(tr, GateDecision(True, "undetermined", state), now,
                           reason="undetermined", error=error, identify=identify)

    def _read_item(self, tr: _Track) -> None:
        """Read and decode the tag's ISO 28560 data once per pass (None when foreign).

        Raises:
            ReaderError: the tag did not answer (``tr.item_error`` says why; asked again
                on the next call).
        """
        if tr.item_read:
            return
        try:
            read_tag_data = getattr(self.reader, "read_tag_data", None)
            if read_tag_data is not None:  # UHF (LLRP): the item is in the EPC bank
                tr.tag = read_tag_data(tr.uid)
                tr.item_read, tr.item_error = True, None
                return
            memory = self.reader.read_blocks(tr.uid, 0, FIRST_READ_BLOCKS)
            try:
                tr.tag = decode_tag(memory, dsfid=tr.dsfid)
            except TagFormatError:
                info = self.reader.system_info(tr.uid)
                tr.tag = decode_tag(self.reader.read_blocks(tr.uid, 0, info.block_count),
                                    dsfid=tr.dsfid)
        except TagFormatError as exc:
            log.info("gate: tag %s does not hold library data: %s", tr.uid, exc)
        except ReaderError as exc:
            tr.item_error = str(exc) or type(exc).__name__
            raise
        tr.item_read = True
        tr.item_error = None

    def _identify(self, tr: _Track) -> None:
        """Read the item id for the record, if it can be (the outputs are already on)."""
        try:
            self._read_item(tr)
        except ReaderError as exc:
            log.info("gate: the item on tag %s could not be identified: %s", tr.uid, exc)

    def _poll_eas(self, now: float) -> None:
        if not self.reader.eas_alarm():
            return
        error = None
        try:
            items = self.reader.inventory(antennas=self.antennas)
        except ReaderError as exc:
            # The EAS answer stands: alarm, unidentified, rather than lose it.
            error = f"inventory after the EAS answer failed: {exc}"
            log.info("gate: %s", error)
            items = []
        self._see(items, now)
        with self._lock:
            here = [t for t in self._tracks.values() if t.last_seen == now]
        new = [t for t in here if not t.decided]
        # The EAS answer is field-wide and the driver has no per-tag EAS read: no record
        # claims a tag's own state. ``security_state`` is ``unknown``; ``eas`` says how the
        # item was singled out.
        state = SecurityState.UNKNOWN.value
        if not here:
            direction = self.counter.direction_hint(now) or "unknown"
            if direction in self.alarm_directions and self.debounce.allow("eas:unidentified", now):
                self._fire_outputs(now)
                self._record(None, direction, GateDecision(True, "tag", state),
                             reason="eas_unidentified", error=error,
                             extra={"eas": self._eas_detail(None, 0)})
            return
        for tr in new:
            self._identify(tr)
            tr.decided = True
            self.stats.decided += 1
            tr.direction = self._direction(tr, now)
        # The cache points at the items not on loan (or not identified).
        culprits = [(t, "item_not_identified" if t.item_id is None else "cache_not_on_loan")
                    for t in new
                    if t.item_id is None or not self.store.cache.is_on_loan(t.item_id)]
        if not culprits and not any(t.alarmed for t in here):
            # Every tag in the field is on loan: the cache cannot tell; blame them all.
            how = "only_tag_in_field" if len(here) == 1 else "every_tag_on_loan"
            culprits = [(t, how) for t in new]
        for tr, how in culprits:
            self._alarm(tr, GateDecision(True, "tag", state), now, reason="eas",
                        extra={"eas": self._eas_detail(how, len(here))})

    @staticmethod
    def _eas_detail(identified_by: str | None, tags_in_field: int) -> dict[str, Any]:
        """How an ``eas`` record's item was picked (the EAS answer names no tag).

        ``identified_by``: ``cache_not_on_loan`` (the inventory after the EAS answer found
        it and the cache does not show it on loan), ``item_not_identified`` (found, but its
        item id could not be read), ``only_tag_in_field`` / ``every_tag_on_loan`` (the
        cache shows every tag in the field on loan: each is blamed), or None (no tag left
        to find).
        """
        return {"field_alarm": True, "tag_bit": "not_read", "identified_by": identified_by,
                "tags_in_field": tags_in_field}

    # ---- alarms -------------------------------------------------------------------------

    def _alarm(self, tr: _Track, decision: GateDecision, now: float,
               reason: str | None = None, *, error: str | None = None,
               identify: bool = True, extra: dict[str, Any] | None = None) -> AlarmRecord | None:
        if tr.direction not in self.alarm_directions:
            return None
        if not self.debounce.allow(tr.uid, now):
            self.stats.suppressed += 1
            return None
        tr.alarmed = True
        self._fire_outputs(now)
        if tr.tag is None and identify:
            self._identify(tr)
        return self._record(tr, tr.direction, decision, reason=reason, error=error,
                            extra=extra)

    def _fire_outputs(self, now: float) -> None:
        p = self.pattern
        try:
            self.reader.set_outputs(green=p.green, red=p.red, buzzer=p.buzzer, relay=p.relay,
                                    duration_s=self.alarm_duration_s)
            self._alarm_until = now + self.alarm_duration_s
        except ReaderError as exc:
            log.error("gate %s could not switch the alarm outputs on: %s", self.gate_id, exc)

    def reset_outputs(self) -> None:
        """Switch the light and buzzer off now (the console's manual reset).

        Raises:
            ReaderError: the reader did not take the command.
        """
        self.reader.set_outputs(green="off", red="off", buzzer="off",
                                relay="off" if self.pattern.relay else None, duration_s=0.1)
        self._alarm_until = 0.0
        self.bus.publish("gate_reset", gate=self.gate_id)

    def _record(self, tr: _Track | None, direction: str, decision: GateDecision, *,
                reason: str | None, error: str | None = None,
                extra: dict[str, Any] | None = None) -> AlarmRecord:
        item_id = tr.item_id if tr is not None else None
        detail = self.explain(item_id, tr.uid if tr is not None else None, decision,
                              reason=reason, direction=direction)
        detail["error"] = error
        detail.update(extra or {})
        if tr is not None and tr.afi is not None:
            detail["afi"] = tr.afi
        if tr is not None and tr.tag is not None and not detail.get("owner_library"):
            detail["owner_library"] = tr.tag.isil or None
        if tr is not None and item_id is None:
            # The record keeps the UID and says why the item is not named.
            detail["identified"] = False
            detail["identify_error"] = (
                tr.item_error or ("the tag left before its item id could be read"
                                  if tr.failures or not tr.item_read else
                                  "the tag holds no library data"))
        else:
            detail["identified"] = item_id is not None
        title = detail.get("title") or ""
        if title:
            what = f"'{title}' ({item_id})"
        elif item_id:
            what = f"item {item_id}"
        elif tr is not None:
            what = f"tag {tr.uid} (item not identified: {detail['identify_error']})"
        else:
            what = "a tag"
        message = f"gate {self.gate_id}: {what} going {direction}: {detail['reason']}"
        if detail.get("explanation"):
            message += f": {detail['explanation']}"
        if error:
            message += f" ({error})"
        with self.store.transaction():
            alarm = self.store.alarms.raise_alarm(
                ALARM_KIND, message, device=self.gate_id, item_id=item_id,
                uid=tr.uid if tr is not None else None, detail=detail)
            self.store.counters.incr(COUNTER_ALARM)
        self.stats.alarms += 1
        log.warning("ALARM %s", message)
        self.bus.publish("alarm", alarm=alarm_view(alarm))
        return alarm

    def explain(self, item_id: str | None, uid: str | None, decision: GateDecision, *,
                reason: str | None = None, direction: str = "unknown") -> dict[str, Any]:
        """The alarm record's ``detail``: what the cache says about the item, and why.

        No patron data: a loan contributes only that it exists, its due date and whether it
        was accepted offline.
        """
        cache_state, as_of = self.cache_status()
        detail: dict[str, Any] = {
            "site": self.site_id, "gate": self.gate_id, "direction": direction,
            "mode": self.mode, "decided_by": decision.decided_by,
            "security_state": decision.security_state, "item_id": item_id, "uid": uid,
            "title": None, "owner_library": None, "in_catalogue": None, "on_loan": None,
            "transaction": None, "transaction_kind": None, "transaction_state": None,
            "task": None, "task_state": None,
            "cache": {"offline": cache_state == "offline", "gateway": cache_state, "as_of": as_of},
            "at": _now_iso(),
        }
        if item_id is not None:
            item = self.store.cache.item(item_id)
            loan = self.store.cache.loan(item_id)
            detail.update(in_catalogue=item is not None, on_loan=loan is not None,
                          title=item.title if item else None,
                          owner_library=(item.location or None) if item else None)
            if loan is not None:
                detail["loan"] = {"due_date": loan.due_date, "loaned_at": loan.loaned_at,
                                  "offline": loan.offline}
            task = next((t for t in self.store.security.for_item(item_id)
                         if t.action == "release" and t.state in _OPEN_TASK_STATES
                         and (uid is None or t.uid == uid)), None)
            if task is not None:
                detail.update(task=task.id, task_state=task.state, transaction=task.txn_key)
            entry = (self.store.outbox.find(task.txn_key) if task is not None and task.txn_key
                     else next(iter(self.store.outbox.list(item_id=item_id, limit=1,
                                                           newest_first=True)), None))
            if entry is not None:
                detail.update(transaction=entry.key, transaction_kind=entry.kind,
                              transaction_state=entry.state)
            if reason is None:
                if self.mode == "database" or decision.decided_by == "cache":
                    reason = "unknown_item" if item is None and loan is None else "not_on_loan"
                elif loan is not None:
                    reason = self._explain_loan(detail, loan, task)
                else:
                    reason = "not_checked_out"
        reason = reason or "not_checked_out"
        detail["reason"] = reason
        detail["reason_texts"] = reason_texts(reason)
        return detail

    def _explain_loan(self, detail: dict[str, Any], loan: Any, task: Any) -> str:
        """The reason for a secured tag the cache shows on loan (fills ``explanation``).

        ``loaned_alarm_on`` when this store holds the open ``release`` task (kiosk and gate
        on one box: ``explained_by`` = ``task``), or when the loan is fresh (``loaned_at``
        within ``fresh_loan_s``: ``explained_by`` = ``cache_loan``; kiosk and gate on
        separate boxes, where the task stays in the kiosk's store and only the loan
        reaches the gate's cache). Otherwise ``loaned_but_secured``.
        """
        if task is not None:
            explained_by = "task"
        elif self._fresh(loan):
            explained_by = "cache_loan"
            if detail["transaction"] is None:
                # Only if the cache carries the loan's transaction (LoanRecord has none yet).
                detail["transaction"] = getattr(loan, "transaction", None)
        else:
            return "loaned_but_secured"
        detail["explained_by"] = explained_by
        parts = [f"loaned at {loan.loaned_at or 'an unknown time'}"]
        if detail["transaction"]:
            parts.append(f"transaction {detail['transaction']}")
        if task is not None:
            parts.append(f"security task {task.id}")
        detail["explanation"] = ("loaned, alarm still on (release failed at the kiosk); "
                                 + ", ".join(parts))
        return "loaned_alarm_on"

    def _fresh(self, loan: Any) -> bool:
        """True when the cached loan was made within ``fresh_loan_s`` (or is future-dated)."""
        at = _parse_time(loan.loaned_at)
        if at is None:
            return False
        return (self.wall_clock() - at).total_seconds() <= self.fresh_loan_s

    def cache_status(self) -> tuple[str, str | None]:
        """``(gateway state, when the cache was last refreshed)`` for the record."""
        state, since = self.store.meta.connectivity()
        row = self.store.query_one("SELECT MAX(completed_at) AS t FROM snapshots")
        as_of = row["t"] if row is not None and row["t"] else since
        return state, as_of

    # ---- housekeeping and views ---------------------------------------------------------

    def _expire(self, now: float) -> None:
        """Close the passes of tags gone for ``pass_gap_s``; an undecided one alarms."""
        with self._lock:
            gone = [t for t in self._tracks.values() if now - t.last_seen > self.pass_gap_s]
            for tr in gone:
                del self._tracks[tr.uid]
        for tr in gone:
            if not tr.decided:
                if tr.error is None:
                    tr.error = "the tag left before it could be read"
                log.warning("gate: tag %s left undecided: %s", tr.uid, tr.error)
                self._undetermined(tr, now, identify=False)
            self.stats.passes_closed += 1
        if len(self.debounce) > 10_000:
            self.debounce.prune(now)

    def today_counts(self) -> dict[str, int]:
        """Today's (UTC) counters of this box."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return self.store.counters.totals(day + "T00", day + "T23")

    def status(self) -> dict[str, Any]:
        """The gate's state for the staff console's device list."""
        state = {True: "online", False: "offline", None: "unknown"}[self._reader_ok]
        return {"id": self.gate_id, "kind": "gate", "state": state, "error": self._reader_error,
                "detection": self.mode, "running": self.running,
                "alarm_active": self.clock() < self._alarm_until,
                "last_poll_at": self._last_poll_at,
                "stats": {"polls": self.stats.polls, "failures": self.stats.failures,
                          "alarms": self.stats.alarms, "suppressed": self.stats.suppressed,
                          "tags_seen": self.stats.tags_seen,
                          "tag_failures": self.stats.tag_failures,
                          "undetermined": self.stats.undetermined}}


def alarm_view(alarm: AlarmRecord) -> dict[str, Any]:
    """An alarm as the staff console and the ``alarm`` event show it (no patron data)."""
    d = alarm.detail or {}
    return {"id": alarm.id, "kind": alarm.kind, "device": alarm.device, "item_id": alarm.item_id,
            "uid": alarm.uid, "message": alarm.message, "created_at": alarm.created_at,
            "acked_at": alarm.acked_at, "acked_by": alarm.acked_by,
            "title": d.get("title"), "reason": d.get("reason") or alarm.kind,
            "reason_texts": d.get("reason_texts") or reason_texts(alarm.kind),
            "direction": d.get("direction"), "owner_library": d.get("owner_library"),
            "security_state": d.get("security_state"), "transaction": d.get("transaction"),
            "task": d.get("task") if "task" in d else d.get("task_id"),
            "error": d.get("error"), "identified": d.get("identified"),
            "explanation": d.get("explanation"),
            "identify_error": d.get("identify_error"),
            "cache_offline": bool((d.get("cache") or {}).get("offline")), "detail": d}


def build_gate(services: EdgeServices, *, reader: Reader | None = None, **kw: Any) -> GateService:
    """A :class:`GateService` for an :class:`~edge.services.container.EdgeServices`.

    Uses the services' reader (the device manager's) unless ``reader`` is given, and stops
    the device manager's pad poller, which must not share the gate's reader.
    """
    settings = services.settings
    sec = settings.security
    rdr = reader if reader is not None else services.devices.reader
    if rdr is None:
        raise ValueError("the gate needs a reader: set [reader] enabled = true")
    if reader is None:
        services.devices.stop_polling()
    return GateService(services.store, rdr, services.bus, settings.gate,
                       SecurityPolicy("afi", sec.afi_secured, sec.afi_released),
                       gate_id=settings.device.id, site_id=settings.site.id, **kw)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
