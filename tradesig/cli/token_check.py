"""``tradesig token-check``: is the stored token present, unexpired and accepted by the broker? (exit 0/1/2/3)"""

from __future__ import annotations

import shlex
from enum import Enum

import typer

from tradesig.cli._common import Format, app_context, format_option, to_json

app = typer.Typer(help="Is the stored token present, unexpired and accepted? (exit 0/1/2/3)",
                  add_completion=False, rich_markup_mode=None)


class Broker(str, Enum):
    kite = "kite"
    breeze = "breeze"


def _login_command(ctx: typer.Context, broker: str, sim_url: str | None) -> str:
    actx = app_context(ctx)
    parts = ["tradesig"]
    if actx.config_path:
        parts += ["--config", actx.config_path]
    if actx.home:
        parts += ["--home", actx.home]
    parts += ["login", "--broker", broker]
    if sim_url:
        parts += ["--sim-url", sim_url]
    return shlex.join(parts)


def _warn_calendar_horizon(loaded: object) -> None:
    """One line on stderr when the market calendar's coverage ends within 45 days (tradesig.calendar)."""
    from tradesig.calendar import check_calendar

    _, horizon = check_calendar(loaded)  # type: ignore[arg-type]
    if horizon:
        typer.echo(horizon, err=True)


@app.command("token-check")
def token_check(
    ctx: typer.Context,
    broker: Broker = typer.Option(Broker.kite, "--broker", help="Which broker's token to check."),
    offline: bool = typer.Option(False, "--offline", help="Do not ask the broker; check presence and expiry only."),
    min_remaining: str = typer.Option("0", "--min-remaining", metavar="DURATION",
                                      help="Fail unless at least this much validity is left (e.g. 30m, 2h)."),
    fmt: Format = format_option(Format.text, Format.json, help="Output format (json: stable schema, docs/login.md)."),
    sim_url: str = typer.Option(None, "--sim-url", metavar="URL", help="Check against 'tradesig sim' at URL."),
) -> None:
    """Exit 0: the token is present, unexpired (with --min-remaining to spare) and accepted by the broker
    (GET /user/profile). 1: missing, expired, expiring, rejected or for another API key (prints the command that
    fixes it). 2: configuration error (incl. a token file readable by group/others). 3: broker unreachable.
    """
    from tradesig.broker.login import check_token
    from tradesig.broker.tokens import parse_duration
    from tradesig.clock import SystemClock
    from tradesig.errors import ConfigError

    try:
        margin = parse_duration(min_remaining)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--min-remaining") from None
    fix_cmd = _login_command(ctx, broker.value, sim_url)
    clock = SystemClock()
    try:
        loaded = app_context(ctx).config()
    except ConfigError as exc:
        if fmt is Format.json:
            from tradesig.broker.login import TokenCheck

            typer.echo(to_json(TokenCheck(broker.value, "config_error", exc.message, clock.now(),
                                          fix=exc.hint).to_json()))
            raise typer.Exit(exc.exit_code) from None
        raise
    result = check_token(loaded, broker.value, clock=clock, offline=offline, min_remaining=margin,
                         sim_url=sim_url, login_command=fix_cmd)
    _warn_calendar_horizon(loaded)
    if fmt is Format.json:
        typer.echo(to_json(result.to_json()))
    elif result.exit_code == 0:
        typer.echo(result.message)
    else:
        typer.echo(f"tradesig: {result.status}: {result.message}" + (f" -- fix: {result.fix}" if result.fix else ""),
                   err=True)
    raise typer.Exit(result.exit_code)
