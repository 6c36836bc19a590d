"""The ``tradesig`` root command.

Subcommands are imported only when invoked (``tradesig --help`` imports none of polars, duckdb, pandas or
kiteconnect). Library errors become one line on stderr and the documented exit code here, in one place.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib.util import find_spec

import typer
from typer.core import TyperGroup

from tradesig import __version__
from tradesig.cli._common import AppContext
from tradesig.errors import TradesigError

# name -> (module under tradesig.cli, attribute, one-line help shown by `tradesig --help`)
# A command is listed only once its module exists (checked with find_spec, which imports nothing).
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "login": ("login", "app", "Log in to Kite (or Breeze) and store the day's access token (0600)."),
    "token-check": ("token_check", "app", "Is the stored token present, unexpired and accepted? (exit 0/1/2/3)"),
    "calendar": ("calendar", "app", "Trading days, session phase now, next open, holidays (exit 0/1/255)."),
    "feed": ("feed", "app", "Stream ticks, persist them, build bars; --serve the viewer hub."),
    "signals": ("signals", "app", "The 13-indicator board and the S1-S8 weekly-zone signals."),
    "trade": ("trade", "app", "The strategy engine: start, backtest, status, positions, orders, exit, flatten."),
    "report": ("report", "app", "Daily/weekly/monthly P&L, signal stats, charges, feed health."),
    "backup": ("backup", "app", "Create, verify, restore and prune backups of the data home."),
    "history": ("history", "app", "Import recorded OHLC files as bars; show stored bars."),
    "sim": ("sim", "app", "A local exchange speaking Kite's REST and ticker protocols, replaying real data."),
    "config": ("config", "app", "Write, show and check the configuration."),
    "systemd": ("systemd", "app", "Render or install the systemd units and timers."),
    "demo": ("demo", "app", "The whole trading day end to end on recorded data, in one command."),
}


def available_subcommands() -> list[str]:
    """Subcommands whose module is present (listed in the order of SUBCOMMANDS)."""
    return [name for name, (module, _, _) in SUBCOMMANDS.items() if find_spec(f"tradesig.cli.{module}")]


class LazyGroup(TyperGroup):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return available_subcommands()

    def get_command(self, ctx: typer.Context, cmd_name: str):  # -> click Command
        if cmd_name in SUBCOMMANDS and find_spec(f"tradesig.cli.{SUBCOMMANDS[cmd_name][0]}"):
            module_name, attr, _ = SUBCOMMANDS[cmd_name]
            module = importlib.import_module(f"tradesig.cli.{module_name}")
            obj = getattr(module, attr)
            command = typer.main.get_command(obj) if isinstance(obj, typer.Typer) else obj
            command.name = cmd_name
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: typer.Context, formatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in available_subcommands()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    cls=LazyGroup,
    name="tradesig",
    help="Intraday trading toolkit for NIFTY 50, NIFTY BANK and SENSEX (Zerodha Kite Connect).\n\n"
    "Exit codes: 0 success, 1 the answer is no, 2 usage/config error, 3 broker unreachable, 255 unknown.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tradesig {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config: str = typer.Option(None, "--config", metavar="PATH", help="Config file (default: $TRADESIG_CONFIG, "
                               "else $XDG_CONFIG_HOME/tradesig/config.toml)."),
    home: str = typer.Option(None, "--home", metavar="PATH", help="Data home (default: $TRADESIG_HOME, "
                             "$STATE_DIRECTORY, else $XDG_DATA_HOME/tradesig)."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More log output (-vv for debug)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Intraday trading toolkit for India's index markets."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = AppContext(config_path=config, home=home, verbose=verbose)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and maps :class:`TradesigError` to its exit code (one line)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="tradesig", standalone_mode=True)
    except TradesigError as exc:
        for line in exc.details:  # e.g. each problem of an invalid config, one per line
            typer.echo(f"tradesig: {line}", err=True)
        typer.echo(f"tradesig: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("tradesig: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
