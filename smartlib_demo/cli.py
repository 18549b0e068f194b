"""``smartlib demo``: the command that starts the demo system, and runs scenarios headless.

Must not do: import a product package (it starts them as processes).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import click

from smartlib.shutdown import stop_on_signals
from smartlib_demo.errors import DemoError
from smartlib_demo.site import DEVICE_TOKEN, STAFF_TOKEN
from smartlib_demo.system import CENTRAL_ADMIN, DemoOptions, DemoSystem


@click.command()
@click.option("--headless", is_flag=True, help="Run scripted scenarios without the UI; print JSON.")
@click.option("--scenario", "scenarios", default=None,
              help="Scenario names for --headless, comma-separated (or 'all').")
@click.option("--list-scenarios", is_flag=True, help="List the shipped scenarios and exit.")
@click.option("--no-ui", is_flag=True, help="Start everything but the kiosk window.")
@click.option("--card/--no-card", default=None,
              help="Simulate the PC/SC card reader (default: on, off with --headless).")
@click.option("--run-dir", type=click.Path(file_okay=False), default="var/demo", show_default=True,
              help="Where the per-run configs, databases and logs go (wiped on the next run).")
@click.option("--no-timing", is_flag=True, help="Simulated readers answer at once.")
@click.option("--ready-file", type=click.Path(dir_okay=False), default=None,
              help="Write the endpoints as JSON here once everything is up (for scripts).")
@click.option("--vpcd-port", type=click.IntRange(1, 65535), default=None,
              help="The vpcd port of the running pcscd (default: read from its reader config).")
@click.option("--watchdog-s", type=click.FloatRange(1.0, 600.0), default=10.0, show_default=True,
              help="A process that sent READY=1 or WATCHDOG=1 and then none for this long is "
                   "restarted.")
def demo(headless: bool, scenarios: str | None, list_scenarios: bool, no_ui: bool,
         card: bool | None, run_dir: str, no_timing: bool, ready_file: str | None,
         vpcd_port: int | None, watchdog_s: float) -> None:
    """Start the simulator, broker, gateway, kiosk and gate edges and the kiosk UI together."""
    from smartlib_demo import scenarios as sc

    if list_scenarios:
        for name, s in sorted(sc.load_all().items()):
            click.echo(f"{name:20} {s.description}")
        return
    if headless and not scenarios:
        raise click.UsageError("--headless needs --scenario NAME[,NAME…] (see --list-scenarios)")
    if scenarios and not headless:
        raise click.UsageError("--scenario runs only with --headless")
    chosen: list[sc.Scenario] = []
    if scenarios:
        try:
            chosen = sc.select(scenarios)
        except sc.ScenarioError as exc:
            raise click.UsageError(str(exc)) from exc
    opts = DemoOptions(run_dir=Path(run_dir), ui=not (headless or no_ui),
                       card=(not headless) if card is None else card, timing=not no_timing,
                       vpcd_port=vpcd_port, watchdog_s=watchdog_s)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with stop_on_signals() as stop:
        system = DemoSystem(opts, interrupt=stop,
                            on_supervisor_change=lambda m: click.echo(f"supervisor: {m}", err=True))
        try:
            system.start()
        except DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            if ready_file:
                _write_ready(system, Path(ready_file))
            if headless:
                report = sc.run_all(chosen, system, stop)
                report["ports"] = dict(system.ports)  # all closed once the demo has stopped
                click.echo(json.dumps(report, ensure_ascii=False))
                if not report["ok"]:
                    sys.exit(1)
                return
            click.echo(system.banner())
            finished = system.supervisor.finished if system.supervisor else None
            while not stop.wait(1.0):
                if finished is not None and finished.is_set():
                    assert system.supervisor is not None
                    click.echo(f"{system.supervisor.finish_reason}; stopping the demo", err=True)
                    break
        finally:
            click.echo("stopping the demo …", err=True)
            system.stop()
            click.echo("stopped.", err=True)


def _write_ready(system: DemoSystem, path: Path) -> None:
    data = {"kiosk_url": system.kiosk_url, "gate_url": system.gate_url, "sim_url": system.sim_url,
            "staff_console_url": system.staff_console_url, "device_token": DEVICE_TOKEN,
            "central_url": system.central_url,
            "central_admin": {"username": CENTRAL_ADMIN[0], "password": CENTRAL_ADMIN[1]},
            "staff_token": STAFF_TOKEN, "run_dir": str(system.run_dir), "ports": system.ports,
            "pids": {p.name: p.popen.pid for p in system.current_procs()},
            "supervisor_state": str(system.supervisor_state), "card": system.options.card}
    tmp = Path(tempfile.mkstemp(dir=path.parent or ".", prefix=".ready-")[1])
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


@click.command()
@click.option("--kills", type=click.IntRange(0), default=20, show_default=True,
              help="SIGKILLs to send (each counted once the supervisor restarted the process).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the workload, "
              "the faults and the killer.")
@click.option("--kiosks", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Kiosk boxes (edge + agent each); there is always one gate box.")
@click.option("--minutes", type=click.FloatRange(0.1), default=None,
              help="Spread the kills over about this long (default: 3.6 s per kill).")
@click.option("--run-dir", type=click.Path(file_okay=False), default="var/soak", show_default=True,
              help="Configs, databases, logs and soak-detail.json (wiped on the next run).")
def soak(kills: int, seed: int, kiosks: int, minutes: float | None, run_dir: str) -> None:
    """Chaos soak: a whole site on simulators, a random workload, SIGKILLs; print one JSON line.

    Exits 1 when an action was lost or applied twice, a tag is released without a loan or
    a loan's tag alarm is still on with no task to release it, or fewer kills were counted.
    """
    from smartlib_demo.soak import Soak, SoakOptions, must_be_zero
    from smartlib_demo.soak_site import SoakSite

    opts = SoakOptions(kills=kills, seed=seed, kiosks=kiosks, run_dir=Path(run_dir),
                       minutes=minutes if minutes is not None else max(kills * 3.6 / 60, 0.5))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    site = SoakSite.create(opts.run_dir, kiosks, watchdog_s=opts.watchdog_s)
    with stop_on_signals() as stop:
        site.interrupt = stop
        t0 = time.monotonic()
        try:
            site.start()
        except DemoError as exc:
            site.stop()
            raise click.ClickException(str(exc)) from exc
        startup_s = round(time.monotonic() - t0, 1)
        try:
            report = Soak(opts, site, interrupt=stop).run()
        finally:
            site.stop()
        report["startup_s"] = startup_s
    click.echo(json.dumps(report, ensure_ascii=False))
    bad = must_be_zero(report)
    if bad:
        click.echo(f"soak failed: {', '.join(bad)} (see {report['detail']})", err=True)
        sys.exit(1)
