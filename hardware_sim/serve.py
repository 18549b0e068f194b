"""``smartlib sim serve``: start the simulated devices and the control API, print one JSON
line of endpoints, and run until interrupted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from hardware_sim.control_api import ControlServer
from hardware_sim.errors import SimError
from hardware_sim.world import SimWorld, WorldSpec
from smartlib.shutdown import stop_on_signals

DEFAULT_VPCD = "127.0.0.1:35963"
"""Where ``serve`` connects the virtual card by default: Debian's vpcd (``Virtual PCD 00 00``)."""

NO_VPCD = ("none", "off")
"""``--vpcd`` values that turn the virtual card off."""


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    """Split ``HOST[:PORT]``.

    Raises:
        click.BadParameter: no host, or a port that is not a number in 1..65535.
    """
    host, _, port = text.rpartition(":")
    if not host:
        if not text:
            raise click.BadParameter("expected HOST:PORT, got an empty string")
        return text, default_port
    try:
        number = int(port)
    except ValueError:
        raise click.BadParameter(f"expected HOST:PORT, got {text!r}") from None
    if not 1 <= number <= 65535:
        raise click.BadParameter(f"port {number} in {text!r} is outside 1..65535")
    return host, number


def build(spec: WorldSpec, *, host: str = "127.0.0.1", control_port: int = 7000,
          vpcd: str | None = None, ils_port: int | None = None, ils_db: str | None = None,
          timing: bool = True, bank_webhook: str | None = None,
          bank_secret: bytes | None = None) -> tuple[SimWorld, ControlServer, dict[str, Any]]:
    """Start a world with its optional card and ILS, and its control API.

    Returns:
        The world, the control server and the endpoints (the JSON ``serve`` prints).
    """
    world = SimWorld(spec, timing=timing, host=host)
    control: ControlServer | None = None
    try:
        if vpcd is not None:
            from hardware_sim.card import SimCardDevice

            vhost, vport = _host_port(vpcd, 35963)
            vpcd = f"{vhost}:{vport}"
            world.card = SimCardDevice(vhost, vport)
            world.card.start()
        if ils_port is not None:
            from hardware_sim.ils.server import DemoIlsServer

            db = Path(ils_db) if ils_db else Path("var/sim/ils.db")
            db.parent.mkdir(parents=True, exist_ok=True)
            world.ils = DemoIlsServer(db, host, ils_port)
            ils_port = world.ils.start()
        if bank_webhook:
            from hardware_sim.bank import SimBank

            world.bank = SimBank(bank_webhook, bank_secret or b"")
        world.start()
        control = ControlServer(world, host, control_port).start()
    except (SimError, OSError):
        if control is not None:
            control.stop()
        world.stop()
        raise
    endpoints: dict[str, Any] = {
        "readers": world.endpoints(),
        "control_url": control.url,
        "vpcd": vpcd,
        "ils": {"host": host, "port": ils_port} if ils_port is not None else None,
    }
    return world, control, endpoints


@click.command("serve")
@click.option("--world", "--scenario", "world_path", type=str, default=None,
              help="World file (a path, or a name in hardware_sim/worlds); --scenario is its old name.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--control-port", type=int, default=7000, show_default=True,
              help="Control API port (0 = any).")
@click.option("--vpcd", default=DEFAULT_VPCD, show_default=True, metavar="HOST:PORT|none",
              help="The vpcd the virtual card connects to (a bare HOST uses port 35963); "
                   "'none' runs no virtual card.")
@click.option("--ils-port", type=int, default=None, help="Also run the demo ILS (SIP2) here.")
@click.option("--ils-db", default=None, help="The demo ILS database (default var/sim/ils.db).")
@click.option("--no-timing", is_flag=True, help="Answer at once instead of at modelled speed.")
@click.option("--bank-webhook", default=None, metavar="URL",
              help="Run the simulated bank, posting to the centre's /payments/webhook here.")
@click.option("--bank-secret-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The shared webhook secret (file); env SMARTLIB_BANK_SECRET otherwise.")
def serve(world_path: str | None, host: str, control_port: int, vpcd: str | None,
          ils_port: int | None, ils_db: str | None, no_timing: bool,
          bank_webhook: str | None, bank_secret_file: str | None) -> None:
    """Serve simulated readers (pty and TCP), card, ILS and the control API."""
    if vpcd is not None and vpcd.strip().lower() in NO_VPCD:
        vpcd = None
    elif vpcd is not None:
        _host_port(vpcd, 35963)  # a bad --vpcd is a usage error before anything starts
    try:
        spec = WorldSpec.load(world_path) if world_path else WorldSpec.default()
        secret = (Path(bank_secret_file).read_bytes().strip() if bank_secret_file
                  else os.environ.get("SMARTLIB_BANK_SECRET", "").encode())
        world, control, endpoints = build(spec, host=host, control_port=control_port,
                                          vpcd=vpcd, ils_port=ils_port, ils_db=ils_db,
                                          timing=not no_timing, bank_webhook=bank_webhook,
                                          bank_secret=secret)
    except SimError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(endpoints), nl=True)
    with stop_on_signals() as stop:
        try:
            stop.wait()
        finally:
            control.stop()
            world.stop()
