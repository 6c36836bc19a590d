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
passed to ``emit(event)`` as a typed event (tradesig.trade.events; the events log in paper/live, a list in
backtests). One function wires the engine for every mode: tradesig.trade.build.build_engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tradesig.clock import Clock, ist_date, to_ist
from tradesig.config import Settings
from tradesig.errors import BrokerError, DataError, OrderRejected
from tradesig.signals.strategies import SignalEvent, WeeklyZoneEngine
from tradesig.trade import events as ev
from tradesig.trade.broker import Broker, BrokerPosition, Quote
from tradesig.trade.charges import ChargeBreakdown, RateTable, order_charges
from tradesig.trade.events import EventSink
from tradesig.trade.hourly import HourlyAggregator, MinuteBar, hourly_bar_end
from tradesig.trade.instruments import InstrumentSource, OptionContract, expiry_close, quantity_for
from tradesig.trade.orders import LegFill, OrderManager, make_order_manager
from tradesig.trade.position import Position
from tradesig.trade.quotes import SpotBook
from tradesig.trade.risk import KillSwitch, RiskManager

__all__ = ["Position", "TradeEngine", "HourlyAggregator", "MinuteBar", "flatten_broker_positions",
           "make_order_manager", "hourly_bar_end"]

log = logging.getLogger(__name__)

#: A failed exit is retried this much market time later, at most EXIT_RETRIES times (each with a new tag attempt).
EXIT_RETRY_AFTER = timedelta(seconds=60)
EXIT_RETRIES = 20


