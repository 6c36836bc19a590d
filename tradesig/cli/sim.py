"""``tradesig sim``: a local exchange speaking Kite's REST API and ticker protocol, replaying recorded real data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from tradesig.cli._common import app_context, date_option, time_option, to_json

app = typer.Typer(help="A local exchange speaking Kite's REST and ticker protocols, replaying real data.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)

DEFAULT_PORT = 8600


@app.command("serve")
def serve(
    ctx: typer.Context,
    data: list[Path] = typer.Option(None, "--data", metavar="FILE", help="1-minute bars to replay (Parquet/CSV: ts, "
                                    "symbol, open, high, low, close); repeat for several indices. Without it: a "
                                    "seeded SYNTHETIC session, marked synthetic everywhere."),
    day: Any = date_option("--date", help="Session to replay (default: the last date in the data; synthetic: "
                                          "today or the next weekday)."),
    speed: float = typer.Option(1.0, "--speed", min=1.0, max=1000.0, help="Sim seconds per real second (1-1000)."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="Port on 127.0.0.1 for REST and the "
                             "ticker WebSocket (0: any free port)."),
    start: Any = time_option("--start", help="IST time the replay starts (default: the first bar, 09:15)."),
    redirect_url: str = typer.Option(None, "--redirect-url", metavar="URL", help="Where /connect/login redirects "
                                     "with request_token (default: kite.redirect_url of the config)."),
    api_key: str = typer.Option("tradesig-sim", "--api-key", help="API key the sim accepts."),
    api_secret: str = typer.Option("tradesig-sim-secret", "--api-secret", help="API secret for the session "
                                   "checksum (a well-known test value, not a credential)."),
    open_access: bool = typer.Option(False, "--open-access", help="Accept any access token (quick demos)."),
    instruments: Path = typer.Option(None, "--instruments", metavar="FILE", help="Kite NFO/BFO instruments dump "
                                     "(default: ../shared/data/kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz)."),
    chain: list[Path] = typer.Option(None, "--chain", metavar="FILE", help="Real option-chain snapshots (Parquet) "
                                     "priced from where they hold the replayed day (default: the NIFTY snapshots "
                                     "in ../shared/data/options); other options: Black-Scholes, modelled."),
    fault: list[str] = typer.Option(None, "--fault", metavar="KIND[,key=value]", help="Inject a fault, e.g. "
                                    "'stall,at=10:30,seconds=20', 'drop,at=11:00', 'expire_token,at=12:00', "
                                    "'rate_limit,seconds=60', 'delay,seconds=2,count=5', 'reject_next_order', "
                                    "'timeout_next_order,seconds=30'. Repeatable. Also POST /_sim/fault."),
    linger: float = typer.Option(30.0, "--linger", min=0.0, help="Seconds to keep serving after the replayed "
                                 "session ends."),
    forever: bool = typer.Option(False, "--forever", help="Keep serving after the session (until SIGTERM)."),
    no_rate_limits: bool = typer.Option(False, "--no-rate-limits", help="Do not answer 429 beyond Kite's limits "
                                        "(quote 1/s, historical 3/s, orders 10/s)."),
    wait_for_client: bool = typer.Option(False, "--wait-for-client", help="Hold the sim clock until the first "
                                         "ticker client subscribes."),
    seed: int = typer.Option(0, "--seed", help="Seed of the tick paths, depth and synthetic data."),
    ticks_per_bar: int = typer.Option(12, "--ticks-per-bar", min=1, max=59, help="Ticks synthesised per 1m bar."),
    capital: float = typer.Option(1_000_000.0, "--capital", help="Account cash, rupees."),
    iv_file: Path = typer.Option(None, "--iv-file", metavar="FILE", help="Daily implied-volatility series (e.g. "
                                 "India VIX closes) for modelled option premiums (default: pricing.iv_file, else "
                                 "estimated from the index's daily closes)."),
    breeze_port: int = typer.Option(None, "--breeze-port", min=0, max=65535, help="Port on 127.0.0.1 for ICICI "
                                    "Breeze's REST API and socket.io streams over the same replay (default: --port "
                                    "+ 1; a free port with --port 0)."),
) -> None:
    """Serve a replayed session on 127.0.0.1 until SIGTERM/SIGINT, or --linger seconds after it ends.

    KiteConnect(api_key, root="http://127.0.0.1:PORT") and KiteTicker(api_key, token, root="ws://127.0.0.1:PORT").
    Log in through GET /connect/login?api_key=tradesig-sim&v=3 (redirects with request_token), then
    POST /session/token. Control: GET /_sim/state, POST /_sim/fault. Default API key 'tradesig-sim', secret
    'tradesig-sim-secret'. ICICI Breeze is served on --breeze-port: point breeze.root (or --sim-url of 'login
    --broker breeze' and 'feed --source breeze') at it."""
    from tradesig.clock import IST
    from tradesig.errors import redact
    from tradesig.sim.exchange import DEFAULT_API_SECRET, serve_from_options

    d, t = day, start
    settings = app_context(ctx).config().settings

    def announce(sim) -> None:
        typer.echo(f"tradesig sim: {sim.day} at {sim.config.speed:g}x"
                   + ("  [SYNTHETIC data: seeded, not recorded]" if sim.synthetic else
                      f"  (replaying {', '.join(sim.data.symbols())} from {len(sim.data.sources)} file(s))"))
        typer.echo(f"  REST       {sim.rest_url}      (KiteConnect root)")
        typer.echo(f"  ticker     {sim.ws_url}        (KiteTicker root)")
        typer.echo(f"  login      {sim.rest_url}/connect/login?api_key={sim.config.api_key}&v=3")
        typer.echo(f"  api key    {sim.config.api_key}")
        secret = sim.config.api_secret if sim.config.api_secret == DEFAULT_API_SECRET else redact(sim.config.api_secret)
        typer.echo(f"  api secret {secret}" + ("   (open access: any token)" if sim.config.open_access else ""))
        typer.echo(f"  control    {sim.rest_url}/_sim/state   POST {sim.rest_url}/_sim/fault")
        if sim.breeze is not None:
            typer.echo(f"  breeze     {sim.breeze.url}      (breeze.root; REST, socket.io streams, "
                       f"login {sim.breeze.url}/apiuser/login)")
        typer.echo(f"  clock      starts {sim.clock.now().astimezone(IST):%H:%M:%S} IST"
                   + (", held until the first ticker client" if sim.config.wait_for_client else ""))

    try:
        serve_from_options(settings, data_files=list(data or []), day=d, speed=speed, start=t, port=port,
                           redirect_url=redirect_url, api_key=api_key, api_secret=api_secret,
                           open_access=open_access, instruments=instruments, chain=list(chain) if chain else None,
                           faults=list(fault or []), linger=None if forever else linger,
                           rate_limits=not no_rate_limits, wait_for_client=wait_for_client, seed=seed,
                           ticks_per_bar=ticks_per_bar, capital=capital, announce=announce, iv_file=iv_file,
                           breeze_port=breeze_port if breeze_port is not None else (port + 1 if port else 0))
    except OSError as exc:  # error mapping: a busy or forbidden port is a usage error (exit 2), not a traceback
        import errno

        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        from tradesig.errors import ConfigError

        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {os.strerror(exc.errno)}",
                          "choose another --port (0: any free port)") from None


@app.command("fault")
def fault_cmd(
    spec: str = typer.Argument(..., metavar="KIND[,key=value]", help="e.g. 'stall,seconds=20', 'drop', "
                               "'expire_token', 'rate_limit,seconds=60', 'clear'."),
    url: str = typer.Option(f"http://127.0.0.1:{DEFAULT_PORT}", "--url", help="The running sim's REST root."),
) -> None:
    """Inject a fault into a running sim (POST /_sim/fault); prints the active faults as JSON."""
    from tradesig.sim.control import post_fault

    typer.echo(to_json(post_fault(url, spec)))


@app.command("state")
def state_cmd(
    url: str = typer.Option(f"http://127.0.0.1:{DEFAULT_PORT}", "--url", help="The running sim's REST root."),
) -> None:
    """Print a running sim's state (GET /_sim/state) as JSON."""
    from tradesig.sim.control import get_state

    typer.echo(to_json(get_state(url)))
