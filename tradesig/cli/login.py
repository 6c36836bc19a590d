"""``tradesig login``: log in to Kite (or Breeze) and store the day's access token (0600) in the data home."""

from __future__ import annotations

import sys
from enum import Enum

import typer

from tradesig.cli._common import app_context

app = typer.Typer(help="Log in to Kite (or Breeze) and store the day's access token (0600).",
                  add_completion=False, rich_markup_mode=None)


class Broker(str, Enum):
    kite = "kite"
    breeze = "breeze"


@app.command()
def login(
    ctx: typer.Context,
    broker: Broker = typer.Option(Broker.kite, "--broker", help="Which broker to log in to."),
    open_browser: bool = typer.Option(False, "--open", help="Open the login URL in a web browser."),
    request_token: str = typer.Option(None, "--request-token", metavar="TOKEN",
                                      help="The request_token (Kite) / API_Session (Breeze) from the redirect; "
                                           "'-' reads it from stdin (keeps it out of the process list)."),
    redirect_url: str = typer.Option(None, "--redirect-url", metavar="URL",
                                     help="The whole redirect URL pasted from a browser (headless servers)."),
    timeout: float = typer.Option(300.0, "--timeout", min=1.0, metavar="SECONDS",
                                  help="How long to wait for the redirect on the loopback listener."),
    sim_url: str = typer.Option(None, "--sim-url", metavar="URL",
                                help="Log in to 'tradesig sim' at URL (Kite: its REST root and /connect/login; "
                                "--broker breeze: its Breeze port and /apiuser/login)."),
) -> None:
    """Print (or --open) the login URL, catch the redirect on the configured loopback redirect URL (or take
    --request-token / --redirect-url), exchange it and store the token until its expiry (Kite: 06:00 IST next day;
    Breeze: midnight IST).

    Exit codes: 0 logged in; 1 no redirect before --timeout, login refused, or request token invalid/expired;
    2 configuration or usage error; 3 broker unreachable.
    """
    from tradesig.broker.login import login as do_login
    from tradesig.broker.tokens import format_remaining
    from tradesig.clock import SystemClock, to_ist

    if request_token and redirect_url:
        raise typer.BadParameter("give --request-token or --redirect-url, not both")
    if request_token == "-":
        request_token = sys.stdin.readline().strip()
        if not request_token:
            raise typer.BadParameter("no token on stdin", param_hint="--request-token")
    loaded = app_context(ctx).config()
    from tradesig.config import require_writable_home

    require_writable_home(loaded.home)  # the token is stored there: fail now, not after the user logged in

    def show_url(url: str, listening_on: str) -> None:
        typer.echo(f"Log in to {broker.value} at:\n  {url}")
        typer.echo(f"Waiting up to {timeout:g}s for the redirect on {listening_on} ...")
        typer.echo("(headless? log in elsewhere and rerun with --redirect-url '<the address you land on>')",
                   err=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    clock = SystemClock()
    result = do_login(loaded, broker.value, clock=clock, request_token=request_token, redirect=redirect_url,
                      sim_url=sim_url, timeout=timeout, on_login_url=show_url)
    rec = result.record
    until = to_ist(rec.expires_at).strftime("%Y-%m-%d %H:%M IST")
    name = f"{rec.user_name} ({rec.user_id})" if rec.user_name else rec.user_id
    typer.echo(f"Logged in to {broker.value} as {name}; token valid until {until} "
               f"(in {format_remaining(rec.remaining(clock.now()))}), stored in {result.path}")
