"""The strategy engine: S1–S8 signals → hedged option-selling baskets, exits, risk — one code path for backtest,
paper and live. The engine sees only a :class:`~tradesig.clock.Clock`, a :class:`~tradesig.trade.broker.Broker`
and an :class:`~tradesig.trade.instruments.InstrumentSource`; the caller drives it with bars (and the clock).

Trade rules (shared/SIGNALS.md "From signal to trade"):
- Entry on the close of the hourly bar that fires a signal enabled in ``strategies``: bullish → sell a PE,
  bearish → sell a CE, strike/hedge/expiry from the signal's :class:`OptionChoice` (expiry resolved against
  the listed expiries). Hedge first: BUY the hedge, then SELL the main leg (tradesig.trade.orders).
- Exit, whichever first: an hourly close of the underlying beyond the main strike (bullish: close < strike;
  bearish: close > strike), judged only at hourly closes; on expiry day at ``strategy.expiry_exit`` (15:15 IST);
  a position still open after the expiry's close is cash-settled at intrinsic value (no orders); the optional
  profit lock (arms at ``profit_lock_arm_pct`` % of the net premium collected, exits when profit falls below
  the floor ``profit_lock_floor_pct`` %, the floor trailing up by ``trail_step_pct`` for each step the peak
  rises above the arm level); the kill switch; a manual exit. Exits buy back the main leg first.
- Risk (tradesig.trade.risk) gates every entry; a daily-loss breach blocks entries for the day and, with
  ``risk.flatten_on_daily_loss``, squares off everything.

P&L (rupees): gross = (main entry − main exit + hedge exit − hedge entry) × quantity; charges from the dated rate
table (tradesig.trade.charges) for every executed order; net = gross − charges. Every decision, order and fill is
passed to ``emit(kind, payload)`` (the events log in paper/live; a list in backtests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tradesig.clock import IST, Clock, ist_date, to_ist
from tradesig.config import Settings
from tradesig.errors import BrokerError, DataError, OrderRejected
from tradesig.signals.strategies import SignalEvent, WeeklyZoneEngine
from tradesig.store.bars import ANCHOR_MINUTE, session_hours
from tradesig.trade.broker import Broker, BrokerPosition
from tradesig.trade.charges import ChargeBreakdown, RateTable, order_charges
from tradesig.trade.instruments import InstrumentSource, OptionContract, expiry_close, quantity_for
from tradesig.trade.orders import KITE_ORDERS_PER_MINUTE, LegFill, OrderManager, RateLimiter
from tradesig.trade.quotes import SpotBook
from tradesig.trade.risk import KillSwitch, RiskManager

__all__ = ["Position", "TradeEngine", "HourlyAggregator", "MinuteBar", "flatten_broker_positions",
           "make_order_manager", "hourly_bar_end"]

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class MinuteBar:
    """A bar as the engine consumes it: ``ts`` aware start, prices in index points, ``minutes`` its length."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    minutes: int = 1

    @classmethod
    def from_row(cls, row: Mapping[str, Any], minutes: int = 1) -> MinuteBar:
        return cls(row["ts"], float(row["open"]), float(row["high"]), float(row["low"]), float(row["close"]),
                   minutes)


