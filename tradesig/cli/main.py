"""The ``tradesig`` root command.

Subcommands are imported only when invoked (``tradesig --help`` imports none of polars, duckdb, pandas or
kiteconnect). Library errors become one line on stderr and the documented exit code here, in one place.
"""

from __future__ import annotations

import importlib
import sys
from importlib.util import find_spec

import typer
from typer.core import TyperGroup

from tradesig import __version__
from tradesig.cli import _typer_fast
from tradesig.cli._common import AppContext
from tradesig.errors import TradesigError

_typer_fast.install()  # option values without importing pydantic (see the module)

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
    "preflight": ("preflight", "app", "Every check a trading morning needs, one line each (exit 1 if any fails)."),
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
    "Exit codes: 0 success, 1 the answer is no, 2 usage/config error, 3 broker unreachable, 255 unknown. "
    "--config, --home and -v may also follow the subcommand.",
    no_args_is_help=True,
    add_completion=True,
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
    from tradesig.logsetup import configure_logging

    configure_logging(verbose)
    ctx.obj = AppContext(config_path=config, home=home, verbose=verbose)


# Global options that take a value, and the flags; accepted after the subcommand too (hoist_global_options).
GLOBAL_VALUE_OPTIONS = ("--config", "--home")
GLOBAL_FLAGS = ("--verbose",)


def hoist_global_options(args: list[str]) -> list[str]:
    """``tradesig trade status -v --home H`` → ``tradesig -v --home H trade status``: the global options moved
    before the subcommand (no subcommand declares these names). Words after ``--`` are left alone."""
    if not args or args[0].startswith("-"):
        # options before the subcommand: find where the subcommand starts
        i = 0
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in GLOBAL_VALUE_OPTIONS else 1
        head, rest = args[:i], args[i:]
    else:
        head, rest = [], args
    if not rest:
        return args
    moved: list[str] = []
    kept = rest[:1]
    i = 1
    while i < len(rest):
        word = rest[i]
        if word == "--":
            kept += rest[i:]
            break
        if word in GLOBAL_VALUE_OPTIONS and i + 1 < len(rest):
            moved += rest[i:i + 2]
            i += 2
            continue
        if word.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS and "=" in word or word in GLOBAL_FLAGS \
                or (len(word) > 1 and word.startswith("-") and set(word[1:]) == {"v"}):
            moved.append(word)
        else:
            kept.append(word)
        i += 1
    return head + moved + kept


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and maps :class:`TradesigError` to its exit code (one line)."""
    command = typer.main.get_command(app)
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        code = command.main(args=args, prog_name="tradesig", standalone_mode=False)
    except TradesigError as exc:
        for line in exc.details:  # e.g. each problem of an invalid config, one per line
            typer.echo(f"tradesig: {line}", err=True)
        typer.echo(f"tradesig: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("tradesig: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except ClickException as exc:  # usage errors: one line, exit 2 (a group run bare shows its help)
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
        else:
            typer.echo(_usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


# typer 0.29 vendors click: its ClickException is the base of the public typer.BadParameter.
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _usage_line(exc: Exception) -> str:
    """``tradesig: calendar status: Invalid value for '--at': … (see 'tradesig calendar status --help')``."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"tradesig: {message}"
    where = ctx.command_path.partition(" ")[2]
    return f"tradesig: {where + ': ' if where else ''}{message} (see '{ctx.command_path} --help')"
