"""``smartlib config``: check a site configuration file.

``config check FILE`` fails (exit 1) on a key that is not valid and on every unsafe setting
:func:`smartlib.config_audit.audit_settings` finds (default or empty secrets, plain MQTT or
SIP2 off loopback, key files others may read, certificates near their end). For a lab,
``--allow-insecure`` prints the unsafe settings as warnings and passes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from smartlib.config import PROFILE_CHARSETS, Settings, load_settings
from smartlib.config_audit import Finding, audit_settings
from smartlib.errors import ConfigError


@click.group()
def config() -> None:
    """Site configuration tools."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the effective configuration (secrets masked).")
@click.option("--allow-insecure", is_flag=True,
              help="Report unsafe settings (default secrets, plain MQTT/SIP2 off loopback, "
                   "open key files, expiring certificates) as warnings, not failures: a lab.")
def check(file: str, show: bool, allow_insecure: bool) -> None:
    """Validate FILE and audit it; print each problem with its key path, exit 1 if any."""
    try:
        settings = load_settings(file)
    except ConfigError as exc:
        click.echo(f"{file}: INVALID", err=True)
        for path, msg in exc.problems:
            click.echo(f"  {path}: {msg}", err=True)
        sys.exit(1)
    suffix = report_findings(str(file), audit_settings(settings), allow_insecure=allow_insecure)
    click.echo(f"{file}: OK (site {settings.site.id}, device {settings.device.id}, role {settings.device.role})"
               + suffix)
    for warning in vietnamese_charset_warnings(settings):
        click.echo(f"  warning: {warning}", err=True)
    if show:
        click.echo(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))


VIETNAMESE_SAMPLE = "Nguyễn Văn Ánh: Truyện Kiều, Đất rừng phương Nam"


def vietnamese_charset_warnings(settings: Settings) -> list[str]:
    """A warning for each ILS connection whose SIP2 charset cannot carry Vietnamese
    (FOLIO's default cp850 loses every tone mark): ``[ils]`` and each
    ``[gateway.site_ils.<site>]``."""
    places = [("ils", settings.ils)] + [(f"gateway.site_ils.{site}", settings.ils_for(site))
                                        for site in settings.gateway.site_ils]
    out = []
    for path, ils in places:
        charset = ils.sip2.charset or PROFILE_CHARSETS[ils.profile]
        try:
            VIETNAMESE_SAMPLE.encode(charset)
        except UnicodeEncodeError:
            out.append(f"{path}: SIP2 charset {charset} (profile {ils.profile}) cannot carry "
                       "Vietnamese; names and titles will be garbled. Set the ILS's SIP2 "
                       f"encoding to UTF-8 and sip2.charset = \"utf-8\" under [{path}]")
    return out


def report_findings(name: str, findings: Sequence[Finding], *, allow_insecure: bool) -> str:
    """Print a configuration audit's findings for ``name`` to stderr: as problems, ending
    the command with exit 1, or (``allow_insecure``) as warnings. Returns the ``", N
    warning(s)"`` to add to the OK line ("" without findings)."""
    if findings and not allow_insecure:
        click.echo(f"{name}: UNSAFE ({len(findings)} problem(s); --allow-insecure passes a lab)",
                   err=True)
        for f in findings:
            click.echo(f"  {f.path}: {f.problem}", err=True)
        sys.exit(1)
    for f in findings:
        click.echo(f"  warning: {f.path}: {f.problem}", err=True)
    return f", {len(findings)} warning(s)" if findings else ""
