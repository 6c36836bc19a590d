"""``tradesig history``: import recorded OHLC files as bars (validated, with a summary); show stored bars."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from tradesig.cli._common import Format, Interval, app_context, date_option, format_option, output, to_json

app = typer.Typer(help="Import recorded OHLC files as bars; show stored bars.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


class Session(str, Enum):
    regular = "regular"
    extended = "extended"
    all = "all"


@app.command("import")
def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="CSV (.csv, .csv.gz) or Parquet OHLC files."),
    symbol: str = typer.Option(None, "--symbol", help="Symbol of every row (overrides the file's symbol column, "
                               "e.g. NIFTY BANK for a file labelled NIFTY)."),
    interval: Interval = typer.Option(None, "--interval", help="Bar interval of the file (default: inferred)."),
    fmt: Format = format_option(Format.text, Format.json, help="Summary format."),
    circuit_band: float = typer.Option(20.0, "--circuit-band", metavar="PCT", min=0.0,
                                       help="Reject a bar whose high or low is further than PCT % from the previous "
                                       "bar's close (20: the widest index circuit breaker; 0: off)."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Store the valid rows of a file with "
                                       "rejected rows (default: reject the whole file, store nothing of it)."),
) -> None:
    """Validate and store bars; prints a summary per file. Importing the same data twice adds nothing.

    A file with any bad row (unparseable, non-finite or absurd price, high < low, open/close outside the range, a
    jump beyond the circuit band, misaligned, conflicting duplicate) is rejected whole: its bad lines are listed on
    stderr with their line numbers and nothing of it is stored. Exit 0 when every file was imported, 2 (with the
    other files' summaries printed) when one was rejected or unusable."""
    from tradesig.config import require_writable_home
    from tradesig.errors import DataError
    from tradesig.history import import_files

    home = require_writable_home(app_context(ctx).config().home)
    reports = import_files(home, list(files), symbol=symbol, interval=interval.value if interval else None,
                           circuit_band_pct=circuit_band, skip_bad_rows=skip_bad_rows)
    if fmt is Format.json:
        typer.echo(to_json([r.to_dict() for r in reports]))
    else:
        typer.echo("\n".join(r.summary() for r in reports if not r.error))
    failed = [r for r in reports if r.error]
    if failed:
        unusable = any(not r.examples for r in failed)
        error = DataError("; ".join(r.error or "" for r in failed),
                          "fix or remove the file; nothing was imported from it" if unusable
                          else "its bad lines are listed above")
        error.details = tuple(str(p) for r in failed for p in r.examples)
        raise error


@app.command("show")
def show(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="NIFTY, BANKNIFTY, SENSEX (any spelling) or a tradingsymbol."),
    interval: Interval = typer.Option(Interval.h1, "--interval", help="Bar interval (derived from 1m on read)."),
    start: Any = date_option("--from", help="First IST date (inclusive)."),
    end: Any = date_option("--to", help="Last IST date (inclusive)."),
    session: Session = typer.Option(Session.regular, "--session", help="Regular-session bars, the bars outside "
                                    "it (stored as imported), or both."),
    fmt: Format = format_option(Format.table, Format.json, Format.csv, help="Output format (times in IST)."),
) -> None:
    """Print stored bars of SYMBOL (times IST). Exit 2 when there are none in the range."""
    from tradesig.history import show_bars

    d0, d1 = start, end
    loaded = app_context(ctx).config()
    rows = show_bars(loaded.home, symbol, interval.value, d0, d1, session=session.value)
    columns = ["symbol", "ts", "open", "high", "low", "close", "volume", "oi", "status"]
    if fmt is Format.table:
        for row in rows:
            row["time (IST)"] = row["ts"]
        columns[1] = "time (IST)"
    elif fmt is Format.csv:
        for row in rows:
            row["ts"] = row["ts"].isoformat()
    typer.echo(output(rows, columns, fmt))


@app.command("list")
def list_(ctx: typer.Context,
          fmt: Format = format_option(Format.table, Format.json, Format.csv)) -> None:
    """What is stored: symbols and intervals with their first/last IST date, days and bars.

    Only stored intervals are listed; 5m/15m/1h/4h/1d are derived from them on read."""
    from tradesig.history import coverage

    rows = coverage(app_context(ctx).config().home)
    if not rows and fmt is Format.table:
        typer.echo("no bars stored (import some with 'tradesig history import FILE')")
        return
    typer.echo(output(rows, ["symbol", "interval", "session", "first", "last", "days", "bars"], fmt))


@app.command("gaps")
def gaps(ctx: typer.Context,
         symbols: list[str] = typer.Option(None, "--symbol", help="Only these symbols (repeatable)."),
         start: Any = date_option("--from", help="First IST date."),
         end: Any = date_option("--to", help="Last IST date."),
         fmt: Format = format_option(Format.table, Format.json, Format.csv)) -> None:
    """1m bars still partial (owed a backfill) or missing, per symbol and IST day (docs/feed.md "Bar states")."""
    from tradesig.clock import SystemClock
    from tradesig.store.gaps import bar_gaps

    rows = bar_gaps(app_context(ctx).config().home, symbols or None, start, end, now=SystemClock().now())
    if not rows and fmt is Format.table:
        typer.echo("no partial or missing 1m bars")
        return
    typer.echo(output(rows, ["symbol", "date", "partial", "missing", "partial_minutes", "missing_minutes"], fmt))


@app.command("backfill")
def backfill(ctx: typer.Context,
             symbols: list[str] = typer.Argument(None, help="Indices (default: feed.symbols)."),
             start: Any = date_option("--from", help="First IST date."),
             end: Any = date_option("--to", help="Last IST date (default: today)."),
             days: int = typer.Option(5, "--days", min=1, max=365, help="Without --from: this many days up to --to."),
             sim_url: str = typer.Option(None, "--sim-url", metavar="URL", help="Fetch from 'tradesig sim' at URL."),
             ) -> None:
    """Fetch 1-minute bars from the broker's historical API (stored as 'backfilled'; nothing is stored twice)."""
    from datetime import timedelta

    from tradesig.backfill import backfill_history
    from tradesig.broker.tokens import TokenStore
    from tradesig.clock import SystemClock, ist_date
    from tradesig.errors import DataError

    loaded = app_context(ctx).config()
    clock = SystemClock()
    last = end or ist_date(clock.now())
    first = start or last - timedelta(days=days - 1)
    record = TokenStore(loaded.home, clock).load("kite")
    names = symbols or loaded.settings.feed.symbols
    try:
        results = backfill_history(loaded, names, first, last, token=record,
                                   root=sim_url.rstrip("/") if sim_url else None)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    for r in results:
        typer.echo(f"{r.symbol}: {r.received} bars received for {r.first}..{r.last}, {r.added} new")
