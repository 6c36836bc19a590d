"""``tradesig trade``: start (paper|live), backtest, status, positions, orders, exit ID, flatten, resume.

Output schemas and the files involved: docs/trading.md.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from tradesig.cli._common import (
    Format,
    app_context,
    date_option,
    format_option,
    output,
    running_mode,
    time_option,
    to_json,
)

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


TRADE_TABLE_COLUMNS = ["id", "signal", "side", "opened_at", "closed_at", "main", "hedge", "quantity", "main_entry",
                       "hedge_entry", "main_exit", "hedge_exit", "exit_reason", "gross_pnl", "charges", "net_pnl",
                       "price_source"]
#: The backtest columns a trader scans (``--wide``: all of TRADE_TABLE_COLUMNS).
TRADE_SCAN_COLUMNS = ["signal", "side", "opened_at", "closed_at", "main", "quantity", "exit_reason", "net_pnl"]


def _mode(ctx: typer.Context, mode: Mode | None) -> str:
    """The mode asked for, else the one running (else the configured default, as 'tradesig report')."""
    return mode.value if mode is not None else running_mode(app_context(ctx).config().home)


def _mode_option() -> Any:
    return typer.Option(None, "--mode", help="Which engine (default: the one running, else paper).",
                        show_default=False)


@app.command("backtest")
def backtest(ctx: typer.Context,
             start: Any = date_option("--from", default=..., help="First IST date traded."),
             end: Any = date_option("--to", default=..., help="Last IST date."),
             symbol: str = typer.Option("NIFTY", "--symbol", help="Index or comma-separated indices."),
             lots: int = typer.Option(0, "--lots", min=0, help="Lots per leg (0: strategy.lots)."),
             strategies: str = typer.Option("", "--strategies", help="Signals that trade, e.g. S1,S3 (default: "
                                                                     "strategy.enabled)."),
             chain: Path = typer.Option(None, "--chain", help="Option-chain snapshots (Parquet) for real premiums."),
             iv_file: Path = typer.Option(None, "--iv-file", help="Daily IV series for modelled premiums: CSV "
                                                                  "date,iv (percent, e.g. India VIX closes)."),
             wide: bool = typer.Option(False, "--wide", help="Table: every column (default: the ones a trader "
                                                             "scans)."),
             fmt: Format = format_option(Format.table, Format.json, Format.csv)) -> None:
    """Backtest S1-S8 over stored bars: the trade list and a summary (trades, win rate, gross/net P&L, charges,
    max drawdown). Premiums not found in --chain are Black-Scholes modelled, and every output says so. The run's
    events replace earlier backtest events of the same dates: 'tradesig report --mode backtest' reports them."""
    from tradesig.trade.backtest import TRADE_COLUMNS
    from tradesig.trade.service import backtest_from_store, parse_strategies, save_backtest_events, symbols_arg

    loaded = app_context(ctx).config()
    first, last = start, end
    result = backtest_from_store(loaded, first, last, symbols_arg(symbol, loaded),
                                 lots=lots or None, strategies=parse_strategies(strategies), chain_path=chain,
                                 iv_file=iv_file)
    save_backtest_events(loaded.home, result, first, last)
    s = result.summary
    if fmt is Format.json:
        typer.echo(to_json({"summary": s, "trades": result.trades}))
        return
    if fmt is Format.csv:
        typer.echo(output(result.trades, TRADE_COLUMNS + ["modelled"], fmt))
        return
    label = " [modelled]" if s["modelled"] else ""
    typer.echo(f"Backtest {', '.join(sorted({t['symbol'] for t in result.trades}) or [symbol])} "
               f"{s['from']} .. {s['to']}{label}")
    if result.trades:
        typer.echo(output(result.trades, TRADE_TABLE_COLUMNS if wide else TRADE_SCAN_COLUMNS, fmt))
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
          until: Any = time_option("--until", help="Stop at this IST time (default: run until stopped)."),
          hub: str = typer.Option("", "--hub", help="Hub WebSocket URL (default: ws://<hub.listen>/ws)."),
          clock: ClockChoice = typer.Option(ClockChoice.auto, "--clock",
                                            help="system: real time; sim: follow the replayed day of the "
                                                 "'tradesig sim' at kite.root; auto: sim when kite.root is a "
                                                 "loopback sim, else system.")) -> None:
    """Run the engine, following the feed hub (systemd Type=notify: READY, WATCHDOG, STATUS)."""
    from datetime import datetime

    from tradesig.clock import IST
    from tradesig.trade.runner import pick_clock, run
    from tradesig.trade.service import parse_strategies

    loaded = app_context(ctx).config()
    engine_clock = pick_clock(loaded.settings.kite.root, clock.value)
    stop_at = None
    if until is not None:
        today = engine_clock.now().astimezone(IST).date()
        stop_at = datetime.combine(today, until, tzinfo=IST)
    from tradesig.store.lock import hold

    with hold(loaded.home, "trade"):  # one engine per data home: a second one exits 2 naming this PID
        snap = run(loaded, mode.value, strategies=parse_strategies(strategies), lots=lots or None, until=stop_at,
                   hub_url=hub or None, clock=engine_clock)
    typer.echo(f"trade {mode.value} stopped: {len(snap['open'])} open, day P&L {snap['day_pnl']:.2f}")


@app.command("status")
def status(ctx: typer.Context, fmt: Format = format_option(Format.table, Format.json)) -> None:
    """Kill switch, and per mode the engine's last state: open positions, day P&L, age (the running mode
    first)."""
    from tradesig.trade.service import BASKET_MARK_KEYS
    from tradesig.trade.service import status as get_status

    data = get_status(app_context(ctx).config())
    if fmt is Format.json:
        typer.echo(to_json(data))
        return
    ks = data["kill_switch"]
    typer.echo(f"kill switch: {'ENGAGED (' + str(ks.get('reason')) + ')' if ks else 'off'}")
    first = _mode(ctx, None)
    rows = sorted(({"mode": m, **v} for m, v in data["modes"].items()), key=lambda r: r["mode"] != first)
    if rows:
        typer.echo(output(rows, ["mode", "updated", "age_seconds", "pid", "open_positions", "closed_today",
                                 "day_pnl", "realised_pnl", "unrealised_pnl", "open_charges",
                                 "daily_loss_breached"], fmt))
        baskets = [{"mode": m, **b} for m, v in data["modes"].items() for b in v.get("baskets") or []]
        if baskets:
            typer.echo(output(baskets, ["mode", *BASKET_MARK_KEYS], fmt))
    else:
        typer.echo("no engine has run in this data home")


POSITION_COLUMNS = ["id", "symbol", "signal", "main", "hedge", "main_qty", "hedge_qty", "main_entry",
                    "hedge_entry", "main_last", "hedge_last", "unrealised_pnl", "charges", "net_premium",
                    "opened_at", "expiry"]


@app.command("positions")
def positions(ctx: typer.Context, mode: Mode = _mode_option(),
              source: Source = typer.Option(Source.engine, "--source",
                                            help="engine: its baskets; broker: Kite net positions (live)."),
              fmt: Format = format_option(Format.table, Format.json)) -> None:
    """Open positions."""
    from tradesig.trade.service import positions as get_positions

    chosen = "live" if source is Source.broker and mode is None else _mode(ctx, mode)  # the broker's are live
    rows = get_positions(app_context(ctx).config(), chosen, source=source.value)
    cols = (POSITION_COLUMNS if source is Source.engine
            else ["tradingsymbol", "exchange", "product", "quantity", "average_price", "last_price", "pnl"])
    typer.echo(to_json(rows) if fmt is Format.json else (output(rows, cols, fmt) if rows else "no open positions"))


@app.command("orders")
def orders(ctx: typer.Context, mode: Mode = _mode_option(),
           day: Any = date_option("--date", help="IST date (paper only; default today)."),
           fmt: Format = format_option(Format.table, Format.json)) -> None:
    """Today's orders (live: the broker's order book; paper: from the events log). Times in IST."""
    from tradesig.trade.service import orders as get_orders

    rows = get_orders(app_context(ctx).config(), _mode(ctx, mode), day)
    cols = ["order_id", "tag", "tradingsymbol", "transaction_type", "quantity", "filled_quantity",
            "average_price", "status", "order_timestamp", "status_message"]
    typer.echo(to_json(rows) if fmt is Format.json else (output(rows, cols, fmt) if rows else "no orders today"))


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
            fmt: Format = format_option(Format.table, Format.json)) -> None:
    """Kill switch: close everything at market (live: from the broker's positions, even from a fresh process)
    and block new entries until 'trade resume'."""
    from tradesig.config import require_writable_home
    from tradesig.errors import OrderRejected
    from tradesig.trade.service import flatten as do_flatten

    loaded = app_context(ctx).config()
    require_writable_home(loaded.home)  # the kill-switch flag must be writable before anything is sent
    result = do_flatten(loaded, mode.value, reason)
    if fmt is Format.json:
        typer.echo(to_json(result))
    else:
        typer.echo("kill switch engaged: new entries blocked until 'tradesig trade resume'")
        if result["orders"]:
            typer.echo(output(result["orders"], ["tradingsymbol", "quantity", "action", "filled", "status"], fmt))
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
    from tradesig.config import require_writable_home
    from tradesig.trade.service import resume as do_resume

    loaded = app_context(ctx).config()
    require_writable_home(loaded.home)
    was = do_resume(loaded)
    typer.echo("kill switch released" if was else "kill switch was not engaged")
