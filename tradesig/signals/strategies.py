"""S1–S8 weekly-zone signals on closed hourly bars, and the option each one trades (pure, no I/O, no clock).

Specification: shared/SIGNALS.md, "S1–S8" and "From signal to trade". :class:`WeeklyZoneEngine` is fed closed
hourly bars in time order (``on_hourly_bar``) — live, paper and backtest alike — and ``scan`` runs the very same
method over a frame. For each bar c of the current week (W = the week's bars so far, f = W[0], prior = W
without c, n = |W|) the rules S1 → S8 are checked in order; the first that holds fires and nothing more fires
that week. Decisions where the text leaves room are listed in docs/signals.md ("Decisions").

Units: prices and levels in index points; strikes in index points; ``bar_ts`` aware UTC bar start.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from tradesig.clock import IST
from tradesig.signals.zones import (
    MIN_WEEK_BARS,
    Bias,
    HourlyBar,
    WeeklyContext,
    as_hourly_bar,
    week_start,
    weekly_context,
)

if TYPE_CHECKING:
    from tradesig.config import Settings

log = logging.getLogger(__name__)

SIGNAL_NAMES: dict[str, str] = {
    "S1": "Bear Trap", "S2": "Support Hold", "S3": "Resistance Hold", "S4": "Bias Failure Bull",
    "S5": "Bias Failure Bear", "S6": "Weakness Confirmed", "S7": "1H Breakout", "S8": "1H Breakdown",
}
SIGNAL_SIDES: dict[str, str] = {
    "S1": "bullish", "S2": "bullish", "S3": "bearish", "S4": "bullish",
    "S5": "bearish", "S6": "bearish", "S7": "bullish", "S8": "bearish",
}
#: S7's "too close under the previous week's high" filter: (pw_high − close)/close < 0.40 %.
S7_PW_HIGH_FILTER = 0.004

ExpiryFn = Callable[[str, date], date]


@dataclass(frozen=True)
class OptionChoice:
    """The option a signal sells: ``option_type`` "PE" (bullish) or "CE" (bearish); ``strike`` the main (sold)
    leg and ``hedge_strike`` the bought leg, index points; ``expiry`` the weekly expiry date (IST)."""

    option_type: str
    strike: float
    hedge_strike: float
    expiry: date

    def to_dict(self) -> dict[str, Any]:
        return {"option_type": self.option_type, "strike": self.strike, "hedge_strike": self.hedge_strike,
                "expiry": self.expiry.isoformat()}


@dataclass(frozen=True)
class SignalEvent:
    """An S1–S8 signal that fired on the close of an hourly bar (a noun: the event, frozen).

    ``signal`` "S1".."S8"; ``side`` "bullish"/"bearish"; ``symbol`` tradesig index key; ``bar_ts`` aware UTC
    start of the bar that fired it; ``entry_price`` that bar's close (index points); ``stop_loss`` the level
    from SIGNALS.md (index points); ``context`` the week's zones and bias; ``option`` the option to trade;
    ``entry_ts`` the bar's close time (aware UTC) — the earliest moment the signal is known; ``reason`` one line;
    ``bar`` the hourly bar that fired it (OHLC, index points).
    """

    signal: str
    side: str
    symbol: str
    bar_ts: datetime
    entry_price: float
    stop_loss: float
    context: WeeklyContext
    option: OptionChoice
    entry_ts: datetime
    reason: str = ""
    bar: HourlyBar | None = None

    @property
    def name(self) -> str:
        return SIGNAL_NAMES[self.signal]

    @property
    def key(self) -> str:
        """Idempotency key of the event: ``symbol|signal|bar_ts`` (ISO UTC)."""
        return f"{self.symbol}|{self.signal}|{self.bar_ts.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO timestamps) — the payload written to the events log (kind ``signal``)."""
        return {
            "signal": self.signal, "name": self.name, "side": self.side, "symbol": self.symbol,
            "bar_ts": self.bar_ts.isoformat(), "entry_ts": self.entry_ts.isoformat(),
            "entry_price": self.entry_price, "stop_loss": self.stop_loss, "context": self.context.to_dict(),
            "option": self.option.to_dict(), "reason": self.reason, "key": self.key,
            "bar": None if self.bar is None else {"open": self.bar.open, "high": self.bar.high, "low": self.bar.low,
                                                  "close": self.bar.close},
        }


