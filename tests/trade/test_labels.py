"""Honest labels (issue 13 item 5): every price that came from a model says so, naming its IV source."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tradesig.trade.brokers.live import LiveBroker
from tradesig.trade.instruments import OptionContract
from tradesig.trade.position import Position
from tradesig.trade.quotes import TickQuotes, is_modelled, modelled_source
from tradesig.trade.runner import sim_price_source

TS = datetime(2024, 6, 10, 5, 45, tzinfo=UTC)


class FakeKite:
    def __init__(self, data, orders=()):
        self.data = data
        self._orders = list(orders)

    def quote(self, keys):
        return {k: v for k, v in self.data.items() if k in keys}

    def orders(self):
        return self._orders


def _q(price, **extra):
    return {"last_price": price, "timestamp": "2024-06-10 11:15:00", "depth": {}, **extra}


def test_live_broker_labels_quotes_from_a_modelled_source():
    kite = FakeKite({"NFO:A": _q(100.0), "NFO:B": _q(50.0, modelled=True, iv_source="india vix 26.7"),
                     "NSE:NIFTY 50": _q(22000.0)},
                    orders=[{"order_id": "1", "status": "COMPLETE", "quantity": 25, "filled_quantity": 25,
                             "average_price": 100.0}])
    real = LiveBroker(kite, root="https://api.kite.trade")
    got = real.quote(["NFO:A", "NFO:B"])
    assert got["NFO:A"].source == "quote"
    assert got["NFO:B"].source == "modelled [iv india vix 26.7]"  # the quote's own flag wins
    assert real.orders()[0].price_source == "broker"
    sim = LiveBroker(kite, root="http://127.0.0.1:1", quote_source=modelled_source("sim: flat IV 0.15"))
    got = sim.quote(["NFO:A", "NSE:NIFTY 50"])
    assert got["NFO:A"].source == "modelled [iv sim: flat IV 0.15]"
    assert got["NSE:NIFTY 50"].source == "quote"     # the index is the recorded market's price
    assert sim.orders()[0].price_source == "modelled [iv sim: flat IV 0.15]"  # fills at modelled prices


def test_tick_quotes_carry_their_label():
    c = OptionContract("NIFTY", "NIFTY2461322000CE", "NFO", date(2024, 6, 13), 22000.0, "CE", 25)
    ticks = TickQuotes(modelled_source("sim: flat IV 0.15"))
    ticks.update(c.tradingsymbol, {"ltp": 101.0}, TS)
    assert ticks.quote(c).source == "modelled [iv sim: flat IV 0.15]"
    plain = TickQuotes()
    plain.update(c.tradingsymbol, {"ltp": 101.0}, TS)
    assert plain.quote(c).source == "quote"
    plain.update(c.tradingsymbol, {"ltp": 99.0, "modelled": True, "iv_source": "realised 20d"}, TS)
    assert plain.quote(c).source == "modelled [iv realised 20d]"


def test_remote_root_is_never_probed_and_labelled_market():
    assert sim_price_source("https://api.kite.trade") == "quote"
    assert sim_price_source("http://127.0.0.1:9") == "quote"   # loopback, but no sim answers
    assert sim_price_source("https://api.icicidirect.com", "breeze") == "breeze"


def test_basket_filled_on_modelled_quotes_is_recorded_modelled():
    main = OptionContract("NIFTY", "NIFTY2461322000CE", "NFO", date(2024, 6, 13), 22000.0, "CE", 25)
    hedge = OptionContract("NIFTY", "NIFTY2461322200CE", "NFO", date(2024, 6, 13), 22200.0, "CE", 25)
    pos = Position("b1", "NIFTY", "S3", "bearish", 1, 25, main, hedge, 100.0, 40.0, TS, 21900.0, 22000.0, "k",
                   25, 25, price_source="none")
    pos.add_price_source("modelled [iv sim: flat IV 0.15]", "modelled [iv sim: flat IV 0.15]")
    assert pos.price_source == "modelled [iv sim: flat IV 0.15]" and pos.modelled
    record = pos.as_dict()
    assert record["modelled"] is True and record["contract_modelled"] is False
    assert Position.from_dict(record).main.modelled is False   # the contract itself came from the dump
    basket = pos.report_event("paper").payload()
    assert basket["modelled"] is True and basket["price_source"] == "modelled [iv sim: flat IV 0.15]"
    pos.add_price_source("quote")
    assert pos.price_source == "modelled [iv sim: flat IV 0.15]+quote" and is_modelled(pos.price_source)