class TradeEngine:
    """The one engine. See the module docstring for the rules.

    Parameters: ``settings``; ``broker``; ``clock`` (the caller moves a ManualClock in backtests/replays);
    ``instruments``; ``emit(event)`` (:data:`~tradesig.trade.events.EventSink`); ``symbols`` traded;
    ``strategies`` signals that trade (default ``settings.strategy.enabled``); ``lots`` per leg (default
    ``settings.strategy.lots``);
    ``kill_switch`` (None in backtests); ``trade_from``: signals on bars closing before it are evaluated (state)
    but not traded (a warm-up); ``spots``: the underlying prices the engine updates (share it with a
    :class:`~tradesig.trade.quotes.ModelledPremiums` quote source).

    Drive it with :meth:`on_minute_bar` (1-minute bars: live/paper/replay) or :meth:`on_hourly_bar` (closed
    hourly bars: backtests), plus :meth:`on_time` between bars in live mode. Raises nothing for broker refusals
    (they become events); :class:`tradesig.errors.TokenError` and :class:`BrokerError` from the broker propagate
    out of entry/exit calls only when no order could be placed at all.
    """

    def __init__(self, settings: Settings, *, broker: Broker, clock: Clock, instruments: InstrumentSource,
                 emit: EventSink, symbols: Iterable[str],
                 strategies: Iterable[str] | None = None, lots: int | None = None,
                 kill_switch: KillSwitch | None = None, trade_from: datetime | None = None,
                 spots: SpotBook | None = None) -> None:
        self.settings = settings
        self.broker = broker
        self.clock = clock
        self.instruments = instruments
        self._emit = emit
        self.symbols = list(symbols)
        self.strategies = set(strategies or settings.strategy.enabled)
        self.lots = lots or settings.strategy.lots
        self.kill_switch = kill_switch
        self.trade_from = trade_from
        self.mode = str(getattr(broker, "name", "live"))
        self.risk = RiskManager(settings.risk, clock, kill_switch)
        self.orders = make_order_manager(settings, broker, clock, self.emit)
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
        self._marked_minute: dict[str, datetime] = {}
        self._pending_exits: dict[str, tuple[str, datetime, int]] = {}   # id -> (reason, retry at, tries)
        self._expiry_closes: dict[date, datetime] = {}   # expiry date -> its close in the clock's zone
        hh, mm = (int(x) for x in settings.strategy.expiry_exit.split(":"))
        self._expiry_exit = time(hh, mm)

    # ------------------------------------------------------------------------------------------- events

    def emit(self, event: ev.TradeEvent) -> None:
        self._emit(event)

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

    def on_late_minute_bar(self, symbol: str, bar: MinuteBar) -> bool:
        """A closed 1-minute bar older than the newest one delivered (a feed republishing backfilled minutes out
        of order): merged into the hour in progress when it belongs there (True), else ignored (False)."""
        return self.aggregators[symbol].add_late(bar)

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
                self.emit(ev.ExitSignal(pos.id, "strike_breach", close=close, strike=pos.main.strike,
                                        bar_ts=bar["ts"]))
                self.exit_position(pos.id, "strike_breach")
        self.on_time()
        try:
            event = engine.on_hourly_bar(bar)
        except DataError as exc:  # e.g. no listed expiry for the option (a stale instruments dump)
            self.emit(ev.SignalError(symbol, bar["ts"], str(exc)))
            return None
        if event is None:
            return None
        self.signal_events.append(event)
        self.emit(ev.Signal(event.to_dict()))
        self.consider(event)
        return event

    def consider(self, event: SignalEvent) -> Position | None:
        """Decide on a signal (warm-up, enabled strategies, risk) and enter when allowed; every decision is an
        event. Returns the opened position or None."""
        if self.trade_from is not None and event.entry_ts < self.trade_from:
            self.emit(ev.Decision(event.key, "skip", "warm-up period"))
            return None
        if event.signal not in self.strategies:
            self.emit(ev.Decision(event.key, "skip", f"{event.signal} not in strategies {sorted(self.strategies)}"))
            return None
        decision = self.risk.can_enter(event.symbol)
        self.emit(ev.Decision(event.key, "enter" if decision.allowed else "block", decision.reason))
        return self.enter(event) if decision.allowed else None

    # ------------------------------------------------------------------------------------------- entries

    def enter(self, event: SignalEvent) -> Position | None:
        """Open the basket of ``event`` (hedge first). Returns the position, or None when nothing was opened."""
        choice = event.option
        try:
            main = self.instruments.option(event.symbol, choice.expiry, choice.strike, choice.option_type)
            hedge = self.instruments.option(event.symbol, choice.expiry, choice.hedge_strike, choice.option_type)
        except DataError as exc:
            self.emit(ev.EntryFailed(event.key, str(exc)))
            return None
        quantity = quantity_for(self.lots, main.lot_size)
        basket_id = self.orders.tags.basket_id()
        self.emit(ev.Entry(basket_id, event.key, main.tradingsymbol, hedge.tradingsymbol, quantity, self.lots))
        self._prefetch(hedge, main)
        try:
            result = self.orders.enter_basket(main, hedge, quantity, basket_id)
        except (BrokerError, OrderRejected) as exc:
            self.emit(ev.EntryFailed(event.key, str(exc), position=basket_id))
            return None
        charges = self._charges(result.hedge, result.main, result.unwind)
        if result.main is None or result.main.filled == 0:
            self.emit(ev.EntryFailed(event.key, result.message, position=basket_id, hedge=result.hedge.as_dict(),
                                     unwind=result.unwind.as_dict() if result.unwind else None,
                                     charges=charges.as_dict()))
            if charges.total or (result.unwind and result.unwind.filled):
                self._book_realised(self._round_trip(result.hedge, result.unwind) - charges.total)
            return None
        held_hedge = result.hedge.filled - (result.unwind.filled if result.unwind else 0)
        pos = Position(
            id=basket_id, symbol=event.symbol, signal=event.signal, side=event.side, lots=self.lots,
            quantity=result.main.filled, main=main, hedge=hedge, main_entry=result.main.average_price,
            hedge_entry=result.hedge.average_price, opened_at=self.clock.now(), entry_spot=event.entry_price,
            stop_loss=event.stop_loss, signal_key=event.key, main_qty=result.main.filled, hedge_qty=held_hedge,
            charges=charges, price_source="none")
        pos.add_price_source(result.main.price_source, result.hedge.price_source)
        self.positions[pos.id] = pos
        self.risk.on_entry(event.symbol)
        self.emit(ev.PositionOpened(pos.as_dict()))
        self.emit(pos.report_event(self.mode, ev.BasketOpened))
        return pos

    def _prefetch(self, *contracts: OptionContract) -> None:
        """Ask the broker for both legs' quotes in one request before their orders go out: a simulated broker
        filling on rate-limited REST quotes then prices the whole basket from one answer, instead of waiting a
        rate-limit interval (market time, during a fast replay) between its legs. Failures are ignored."""
        try:
            self.broker.quote([f"{c.exchange}:{c.tradingsymbol}" for c in contracts])
        except BrokerError as exc:
            log.info("quotes before the orders of %s: %s", [c.tradingsymbol for c in contracts], exc)

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
        self._prefetch(pos.main, pos.hedge)
        try:
            result = self.orders.exit_basket(pos.main, pos.hedge, pos.main_qty, pos.hedge_qty, pos.id)
        except (BrokerError, OrderRejected) as exc:
            self.emit(ev.ExitFailed(pos.id, reason, str(exc)))
            self._exit_later(pos.id, reason)
            return False
        pos.charges = pos.charges + self._charges(result.main, result.hedge)
        pos.add_price_source(result.main.price_source if result.main else None, result.hedge.price_source)
        if result.main is not None and result.main.filled:
            pos.main_exit = result.main.average_price
            pos.main_qty -= result.main.filled
        elif pos.main_qty == 0 and pos.main_exit is None:
            pos.main_exit = pos.main_entry
        if result.hedge.filled:
            pos.hedge_exit = result.hedge.average_price
            pos.hedge_qty -= result.hedge.filled
        if not result.ok or pos.main_qty or pos.hedge_qty:
            self.emit(ev.ExitFailed(pos.id, reason, result.message, main_qty=pos.main_qty, hedge_qty=pos.hedge_qty))
            self._exit_later(pos.id, reason)
            return False
        self._pending_exits.pop(pos.id, None)
        self._close(pos, reason)
        return True

    def _exit_later(self, position_id: str, reason: str) -> None:
        """Schedule a retry of a failed exit (:meth:`check_pending_exits`), at most ``EXIT_RETRIES`` times."""
        _, _, tries = self._pending_exits.get(position_id, (reason, None, 0))
        if tries < EXIT_RETRIES:
            self._pending_exits[position_id] = (reason, self.clock.now() + EXIT_RETRY_AFTER, tries + 1)
        else:
            self._pending_exits.pop(position_id, None)
            log.error("exit of %s failed %d times: square it off by hand ('tradesig trade exit %s')",
                      position_id, tries, position_id)

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
        self.emit(ev.PositionClosed(pos.as_dict()))
        self.emit(pos.report_event(self.mode, ev.BasketClosed))

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
        self.emit(ev.ExitSignal(pos.id, "expired", settlement_spot=spot))
        self._close(pos, "expired", at=expiry_close(pos.main.expiry), spot=spot)

    def _book_realised(self, amount: float) -> None:
        day = ist_date(self.clock.now())
        self._realised[day] = self._realised.get(day, 0.0) + amount

    def flatten(self, reason: str = "kill_switch") -> list[str]:
        """Square off every open position (and engage the kill switch when one is configured and not yet
        engaged). Returns the ids that could not be closed."""
        if self.kill_switch is not None and self.kill_switch.engaged() is None:
            self.kill_switch.engage(reason, self.clock.now())
            self.emit(ev.KillSwitch("engage", reason))
        failed = []
        for pid in list(self.positions):
            if not self.exit_position(pid, reason):
                failed.append(pid)
        return failed

    # ---------------------------------------------------------------------------------------- time checks

    def on_time(self) -> None:
        """The time rules, one method each, in this order (each sees what the previous one left open):

        1. :meth:`check_kill_switch` — a flag from `trade flatten` squares off everything (after reconciling);
        2. :meth:`check_pending_exits` — exits that failed (rejected, broker unreachable) are retried;
        3. :meth:`check_expiry` — cash settlement after an expiry's close, the expiry-day exit at 15:15 IST;
        4. :meth:`check_profit_lock` — the trailing profit floor on the legs' marks;
        5. :meth:`check_daily_loss` — today's net P&L (after the exits above) against ``risk.max_daily_loss``.

        The marks (one quote request for every open leg) are taken once, after the exits of rules 1–3, and
        recorded on the baskets (:meth:`record_marks`)."""
        self.check_kill_switch()
        self.check_pending_exits()
        self.check_expiry()
        quotes = self._mark_quotes() if self.positions else {}
        self.record_marks(quotes)
        marks = {sym: q.ltp for sym, q in quotes.items()}
        self.check_profit_lock(marks)
        self.check_daily_loss(marks)

    def check_kill_switch(self) -> None:
        """Rule 1: the persistent kill switch (``trade flatten``). Seen once per engagement (an event); while
        another process squares off at the broker the engine waits, else it reconciles and flattens on every check
        until nothing is open."""
        if self.kill_switch is None:
            return
        flag = self.kill_switch.engaged()
        if flag is None:
            self._kill_seen = False
            return
        if not self._kill_seen:
            self._kill_seen = True
            self.emit(ev.KillSwitch("seen", flag.get("reason")))
        if self.positions and self.kill_switch.closing_elsewhere():
            return  # `trade flatten` is squaring off at the broker: reconcile once it is done
        if self.positions:
            self.reconcile()
            self.flatten(str(flag.get("reason") or "kill_switch"))

    def check_pending_exits(self) -> None:
        """Rule 2: a basket whose exit failed is squared off again ``EXIT_RETRY_AFTER`` (market time) later —
        after reconciling with the broker's positions, so a leg that did close (e.g. its order was placed before
        the broker went down) is not traded twice; the retry's orders carry a new attempt in their tags."""
        now = self.clock.now()
        due = [(pid, reason) for pid, (reason, at, _) in self._pending_exits.items() if at <= now]
        if not due:
            return
        self.reconcile()
        for pid, reason in due:
            if pid not in self.positions:
                self._pending_exits.pop(pid, None)
                continue
            self.emit(ev.ExitSignal(pid, reason))
            self.exit_position(pid, reason)

    def check_expiry(self) -> None:
        """Rule 2: a basket still open after its expiry's close (15:30 IST) is cash-settled at intrinsic value
        (:meth:`_settle`); on expiry day from ``strategy.expiry_exit`` (15:15 IST) it is squared off."""
        if not self.positions:
            return
        now = self.clock.now()
        local = to_ist(now)
        for pos in list(self.positions.values()):
            expiry = pos.main.expiry
            close = self._expiry_closes.get(expiry)
            if close is None:  # in the clock's zone (UTC): the comparison on every bar skips zone look-ups
                close = self._expiry_closes[expiry] = expiry_close(expiry).astimezone(now.tzinfo)
            if now >= close:
                self._settle(pos)
            elif local.date() == expiry and local.time() >= self._expiry_exit:
                self.emit(ev.ExitSignal(pos.id, "expiry"))
                self.exit_position(pos.id, "expiry")

    def check_profit_lock(self, marks: Mapping[str, float]) -> None:
        """Rule 3 (with ``strategy.profit_lock``): see :meth:`_profit_lock`; ``marks`` tradingsymbol → LTP."""
        if self.settings.strategy.profit_lock:
            for pos in list(self.positions.values()):
                self._profit_lock(pos, marks)

    def check_daily_loss(self, marks: Mapping[str, float]) -> None:
        """Rule 4: today's net P&L (:meth:`day_pnl` at ``marks``) at or below −``risk.max_daily_loss`` blocks
        entries for the day (an event, once) and, with ``risk.flatten_on_daily_loss``, squares off everything."""
        if not self.positions and not self._realised.get(ist_date(self.clock.now())):
            self.risk.update_pnl(0.0)
            return
        day_pnl = self.day_pnl(marks)
        if self.risk.update_pnl(day_pnl):
            self.emit(ev.Risk("daily_loss_breached", round(day_pnl, 2), self.settings.risk.max_daily_loss,
                              self.settings.risk.flatten_on_daily_loss))
            if self.settings.risk.flatten_on_daily_loss:
                for pid in list(self.positions):
                    self.exit_position(pid, "daily_loss")

    def _mark_quotes(self) -> dict[str, Quote]:
        """The broker's quotes of every open leg, by tradingsymbol (empty when the broker cannot quote)."""
        keys = sorted({f"{c.exchange}:{c.tradingsymbol}" for p in self.positions.values()
                       for c in (p.main, p.hedge)})
        try:
            quotes = self.broker.quote(keys)
        except BrokerError as exc:
            log.warning("quotes for marking failed: %s", exc)
            return {}
        return {k.split(":", 1)[1]: q for k, q in quotes.items()}

    def _marks(self) -> dict[str, float]:
        return {sym: q.ltp for sym, q in self._mark_quotes().items()}

    def record_marks(self, quotes: Mapping[str, Quote]) -> None:
        """Mark each open basket whose two legs are quoted (:meth:`Position.mark`) and emit a
        :class:`~tradesig.trade.events.BasketMarked` at most once per market minute per basket."""
        now = self.clock.now()
        for pos in self.positions.values():
            main, hedge = quotes.get(pos.main.tradingsymbol), quotes.get(pos.hedge.tradingsymbol)
            if main is None or hedge is None:
                continue
            source = "+".join(sorted({main.source, hedge.source}))
            pos.mark(main.ltp, hedge.ltp, now, source)
            minute = now.replace(second=0, microsecond=0)
            if self._marked_minute.get(pos.id) != minute:
                self._marked_minute[pos.id] = minute
                self.emit(pos.report_event(self.mode, ev.BasketMarked, mark_source=source,
                                           unrealised_pnl=round(pos.unrealised_pnl or 0.0, 2)))

    def day_pnl(self, marks: Mapping[str, float] | None = None) -> float:
        """Today's net P&L, rupees: realised (closed today, net of charges) + unrealised of open positions at
        ``marks`` (tradingsymbol → LTP; where absent the basket's latest mark, else its entry price) − their
        charges so far."""
        return self.realised_today() + sum(self._unrealised(pos, marks or {}) - pos.charges.total
                                           for pos in self.positions.values())

    def realised_today(self) -> float:
        """Net P&L (after charges) of what was closed or unwound today (IST), rupees."""
        return self._realised.get(ist_date(self.clock.now()), 0.0)

    @staticmethod
    def _unrealised(pos: Position, marks: Mapping[str, float]) -> float:
        main = marks.get(pos.main.tradingsymbol, pos.main_last if pos.main_last is not None else pos.main_entry)
        hedge = marks.get(pos.hedge.tradingsymbol, pos.hedge_last if pos.hedge_last is not None else pos.hedge_entry)
        return pos.unrealised(main, hedge)

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
            self.emit(ev.ExitSignal(pos.id, "profit_lock", profit_pct=round(pct, 2), floor_pct=floor,
                                    peak_pct=round(pos.peak_pct, 2)))
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
        """A JSON-ready status: open/closed positions (open ones with their legs' last prices, unrealised P&L and
        charges so far), today's P&L (``day_pnl`` = ``realised_pnl`` + ``unrealised_pnl`` − ``open_charges``,
        rupees), kill switch, risk state."""
        return {
            "ts": self.clock.now().isoformat(), "broker": getattr(self.broker, "name", "?"),
            "symbols": self.symbols, "strategies": sorted(self.strategies), "lots": self.lots,
            "open": [p.as_dict() for p in self.positions.values()],
            "closed_today": [p.as_dict() for p in self.closed
                             if p.closed_at and ist_date(p.closed_at) == ist_date(self.clock.now())],
            "day_pnl": round(self.day_pnl(), 2), "realised_pnl": round(self.realised_today(), 2),
            "unrealised_pnl": round(sum(self._unrealised(p, {}) for p in self.positions.values()), 2),
            "open_charges": round(sum(p.charges.total for p in self.positions.values()), 2),
            "daily_loss_breached": self.risk.loss_breached,
            "kill_switch": self.kill_switch.engaged() if self.kill_switch else None,
        }


def flatten_broker_positions(broker: Broker, orders: OrderManager, instruments: InstrumentSource,
                             emit: EventSink) -> list[dict[str, Any]]:
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
            emit(ev.FlattenSkip(**out[-1]))
            continue
        contract = instruments.by_tradingsymbol(pos.tradingsymbol)
        if contract is None:
            shorts_left = shorts_left or pos.quantity < 0
            out.append({"tradingsymbol": pos.tradingsymbol, "quantity": pos.quantity, "action": "none",
                        "filled": 0, "status": "unknown contract: close it by hand"})
            emit(ev.FlattenSkip(**out[-1]))
            continue
        side = "BUY" if pos.quantity < 0 else "SELL"
        leg = orders.execute_leg(contract, side, abs(pos.quantity), basket, chr(ord("A") + index % 26), "K")
        if side == "BUY" and leg.filled < abs(pos.quantity):
            shorts_left = True
        out.append({"tradingsymbol": pos.tradingsymbol, "quantity": pos.quantity, "action": side,
                    "filled": leg.filled, "status": leg.status, "message": leg.message})
        emit(ev.FlattenOrder(**out[-1]))
    return out
