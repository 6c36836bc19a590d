"""``tradesig history``: import recorded OHLC files as bars (validated, with a summary); show stored bars."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from tradesig.cli._common import TableFormat, app_context, render_rows, to_json

app = typer.Typer(help="Import recorded OHLC files as bars; show stored bars.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)


class Interval(str, Enum):
    m1 = "1m"
    m5 = "5m"
    m15 = "15m"
    h1 = "1h"
    h4 = "4h"
    d1 = "1d"


class ReportFormat(str, Enum):
    text = "text"
    json = "json"


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
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Summary format."),
) -> None:
    """Validate and store bars; prints a summary per file. Importing the same data twice adds nothing.

    Exit 0 when every file was usable, 2 (with the other files' summaries printed) when one was not."""
    from tradesig.errors import DataError
    from tradesig.history import import_files

    loaded = app_context(ctx).config()
    reports = import_files(loaded.home, list(files), symbol=symbol, interval=interval.value if interval else None)
    if fmt is ReportFormat.json:
        typer.echo(to_json([r.to_dict() for r in reports]))
    else:
        typer.echo("\n".join(r.summary() for r in reports if not r.error))
    failed = [r for r in reports if r.error]
    if failed:
        raise DataError("; ".join(r.error or "" for r in failed),
                        "fix or remove the file; nothing was imported from it")


@app.command("show")
def show(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="NIFTY, BANKNIFTY, SENSEX (any spelling) or a tradingsymbol."),
    interval: Interval = typer.Option(Interval.h1, "--interval", help="Bar interval (derived from 1m on read)."),
    start: str = typer.Option(None, "--from", metavar="YYYY-MM-DD", help="First IST date (inclusive)."),
    end: str = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last IST date (inclusive)."),
    session: Session = typer.Option(Session.regular, "--session", help="Regular-session bars, the bars outside "
                                    "it (stored as imported), or both."),
    fmt: TableFormat = typer.Option(TableFormat.table, "--format", help="Output format (times in IST)."),
) -> None:
    """Print stored bars of SYMBOL (times IST). Exit 2 when there are none in the range."""
    from tradesig.clock import parse_date
    from tradesig.errors import DataError
    from tradesig.history import show_bars

    try:
        d0 = parse_date(start) if start else None
        d1 = parse_date(end) if end else None
    except ValueError as exc:
        raise DataError(str(exc)) from None
    loaded = app_context(ctx).config()
    rows = show_bars(loaded.home, symbol, interval.value, d0, d1, session=session.value)
    columns = ["symbol", "ts", "open", "high", "low", "close", "volume", "oi", "status"]
    if fmt is TableFormat.table:
        for row in rows:
            row["time (IST)"] = row["ts"]
        columns[1] = "time (IST)"
    elif fmt is TableFormat.csv:
        for row in rows:
            row["ts"] = row["ts"].isoformat()
    typer.echo(render_rows(rows, columns, fmt.value))


@app.command("list")
def list_(ctx: typer.Context,
          fmt: TableFormat = typer.Option(TableFormat.table, "--format", help="Output format.")) -> None:
    """What is stored: symbols and intervals with their first/last IST date, days and bars.

    Only stored intervals are listed; 5m/15m/1h/4h/1d are derived from them on read."""
    from tradesig.history import coverage

    rows = coverage(app_context(ctx).config().home)
    if not rows and fmt is TableFormat.table:
        typer.echo("no bars stored (import some with 'tradesig history import FILE')")
        return
    typer.echo(render_rows(rows, ["symbol", "interval", "session", "first", "last", "days", "bars"], fmt.value))


@app.command("gaps")
def gaps(ctx: typer.Context,
         symbols: list[str] = typer.Option(None, "--symbol", help="Only these symbols (repeatable)."),
         start: str = typer.Option(None, "--from", metavar="YYYY-MM-DD", help="First IST date."),
         end: str = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last IST date."),
         fmt: TableFormat = typer.Option(TableFormat.table, "--format", help="Output format.")) -> None:
    """1m bars still partial (owed a backfill) or missing, per symbol and IST day (docs/feed.md "Bar states")."""
    from tradesig.clock import SystemClock, parse_date
    from tradesig.errors import DataError
    from tradesig.store.gaps import bar_gaps

    try:
        d0, d1 = (parse_date(v) if v else None for v in (start, end))
    except ValueError as exc:
        raise DataError(str(exc)) from None
    rows = bar_gaps(app_context(ctx).config().home, symbols or None, d0, d1, now=SystemClock().now())
    if not rows and fmt is TableFormat.table:
        typer.echo("no partial or missing 1m bars")
        return
    typer.echo(render_rows(rows, ["symbol", "date", "partial", "missing", "partial_minutes", "missing_minutes"],
                           fmt.value))


@app.command("backfill")
def backfill(ctx: typer.Context,
             symbols: list[str] = typer.Argument(None, help="Indices (default: feed.symbols)."),
             start: str = typer.Option(None, "--from", metavar="YYYY-MM-DD", help="First IST date."),
             end: str = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last IST date (default: today)."),
             days: int = typer.Option(5, "--days", min=1, max=365, help="Without --from: this many days up to --to."),
             sim_url: str = typer.Option(None, "--sim-url", metavar="URL", help="Fetch from 'tradesig sim' at URL."),
             ) -> None:
    """Fetch 1-minute bars from the broker's historical API (stored as 'backfilled'; nothing is stored twice)."""
    from datetime import timedelta

    from tradesig.backfill import backfill_history
    from tradesig.broker.tokens import TokenStore
    from tradesig.clock import SystemClock, ist_date, parse_date
    from tradesig.errors import DataError

    loaded = app_context(ctx).config()
    clock = SystemClock()
    try:
        last = parse_date(end) if end else ist_date(clock.now())
        first = parse_date(start) if start else last - timedelta(days=days - 1)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    record = TokenStore(loaded.home, clock).load("kite")
    names = symbols or loaded.settings.feed.symbols
    try:
        results = backfill_history(loaded, names, first, last, token=record,
                                   root=sim_url.rstrip("/") if sim_url else None)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    for r in results:
        typer.echo(f"{r.symbol}: {r.received} bars received for {r.first}..{r.last}, {r.added} new")
