"""Order matching against the simulated depth: statuses, partial fills, rejections, positions, margins."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import shared_file
from tradesig.sim.data import synthetic_data
from tradesig.sim.instruments import build_catalog, read_dump
from tradesig.sim.market import MarketState
from tradesig.sim.orders import OrderBook, OrderError

DAY = date(2024, 6, 4)


@pytest.fixture
def book():
    data = synthetic_data(DAY, seed=5, days_before=1, symbols=("NIFTY",))
    series = data.series[256265]
    sl = series.day_slice(DAY)
    cat = build_catalog(read_dump(shared_file("kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz")), DAY,
                        {"NIFTY": series.open[sl.start] / 100})
    market = MarketState(data, cat, DAY)
    t0 = int(series.ts[sl.start])
    market.apply_tick(256265, t0 + 5, int(series.open[sl.start]))
    ob = OrderBook(cat, market, freeze={"NIFTY": 1800}, capital=5_000_000, latency=timedelta(milliseconds=200),
                   api_secret="s")
    ob.t0 = datetime.fromtimestamp(t0 + 5, UTC)
    return ob


def p(**kw) -> dict[str, list[str]]:
    base = {"exchange": "NFO", "tradingsymbol": "NIFTY24JUNFUT", "transaction_type": "BUY", "product": "MIS",
            "order_type": "MARKET", "market_protection": "-1", "quantity": "65"}
    base.update({k: str(v) for k, v in kw.items()})
    return {k: [v] for k, v in base.items()}


def statuses(postbacks, oid):
    return [x["status"] for x in postbacks if x["order_id"] == oid]


def test_market_order_goes_open_then_complete_after_latency(book):
    oid = book.place("regular", p(), book.t0)["order_id"]
    assert book.orders[oid].rec["status"] == "OPEN PENDING"
    assert book.step(book.t0 + timedelta(milliseconds=100)) == []  # not yet: latency 200 ms
    pbs = book.step(book.t0 + timedelta(milliseconds=250))
    assert statuses(pbs, oid) == ["OPEN", "COMPLETE"]
    rec = book.orders[oid].rec
    ask = book.market.depth(book.orders[oid].ins, book.market.price(book.orders[oid].ins, book.t0), book.t0)
    assert rec["average_price"] == ask["sell"][0]["price"] and rec["filled_quantity"] == 65
    hist = [h["status"] for h in book.order_history(oid)]
    assert hist == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN", "COMPLETE"]
    pos = book.position_rows(book.t0)["net"][0]
    assert pos["quantity"] == 65 and pos["buy_price"] == rec["average_price"]


def test_large_order_fills_partially_from_depth_across_minutes(book):
    fut = book.catalog.by_key["NFO:NIFTY24JUNFUT"]
    ask1 = book.market.depth(fut, book.market.price(fut, book.t0), book.t0)["sell"][0]
    book.freeze = {"NIFTY": 10**6}
    qty = ask1["quantity"] + 5 * 65  # more than the best level holds
    oid = book.place("regular", p(quantity=qty, order_type="LIMIT", price=f"{ask1['price']:.1f}"),
                     book.t0)["order_id"]
    seen = statuses(book.step(book.t0 + timedelta(seconds=1)), oid)
    rec = book.orders[oid].rec
    assert seen == ["OPEN", "UPDATE"] and rec["filled_quantity"] == ask1["quantity"]
    t = book.t0 + timedelta(seconds=1)
    for _ in range(20):
        if rec["status"] == "COMPLETE":
            break
        t += timedelta(minutes=1)  # the depth refreshes each minute
        seen += statuses(book.step(t), oid)
    assert rec["status"] == "COMPLETE" and rec["filled_quantity"] == qty
    assert seen[-1] == "COMPLETE"
    assert len(book.order_trades(oid)) >= 2


def test_limit_order_rests_until_cancelled(book):
    oid = book.place("regular", p(order_type="LIMIT", price="100.0"), book.t0)["order_id"]
    assert statuses(book.step(book.t0 + timedelta(seconds=1)), oid) == ["OPEN"]
    assert book.orders[oid].rec["status"] == "OPEN"
    pbs = book.cancel("regular", oid, book.t0 + timedelta(seconds=2))
    assert statuses(pbs, oid) == ["CANCELLED"]
    assert book.orders[oid].rec["cancelled_quantity"] == 65
    with pytest.raises(OrderError, match="CANCELLED"):
        book.cancel("regular", oid, book.t0 + timedelta(seconds=3))


def test_modify_then_fill(book):
    oid = book.place("regular", p(order_type="LIMIT", price="100.0"), book.t0)["order_id"]
    book.step(book.t0 + timedelta(seconds=1))
    ltp = book.market.price(book.orders[oid].ins, book.t0)
    pbs = book.modify("regular", oid, {"price": [f"{round(ltp * 1.01, 1):.1f}"]}, book.t0 + timedelta(seconds=2))
    assert statuses(pbs, oid) == ["UPDATE"] and book.orders[oid].rec["modified"]
    assert statuses(book.step(book.t0 + timedelta(seconds=3)), oid) == ["COMPLETE"]


def test_ioc_remainder_is_cancelled(book):
    oid = book.place("regular", p(order_type="LIMIT", price="100.0", validity="IOC"), book.t0)["order_id"]
    assert statuses(book.step(book.t0 + timedelta(seconds=1)), oid) == ["OPEN", "CANCELLED"]


def test_reject_next_order_and_insufficient_margin(book):
    book.reject_next = "RMS:Rule: test rejection"
    oid = book.place("regular", p(), book.t0)["order_id"]
    pbs = book.step(book.t0 + timedelta(seconds=1))
    assert statuses(pbs, oid) == ["REJECTED"] and pbs[0]["status_message"] == "RMS:Rule: test rejection"
    book.capital = 1000.0
    oid2 = book.place("regular", p(transaction_type="SELL"), book.t0)["order_id"]
    pbs = book.step(book.t0 + timedelta(seconds=2))
    assert statuses(pbs, oid2) == ["REJECTED"] and "Insufficient funds" in pbs[0]["status_message"]


@pytest.mark.parametrize(("params", "message"), [
    (p(quantity=10), "multiple of the lot size"),
    (p(market_protection=""), "market protection"),
    (p(quantity=1820), "freeze"),
    (p(tradingsymbol="NIFTY24JUN99999CE"), "does not exist"),
    (p(exchange="NSE", tradingsymbol="NIFTY 50"), "index"),
    (p(order_type="LIMIT", price="100.03"), "tick size"),
    (p(order_type="SL"), "not supported"),
])
def test_validation_errors(book, params, message):
    with pytest.raises(OrderError, match=message) as err:
        book.place("regular", params, book.t0)
    assert err.value.status == 400 and err.value.error_type == "InputException"
    assert book.orders == {}


def test_autoslice_limits(book):
    out = book.place("regular", {**p(quantity=1820), "autoslice": ["true"]}, book.t0)
    assert [book.orders[c["order_id"]].rec["quantity"] for c in out["children"]] == [1755, 65]
    with pytest.raises(OrderError, match="at most 10"):
        book.place("regular", {**p(quantity=1755 * 10 + 65), "autoslice": ["true"]}, book.t0)


def test_basket_margin_gives_hedge_benefit(book):
    puts = [i for i in book.catalog.instruments if i.underlying == "NIFTY" and i.instrument_type == "PE"]
    nearest = min(i.expiry for i in puts)
    ins = [i for i in puts if i.expiry == nearest]
    spot = book.market.spot("NIFTY")
    short = min(ins, key=lambda i: abs(i.strike - spot))
    hedge = next(i for i in ins if i.strike == short.strike - 200)
    legs = [{"exchange": "NFO", "tradingsymbol": short.tradingsymbol, "transaction_type": "SELL", "quantity": 65},
            {"exchange": "NFO", "tradingsymbol": hedge.tradingsymbol, "transaction_type": "BUY", "quantity": 65}]
    m = book.basket(legs, book.t0)
    assert m["final"]["total"] < m["initial"]["total"]
    assert m["final"]["span"] == 200 * 65
    assert len(m["orders"]) == 2