def _parse_hhmm(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def choose_option(symbol: str, side: str, stop_loss: float, entry_ts: datetime, *, strike_step: float,
                  hedge_offset: float, expiry_fn: ExpiryFn, cutoff: time = time(12, 0)) -> OptionChoice:
    """The option a signal sells (SIGNALS.md "From signal to trade").

    Bullish → PE with strike = stop_loss rounded **down** to ``strike_step``, hedge = strike − ``hedge_offset``;
    bearish → CE, rounded **up**, hedge = strike + ``hedge_offset``. Expiry = ``expiry_fn(symbol, entry date)``
    (nearest weekly expiry on/after it); when the entry falls on that expiry day strictly after ``cutoff``
    (IST), the next expiry (``expiry_fn(symbol, entry date + 1 day)``). ``entry_ts`` aware (the bar close).
    """
    if side == "bullish":
        option_type = "PE"
        strike = math.floor(stop_loss / strike_step + 1e-9) * strike_step
        hedge = strike - hedge_offset
    elif side == "bearish":
        option_type = "CE"
        strike = math.ceil(stop_loss / strike_step - 1e-9) * strike_step
        hedge = strike + hedge_offset
    else:
        raise ValueError(f"side must be bullish or bearish, got {side!r}")
    local = entry_ts.astimezone(IST)
    expiry = expiry_fn(symbol, local.date())
    if expiry == local.date() and local.time() > cutoff:
        expiry = expiry_fn(symbol, local.date() + timedelta(days=1))
    return OptionChoice(option_type=option_type, strike=float(strike), hedge_strike=float(hedge), expiry=expiry)


def _calendar_expiry(symbol: str, day: date) -> date:
    from tradesig.calendar import get_calendar

    return get_calendar().weekly_expiry(symbol, day)


@dataclass
class WeekState:
    """Mutable state of the current week (reset every week): its bars, the triggers, whether a signal fired."""

    week: date
    bars: list[HourlyBar] = field(default_factory=list)
    breakout_high: float | None = None
    breakdown_low: float | None = None
    s4_prev: bool = False
    s8_prev: bool = False
    fired: str | None = None
    #: the highest high / lowest low of the week's bars before the latest (kept as bars are added, so the S4/S8
    #: triggers do not walk the week on every bar); None while the week has one bar
    prior_high: float | None = None
    prior_low: float | None = None

    def add(self, bar: HourlyBar) -> None:
        """Append ``bar`` (the week's latest), folding the previous latest into :attr:`prior_high`/``prior_low``."""
        if self.bars:
            last = self.bars[-1]
            self.prior_high = last.high if self.prior_high is None else max(self.prior_high, last.high)
            self.prior_low = last.low if self.prior_low is None else min(self.prior_low, last.low)
        self.bars.append(bar)


def _s4_trigger(state: WeekState, c: HourlyBar) -> bool:
    """S4 trigger on bar c (updates ``state.breakout_high``); see SIGNALS.md."""
    w = state.bars
    f = w[0]
    if c.day == f.day:
        return c.close > f.high
    if state.breakout_high is None:
        prior_high = state.prior_high
        if c.close > c.open and c.close > f.high and c.high >= prior_high:
            state.breakout_high = c.high
        return False
    return c.close > state.breakout_high


def _s8_trigger(state: WeekState, c: HourlyBar) -> bool:
    """S8 trigger on bar c (updates ``state.breakdown_low``): the mirror of :func:`_s4_trigger`."""
    w = state.bars
    f = w[0]
    if c.day == f.day:
        return c.close < f.low
    if state.breakdown_low is None:
        prior_low = state.prior_low
        if c.close < c.open and c.close < f.low and c.low <= prior_low:
            state.breakdown_low = c.low
        return False
    return c.close < state.breakdown_low


def _s3_b(w: list[HourlyBar], ctx: WeeklyContext) -> bool:
    c, f, prior = w[-1], w[0], w[:-1]
    return (len(w) >= 2 and c.close < f.low and c.close < ctx.res_bottom
            and c.close < min(b.low for b in prior) and c.close < min(b.close for b in prior))


ALL_SIGNALS: frozenset[str] = frozenset(SIGNAL_NAMES)


def evaluate_rules(ctx: WeeklyContext, w: list[HourlyBar], s4_edge: bool, s8_edge: bool,
                   signals: frozenset[str] = ALL_SIGNALS) -> str | None:
    """Which of S1..S8 holds on the last bar of ``w`` (first in priority order), or None.

    ``w``: the week's closed hourly bars so far (c = w[-1], f = w[0]); ``s4_edge``/``s8_edge``: the triggers'
    rising edges on c; ``signals``: the rules evaluated (a rule left out cannot pre-empt a later one).
    Pure: no state is changed.
    """
    c, f = w[-1], w[0]
    n = len(w)
    prior = w[:-1]
    # S1 Bear Trap
    if "S1" in signals and n == 2 and f.open >= ctx.sup_bottom and f.close < ctx.sup_bottom and c.close > f.low:
        return "S1"
    # S2 Support Hold
    if ("S2" in signals and n == 2 and ctx.bias is Bias.BULLISH and f.open > ctx.pw_low
            and (f.low <= ctx.sup_top or (abs(ctx.pw_close - ctx.sup_bottom) <= ctx.margin_low
                                          and abs(f.open - ctx.sup_bottom) <= ctx.margin_low))
            and f.close >= ctx.sup_bottom and f.close >= ctx.pw_close and c.close >= f.low
            and c.close > ctx.pw_close and c.close > ctx.sup_bottom):
        return "S2"
    # S3 Resistance Hold
    if ("S3" in signals and ctx.bias is Bias.BEARISH
            and (f.high >= ctx.res_bottom or (abs(ctx.pw_close - ctx.res_bottom) <= ctx.margin_high
                                              and abs(f.open - ctx.res_bottom) <= ctx.margin_high))
            and f.close <= ctx.pw_high):
        a = (n == 2 and c.close < f.high and c.close < ctx.res_bottom
             and (f.high >= ctx.res_bottom or c.high >= ctx.res_bottom))
        if a or _s3_b(w, ctx):
            return "S3"
    # S4 Bias Failure Bull
    if "S4" in signals and ctx.bias is Bias.BEARISH and f.open > ctx.res_top and s4_edge:
        return "S4"
    # S5 Bias Failure Bear
    if ("S5" in signals and ctx.bias is Bias.BULLISH and f.open < ctx.sup_bottom and f.close < ctx.sup_bottom
            and f.close < ctx.pw_low and c.close < f.low):
        return "S5"
    # S6 Weakness Confirmed
    if ("S6" in signals and ctx.bias is Bias.BEARISH and f.high >= ctx.res_bottom and f.close <= ctx.res_top
            and f.close <= ctx.pw_high):
        a = n == 2 and c.close < f.high and c.close < ctx.res_bottom
        if a or _s3_b(w, ctx):
            return "S6"
    # S7 1H Breakout
    if ("S7" in signals and s4_edge and n >= 2
            and not (c.close < ctx.pw_high and (ctx.pw_high - c.close) / c.close < S7_PW_HIGH_FILTER)
            and c.close > max(b.high for b in prior) and c.close > max(b.close for b in prior)):
        return "S7"
    # S8 1H Breakdown
    if ("S8" in signals and s8_edge and n >= 2 and any(b.high >= ctx.res_bottom for b in w) and c.close < ctx.res_bottom
            and c.close < min(b.low for b in prior) and c.close < min(b.close for b in prior)):
        return "S8"
    return None


def stop_loss_level(signal: str, ctx: WeeklyContext, w: list[HourlyBar]) -> float:
    """The stop-loss level of ``signal`` fired on the last bar of ``w`` (SIGNALS.md table), index points."""
    f = w[0]
    if signal == "S1":
        return f.low - abs(f.open - f.close)
    if signal == "S2":
        return ctx.sup_bottom
    if signal in ("S3", "S6"):
        return ctx.pw_high
    if signal in ("S4", "S7"):
        return f.low
    if signal in ("S5", "S8"):
        return f.high
    raise ValueError(f"unknown signal {signal!r}")


class WeeklyZoneEngine:
    """Stateful S1–S8 evaluator for one symbol: feed closed hourly bars in time order.

    ``settings``: tradesig Settings (strike step from ``settings.instruments[symbol].strike_step``, hedge offset
    and expiry cut-off from ``settings.strategy``, session close from ``settings.session.close``).
    ``expiry_fn(symbol, day) -> date``: the nearest weekly expiry on/after ``day``; default: the market
    calendar's ``weekly_expiry`` (tradesig.calendar). All eight signals are evaluated; which ones *trade*
    (``settings.strategy.enabled``) is the trade engine's decision. ``signals`` restricts the rules evaluated
    (default all eight); a rule left out does not pre-empt later ones (as written, S6's conditions imply S3's,
    so S6 can fire only when S3 is left out — docs/signals.md, Decisions).
    """

    def __init__(self, symbol: str, settings: Settings, *, expiry_fn: ExpiryFn | None = None,
                 signals: Iterable[str] | None = None) -> None:
        from tradesig.market import canonical_symbol

        self.symbol = canonical_symbol(symbol)
        inst = settings.instruments.get(self.symbol)
        if inst is None:
            raise ValueError(f"no instrument settings for {self.symbol}")
        self.strike_step = float(inst.strike_step)
        self.hedge_offset = float(settings.strategy.hedge_offset)
        self.cutoff = _parse_hhmm(settings.strategy.expiry_cutoff)
        self.session_close = _parse_hhmm(settings.session.close)
        self.expiry_fn: ExpiryFn = expiry_fn or _calendar_expiry
        self.signals = ALL_SIGNALS if signals is None else frozenset(signals)
        unknown = self.signals - ALL_SIGNALS
        if unknown:
            raise ValueError(f"unknown signal(s) {sorted(unknown)}; known S1..S8")
        self.week: WeekState | None = None
        self.context: WeeklyContext | None = None
        self._last_full_week: list[HourlyBar] | None = None
        self._last_ts: datetime | None = None

    # -------------------------------------------------------------------------------------------- feeding

    def _bar_end(self, bar: HourlyBar) -> datetime:
        local = bar.ist
        end = local + timedelta(hours=1)
        close = datetime.combine(local.date(), self.session_close, tzinfo=IST)
        if local < close < end:
            end = close
        return end.astimezone(bar.ts.tzinfo)

    def _start_week(self, wk: date) -> None:
        if self.week is not None and len(self.week.bars) >= MIN_WEEK_BARS:
            self._last_full_week = self.week.bars
        self.week = WeekState(week=wk)
        self.context = weekly_context(self._last_full_week, wk) if self._last_full_week else None

    def on_hourly_bar(self, bar: Any) -> SignalEvent | None:
        """Process one closed hourly bar; return the :class:`SignalEvent` it fires, or None.

        ``bar``: HourlyBar, a mapping (polars row with ``ts, open, high, low, close``) or an object with those
        attributes; ``ts`` aware bar start. A bar not later than the last one processed is ignored (None):
        replays are harmless. Raises ``ValueError`` for a naive timestamp.
        """
        c = as_hourly_bar(bar)
        if self._last_ts is not None and c.ts <= self._last_ts:
            log.debug("signals: ignoring %s bar %s (not after %s)", self.symbol, c.ts, self._last_ts)
            return None
        self._last_ts = c.ts
        wk = week_start(c.day)
        if self.week is None or wk != self.week.week:
            self._start_week(wk)
        state = self.week
        assert state is not None
        state.add(c)
        s4 = _s4_trigger(state, c)
        s8 = _s8_trigger(state, c)
        s4_edge = s4 and not state.s4_prev and len(state.bars) > 1
        s8_edge = s8 and not state.s8_prev and len(state.bars) > 1
        state.s4_prev, state.s8_prev = s4, s8
        if state.fired is not None or self.context is None:
            return None
        signal = evaluate_rules(self.context, state.bars, s4_edge, s8_edge, self.signals)
        if signal is None:
            return None
        state.fired = signal
        return self._event(signal, state.bars)

    def _event(self, signal: str, w: list[HourlyBar]) -> SignalEvent:
        ctx = self.context
        assert ctx is not None
        c, f = w[-1], w[0]
        side = SIGNAL_SIDES[signal]
        stop = stop_loss_level(signal, ctx, w)
        entry_ts = self._bar_end(c)
        option = choose_option(self.symbol, side, stop, entry_ts, strike_step=self.strike_step,
                               hedge_offset=self.hedge_offset, expiry_fn=self.expiry_fn, cutoff=self.cutoff)
        reason = (f"{signal} {SIGNAL_NAMES[signal]}: bar {len(w)} of the week closed {c.close:.2f} "
                  f"(f O {f.open:.2f} H {f.high:.2f} L {f.low:.2f} C {f.close:.2f}); "
                  f"res {ctx.res_bottom:.2f}-{ctx.res_top:.2f}, sup {ctx.sup_bottom:.2f}-{ctx.sup_top:.2f}, "
                  f"pw H {ctx.pw_high:.2f} L {ctx.pw_low:.2f} C {ctx.pw_close:.2f}, bias {ctx.bias.value}; "
                  f"stop {stop:.2f}")
        return SignalEvent(signal=signal, side=side, symbol=self.symbol, bar_ts=c.ts, entry_price=c.close,
                           stop_loss=stop, context=ctx, option=option, entry_ts=entry_ts, reason=reason,
                           bar=c)

    # ---------------------------------------------------------------------------------------------- batch

    def scan(self, hourly_bars: Any) -> list[SignalEvent]:
        """Feed every bar of ``hourly_bars`` through :meth:`on_hourly_bar`; return the events in order.

        ``hourly_bars``: a polars DataFrame in BAR_SCHEMA shape (one symbol, closed bars; ``status`` is not
        consulted: a historical bar with missing minutes is still closed) or an iterable of bars as accepted by
        :meth:`on_hourly_bar`.
        """
        rows: Iterable[Any]
        if hasattr(hourly_bars, "iter_rows"):
            rows = hourly_bars.sort("ts").select("ts", "open", "high", "low", "close").iter_rows(named=True)
        else:
            rows = hourly_bars
        events: list[SignalEvent] = []
        for row in rows:
            event = self.on_hourly_bar(row)
            if event is not None:
                events.append(event)
        return events


__all__ = [
    "ALL_SIGNALS", "SIGNAL_NAMES", "SIGNAL_SIDES", "OptionChoice", "SignalEvent", "WeeklyZoneEngine", "WeekState",
    "choose_option", "evaluate_rules", "stop_loss_level",
]
