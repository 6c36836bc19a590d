"""``tradesig trade``: start (paper|live), backtest, status, positions, orders, exit ID, flatten, resume.

Output schemas and the files involved: docs/trading.md.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from tradesig.cli._common import TableFormat, app_context, render_rows, to_json

app = typer.Typer(help="The strategy engine: start, backtest, status, positions, orders, exit, flatten, resume.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


class Mode(str, Enum):
    paper = "paper"
    live = "live"


class Source(str, Enum):
    engine = "engine"
    broker = "broker"


class ClockChoice(str, Enum):
    auto = "auto"
    system = "system"
    sim = "sim"


class ShortFormat(str, Enum):
    table = "table"
    json = "json"


def _day(text: str, option: str) -> Any:
    from tradesig.clock import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


TRADE_TABLE_COLUMNS = ["id", "signal", "side", "opened_at", "closed_at", "main", "hedge", "quantity", "main_entry",
                       "hedge_entry", "main_exit", "hedge_exit", "exit_reason", "gross_pnl", "charges", "net_pnl",
                       "price_source"]


def _with_times(row: dict[str, Any]) -> dict[str, Any]:
    """ISO timestamps → datetimes, so the table shows them in IST."""
    from datetime import datetime

    return {k: (datetime.fromisoformat(v) if k in ("opened_at", "closed_at") and isinstance(v, str) else v)
            for k, v in row.items()}


@app.command("backtest")
def backtest(ctx: typer.Context,
             start: str = typer.Option(..., "--from", help="First IST date traded (YYYY-MM-DD)."),
             end: str = typer.Option(..., "--to", help="Last IST date (YYYY-MM-DD)."),
             symbol: str = typer.Option("NIFTY", "--symbol", help="Index or comma-separated indices."),
             lots: int = typer.Option(0, "--lots", min=0, help="Lots per leg (0: strategy.lots)."),
             strategies: str = typer.Option("", "--strategies", help="Signals that trade, e.g. S1,S3 (default: "
                                                                     "strategy.enabled)."),
             chain: Path = typer.Option(None, "--chain", help="Option-chain snapshots (Parquet) for real premiums."),
             fmt: TableFormat = typer.Option(TableFormat.table, "--format", help="Output format.")) -> None:
    """Backtest S1-S8 over stored bars: the trade list and a summary (trades, win rate, gross/net P&L, charges,
    max drawdown). Premiums not found in --chain are Black-Scholes modelled, and every output says so. The run's
    events replace earlier backtest events of the same dates: 'tradesig report --mode backtest' reports them."""
    from tradesig.trade.backtest import TRADE_COLUMNS
    from tradesig.trade.service import backtest_from_store, parse_strategies, save_backtest_events, symbols_arg

    loaded = app_context(ctx).config()
    first, last = _day(start, "--from"), _day(end, "--to")
    result = backtest_from_store(loaded, first, last, symbols_arg(symbol, loaded),
                                 lots=lots or None, strategies=parse_strategies(strategies), chain_path=chain)
    save_backtest_events(loaded.home, result, first, last)
    s = result.summary
    if fmt is TableFormat.json:
        typer.echo(to_json({"summary": s, "trades": result.trades}))
        return
    if fmt is TableFormat.csv:
        typer.echo(render_rows(result.trades, TRADE_COLUMNS + ["modelled"], "csv"))
        return
    label = " [modelled]" if s["modelled"] else ""
    typer.echo(f"Backtest {', '.join(sorted({t['symbol'] for t in result.trades}) or [symbol])} "
               f"{s['from']} .. {s['to']}{label}")
    if result.trades:
        typer.echo(render_rows([_with_times(t) for t in result.trades], TRADE_TABLE_COLUMNS, "table"))
    else:
        typer.echo("no trades")
    typer.echo("")
    typer.echo(f"trades {s['trades']} (open at end {s['open_at_end']})  wins {s['wins']}  losses {s['losses']}  "
               f"win rate {s['win_rate_pct']:.2f}%")
    typer.echo(f"gross P&L {s['gross_pnl']:.2f}  charges {s['charges']:.2f}  net P&L {s['net_pnl']:.2f}  "
               f"max drawdown {s['max_drawdown']:.2f}  (rupees)")
    typer.echo(f"premiums: {s['premium_note']}")


@app.command("start")
def start(ctx: typer.Context,
          mode: Mode = typer.Option(..., "--mode", help="paper: simulated fills on live quotes; live: Kite orders."),
          strategies: str = typer.Option("", "--strategies", help="Signals that trade, e.g. S1,S2."),
          lots: int = typer.Option(0, "--lots", min=0, help="Lots per leg (0: strategy.lots)."),
          until: str = typer.Option("", "--until", help="Stop at this IST time HH:MM (default: run until "
                                                        "stopped)."),
          hub: str = typer.Option("", "--hub", help="Hub WebSocket URL (default: ws://<hub.listen>/ws)."),
          clock: ClockChoice = typer.Option(ClockChoice.auto, "--clock",
                                            help="system: real time; sim: follow the replayed day of the "
                                                 "'tradesig sim' at kite.root; auto: sim when kite.root is a "
                                                 "loopback sim, else system.")) -> None:
    """Run the engine, following the feed hub (systemd Type=notify: READY, WATCHDOG, STATUS)."""
    from datetime import datetime, time

    from tradesig.clock import IST
    from tradesig.trade.runner import pick_clock, run
    from tradesig.trade.service import parse_strategies

    loaded = app_context(ctx).config()
    engine_clock = pick_clock(loaded.settings.kite.root, clock.value)
    stop_at = None
    if until:
        hh, _, mm = until.partition(":")
        if not (hh.isdigit() and mm.isdigit()):
            raise typer.BadParameter(f"not HH:MM: {until!r}", param_hint="--until")
        today = engine_clock.now().astimezone(IST).date()
        stop_at = datetime.combine(today, time(int(hh), int(mm)), tzinfo=IST)
    from tradesig.store.lock import hold

    with hold(loaded.home, "trade"):  # one engine per data home: a second one exits 2 naming this PID
        snap = run(loaded, mode.value, strategies=parse_strategies(strategies), lots=lots or None, until=stop_at,
                   hub_url=hub or None, clock=engine_clock)
    typer.echo(f"trade {mode.value} stopped: {len(snap['open'])} open, day P&L {snap['day_pnl']:.2f}")


@app.command("status")
def status(ctx: typer.Context,
           fmt: ShortFormat = typer.Option(ShortFormat.table, "--format", help="Output format.")) -> None:
    """Kill switch, and per mode the engine's last state: open positions, day P&L, age."""
    from tradesig.trade.service import status as get_status

    data = get_status(app_context(ctx).config())
    if fmt is ShortFormat.json:
        typer.echo(to_json(data))
        return
    ks = data["kill_switch"]
    typer.echo(f"kill switch: {'ENGAGED (' + str(ks.get('reason')) + ')' if ks else 'off'}")
    rows = [{"mode": m, **v} for m, v in data["modes"].items()]
    if rows:
        typer.echo(render_rows(rows, ["mode", "updated", "age_seconds", "pid", "open_positions", "closed_today",
                                      "day_pnl", "daily_loss_breached"], "table"))
    else:
        typer.echo("no engine has run in this data home")


