"""Many sync agents in one thread: an :class:`~sync.agent.service.AgentRunner` for the fleet.

Each :class:`~sync.agent.service.SyncAgent` normally runs three threads (paho's network
loop, its sender, its receiver). Hundreds of boxes in one process that way spend the
machine's cores on thread wake-ups and the GIL. :class:`AgentLoop` runs them all from one
``epoll`` loop instead, with the agent's own code: paho's external loop API for the
network (connect, read, write, keepalive), ``agent.sender_pass()`` when the agent's
doorbell rings or ``poll_s`` passed (what its sender thread does), and
``agent.receiver.drain()`` after a read (what its receiver thread does).

What differs from ``smartlib sync``: the three threads are this loop; a lost connection is
reconnected after ``RECONNECT_S`` (paho's own back-off and the agent's failover to a second
broker address are not used; the fleet has one broker); a receiver retrying a busy store
holds up the loop's other boxes meanwhile.
"""

from __future__ import annotations

import logging
import select
import selectors
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

RECONNECT_S = 1.0
MISC_S = 1.0
"""How often each client's keepalive is looked after (``loop_misc``)."""
TICK_S = 0.05
READ_BURST = 500


@dataclass(eq=False)
class _Hosted:
    agent: Any
    sock_fd: int | None = None
    bell_fd: int | None = None
    writing: bool = False
    next_pass: float = 0.0
    next_misc: float = 0.0
    next_connect: float = 0.0


class AgentLoop:
    """Drives attached agents from one thread until :meth:`close`.

    Thread-safe :meth:`attach` / :meth:`detach`: the loop holds its lock while it works and
    releases it while it waits.
    """

    def __init__(self, name: str = "agent-loop") -> None:
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._hosted: dict[int, _Hosted] = {}
        self._by_fd: dict[int, tuple[_Hosted, str]] = {}
        self._closing = threading.Event()
        self._next_tick = 0.0
        self.passes = 0
        self.reads = 0
        self.busy_s = 0.0
        """Seconds the loop spent working (not waiting in ``select``): over a wall-clock
        span, how close to saturated this worker's boxes were (1.0: never idle)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- AgentRunner ----------------------------------------------------------------------

    def attach(self, agent: Any) -> None:
        """Start driving ``agent`` (called by ``SyncAgent.start``)."""
        h = _Hosted(agent)
        with self._lock:
            self._hosted[id(agent)] = h
            fd = agent.doorbell.fileno()
            if fd is not None:
                h.bell_fd = fd
                self._sel.register(fd, selectors.EVENT_READ)
                self._by_fd[fd] = (h, "bell")
            self._connect(h, time.monotonic())

    def detach(self, agent: Any) -> None:
        """Stop driving ``agent`` (called by ``SyncAgent.stop``)."""
        with self._lock:
            h = self._hosted.pop(id(agent), None)
            if h is None:
                return
            self._drop_sock(h)
            if h.bell_fd is not None:
                self._unregister(h.bell_fd)
                h.bell_fd = None

    def close(self) -> None:
        """Stop the loop's thread (detach the agents first, or they are just left)."""
        self._closing.set()
        self._thread.join(10)
        self._sel.close()

    # ---- the loop -------------------------------------------------------------------------

    def _unregister(self, fd: int) -> None:
        self._by_fd.pop(fd, None)
        try:
            self._sel.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass  # closed by paho already: epoll dropped it

    def _drop_sock(self, h: _Hosted) -> None:
        if h.sock_fd is not None:
            self._unregister(h.sock_fd)
            h.sock_fd, h.writing = None, False

    def _connect(self, h: _Hosted, now: float) -> None:
        client: mqtt.Client = h.agent.client
        try:
            client.reconnect()
        except OSError as exc:
            log.warning("%s/%s cannot connect (%s); again in %.0f s", h.agent.site,
                        h.agent.device, exc, RECONNECT_S)
            h.next_connect = now + RECONNECT_S
            return
        sock = client.socket()
        if sock is None:
            h.next_connect = now + RECONNECT_S
            return
        h.sock_fd = sock.fileno()
        self._sel.register(h.sock_fd, selectors.EVENT_READ)
        self._by_fd[h.sock_fd] = (h, "sock")
        h.next_misc = now + MISC_S
        self._flush(h)

    def _flush(self, h: _Hosted) -> None:
        """Write what the client queued; wait for the socket to drain if it is full."""
        if h.sock_fd is None:
            return
        client: mqtt.Client = h.agent.client
        if client.want_write():
            if client.loop_write() != mqtt.MQTT_ERR_SUCCESS:
                self._lost(h)
                return
        want = client.want_write()
        if want != h.writing and h.sock_fd is not None:
            h.writing = want
            self._sel.modify(h.sock_fd, selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0))

    def _lost(self, h: _Hosted) -> None:
        self._drop_sock(h)
        h.next_connect = time.monotonic() + RECONNECT_S

    def _read(self, h: _Hosted) -> bool:
        """Read every packet the socket holds (paho reads one or a few a call), so the
        receiver stores them in one batch, as its thread does when messages pile up."""
        client: mqtt.Client = h.agent.client
        for _ in range(READ_BURST):
            if client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                return False
            if h.sock_fd is None or not select.select([h.sock_fd], [], [], 0)[0]:
                break
        return True

    def _sender_pass(self, h: _Hosted, now: float) -> None:
        h.next_pass = now + h.agent.tuning.poll_s
        h.agent.sender_pass()
        self.passes += 1
        self._flush(h)

    def _run(self) -> None:
        while not self._closing.is_set():
            events = self._sel.select(TICK_S) if self._by_fd else self._idle()
            with self._lock:
                now = time.monotonic()
                self._work(events, now)
                self.busy_s += time.monotonic() - now

    def _work(self, events: list[Any], now: float) -> None:
        rung: list[_Hosted] = []
        for key, mask in events:
            got = self._by_fd.get(key.fd)
            if got is None:
                continue
            h, kind = got
            if kind == "bell":
                h.agent.doorbell.take()
                rung.append(h)
                continue
            if mask & selectors.EVENT_READ:
                self.reads += 1
                if not self._read(h):
                    self._lost(h)
                    continue
                if not h.agent.receiver.inbox.empty():
                    h.agent.receiver.drain()
            self._flush(h)
        for h in rung:
            if id(h.agent) in self._hosted:
                self._sender_pass(h, now)
        if now >= self._next_tick:
            self._next_tick = now + TICK_S
            self._timers(now)

    def _timers(self, now: float) -> None:
        """Reconnects, keepalives, and the passes ``poll_s`` brings without a ring."""
        for h in list(self._hosted.values()):
            if h.sock_fd is None and now >= h.next_connect:
                self._connect(h, now)
            elif h.sock_fd is not None and now >= h.next_misc:
                h.next_misc = now + MISC_S
                if h.agent.client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                    self._lost(h)
                else:
                    self._flush(h)
            if now >= h.next_pass:
                self._sender_pass(h, now)

    def _idle(self) -> list[Any]:
        self._closing.wait(TICK_S)
        return []
