"""``python -m kiosk_ui.screenshots DIR``: a PNG of every screen, in Vietnamese and English.

Runs offscreen against :class:`kiosk_ui.fake_edge.FakeEdge` (no edge needed) and walks every
flow: attract, login (and a login error), menu, borrow (while checking, and done), return,
renew, account, receipt with QR code, the offline banner, the idle countdown, out of service,
plus the high-contrast and large-text variants. ``make screenshots`` runs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (1280, 800)
LARGE_SIZE = (1920, 1080)   # large-text mode is meant for the big screens


class DeferredRunner:
    """Holds calls until :meth:`flush`, so a screenshot can show rows still "checking"."""

    def __init__(self) -> None:
        self.queue: list[tuple[Callable[[], Any], Any, Any]] = []
        self.hold = False

    def submit(self, fn: Callable[[], Any], on_ok: Any, on_err: Any) -> None:
        from kiosk_ui.errors import PatronFacingError

        if self.hold:
            self.queue.append((fn, on_ok, on_err))
            return
        try:
            res = fn()
        except PatronFacingError as exc:
            on_err(exc)
            return
        on_ok(res)

    def flush(self) -> None:
        self.hold = False
        queue, self.queue = self.queue, []
        for fn, ok, err in queue:
            self.submit(fn, ok, err)

    def shutdown(self) -> None:
        self.queue.clear()


def _shoot(kiosk: Any, out: Path, name: str) -> Path:
    from PySide6.QtWidgets import QApplication

    for _ in range(3):
        QApplication.processEvents()
    kiosk.window.refresh()
    QApplication.processEvents()
    path = out / f"{name}.png"
    kiosk.window.grab().save(str(path))
    return path


def _build(language: str, **opts: Any) -> tuple[Any, Any, DeferredRunner]:
    from kiosk_ui.app import KioskOptions, create_kiosk
    from kiosk_ui.fake_edge import FakeEdge

    edge = FakeEdge()
    o = KioskOptions(language=language, fullscreen=False, printer=True, admin_exit_code="2468",
                     site_name="Thư viện Tỉnh Quảng Nam", opening_hours="07:30–20:00", **opts)
    kiosk = create_kiosk(o, edge, connect_events=False, threaded=False, start=False)
    runner = DeferredRunner()
    for vm in [kiosk.vm, *kiosk.vm._children]:
        vm.runner = runner
    kiosk.runner = runner
    kiosk.vm.start()
    kiosk.vm.health_timer.stop()
    kiosk.vm.login.card_timer.stop()
    kiosk.window.resize(*(LARGE_SIZE if opts.get("large_text") else SIZE))
    kiosk.window.show()
    return kiosk, edge, runner


def _close(kiosk: Any) -> None:
    kiosk.close()
    kiosk.window.deleteLater()


def shoot_language(out: Path, lang: str) -> list[Path]:
    """Every screen in ``lang``."""
    from kiosk_ui.viewmodels.kiosk import Screen

    shots: list[Path] = []
    kiosk, edge, runner = _build(lang)
    vm = kiosk.vm
    vm.idle_timer.stop()
    shots.append(_shoot(kiosk, out, f"{lang}-01-attract"))
    vm.go(Screen.LOGIN)
    for k in "123456":
        vm.login.press(k)
    vm.login.press("next")
    for k in "12":
        vm.login.press(k)
    shots.append(_shoot(kiosk, out, f"{lang}-02-login"))
    for k in "99":
        vm.login.press(k)
    vm.login.press("ok")   # wrong PIN
    shots.append(_shoot(kiosk, out, f"{lang}-03-login-wrong-pin"))
    vm.login.set_number("123456")
    vm.login.set_pin("1234")
    vm.login.submit()
    vm.idle_timer.stop()
    shots.append(_shoot(kiosk, out, f"{lang}-04-menu"))
    vm.go(Screen.BORROW)
    vm.idle_timer.stop()
    for item in ("3001", "3002"):
        vm.on_event(edge.tag_event(item))
    runner.hold = True
    for item in ("3003", "3004"):
        vm.on_event(edge.tag_event(item))
    shots.append(_shoot(kiosk, out, f"{lang}-05-borrow-checking"))
    runner.flush()
    for item in ("3005", "3007"):
        vm.on_event(edge.tag_event(item))
    shots.append(_shoot(kiosk, out, f"{lang}-06-borrow-done"))
    vm.go(Screen.RETURN)
    vm.idle_timer.stop()
    for item in ("3102", "3103", "3002"):
        vm.on_event(edge.tag_event(item))
    shots.append(_shoot(kiosk, out, f"{lang}-07-return"))
    vm.go(Screen.ACCOUNT)   # before renewing: one loan is still overdue
    vm.idle_timer.stop()
    account = _shoot(kiosk, out, f"{lang}-10-account")
    vm.go(Screen.RENEW)
    vm.idle_timer.stop()
    shots.append(_shoot(kiosk, out, f"{lang}-08-renew"))
    vm.renew.loans.toggle(0)
    vm.renew.renew_all()
    shots.append(_shoot(kiosk, out, f"{lang}-09-renew-results"))
    shots.append(account)
    vm.finish()
    vm.idle_timer.stop()
    vm.receipt.show_qr()
    shots.append(_shoot(kiosk, out, f"{lang}-11-receipt"))
    vm.go(Screen.MENU)
    vm.on_event({"type": "connectivity", "gateway": "offline"})
    vm.probe()
    edge.gateway = "offline"
    vm.probe()
    vm.go(Screen.BORROW)
    vm.idle_timer.stop()
    vm.on_event(edge.tag_event("3006"))
    vm.on_event(edge.tag_event("3001"))
    shots.append(_shoot(kiosk, out, f"{lang}-12-offline-banner"))
    edge.gateway = "online"
    vm.probe()
    vm.go(Screen.MENU)
    vm.idle_timer.stop()
    for _ in range(vm.remaining_s - 12):
        vm._tick()
    shots.append(_shoot(kiosk, out, f"{lang}-13-idle-countdown"))
    vm.end_session()
    vm.set_language(lang)
    edge.down = True
    vm.probe()
    shots.append(_shoot(kiosk, out, f"{lang}-14-out-of-service"))
    edge.down = False
    vm.probe()
    _close(kiosk)

    kiosk, edge, runner = _build(lang, high_contrast=True)
    vm = kiosk.vm
    edge.card_on_reader = "04A1B2C3"
    vm.login.poll_card()
    vm.go(Screen.BORROW)
    vm.idle_timer.stop()
    for item in ("3001", "3004", "3005"):
        vm.on_event(edge.tag_event(item))
    shots.append(_shoot(kiosk, out, f"{lang}-15-high-contrast-borrow"))
    _close(kiosk)

    kiosk, edge, runner = _build(lang, large_text=True)
    shots.append(_shoot(kiosk, out, f"{lang}-16-large-text-attract"))
    kiosk.vm.go(Screen.LOGIN)
    kiosk.vm.idle_timer.stop()
    shots.append(_shoot(kiosk, out, f"{lang}-17-large-text-login"))
    _close(kiosk)
    return shots


def main(argv: list[str] | None = None) -> int:
    """Write the screenshots into ``argv[0]`` (default ``docs/screenshots``)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    from kiosk_ui.app import ensure_app

    app = ensure_app()
    shots = []
    for lang in ("vi", "en"):
        shots += shoot_language(out, lang)
    app.processEvents()
    print(f"wrote {len(shots)} screenshots to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
