"""A failed exit is retried at the time checks (after reconciling with the broker), with a new tag attempt: a
transient rejection or outage never leaves a basket open for good, and nothing is traded twice."""

from __future__ import annotations

from tradesig.trade.build import build_engine
from tradesig.trade.position import Position


def test_rejected_exit_is_retried_a_minute_later(settings, clock, book, broker):
    w = build_engine(settings, "backtest", clock=clock, instruments=book, symbols=["NIFTY"], broker=broker)
    engine = w.engine
    expiry = book.expiries("NIFTY", clock.now().date())[0]
    main, hedge = book.option("NIFTY", expiry, 24000, "PE"), book.option("NIFTY", expiry, 23800, "PE")
    result = engine.orders.enter_basket(main, hedge, 65, "bx1")
    assert result.ok
    pos = Position("bx1", "NIFTY", "S1", "bullish", 1, 65, main, hedge, result.main.average_price,
                   result.hedge.average_price, clock.now(), 24100.0, 24000.0, "k", 65, 65)
    engine.positions[pos.id] = pos
    broker.faults.reject_symbols = {main.tradingsymbol}
    assert engine.exit_position(pos.id, "manual") is False
    held = {p.tradingsymbol: p.quantity for p in broker.positions()}
    assert held == {main.tradingsymbol: -65, hedge.tradingsymbol: 65}   # both legs kept: never a naked short
    engine.on_time()                                   # not due yet
    assert pos.id in engine.positions
    broker.faults.reject_symbols = set()
    clock.advance(61)
    engine.on_time()
    assert pos.id not in engine.positions and engine.closed[-1].exit_reason == "manual"
    assert all(p.quantity == 0 for p in broker.positions())
    tags = [o.tag for o in broker.orders() if o.tag.startswith("tsbx1MX")]
    assert sorted(tags) == ["tsbx1MX000", "tsbx1MX100"]  # attempt 0 (rejected), attempt 1 (filled): one each
