"""The demo's supervisor: systemd's part for the demo's processes, and nothing more.

Every child gets its own notify socket (``$NOTIFY_SOCKET``, an abstract unix datagram
name) and ``$WATCHDOG_USEC``, as systemd gives a ``Type=notify`` unit with
``WatchdogSec=``. The supervisor then:

* restarts a child that exits or is killed, after a back-off (0.5 s, doubling up to 8 s;
  back to 0.5 s once the child has run for a minute), and logs the reason;
* restarts a child whose watchdog ran out: one that said ``READY=1`` or ``WATCHDOG=1``
  and then sent no ``WATCHDOG=1`` for the interval (a hung loop, a ``SIGSTOP``); a child
  declared ``notify`` that says nothing at all (no ``READY=1``) within the start timeout
  is restarted too. The hung child is killed with SIGKILL (systemd sends
  ``WatchdogSignal=``, SIGABRT, first; a stopped process would not act on it);
* leaves a child alone that it was told to hold (a scenario's broker outage);
* stops for good when a child declared ``final`` exits with status 0: the kiosk window
  closed on purpose (its Close exits 0; a crash, an exception or a signal does not);
* writes its state, per process (pid, state, restarts, last start, last exit reason), to a
  JSON file that the edges' staff console reads (``api.process_state``).

In production systemd does all of this from the units (``Restart=always``,
``RestartSec=``, ``WatchdogSec=``); there is no supervisor of our own there.

Must not do: signal a process it did not start, or restart anything once stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartlib.sdnotify import NOTIFY_SOCKET, WATCHDOG_USEC, socket_address
from smartlib_demo.processes import Proc

log = logging.getLogger("smartlib_demo.supervisor")


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``first`` doubling to ``most``; reset after ``stable_s`` of running."""

    first: float = 0.5
    most: float = 8.0
    stable_s: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait before restart number ``failures`` (1-based) of a run of failures."""
        return float(min(self.first * 2 ** max(failures - 1, 0), self.most))


@dataclass
class Child:
    """One supervised process and what the supervisor knows of it."""

    name: str
    proc: Proc
    respawn: Callable[[], Proc]
    sock: socket.socket
    notify: bool = False
    final: bool = False
    restarts: int = 0
    failures: int = 0
    started_at: float = 0.0
    last_start: str = ""
    last_exit: str | None = None
    last_exit_at: str | None = None
    ready: bool = False
    last_ping: float | None = None
    status: str = ""
    held: bool = False
    restart_at: float | None = None

    def view(self) -> dict[str, Any]:
        state = ("held" if self.held else "restarting" if self.restart_at is not None
                 else "running" if self.ready or not self.notify else "starting")
        return {"pid": self.proc.popen.pid, "state": state, "restarts": self.restarts,
                "last_start": self.last_start, "last_exit": self.last_exit,
                "last_exit_at": self.last_exit_at, "status": self.status}


def exit_reason(returncode: int) -> str:
    """``exited with N`` or ``killed by SIGNAME``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with {returncode}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Supervisor:
    """Restarts the demo's children; see the module docstring.

    Args:
        state_file: where the JSON state goes (rewritten on every change).
        watchdog_s: the ``WATCHDOG_USEC`` every child gets.
        start_timeout_s: how long a ``notify`` child may take to say ``READY=1``.
        backoff: the restart delays.
        on_change: called (on the supervisor's thread) with a one-line message on every
            restart, watchdog kill and final exit.
    """

    state_file: Path
    watchdog_s: float = 10.0
    start_timeout_s: float = 90.0
    backoff: Backoff = field(default_factory=Backoff)
    on_change: Callable[[str], None] | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    finish_reason: str = ""
    _children: dict[str, Child] = field(default_factory=dict)
    _sockets: dict[str, socket.socket] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _tag: str = field(default_factory=lambda: f"smartlib-demo-{os.getpid()}-{time.time_ns()}")

    # -- set-up

    def notify_env(self, name: str) -> dict[str, str]:
        """The environment that gives child ``name`` its notify socket and watchdog."""
        with self._lock:
            if name not in self._sockets:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                s.bind(socket_address(f"@{self._tag}/{name}"))
                s.setblocking(False)
                self._sockets[name] = s
        return {NOTIFY_SOCKET: f"@{self._tag}/{name}",
                WATCHDOG_USEC: str(int(self.watchdog_s * 1_000_000))}

    def adopt(self, proc: Proc, respawn: Callable[[], Proc], *, notify: bool = False,
              final: bool = False) -> None:
        """Supervise ``proc`` (started with :meth:`notify_env`); ``respawn`` starts it again.

        ``notify``: the child says ``READY=1`` and feeds the watchdog from its start.
        ``final``: its exit with status 0 stops the demo (a deliberate close).
        """
        with self._lock:
            self.notify_env(proc.name)
            child = Child(proc.name, proc, respawn, self._sockets[proc.name], notify=notify,
                          final=final, started_at=time.monotonic(), last_start=_now_iso())
            self._children[proc.name] = child
            self._drain(child)
        self._write_state()

    def start(self) -> None:
        """Start watching (a daemon thread)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demo-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and restarting; the children are left to the caller to stop."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self._thread = None
        with self._lock:
            for s in self._sockets.values():
                s.close()
            self._sockets.clear()

    # -- queries and commands

    def proc(self, name: str) -> Proc | None:
        with self._lock:
            child = self._children.get(name)
            return child.proc if child else None

    def procs(self) -> list[Proc]:
        with self._lock:
            return [c.proc for c in self._children.values()]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per process: pid, state, restarts, last start, last exit reason, status text."""
        with self._lock:
            return {name: c.view() for name, c in self._children.items()}

    def hold(self, name: str) -> None:
        """Stop child ``name`` on purpose and do not restart it until :meth:`release`."""
        with self._lock:
            child = self._children[name]
            child.held, child.restart_at = True, None
        child.proc.stop()
        with self._lock:
            child.last_exit, child.last_exit_at = "stopped on purpose (held)", _now_iso()
        self._write_state()

    def release(self, name: str) -> None:
        """Start a held child again now (no-op when it is not held)."""
        with self._lock:
            child = self._children.get(name)
            if child is None or not child.held:
                return
            child.held = False
            self._respawn(child, count=False)
        self._write_state()

    # -- the loop

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        registered: set[int] = set()
        try:
            while not self._stop.is_set():
                with self._lock:
                    for child in self._children.values():
                        if child.sock.fileno() not in registered:
                            sel.register(child.sock, selectors.EVENT_READ, child)
                            registered.add(child.sock.fileno())
                news = False
                for key, _ in sel.select(0.1):
                    with self._lock:
                        news = self._drain(key.data) or news
                if news:
                    self._write_state()
                try:
                    self.check(time.monotonic())
                except Exception:  # the loop must go on; the failure is logged with its stack
                    log.exception("supervisor check failed; going on")
        finally:
            sel.close()

    def check(self, now: float) -> None:
        """One pass: notice exits and silent watchdogs, restart what is due."""
        changed = False
        messages: list[str] = []
        with self._lock:
            if self._stop.is_set():
                return
            for child in self._children.values():
                if child.held:
                    continue
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        try:
                            self._respawn(child, count=True)
                        except OSError as exc:
                            child.restart_at = now + self.backoff.most
                            log.error("cannot restart %s: %s; trying again in %.0fs", child.name,
                                      exc, self.backoff.most)
                            continue
                        messages.append(f"restarted {child.name} (pid {child.proc.popen.pid}, "
                                        f"restarts {child.restarts}; last exit: "
                                        f"{child.last_exit})")
                        changed = True
                    continue
                rc = child.proc.popen.poll()
                if rc is None:
                    why = self._hung(child, now)
                    if why is None:
                        continue
                    log.error("%s: %s; killing it (pid %d)", child.name, why, child.proc.popen.pid)
                    child.proc.popen.kill()
                    child.proc.popen.wait(10)
                    reason = why
                else:
                    reason = exit_reason(rc)
                child.last_exit, child.last_exit_at = reason, _now_iso()
                changed = True
                if child.final and rc == 0:
                    self.finish_reason = f"{child.name} closed on purpose (exit status 0)"
                    messages.append(self.finish_reason)
                    self.finished.set()
                    self._stop.set()
                    break
                if now - child.started_at >= self.backoff.stable_s:
                    child.failures = 0
                child.failures += 1
                delay = self.backoff.delay(child.failures)
                child.restart_at = now + delay
                log.warning("%s %s; restarting it in %.1fs (log %s)", child.name, reason, delay,
                            child.proc.log)
        if changed:
            self._write_state()
        for m in messages:
            if self.on_change is not None:
                self.on_change(m)

    def _hung(self, child: Child, now: float) -> str | None:
        if child.last_ping is not None:
            if now - child.last_ping > self.watchdog_s:
                return f"watchdog: no WATCHDOG=1 for {now - child.last_ping:.1f}s"
            return None
        if child.notify and not child.ready and now - child.started_at > self.start_timeout_s:
            return f"no READY=1 within {self.start_timeout_s:.0f}s"
        return None

    def _respawn(self, child: Child, *, count: bool) -> None:
        old = child.proc
        if old.popen.stdout is not None:
            old.popen.stdout.close()
        child.restart_at = child.restart_at or time.monotonic()
        self._drain(child)  # drops the old process's datagrams (restart_at is set)
        child.proc = child.respawn()
        child.restart_at = None
        child.ready, child.last_ping, child.status = False, None, ""
        child.started_at, child.last_start = time.monotonic(), _now_iso()
        if count:
            child.restarts += 1

    def _drain(self, child: Child) -> bool:
        """Read the child's pending datagrams; True when its READY or STATUS changed."""
        changed = False
        while True:
            try:
                data = child.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return changed
            except OSError as exc:
                log.debug("notify socket of %s: %s", child.name, exc)
                return changed
            if child.restart_at is not None:
                continue  # a message from the dead process, between exit and restart
            for line in data.decode("utf-8", "replace").splitlines():
                key, _, value = line.partition("=")
                if key == "READY" and value == "1":
                    changed = changed or not child.ready
                    child.ready = True
                    if child.notify and child.last_ping is None:
                        child.last_ping = time.monotonic()  # the watchdog runs from READY=1
                elif key == "WATCHDOG" and value == "1":
                    child.last_ping = time.monotonic()
                elif key == "STATUS":
                    changed = changed or child.status != value[:200]
                    child.status = value[:200]

    def _write_state(self) -> None:
        data = {"updated": _now_iso(), "watchdog_s": self.watchdog_s,
                "processes": self.snapshot()}
        path = self.state_file
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False))
            os.replace(tmp, path)
        except OSError as exc:
            log.error("cannot write the supervisor state %s: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