class HourlyAggregator:
    """Builds closed session-aligned hourly bars (09:15, 10:15 … 14:15 and the short 15:15–15:30 bar; the
    grid and session hours of tradesig.store.bars) from 1-minute bars arriving in order — the live counterpart of
    ``tradesig.store.bars.resample(…, "1h")``. Minutes outside the regular session are ignored.

    ``add(bar)`` returns the hourly bars it closes: the previous bucket when a bar of a later bucket arrives, and
    the bar's own bucket when the bar ends on the bucket's end. ``flush(now)`` closes a bucket whose end passed.
    """

    def __init__(self) -> None:
        self._key: tuple[date, int] | None = None
        self._end: datetime | None = None
        self._bar: list[float] | None = None
        self._start: datetime | None = None

    def _bucket(self, ts: datetime) -> tuple[date, int, datetime, datetime] | None:
        local = to_ist(ts)
        minute = local.hour * 60 + local.minute
        open_m, close_m = session_hours(local.date())
        if not open_m <= minute < close_m:
            return None
        anchor = ANCHOR_MINUTE if open_m <= ANCHOR_MINUTE else open_m
        if minute < anchor:
            return None
        start_m = anchor + (minute - anchor) // 60 * 60
        end_m = min(start_m + 60, close_m)
        midnight = datetime.combine(local.date(), time(0), tzinfo=IST)
        return local.date(), start_m, midnight + timedelta(minutes=start_m), midnight + timedelta(minutes=end_m)

    def _emit(self) -> dict[str, Any] | None:
        if self._bar is None:
            return None
        o, h, low, c = self._bar
        assert self._start is not None and self._end is not None
        out = {"ts": self._start.astimezone(UTC), "open": o, "high": h, "low": low, "close": c,
               "end": self._end.astimezone(UTC)}
        self._key = self._bar = self._start = self._end = None
        return out

    def add(self, bar: MinuteBar) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        bucket = self._bucket(bar.ts)
        if bucket is None:
            return out
        day, start_m, start, end = bucket
        if self._key is not None and self._key != (day, start_m):
            closed = self._emit()
            if closed:
                out.append(closed)
        if self._bar is None:
            self._key, self._start, self._end = (day, start_m), start, end
            self._bar = [bar.open, bar.high, bar.low, bar.close]
        else:
            self._bar[1] = max(self._bar[1], bar.high)
            self._bar[2] = min(self._bar[2], bar.low)
            self._bar[3] = bar.close
        if bar.ts + timedelta(minutes=bar.minutes) >= end:
            closed = self._emit()
            if closed:
                out.append(closed)
        return out

    def flush(self, now: datetime | None = None) -> list[dict[str, Any]]:
        if self._bar is None or (now is not None and self._end is not None and now < self._end):
            return []
        closed = self._emit()
        return [closed] if closed else []


