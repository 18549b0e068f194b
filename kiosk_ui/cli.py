"""``smartlib kiosk``: start the patron kiosk against an edge."""

from __future__ import annotations

import click


@click.command("kiosk")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="smartlib.toml (default: $SMARTLIB_CONFIG or built-in defaults)")
@click.option("--edge-url", default=None, help="the edge's HTTP URL (overrides kiosk.edge_url)")
@click.option("--windowed", is_flag=True, help="a normal 1280×800 window instead of kiosk mode")
@click.option("--language", type=click.Choice(["vi", "en"]), default=None,
              help="the default language (overrides kiosk.language)")
@click.option("--large-text", is_flag=True, default=None, help="large-text mode")
@click.option("--high-contrast", is_flag=True, default=None, help="high-contrast theme")
def kiosk(config_path: str | None, edge_url: str | None, windowed: bool, language: str | None,
          large_text: bool | None, high_contrast: bool | None) -> None:
    """Run the full-screen self-service kiosk (talks to `smartlib serve` over HTTP/WebSocket)."""
    from smartlib.cli import settings_or_exit

    settings = settings_or_exit(config_path)
    from kiosk_ui.app import KioskOptions, run_kiosk
    from kiosk_ui.errors import KioskOptionsError

    opts = KioskOptions.from_settings(
        settings, edge_url=edge_url, language=language,
        large_text=large_text or None, high_contrast=high_contrast or None)
    if windowed:
        opts.fullscreen = False
    try:
        code = run_kiosk(opts)
    except KioskOptionsError as exc:
        raise click.ClickException(str(exc)) from exc
    raise SystemExit(code)
