"""Backtests and replays: the same :class:`~tradesig.trade.engine.TradeEngine` on a historical
:class:`~tradesig.clock.ManualClock` with the :class:`~tradesig.trade.brokers.backtest.BacktestBroker`.

Premiums come from real option-chain snapshots where they exist (``chain``) and otherwise from Black-Scholes on
the underlying with an IV from :mod:`tradesig.volatility` (``iv_models``: an IV file, the index's realised
volatility, else the flat ``settings.backtest.iv``) — every trade and the summary say which ("modelled", and the
IV source). Contracts for
periods without an instruments dump are built by rule (:class:`~tradesig.trade.instruments.ModelledInstruments`).

:func:`run_backtest` drives the engine with closed hourly bars (as the Store returns them); :func:`run_replay`
drives an engine with 1-minute bars in time order as a live feed would (the paper path), so the two can be
compared on the same session (the parity test).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tradesig.clock import IST, ManualClock
from tradesig.config import Settings
from tradesig.trade.build import Wired, build_engine
from tradesig.trade.hourly import MinuteBar, hourly_bar_end
from tradesig.trade.instruments import InstrumentSource, ModelledInstruments
from tradesig.trade.quotes import ChainSnapshots, ModelledPremiums, SpotBook, is_modelled
from tradesig.volatility import FlatIV, IVModel

__all__ = ["BacktestResult", "run_backtest", "run_replay", "summarise", "TRADE_COLUMNS", "default_instruments",
           "historical_engine"]

TRADE_COLUMNS = ["id", "symbol", "signal", "side", "opened_at", "closed_at", "main", "hedge", "lots", "quantity",
                 "main_entry", "hedge_entry", "main_exit", "hedge_exit", "exit_reason", "gross_pnl", "charges",
                 "net_pnl", "price_source"]


@dataclass
class BacktestResult:
    """``trades``: one dict per basket (Position.as_dict; open ones at the end have status "open" and no P&L);
    ``summary``: see :func:`summarise`; ``events``: every engine event ({"kind", "ts", …}); ``signals``: every
    signal event seen (traded or not)."""

    trades: list[dict[str, Any]]
    summary: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)


def summarise(trades: list[dict[str, Any]], settings: Settings, *, start: date | None = None,
              end: date | None = None, iv_source: str = "") -> dict[str, Any]:
    """Summary of closed trades: count, wins (net P&L > 0), win rate (%), gross and net P&L, charges, max
    drawdown (largest peak-to-trough fall of cumulative net P&L in trade-close order, rupees, from 0), the
    premium sources used and whether any premium was modelled (``iv_source``: where the modelled premiums' IV
    came from, tradesig.volatility's label; default the flat ``backtest.iv``)."""
    closed = sorted((t for t in trades if t.get("status") == "closed"), key=lambda t: t["closed_at"])
    wins = sum(1 for t in closed if (t["net_pnl"] or 0) > 0)
    cum = peak = drawdown = 0.0
    for t in closed:
        cum += t["net_pnl"] or 0.0
        peak = max(peak, cum)
        drawdown = max(drawdown, peak - cum)
    sources: dict[str, int] = {}
    for t in trades:
        for part in str(t.get("price_source") or "none").split("+"):
            sources[part] = sources.get(part, 0) + 1
    modelled_labels = sorted(k for k in sources if is_modelled(k))
    modelled = bool(modelled_labels) or any(t.get("modelled") for t in trades)
    iv_source = iv_source or "; ".join(_iv_sources(modelled_labels, FlatIV(settings.backtest.iv).source))
    return {
        "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
        "trades": len(closed), "open_at_end": sum(1 for t in trades if t.get("status") == "open"),
        "wins": wins, "losses": len(closed) - wins,
        "win_rate_pct": round(100.0 * wins / len(closed), 2) if closed else 0.0,
        "gross_pnl": round(sum(t["gross_pnl"] or 0.0 for t in closed), 2),
        "charges": round(sum(t["charges"] or 0.0 for t in closed), 2),
        "net_pnl": round(sum(t["net_pnl"] or 0.0 for t in closed), 2),
        "max_drawdown": round(drawdown, 2),
        "premium_sources": sources,
        "modelled": modelled,
        "iv_source": iv_source,
        "premium_note": (f"premiums modelled with Black-Scholes (iv {iv_source}, rate "
                         f"{settings.backtest.rate}) where no real chain snapshot exists" if modelled
                         else "premiums from real quotes/chain snapshots"),
    }


def _iv_sources(labels: list[str], default: str) -> list[str]:
    """The IV sources named in modelled price labels ("modelled [iv flat 15% (backtest.iv)]" → "flat 15% …"),
    or ``[default]`` when no label names one."""
    out = [label[len("modelled [iv "):-1] for label in labels if label.startswith("modelled [iv ")]
    return sorted(set(out)) or [default]


def default_instruments(weekly_expiry: Callable[[str, date], date]) -> ModelledInstruments:
    """Contracts by rule for historical periods: ``weekly_expiry`` is the market calendar's (dated weekdays,
    holiday rule: tradesig.calendar.MarketCalendar.weekly_expiry), with Kite naming and dated lot sizes."""
    return ModelledInstruments(weekly_expiry)


def historical_engine(settings: Settings, mode: str = "backtest", *, start_clock: datetime, symbols: list[str],
                      instruments: InstrumentSource, strategies: list[str] | None = None, lots: int | None = None,
                      trade_from: datetime | None = None, chain: ChainSnapshots | None = None,
                      iv_models: dict[str, IVModel] | None = None) -> Wired:
    """An engine for a historical run (:func:`tradesig.trade.build.build_engine`) on a :class:`ManualClock` at
    ``start_clock``, filling on :class:`ModelledPremiums` over the engine's own underlying prices (IV per symbol
    from ``iv_models``, tradesig.volatility; else the flat ``backtest.iv``); ``mode`` "backtest" (no latency) or
    "paper" (the paper fill model: a replay of the paper path)."""
    clock = ManualClock(start_clock)
    spots = SpotBook()
    return build_engine(settings, mode, clock=clock, instruments=instruments, symbols=symbols, spots=spots,
                        quotes=ModelledPremiums(spots, settings.backtest, chain, iv_models), strategies=strategies,
                        lots=lots, trade_from=trade_from)


def _rows(frame: Any) -> list[dict[str, Any]]:
    if hasattr(frame, "iter_rows"):
        return list(frame.sort("ts").select("ts", "open", "high", "low", "close").iter_rows(named=True))
    return sorted(frame, key=lambda r: r["ts"])


def _finish(h: Wired, settings: Settings, start: date, end: date) -> BacktestResult:
    trades = [p.as_dict() for p in h.engine.closed] + [p.as_dict() for p in h.engine.positions.values()]
    trades.sort(key=lambda t: t["opened_at"])
    return BacktestResult(trades, summarise(trades, settings, start=start, end=end), h.events,
                          [e.to_dict() for e in h.engine.signal_events])


def _trade_from(start: date) -> datetime:
    return datetime.combine(start, time(0), tzinfo=IST)


def run_backtest(settings: Settings, hourly: Mapping[str, Any], *, start: date, end: date,
                 instruments: InstrumentSource, strategies: list[str] | None = None, lots: int | None = None,
                 chain: ChainSnapshots | None = None, iv_models: dict[str, IVModel] | None = None) -> BacktestResult:
    """Backtest over closed hourly bars. ``hourly``: symbol → BAR_SCHEMA frame (or list of row dicts) of "1h"
    bars, which should start a few weeks before ``start`` (the weekly context needs the previous week; bars
    before ``start`` warm the signal state but are not traded). Bars after ``end`` are ignored.
    Returns a :class:`BacktestResult`. Raises :class:`tradesig.errors.DataError` when no bars are given."""
    from tradesig.errors import DataError

    streams = []
    for symbol, frame in hourly.items():
        for row in _rows(frame):
            streams.append((symbol, _utc_row(row)))
    if not streams:
        raise DataError("no hourly bars to backtest", "import bars first: 'tradesig history import …'")
    last = datetime.combine(end, time(23, 59), tzinfo=IST).astimezone(UTC)
    streams = [(s, r) for s, r in streams if r["ts"] <= last]
    first_ts = min(r["ts"] for _, r in streams)
    h = historical_engine(settings, start_clock=first_ts, symbols=list(hourly), instruments=instruments,
                          strategies=strategies, lots=lots, trade_from=_trade_from(start), chain=chain,
                          iv_models=iv_models)
    keyed = [(hourly_bar_end(row["ts"]), symbol, row) for symbol, row in streams]
    keyed.sort(key=lambda item: (item[0], item[1]))
    with _collector_paused():
        for bar_end, symbol, row in keyed:
            if bar_end > h.clock.now():
                h.clock.set(bar_end)
            row["end"] = bar_end
            h.engine.on_hourly_bar(symbol, row)
    return _finish(h, settings, start, end)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the bar loop, back on after (if it was on). The loop allocates
    tens of thousands of objects that live to the end of the run (events, quotes, bars), so the collector ran
    about 125 times per 9,579 bars, re-walking them (about 5 % of the loop); the few cycles made in the loop are
    collected once it is back on. Reference counting frees everything else as before."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _utc_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a bar row whose ``ts`` in polars' ``ZoneInfo("UTC")`` is given :data:`datetime.UTC` instead: the
    same instant and the same text, but comparisons with the engine's clock (which keeps UTC) and between bars
    then skip two zone look-ups each — the engine compares times on every bar. Other zones are kept as given."""
    ts = row["ts"]
    if ts.tzinfo is not UTC and getattr(ts.tzinfo, "key", None) == "UTC":
        return {**row, "ts": ts.replace(tzinfo=UTC)}
    return dict(row)


def run_replay(settings: Settings, minute_bars: Mapping[str, Any], *, start: date, end: date,
               instruments: InstrumentSource, warmup_hourly: Mapping[str, Any] | None = None,
               strategies: list[str] | None = None,
               lots: int | None = None, chain: ChainSnapshots | None = None) -> BacktestResult:
    """Replay 1-minute bars in time order through the live path (hourly bars built by the engine's
    :class:`HourlyAggregator`, time checks every minute), by default with the paper broker (latency, slippage,
    stale-quote rule). ``warmup_hourly``: symbol → hourly bars before ``start`` fed to the signal state only.
    The clock is set to each bar's end before it is delivered, as a live feed delivers a closed bar."""

    streams = []
    for symbol, frame in minute_bars.items():
        for row in _rows(frame):
            streams.append((row["ts"] + timedelta(minutes=1), symbol, row))
    streams.sort(key=lambda item: (item[0], item[1]))
    first_ts = streams[0][2]["ts"] if streams else _trade_from(start)
    h = historical_engine(settings, "paper", start_clock=first_ts, symbols=list(minute_bars),
                          instruments=instruments, strategies=strategies, lots=lots, trade_from=_trade_from(start),
                          chain=chain)
    for symbol, frame in (warmup_hourly or {}).items():
        h.engine.warm_up(symbol, [r for r in _rows(frame) if r["ts"] < _trade_from(start)])
    for bar_end, symbol, row in streams:
        if bar_end > h.clock.now():
            h.clock.set(bar_end)
        h.engine.on_minute_bar(symbol, MinuteBar.from_row(row))
    h.engine.flush()
    return _finish(h, settings, start, end)

