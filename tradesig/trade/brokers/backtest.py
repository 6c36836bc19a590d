"""Backtest broker: the simulated fill model on a historical clock, priced by
:class:`tradesig.trade.quotes.ModelledPremiums` (real chain snapshots where they exist, else Black-Scholes with
``settings.backtest.iv``; every fill says which in ``price_source``). No latency; the same adverse slippage as
paper (``settings.paper.slippage_ticks``), so paper and backtest agree on one replayed session."""

from __future__ import annotations

from collections.abc import Callable

from tradesig.clock import Clock
from tradesig.config import Settings
from tradesig.trade.brokers.simulated import SimulatedBroker
from tradesig.trade.charges import RateTable
from tradesig.trade.instruments import InstrumentSource
from tradesig.trade.quotes import QuoteSource

__all__ = ["BacktestBroker"]


class BacktestBroker(SimulatedBroker):
    """:class:`SimulatedBroker` for backtests (no latency, no staleness check: the clock is the bar's)."""

    def __init__(self, settings: Settings, clock: Clock, quotes: QuoteSource, instruments: InstrumentSource,
                 freeze_quantity: Callable[[str], int]) -> None:
        super().__init__(clock, quotes, instruments, freeze_quantity=freeze_quantity,
                         rates=RateTable(settings.charges), name="backtest", latency_seconds=0.0,
                         slippage_ticks=settings.paper.slippage_ticks, max_quote_age_seconds=None)
