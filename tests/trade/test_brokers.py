"""The simulated fill model (paper/backtest) and the premium sources."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.conftest import shared_file
from tradesig.clock import ManualClock, ist
from tradesig.config import BacktestSettings, Settings
from tradesig.trade.broker import OrderRequest, Quote
from tradesig.trade.brokers.paper import PaperBroker
from tradesig.trade.instruments import InstrumentBook, OptionContract
from tradesig.trade.quotes import ChainSnapshots, ModelledPremiums, SpotBook, modelled_source

from .conftest import book_rows


class SettableQuotes:
    def __init__(self):
        self.q = None

    def quote(self, contract):
        return self.q


@pytest.fixture
def paper():
    clock = ManualClock(ist(2026, 8, 18, 10, 15))
    quotes = SettableQuotes()
    book = InstrumentBook(book_rows())
    broker = PaperBroker(Settings(), clock, quotes, book, lambda s: 1800)
    return broker, clock, quotes


def test_latency_slippage_and_charges(paper):
    broker, clock, quotes = paper
    quotes.q = Quote(ltp=100.0, ts=clock.now(), bid=99.5, ask=100.5)
    oid = broker.place_order(OrderRequest("NIFTY26AUG24000PE", "NFO", "BUY", 65, "t1"))
    assert broker.orders()[0].status == "OPEN"          # 200 ms latency not yet passed
    clock.advance(0.2)
    quotes.q = Quote(ltp=100.0, ts=clock.now(), bid=99.5, ask=100.5)
    state = {o.order_id: o for o in broker.orders()}[oid]
    assert state.status == "COMPLETE" and state.average_price == 100.55   # ask + one tick
    sell = broker.place_order(OrderRequest("NIFTY26AUG24000PE", "NFO", "SELL", 65, "t2"))
    clock.advance(0.2)
    assert {o.order_id: o for o in broker.orders()}[sell].average_price == 99.45  # bid - one tick
    fills = broker.fills
    assert [f.charges.stt > 0 for f in fills] == [False, True]
    assert all(f.charges.brokerage == 20.0 for f in fills)
    pos = {p.tradingsymbol: p for p in broker.positions()}["NIFTY26AUG24000PE"]
    assert pos.quantity == 0 and pos.pnl == pytest.approx((99.45 - 100.55) * 65)


def test_stale_quote_is_not_filled(paper):
    broker, clock, quotes = paper
    quotes.q = Quote(ltp=100.0, ts=clock.now() - timedelta(seconds=30))   # older than 5 s
    oid = broker.place_order(OrderRequest("NIFTY26AUG24000PE", "NFO", "BUY", 65, "t1"))
    clock.advance(1)
    assert {o.order_id: o for o in broker.orders()}[oid].status == "OPEN"
    quotes.q = Quote(ltp=101.0, ts=clock.now())
    assert {o.order_id: o for o in broker.orders()}[oid].average_price == 101.05


def test_exchange_rules_refuse_bad_orders(paper):
    broker, clock, quotes = paper
    quotes.q = Quote(ltp=100.0, ts=clock.now())
    bad = [OrderRequest("NIFTY26AUG24000PE", "NFO", "BUY", 100, "a"),      # not a lot multiple
           OrderRequest("NIFTY26AUG24000PE", "NFO", "BUY", 1820, "b"),     # at/above the freeze quantity
           OrderRequest("NOPE", "NFO", "BUY", 65, "c")]
    for req in bad:
        broker.place_order(req)
    assert [o.status for o in broker.orders()] == ["REJECTED"] * 3


def test_modelled_premiums_and_real_chain():
    chain = ChainSnapshots(shared_file("options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet"))
    spots = SpotBook()
    src = ModelledPremiums(spots, BacktestSettings(), chain)
    c = OptionContract("NIFTY", "NIFTY2682524000PE", "NFO", date(2026, 8, 25), 24000.0, "PE", 65)
    assert src.quote(c) is None                          # no underlying price yet
    spots.update("NIFTY", 24200.0, ist(2026, 8, 18, 12, 0, 30))
    real = src.quote(c)
    assert real.source == "chain" and real.ltp > 0
    spots.update("NIFTY", 24200.0, ist(2026, 8, 24, 12, 0))  # no snapshot that day: Black-Scholes
    modelled = src.quote(c)
    assert modelled.source == modelled_source(src.iv_model("NIFTY").source) and modelled.ltp >= 0.05
    assert modelled.source.startswith("modelled [iv ") and src.iv_model("NIFTY").source in modelled.source
    assert round(modelled.ltp / 0.05, 6).is_integer()
    far = OptionContract("NIFTY", "X", "NFO", date(2026, 8, 25), 20000.0, "PE", 65)
    assert src.quote(far).ltp == 0.05                    # floored at one tick
    assert isinstance(real.ts, datetime)
