"""``tradesig feed``: stream ticks, persist them, build bars, survive faults; ``--serve`` the viewer hub.

Runs under systemd as ``Type=notify`` (READY=1 once connected and subscribed, WATCHDOG=1 while data flows,
STATUS= line). SIGTERM and ``--until`` flush everything and exit 0. docs/feed.md has the details.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from tradesig.cli._common import app_context, to_json

app = typer.Typer(help="Stream ticks, persist them, build bars; --serve the viewer hub.", add_completion=False)


class Source(str, Enum):
    kite = "kite"
    breeze = "breeze"
    sim = "sim"


class SummaryFormat(str, Enum):
    text = "text"
    json = "json"


def _read_token_file(path: str | None, what: str) -> str | None:
    from tradesig.errors import ConfigError

    if not path:
        return None
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    if not text:
        raise ConfigError(f"the {what} file {path} is empty")
    return text


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
    fmt: SummaryFormat = typer.Option(SummaryFormat.text, "--format", help="Summary printed on exit."),
) -> None:
    """Run the market-data service until --until, SIGTERM or Ctrl-C (exit 0 after flushing everything)."""
    from tradesig.clock import SystemClock
    from tradesig.errors import ConfigError
    from tradesig.feed.service import options_from_settings, run_feed
    from tradesig.market import canonical_symbol

    loaded = app_context(ctx).config()
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
            hh, mm = until_text.split(":")
            from datetime import time

            until_time = time(int(hh), int(mm))
        except ValueError:
            raise typer.BadParameter(f"{until_text!r} is not an HH:MM time", param_hint="--until") from None
    try:
        wanted = [canonical_symbol(s) for s in symbols] if symbols else None
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--symbols") from None
    hub_token = _read_token_file(token_file or settings.hub.token_file or None, "viewer token")
    options = options_from_settings(
        loaded, source=chosen, symbols=wanted, until=until_time, serve=serve, hub_token=hub_token,
        publish_token=_read_token_file(publish_token_file, "publish token"), sim_url=sim_url,
        chain_strikes=chain_strikes)
    summary = run_feed(loaded, options, clock=SystemClock())
    if fmt is SummaryFormat.json:
        typer.echo(to_json(summary))
    else:
        bars = ", ".join(f"{k} {v}" for k, v in summary.bars_written.items()) or "none"
        typer.echo(f"feed stopped ({summary.stopped_by}): {summary.ticks} ticks ({summary.polled_ticks} polled), "
                   f"bars written {bars}; {summary.gaps} gaps, {summary.reconnects} reconnects, "
                   f"{summary.recovered_ticks} ticks recovered from the journal")
