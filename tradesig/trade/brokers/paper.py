"""Paper trading: the simulated fill model against live quotes (the feed hub's ticks or the broker's /quote),
with the configured latency, slippage and staleness limit (``settings.paper``) and Zerodha charges."""

from __future__ import annotations

from collections.abc import Callable

from tradesig.clock import Clock
from tradesig.config import Settings
from tradesig.trade.brokers.simulated import SimulatedBroker
from tradesig.trade.charges import RateTable
from tradesig.trade.instruments import InstrumentSource
from tradesig.trade.quotes import QuoteSource

__all__ = ["PaperBroker"]


class PaperBroker(SimulatedBroker):
    """:class:`SimulatedBroker` configured from ``settings.paper``: ``latency_ms`` before a fill,
    ``slippage_ticks`` adverse ticks on market orders, no fill against a quote older than
    ``max_quote_age_seconds``. ``freeze_quantity(symbol)`` units."""

    def __init__(self, settings: Settings, clock: Clock, quotes: QuoteSource, instruments: InstrumentSource,
                 freeze_quantity: Callable[[str], int]) -> None:
        super().__init__(clock, quotes, instruments, freeze_quantity=freeze_quantity,
                         rates=RateTable(settings.charges), name="paper",
                         latency_seconds=settings.paper.latency_ms / 1000.0,
                         slippage_ticks=settings.paper.slippage_ticks,
                         max_quote_age_seconds=settings.paper.max_quote_age_seconds)