POSITION_COLUMNS = ["id", "symbol", "signal", "main", "hedge", "main_qty", "hedge_qty", "main_entry",
                    "hedge_entry", "net_premium", "opened_at", "expiry"]


@app.command("positions")
def positions(ctx: typer.Context, mode: Mode = typer.Option(Mode.live, "--mode", help="Which engine."),
              source: Source = typer.Option(Source.engine, "--source",
                                            help="engine: its baskets; broker: Kite net positions (live)."),
              fmt: ShortFormat = typer.Option(ShortFormat.table, "--format", help="Output format.")) -> None:
    """Open positions."""
    from tradesig.trade.service import positions as get_positions

    rows = get_positions(app_context(ctx).config(), mode.value, source=source.value)
    cols = (POSITION_COLUMNS if source is Source.engine
            else ["tradingsymbol", "exchange", "product", "quantity", "average_price", "last_price", "pnl"])
    typer.echo(to_json(rows) if fmt is ShortFormat.json else
               (render_rows([_with_times(r) for r in rows], cols, "table") if rows else "no open positions"))


@app.command("orders")
def orders(ctx: typer.Context, mode: Mode = typer.Option(Mode.live, "--mode", help="Which engine."),
           day: str = typer.Option("", "--date", help="IST date (paper only; default today)."),
           fmt: ShortFormat = typer.Option(ShortFormat.table, "--format", help="Output format.")) -> None:
    """Today's orders (live: the broker's order book; paper: from the events log)."""
    from tradesig.trade.service import orders as get_orders

    rows = get_orders(app_context(ctx).config(), mode.value, _day(day, "--date") if day else None)
    cols = ["order_id", "tag", "tradingsymbol", "transaction_type", "quantity", "filled_quantity",
            "average_price", "status", "order_timestamp", "status_message"]
    typer.echo(to_json(rows) if fmt is ShortFormat.json else
               (render_rows(rows, cols, "table") if rows else "no orders today"))