@dataclass
class Position:
    """One hedged basket. Quantities in units; prices rupees per unit; times aware UTC.

    ``status``: "open" or "closed". ``main_qty``/``hedge_qty`` what is currently held (a partial exit lowers
    them); ``quantity`` the entered quantity. ``charges`` rupees paid so far (entry and exit orders)."""

    id: str
    symbol: str
    signal: str
    side: str
    lots: int
    quantity: int
    main: OptionContract
    hedge: OptionContract
    main_entry: float
    hedge_entry: float
    opened_at: datetime
    entry_spot: float
    stop_loss: float
    signal_key: str
    main_qty: int = 0
    hedge_qty: int = 0
    main_exit: float | None = None
    hedge_exit: float | None = None
    closed_at: datetime | None = None
    exit_reason: str | None = None
    exit_spot: float | None = None
    status: str = "open"
    charges: ChargeBreakdown = field(default_factory=ChargeBreakdown)
    price_source: str = "broker"
    peak_pct: float = 0.0
    armed: bool = False

    @property
    def net_premium(self) -> float:
        """Net premium collected at entry, rupees: (main entry − hedge entry) × quantity."""
        return (self.main_entry - self.hedge_entry) * self.quantity

    def unrealised(self, main_px: float, hedge_px: float) -> float:
        """Gross P&L of the open quantity at the given prices, rupees."""
        return (self.main_entry - main_px) * self.main_qty + (hedge_px - self.hedge_entry) * self.hedge_qty

    @property
    def gross_pnl(self) -> float | None:
        if self.main_exit is None or self.hedge_exit is None:
            return None
        return ((self.main_entry - self.main_exit) + (self.hedge_exit - self.hedge_entry)) * self.quantity

    @property
    def net_pnl(self) -> float | None:
        gross = self.gross_pnl
        return None if gross is None else gross - self.charges.total

    def report_event(self, mode: str) -> dict[str, Any]:
        """The ``basket_opened``/``basket_closed`` payload read by tradesig.report (docs/report.md): trade_id,
        mode, symbol, signal, side, entry_ts, exit_ts, exit_reason, gross_pnl, charges, net_pnl, modelled and
        legs (tradingsymbol, role main/hedge, side of the entry BUY/SELL, quantity, entry_price, exit_price)."""
        gross, net = self.gross_pnl, self.net_pnl
        return {
            "trade_id": self.id, "mode": mode, "symbol": self.symbol, "signal": self.signal, "side": self.side,
            "entry_ts": self.opened_at.isoformat(), "exit_ts": self.closed_at.isoformat() if self.closed_at else None,
            "exit_reason": self.exit_reason, "gross_pnl": None if gross is None else round(gross, 2),
            "charges": round(self.charges.total, 2), "net_pnl": None if net is None else round(net, 2),
            "modelled": self.main.modelled or "modelled" in self.price_source,
            "legs": [
                {"tradingsymbol": self.main.tradingsymbol, "role": "main", "side": "SELL",
                 "quantity": self.quantity, "entry_price": self.main_entry, "exit_price": self.main_exit},
                {"tradingsymbol": self.hedge.tradingsymbol, "role": "hedge", "side": "BUY",
                 "quantity": self.quantity, "entry_price": self.hedge_entry, "exit_price": self.hedge_exit},
            ],
        }

    def as_dict(self) -> dict[str, Any]:
        gross, net = self.gross_pnl, self.net_pnl
        return {
            "id": self.id, "symbol": self.symbol, "signal": self.signal, "side": self.side, "lots": self.lots,
            "quantity": self.quantity, "main": self.main.tradingsymbol, "hedge": self.hedge.tradingsymbol,
            "exchange": self.main.exchange, "expiry": self.main.expiry.isoformat(), "main_strike": self.main.strike,
            "hedge_strike": self.hedge.strike, "option_type": self.main.option_type,
            "lot_size": self.main.lot_size, "main_entry": self.main_entry, "hedge_entry": self.hedge_entry,
            "main_exit": self.main_exit, "hedge_exit": self.hedge_exit, "main_qty": self.main_qty,
            "hedge_qty": self.hedge_qty, "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None, "entry_spot": self.entry_spot,
            "exit_spot": self.exit_spot, "stop_loss": self.stop_loss, "status": self.status,
            "exit_reason": self.exit_reason, "net_premium": round(self.net_premium, 2),
            "gross_pnl": None if gross is None else round(gross, 2),
            "charges": round(self.charges.total, 2), "net_pnl": None if net is None else round(net, 2),
            "price_source": self.price_source, "signal_key": self.signal_key, "modelled": self.main.modelled,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Position:
        """Rebuild a position from :meth:`as_dict` output (charges come back as a total under brokerage)."""
        expiry = date.fromisoformat(d["expiry"])

        def contract(sym: str, strike: float) -> OptionContract:
            return OptionContract(d["symbol"], sym, d["exchange"], expiry, float(strike), d["option_type"],
                                  int(d["lot_size"]), modelled=bool(d.get("modelled")))

        pos = cls(d["id"], d["symbol"], d["signal"], d["side"], int(d["lots"]), int(d["quantity"]),
                  contract(d["main"], d["main_strike"]), contract(d["hedge"], d["hedge_strike"]),
                  float(d["main_entry"]), float(d["hedge_entry"]), datetime.fromisoformat(d["opened_at"]),
                  float(d["entry_spot"]), float(d["stop_loss"]), d.get("signal_key", ""),
                  int(d["main_qty"]), int(d["hedge_qty"]))
        pos.status = d.get("status", "open")
        pos.charges = ChargeBreakdown(brokerage=float(d.get("charges") or 0.0))
        pos.price_source = d.get("price_source", "broker")
        return pos


def make_order_manager(settings: Settings, broker: Broker, clock: Clock, sleep: Callable[[float], None],
                       emit: Emit) -> OrderManager:
    """An :class:`OrderManager` with the freeze limits of ``settings.instruments``, the rate limit
    ``min(400, risk.max_orders_per_minute)`` per minute and 10/s, and ``risk.market_protection``."""
    per_minute = min(KITE_ORDERS_PER_MINUTE, settings.risk.max_orders_per_minute)

    def freeze(symbol: str) -> int:
        return settings.instruments[symbol].freeze_quantity

    return OrderManager(broker, clock, sleep, freeze_quantity=freeze, limiter=RateLimiter(clock, per_minute=per_minute),
                        emit=emit, market_protection=settings.risk.market_protection)


class TradeEngine:
    """The one engine. See the module docstring for the rules.

    Parameters: ``settings``; ``broker``; ``clock`` (the caller moves a ManualClock in backtests/replays);
    ``instruments``; ``sleep(seconds)``; ``emit(kind, payload)``; ``symbols`` traded; ``strategies`` signals that
    trade (default ``settings.strategy.enabled``); ``lots`` per leg (default ``settings.strategy.lots``);
    ``kill_switch`` (None in backtests); ``trade_from``: signals on bars closing before it are evaluated (state)
    but not traded (a warm-up); ``spots``: the underlying prices the engine updates (share it with a
    :class:`~tradesig.trade.quotes.ModelledPremiums` quote source).

    Drive it with :meth:`on_minute_bar` (1-minute bars: live/paper/replay) or :meth:`on_hourly_bar` (closed
    hourly bars: backtests), plus :meth:`on_time` between bars in live mode. Raises nothing for broker refusals
    (they become events); :class:`tradesig.errors.TokenError` and :class:`BrokerError` from the broker propagate
    out of entry/exit calls only when no order could be placed at all.
    """

    def __init__(self, settings: Settings, *, broker: Broker, clock: Clock, instruments: InstrumentSource,
                 sleep: Callable[[float], None], emit: Emit, symbols: Iterable[str],
                 strategies: Iterable[str] | None = None, lots: int | None = None,
                 kill_switch: KillSwitch | None = None, trade_from: datetime | None = None,
                 spots: SpotBook | None = None) -> None:
        self.settings = settings
        self.broker = broker
        self.clock = clock
        self.instruments = instruments
        self.sleep = sleep
        self._emit = emit
        self.symbols = list(symbols)
        self.strategies = set(strategies or settings.strategy.enabled)
        self.lots = lots or settings.strategy.lots
        self.kill_switch = kill_switch
        self.trade_from = trade_from
        self.mode = str(getattr(broker, "name", "live"))
        self.risk = RiskManager(settings.risk, clock, kill_switch)
        self.orders = make_order_manager(settings, broker, clock, sleep, self.emit)
        self.rates = RateTable(settings.charges)
        self.spots = spots if spots is not None else SpotBook()
        self.signals = {s: WeeklyZoneEngine(s, settings, expiry_fn=instruments.nearest_expiry)
                        for s in self.symbols}
        self.aggregators = {s: HourlyAggregator() for s in self.symbols}
        self.positions: dict[str, Position] = {}
        self.closed: list[Position] = []
        self.signal_events: list[SignalEvent] = []
        self._realised: dict[date, float] = {}
        self._kill_seen = False
        hh, mm = (int(x) for x in settings.strategy.expiry_exit.split(":"))
        self._expiry_exit = time(hh, mm)

    # ------------------------------------------------------------------------------------------- events

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        self._emit(kind, payload)

    # ------------------------------------------------------------------------------------------ driving

    def on_minute_bar(self, symbol: str, bar: MinuteBar) -> None:
        """A closed 1-minute bar of the underlying (clock at or after its end)."""
        self.spots.update(symbol, bar.close, bar.ts + timedelta(minutes=bar.minutes))
        closed = self.aggregators[symbol].add(bar)
        if closed:
            for hourly in closed:
                self.on_hourly_bar(symbol, hourly)
        else:
            self.on_time()

    def flush(self, now: datetime | None = None) -> None:
        """Close hourly buckets whose end has passed (live: call periodically; replay: at the end)."""
        for symbol, agg in self.aggregators.items():
            for hourly in agg.flush(now):
                self.on_hourly_bar(symbol, hourly)

    def warm_up(self, symbol: str, hourly_bars: Iterable[Mapping[str, Any]]) -> int:
        """Feed past closed hourly bars to the signal engine only (no trading); returns signals seen."""
        seen = 0
        for bar in hourly_bars:
            if self.signals[symbol].on_hourly_bar(bar) is not None:
                seen += 1
        return seen

    def on_hourly_bar(self, symbol: str, bar: Mapping[str, Any]) -> SignalEvent | None:
        """A closed hourly bar of the underlying (``ts`` start; clock at or after its end). Order: breach exits,
        time checks (expiry, daily loss, kill switch), then the signal and a possible entry."""
        engine = self.signals[symbol]
        end = bar.get("end") or hourly_bar_end(bar["ts"])
        self.spots.update(symbol, float(bar["close"]), end)
        close = float(bar["close"])
        for pos in [p for p in self.positions.values() if p.symbol == symbol]:
            breach = close < pos.main.strike if pos.main.option_type == "PE" else close > pos.main.strike
            if breach:
                self.emit("exit_signal", {"position": pos.id, "reason": "strike_breach", "close": close,
                                          "strike": pos.main.strike, "bar_ts": bar["ts"]})
                self.exit_position(pos.id, "strike_breach")
        self.on_time()
        try:
            event = engine.on_hourly_bar(bar)
        except DataError as exc:  # e.g. no listed expiry for the option (a stale instruments dump)
            self.emit("signal_error", {"symbol": symbol, "bar_ts": bar["ts"], "error": str(exc)})
            return None
        if event is None:
            return None
        self.signal_events.append(event)
        self.emit("signal", event.to_dict())
        self.consider(event)
        return event

    def consider(self, event: SignalEvent) -> Position | None:
        """Decide on a signal (warm-up, enabled strategies, risk) and enter when allowed; every decision is an
        event. Returns the opened position or None."""
        if self.trade_from is not None and event.entry_ts < self.trade_from:
            self.emit("decision", {"signal": event.key, "action": "skip", "reason": "warm-up period"})
            return None
        if event.signal not in self.strategies:
            self.emit("decision", {"signal": event.key, "action": "skip",
                                   "reason": f"{event.signal} not in strategies {sorted(self.strategies)}"})
            return None
        decision = self.risk.can_enter(event.symbol)
        self.emit("decision", {"signal": event.key, "action": "enter" if decision.allowed else "block",
                               "reason": decision.reason})
        return self.enter(event) if decision.allowed else None

    # ------------------------------------------------------------------------------------------- entries

    def enter(self, event: SignalEvent) -> Position | None:
        """Open the basket of ``event`` (hedge first). Returns the position, or None when nothing was opened."""
        choice = event.option
        try:
            main = self.instruments.option(event.symbol, choice.expiry, choice.strike, choice.option_type)
            hedge = self.instruments.option(event.symbol, choice.expiry, choice.hedge_strike, choice.option_type)
        except DataError as exc:
            self.emit("entry_failed", {"signal": event.key, "reason": str(exc)})
            return None
        quantity = quantity_for(self.lots, main.lot_size)
        basket_id = self.orders.tags.basket_id()
        self.emit("entry", {"position": basket_id, "signal": event.key, "main": main.tradingsymbol,
                            "hedge": hedge.tradingsymbol, "quantity": quantity, "lots": self.lots})
        try:
            result = self.orders.enter_basket(main, hedge, quantity, basket_id)
        except (BrokerError, OrderRejected) as exc:
            self.emit("entry_failed", {"position": basket_id, "signal": event.key, "reason": str(exc)})
            return None
        charges = self._charges(result.hedge, result.main, result.unwind)
        if result.main is None or result.main.filled == 0:
            self.emit("entry_failed", {"position": basket_id, "signal": event.key, "reason": result.message,
                                       "hedge": result.hedge.as_dict(),
                                       "unwind": result.unwind.as_dict() if result.unwind else None,
                                       "charges": charges.as_dict()})
            if charges.total or (result.unwind and result.unwind.filled):
                self._book_realised(self._round_trip(result.hedge, result.unwind) - charges.total)
            return None
        held_hedge = result.hedge.filled - (result.unwind.filled if result.unwind else 0)
        pos = Position(
            id=basket_id, symbol=event.symbol, signal=event.signal, side=event.side, lots=self.lots,
            quantity=result.main.filled, main=main, hedge=hedge, main_entry=result.main.average_price,
            hedge_entry=result.hedge.average_price, opened_at=self.clock.now(), entry_spot=event.entry_price,
            stop_loss=event.stop_loss, signal_key=event.key, main_qty=result.main.filled, hedge_qty=held_hedge,
            charges=charges, price_source=result.main.price_source)
        self.positions[pos.id] = pos
        self.risk.on_entry(event.symbol)
        self.emit("position_opened", pos.as_dict())
        self.emit("basket_opened", pos.report_event(self.mode))
        return pos

    @staticmethod
    def _round_trip(buy: LegFill, sell: LegFill | None) -> float:
        if sell is None or not sell.filled:
            return 0.0
        return (sell.average_price - buy.average_price) * sell.filled

    def _charges(self, *legs: LegFill | None) -> ChargeBreakdown:
        rates = self.rates.on(ist_date(self.clock.now()))
        total = ChargeBreakdown()
        for leg in legs:
            if leg is None or not leg.filled:
                continue
            total += order_charges(rates, leg.transaction_type, leg.filled, leg.average_price,
                                   leg.contract.exchange, orders=max(1, len(leg.orders)))
        return total

    # --------------------------------------------------------------------------------------------- exits

    def exit_position(self, position_id: str, reason: str) -> bool:
        """Square off one position (main leg first). True when fully closed. Unknown id: ``KeyError``."""
        pos = self.positions[position_id]
        try:
            result = self.orders.exit_basket(pos.main, pos.hedge, pos.main_qty, pos.hedge_qty, pos.id)
        except (BrokerError, OrderRejected) as exc:
            self.emit("exit_failed", {"position": pos.id, "reason": reason, "error": str(exc)})
            return False
        pos.charges = pos.charges + self._charges(result.main, result.hedge)
        if result.main is not None and result.main.filled:
            pos.main_exit = result.main.average_price
            pos.main_qty -= result.main.filled
        elif pos.main_qty == 0 and pos.main_exit is None:
            pos.main_exit = pos.main_entry
        if result.hedge.filled:
            pos.hedge_exit = result.hedge.average_price
            pos.hedge_qty -= result.hedge.filled
        if not result.ok or pos.main_qty or pos.hedge_qty:
            self.emit("exit_failed", {"position": pos.id, "reason": reason, "error": result.message,
                                      "main_qty": pos.main_qty, "hedge_qty": pos.hedge_qty})
            return False
        self._close(pos, reason)
        return True

    def _close(self, pos: Position, reason: str, *, at: datetime | None = None, spot: float | None = None) -> None:
        pos.status = "closed"
        pos.closed_at = (at or self.clock.now()).astimezone(UTC)
        pos.exit_reason = reason
        known = self.spots.get(pos.symbol)
        pos.exit_spot = spot if spot is not None else (known[0] if known else None)
        self.positions.pop(pos.id, None)
        self.closed.append(pos)
        self.risk.on_exit()
        self._book_realised(pos.net_pnl or 0.0)
        self.emit("position_closed", pos.as_dict())
        self.emit("basket_closed", pos.report_event(self.mode))

    def _settle(self, pos: Position) -> None:
        """A position still open after its expiry's close (no bar came in time, e.g. a data gap or a missed
        square-off): index options are cash-settled by the exchange at intrinsic value, without orders. Priced at
        the last underlying price known on the expiry date; closed at 15:30 IST on that date."""
        known = self.spots.last_on(pos.symbol, pos.main.expiry)
        spot = known[0] if known else pos.entry_spot

        def intrinsic(c: OptionContract) -> float:
            return max(0.0, spot - c.strike) if c.option_type == "CE" else max(0.0, c.strike - spot)

        pos.main_exit, pos.hedge_exit = intrinsic(pos.main), intrinsic(pos.hedge)
        pos.main_qty = pos.hedge_qty = 0
        self.emit("exit_signal", {"position": pos.id, "reason": "expired", "settlement_spot": spot})
        self._close(pos, "expired", at=expiry_close(pos.main.expiry), spot=spot)

    def _book_realised(self, amount: float) -> None:
        day = ist_date(self.clock.now())
        self._realised[day] = self._realised.get(day, 0.0) + amount

    def flatten(self, reason: str = "kill_switch") -> list[str]:
        """Square off every open position (and engage the kill switch when one is configured and not yet
        engaged). Returns the ids that could not be closed."""
        if self.kill_switch is not None and self.kill_switch.engaged() is None:
            self.kill_switch.engage(reason, self.clock.now())
            self.emit("kill_switch", {"action": "engage", "reason": reason})
        failed = []
        for pid in list(self.positions):
            if not self.exit_position(pid, reason):
                failed.append(pid)
        return failed

    # ---------------------------------------------------------------------------------------- time checks

    def on_time(self) -> None:
        """Checks that depend on time and prices: kill switch, expiry-day exit, profit lock, daily loss."""
        now = self.clock.now()
        if self.kill_switch is not None:
            flag = self.kill_switch.engaged()
            if flag is not None:
                if not self._kill_seen:
                    self._kill_seen = True
                    self.emit("kill_switch", {"action": "seen", "reason": flag.get("reason")})
                if self.positions and self.kill_switch.closing_elsewhere():
                    pass  # `trade flatten` is squaring off at the broker: reconcile once it is done
                elif self.positions:  # again on every check until everything is closed
                    self.reconcile()
                    self.flatten(str(flag.get("reason") or "kill_switch"))
            else:
                self._kill_seen = False
        local = to_ist(now)
        for pos in list(self.positions.values()):
            expiry = pos.main.expiry
            if now >= expiry_close(expiry):
                self._settle(pos)
            elif local.date() == expiry and local.time() >= self._expiry_exit:
                self.emit("exit_signal", {"position": pos.id, "reason": "expiry"})
                self.exit_position(pos.id, "expiry")
        if not self.positions and not self._realised.get(local.date()):
            self.risk.update_pnl(0.0)
            return
        marks = self._marks() if self.positions else {}
        if self.settings.strategy.profit_lock:
            for pos in list(self.positions.values()):
                self._profit_lock(pos, marks)
        day_pnl = self.day_pnl(marks)
        if self.risk.update_pnl(day_pnl):
            self.emit("risk", {"event": "daily_loss_breached", "day_pnl": round(day_pnl, 2),
                               "limit": self.settings.risk.max_daily_loss,
                               "flatten": self.settings.risk.flatten_on_daily_loss})
            if self.settings.risk.flatten_on_daily_loss:
                for pid in list(self.positions):
                    self.exit_position(pid, "daily_loss")

    def _marks(self) -> dict[str, float]:
        keys = sorted({f"{c.exchange}:{c.tradingsymbol}" for p in self.positions.values()
                       for c in (p.main, p.hedge)})
        try:
            quotes = self.broker.quote(keys)
        except BrokerError as exc:
            log.warning("quotes for marking failed: %s", exc)
            return {}
        return {k.split(":", 1)[1]: q.ltp for k, q in quotes.items()}

    def day_pnl(self, marks: Mapping[str, float] | None = None) -> float:
        """Today's net P&L, rupees: realised (closed today, net of charges) + unrealised of open positions at
        ``marks`` (tradingsymbol → LTP; entry price where unknown) − their charges so far."""
        marks = marks or {}
        total = self._realised.get(ist_date(self.clock.now()), 0.0)
        for pos in self.positions.values():
            total += pos.unrealised(marks.get(pos.main.tradingsymbol, pos.main_entry),
                                    marks.get(pos.hedge.tradingsymbol, pos.hedge_entry)) - pos.charges.total
        return total

    def _profit_lock(self, pos: Position, marks: Mapping[str, float]) -> None:
        s = self.settings.strategy
        if pos.net_premium <= 0 or pos.main.tradingsymbol not in marks or pos.hedge.tradingsymbol not in marks:
            return
        pct = 100.0 * pos.unrealised(marks[pos.main.tradingsymbol], marks[pos.hedge.tradingsymbol]) / pos.net_premium
        pos.peak_pct = max(pos.peak_pct, pct)
        if pos.peak_pct >= s.profit_lock_arm_pct:
            pos.armed = True
        if not pos.armed:
            return
        steps = int((pos.peak_pct - s.profit_lock_arm_pct) // s.trail_step_pct) if s.trail_step_pct > 0 else 0
        floor = s.profit_lock_floor_pct + steps * s.trail_step_pct
        if pct < floor:
            self.emit("exit_signal", {"position": pos.id, "reason": "profit_lock", "profit_pct": round(pct, 2),
                                      "floor_pct": floor, "peak_pct": round(pos.peak_pct, 2)})
            self.exit_position(pos.id, "profit_lock")

    # ------------------------------------------------------------------------------------- reconciliation

    def reconcile(self) -> list[str]:
        """Compare tracked positions with the broker's net positions; a position whose legs the broker shows
        flat (closed by `trade flatten`/`trade exit` from another process) is marked closed ("external") at the
        last quotes. Returns the ids so closed."""
        try:
            held = {p.tradingsymbol: p.quantity for p in self.broker.positions()}
        except BrokerError as exc:
            log.warning("reconcile: positions unavailable: %s", exc)
            return []
        closed = []
        for pos in list(self.positions.values()):
            main_held = -held.get(pos.main.tradingsymbol, 0)
            hedge_held = held.get(pos.hedge.tradingsymbol, 0)
            if main_held <= 0 and hedge_held <= 0:
                marks = self._marks()
                pos.main_exit = marks.get(pos.main.tradingsymbol, pos.main_entry)
                pos.hedge_exit = marks.get(pos.hedge.tradingsymbol, pos.hedge_entry)
                pos.main_qty = pos.hedge_qty = 0
                self._close(pos, "external")
                closed.append(pos.id)
            else:
                pos.main_qty = min(pos.main_qty, max(main_held, 0))
                pos.hedge_qty = min(pos.hedge_qty, max(hedge_held, 0))
        return closed

    def restore(self, positions: Iterable[Position]) -> None:
        """Adopt open positions saved by a previous run (then :meth:`reconcile` against the broker)."""
        for pos in positions:
            if pos.status == "open":
                self.positions[pos.id] = pos
                self.risk.on_entry(pos.symbol)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready status: open/closed positions, today's P&L, kill switch, risk state."""
        return {
            "ts": self.clock.now().isoformat(), "broker": getattr(self.broker, "name", "?"),
            "symbols": self.symbols, "strategies": sorted(self.strategies), "lots": self.lots,
            "open": [p.as_dict() for p in self.positions.values()],
            "closed_today": [p.as_dict() for p in self.closed
                             if p.closed_at and ist_date(p.closed_at) == ist_date(self.clock.now())],
            "day_pnl": round(self.day_pnl(), 2), "daily_loss_breached": self.risk.loss_breached,
            "kill_switch": self.kill_switch.engaged() if self.kill_switch else None,
        }


def hourly_bar_end(ts: datetime) -> datetime:
    """End (aware UTC) of the session-aligned hourly bar starting at ``ts``: one hour later, or the session close
    for the short last bar (session hours of tradesig.store.bars)."""
    local = to_ist(ts)
    _, close_m = session_hours(local.date())
    close = datetime.combine(local.date(), time(0), tzinfo=IST) + timedelta(minutes=close_m)
    end = local + timedelta(hours=1)
    return min(end, close).astimezone(ts.tzinfo) if local < close else end.astimezone(ts.tzinfo)


def flatten_broker_positions(broker: Broker, orders: OrderManager, instruments: InstrumentSource,
                             emit: Emit) -> list[dict[str, Any]]:
    """Square off every non-zero option position the broker reports, at market — the kill switch from a fresh
    process. Shorts are bought back first (all of them), then longs are sold, so no naked short is ever left.
    Positions whose contract is unknown to ``instruments`` are reported, not traded. Returns one record per
    position: tradingsymbol, quantity, action, filled, status."""
    positions: list[BrokerPosition] = [p for p in broker.positions() if p.quantity != 0]
    shorts = [p for p in positions if p.quantity < 0]
    longs = [p for p in positions if p.quantity > 0]
    out = []
    basket = orders.tags.basket_id()
    shorts_left = False
    for index, pos in enumerate(shorts + longs):
        if pos.quantity > 0 and shorts_left:
            out.append({"tradingsymbol": pos.tradingsymbol, "quantity": pos.quantity, "action": "none",
                        "filled": 0, "status": "kept: a short position could not be closed"})
            emit("flatten_skip", out[-1])
            continue
        contract = instruments.by_tradingsymbol(pos.tradingsymbol)
        if contract is None:
            shorts_left = shorts_left or pos.quantity < 0
            out.append({"tradingsymbol": pos.tradingsymbol, "quantity": pos.quantity, "action": "none",
                        "filled": 0, "status": "unknown contract: close it by hand"})
            emit("flatten_skip", out[-1])
            continue
        side = "BUY" if pos.quantity < 0 else "SELL"
        leg = orders.execute_leg(contract, side, abs(pos.quantity), basket, chr(ord("A") + index % 26), "K")
        if side == "BUY" and leg.filled < abs(pos.quantity):
            shorts_left = True
        out.append({"tradingsymbol": pos.tradingsymbol, "quantity": pos.quantity, "action": side,
                    "filled": leg.filled, "status": leg.status, "message": leg.message})
        emit("flatten_order", out[-1])
    return out
