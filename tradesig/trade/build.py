"""One place that wires a :class:`~tradesig.trade.engine.TradeEngine` for any mode — backtest, paper and live
differ only in the broker and the clock they are given (DESIGN.md: one strategy path).

Called by the backtest and replay (tradesig.trade.backtest, on a ManualClock with modelled premiums) and by
``trade start`` (tradesig.trade.runner, on the system clock or a sim's replay clock).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradesig.clock import Clock
from tradesig.config import Settings
from tradesig.trade.broker import Broker
from tradesig.trade.events import EventSink, TradeEvent
from tradesig.trade.instruments import InstrumentSource
from tradesig.trade.orders import freeze_limits
from tradesig.trade.quotes import QuoteSource, SpotBook
from tradesig.trade.risk import KillSwitch

__all__ = ["ENGINE_MODES", "Wired", "build_engine", "collecting_sink"]

#: The modes an engine runs in: which broker it is given.
ENGINE_MODES = ("backtest", "paper", "live")


@dataclass
class Wired:
    """An engine and what it was built with: ``clock``, ``broker``, ``spots`` (the underlying prices the engine
    updates and modelled quotes read) and ``events`` (the collected event records when no sink was given:
    ``{"kind", "ts" (ISO UTC), **payload}``)."""

    engine: Any
    clock: Clock
    broker: Broker
    spots: SpotBook
    events: list[dict[str, Any]] = field(default_factory=list)


def collecting_sink(clock: Clock, out: list[dict[str, Any]]) -> EventSink:
    """A sink appending ``{"kind", "ts", **payload}`` records to ``out`` (backtests keep their events in memory,
    in the events log's shape)."""

    stamp: list[Any] = [None, ""]   # the clock's last now() and its ISO text (many events share an instant)

    def emit(event: TradeEvent) -> None:
        now = clock.now()
        if stamp[0] is not now:
            stamp[0], stamp[1] = now, now.isoformat()
        out.append({"kind": event.kind, "ts": stamp[1], **event.payload()})

    return emit


def build_engine(settings: Settings, mode: str, *, clock: Clock, instruments: InstrumentSource,
                 symbols: Iterable[str], quotes: QuoteSource | None = None, broker: Broker | None = None,
                 emit: EventSink | None = None, spots: SpotBook | None = None,
                 strategies: Iterable[str] | None = None, lots: int | None = None,
                 kill_switch: KillSwitch | None = None, trade_from: datetime | None = None) -> Wired:
    """Wire an engine for ``mode``:

    - "backtest": a :class:`~tradesig.trade.brokers.backtest.BacktestBroker` filling on ``quotes`` (no latency);
    - "paper": a :class:`~tradesig.trade.brokers.paper.PaperBroker` filling on ``quotes`` (latency, slippage,
      stale-quote rule of ``settings.paper``);
    - "live": ``broker`` as given (a :class:`~tradesig.trade.brokers.live.LiveBroker`).

    A ``broker`` given for "backtest"/"paper" is used as is (tests inject faulty brokers). ``quotes`` is
    required for the simulated brokers. ``emit`` defaults to collecting events in :attr:`Wired.events`.
    Raises ``ValueError`` for an unknown mode or a missing broker/quote source."""
    from tradesig.trade.engine import TradeEngine

    if mode not in ENGINE_MODES:
        raise ValueError(f"unknown engine mode {mode!r} (one of {', '.join(ENGINE_MODES)})")
    if broker is None:
        if mode == "live":
            raise ValueError("live mode needs the broker (a LiveBroker)")
        if quotes is None:
            raise ValueError(f"{mode} mode needs a quote source to fill against")
        from tradesig.trade.brokers.backtest import BacktestBroker
        from tradesig.trade.brokers.paper import PaperBroker

        factory = BacktestBroker if mode == "backtest" else PaperBroker
        broker = factory(settings, clock, quotes, instruments, freeze_limits(settings, clock))
    spots = spots if spots is not None else SpotBook()
    events: list[dict[str, Any]] = []
    engine = TradeEngine(settings, broker=broker, clock=clock, instruments=instruments,
                         emit=emit or collecting_sink(clock, events), symbols=symbols, strategies=strategies,
                         lots=lots, kill_switch=kill_switch, trade_from=trade_from, spots=spots)
    return Wired(engine, clock, broker, spots, events)
