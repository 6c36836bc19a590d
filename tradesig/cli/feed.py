"""``tradesig feed``: stream ticks, persist them, build bars, survive faults; ``--serve`` the viewer hub.

Runs under systemd as ``Type=notify`` (READY=1 once connected and subscribed, WATCHDOG=1 while data flows,
STATUS= line). SIGTERM and ``--until`` flush everything and exit 0. docs/feed.md has the details.
"""

from __future__ import annotations

from enum import Enum

import typer

from tradesig.cli._common import Format, app_context, format_option, parse_time_option, to_json

app = typer.Typer(help="Stream ticks, persist them, build bars; --serve the viewer hub.", add_completion=False)


class Source(str, Enum):
    kite = "kite"
    breeze = "breeze"
    sim = "sim"


def _read_token_file(path: str | None, what: str) -> str | None:
    from tradesig.feed.hub_auth import read_token_file

    return read_token_file(path, what) if path else None


@app.command()
def feed(
    ctx: typer.Context,
    source: Source = typer.Option(Source.kite, "--source", help="Upstream: kite, breeze, or a running sim."),
    symbols: list[str] = typer.Option(None, "--symbols", help="Indices to stream (default: feed.symbols), "
                                      "e.g. --symbols NIFTY --symbols BANKNIFTY."),
    until: str = typer.Option(None, "--until", metavar="HH:MM", help="Stop at this IST time (default feed.until; "
                              "'none' runs until SIGTERM). With --source sim: the sim's replay time."),
    serve: str = typer.Option(None, "--serve", metavar="[HOST:]PORT", help="Serve the viewer hub (WebSocket, "
                              "GET / page, GET /health). Loopback unless HOST says otherwise."),
    token_file: str = typer.Option(None, "--token-file", metavar="FILE", help="Viewer token (required for a "
                                   "non-loopback --serve; default hub.token_file)."),
    publish_token_file: str = typer.Option(None, "--publish-token-file", metavar="FILE",
                                           help="Token that lets non-loopback clients publish signals."),
    sim_url: str = typer.Option(None, "--sim-url", metavar="URL", help="REST URL of 'tradesig sim serve' "
                                "(the ticker is on the same port). Implies --source sim, except with --source "
                                "breeze: then the sim's Breeze port (overrides breeze.root)."),
    chain_strikes: int = typer.Option(None, "--chain-strikes", help="Option strikes each side of spot to "
                                      "subscribe for OI/PCR (default feed.chain_strikes; 0: none)."),
    fmt: Format = format_option(Format.text, Format.json, help="Summary printed on exit."),
) -> None:
    """Run the market-data service until --until, SIGTERM or Ctrl-C (exit 0 after flushing everything)."""
    from tradesig.clock import SystemClock
    from tradesig.config import require_writable_home
    from tradesig.errors import ConfigError
    from tradesig.feed.service import options_from_settings, run_feed
    from tradesig.market import canonical_symbol

    loaded = app_context(ctx).config()
    require_writable_home(loaded.home)  # fail at start (exit 2), not at shutdown after waiting for a token
    from tradesig.calendar import load_overrides, overrides_path

    load_overrides(overrides_path(loaded))  # likewise a broken calendar override file (exit 2, one line)
    settings = loaded.settings
    chosen = Source.sim.value if sim_url and source is not Source.breeze else source.value
    if chosen == "sim" and not sim_url:
        from urllib.parse import urlsplit

        from tradesig.feed.hub import is_loopback_host

        if not is_loopback_host(urlsplit(settings.kite.root).hostname or ""):  # a real Kite root is never a sim
            raise ConfigError("--source sim needs --sim-url URL (kite.root is not a sim on loopback)",
                              "e.g. --sim-url http://127.0.0.1:8600")
        sim_url = settings.kite.root
    until_text = until if until is not None else settings.feed.until
    until_time = None
    if until_text and until_text.lower() != "none":
        try:
            until_time = parse_time_option(until_text)
        except typer.BadParameter as exc:
            exc.param_hint = "--until"
            raise
    try:
        wanted = [canonical_symbol(s) for s in symbols] if symbols else None
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--symbols") from None
    hub_token = _read_token_file(token_file or settings.hub.token_file or None, "viewer token")
    options = options_from_settings(
        loaded, source=chosen, symbols=wanted, until=until_time, serve=serve, hub_token=hub_token,
        publish_token=_read_token_file(publish_token_file, "publish token"), sim_url=sim_url,
        chain_strikes=chain_strikes)
    from tradesig.cli.token_check import _warn_calendar_horizon

    _warn_calendar_horizon(loaded)
    summary = run_feed(loaded, options, clock=SystemClock())
    if fmt is Format.json:
        typer.echo(to_json(summary))
    else:
        bars = ", ".join(f"{k} {v}" for k, v in summary.bars_written.items()) or "none"
        typer.echo(f"feed stopped ({summary.stopped_by}): {summary.ticks} ticks ({summary.polled_ticks} polled), "
                   f"bars written {bars}; {summary.gaps} gaps, {summary.reconnects} reconnects, "
                   f"{summary.recovered_ticks} ticks recovered from the journal")
