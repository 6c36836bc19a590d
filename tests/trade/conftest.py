"""Helpers for the trade tests: a contract book, a fault-injecting broker over the simulated fill model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from tradesig.clock import ManualClock, ist
from tradesig.config import Settings
from tradesig.errors import BrokerError
from tradesig.trade.broker import OrderRequest, OrderTimeout, Quote
from tradesig.trade.brokers.simulated import SimulatedBroker
from tradesig.trade.charges import RateTable
from tradesig.trade.instruments import InstrumentBook, OptionContract


def book_rows(symbol="NIFTY", expiry=date(2026, 8, 25), lot=65, strikes=range(23000, 25050, 50)):
    rows = []
    for k in strikes:
        for t in ("CE", "PE"):
            rows.append({"instrument_token": 1, "tradingsymbol": f"{symbol}26AUG{k}{t}", "name": symbol,
                         "expiry": expiry.isoformat(), "strike": str(k), "tick_size": "0.05", "lot_size": str(lot),
                         "instrument_type": t, "segment": "NFO-OPT", "exchange": "NFO"})
    return rows


class FixedQuotes:
    """Every contract quotes ``price`` (per tradingsymbol override) at the clock's time."""

    def __init__(self, clock, price=100.0, prices=None):
        self.clock = clock
        self.price = price
        self.prices = dict(prices or {})

    def quote(self, contract: OptionContract):
        return Quote(ltp=self.prices.get(contract.tradingsymbol, self.price), ts=self.clock.now(), source="quote")


@dataclass
class Faults:
    reject_symbols: set = field(default_factory=set)
    timeout_after_accept: int = 0   # next N placements: accepted, then the caller sees a timeout
    timeout_before_accept: int = 0  # next N placements: lost before reaching the book
    book_unavailable: int = 0       # next N order-book reads refused (HTTP 429, a broker restart)
    placed: list = field(default_factory=list)


class FaultyBroker(SimulatedBroker):
    """SimulatedBroker with injectable faults (for order-manager tests)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.faults = Faults()

    def orders(self):
        if self.faults.book_unavailable:
            self.faults.book_unavailable -= 1
            raise BrokerError("429 Too many requests")
        return super().orders()

    def place_order(self, request: OrderRequest) -> str:
        if self.faults.timeout_before_accept:
            self.faults.timeout_before_accept -= 1
            raise OrderTimeout("lost")
        if request.tradingsymbol in self.faults.reject_symbols:
            request = OrderRequest(**{**request.__dict__, "tradingsymbol": "UNKNOWN" + request.tradingsymbol})
        oid = super().place_order(request)
        self.faults.placed.append(request)
        if self.faults.timeout_after_accept:
            self.faults.timeout_after_accept -= 1
            raise OrderTimeout("slow")
        return oid


@pytest.fixture
def settings():
    return Settings()


@pytest.fixture
def clock():
    return ManualClock(ist(2026, 8, 18, 10, 15))


@pytest.fixture
def book():
    return InstrumentBook(book_rows())


@pytest.fixture
def broker(settings, clock, book):
    return FaultyBroker(clock, FixedQuotes(clock), book,
                        freeze_quantity=lambda s: settings.instruments[s].freeze_quantity,
                        rates=RateTable(settings.charges), name="test")