@app.command("exit")
def exit_position(ctx: typer.Context, position_id: str = typer.Argument(..., metavar="ID",
                                                                        help="Position id (trade positions)."),
                  mode: Mode = typer.Option(Mode.live, "--mode", help="Which engine.")) -> None:
    """Square off one basket (main leg first)."""
    from tradesig.errors import OrderRejected
    from tradesig.trade.service import request_exit

    result = request_exit(app_context(ctx).config(), mode.value, position_id)
    if result["status"] == "failed":
        raise OrderRejected(f"exit of {position_id} incomplete: {result.get('message')}",
                            "check 'tradesig trade positions --source broker'")
    typer.echo(f"{position_id}: {result['status']}")


@app.command("flatten")
def flatten(ctx: typer.Context, mode: Mode = typer.Option(Mode.live, "--mode", help="Which engine."),
            reason: str = typer.Option("manual flatten", "--reason", help="Recorded in the kill-switch flag."),
            fmt: ShortFormat = typer.Option(ShortFormat.table, "--format", help="Output format.")) -> None:
    """Kill switch: close everything at market (live: from the broker's positions, even from a fresh process)
    and block new entries until 'trade resume'."""
    from tradesig.errors import OrderRejected
    from tradesig.trade.service import flatten as do_flatten

    result = do_flatten(app_context(ctx).config(), mode.value, reason)
    if fmt is ShortFormat.json:
        typer.echo(to_json(result))
    else:
        typer.echo("kill switch engaged: new entries blocked until 'tradesig trade resume'")
        if result["orders"]:
            typer.echo(render_rows(result["orders"], ["tradingsymbol", "quantity", "action", "filled", "status"],
                                   "table"))
        elif mode is Mode.live:
            typer.echo("no open positions at the broker")
        else:
            typer.echo("the running paper engine squares off its positions when it sees the flag")
    if result["remaining"]:
        raise OrderRejected(f"{len(result['remaining'])} position(s) still open after flatten",
                            "check 'tradesig trade positions --source broker' and close them by hand")


@app.command("resume")
def resume(ctx: typer.Context) -> None:
    """Release the kill switch: new entries are allowed again."""
    from tradesig.trade.service import resume as do_resume

    was = do_resume(app_context(ctx).config())
    typer.echo("kill switch released" if was else "kill switch was not engaged")
