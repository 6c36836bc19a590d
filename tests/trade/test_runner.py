"""The `trade start` plumbing without a broker: the hub reader against the real feed hub, and the runner's
message handling (bars in order, duplicates dropped, option ticks to the paper quotes)."""

from __future__ import annotations

import asyncio
import queue
import threading
from datetime import UTC, date, datetime, timedelta

from tradesig.feed.hub import Hub
from tradesig.trade.instruments import OptionContract
from tradesig.trade.quotes import SpotBook, TickQuotes
from tradesig.trade.runner import HubReader, Runner


class StubEngine:
    symbols = ["NIFTY"]

    def __init__(self):
        self.bars = []
        self.spots = SpotBook()

    def on_minute_bar(self, symbol, bar):
        self.bars.append((symbol, bar))

    def on_late_minute_bar(self, symbol, bar):
        return False


def serve_hub() -> tuple[Hub, asyncio.AbstractEventLoop, threading.Thread]:
    """A real feed Hub on loopback (port 0), its loop running in a thread; stop with :func:`stop_hub`."""
    loop = asyncio.new_event_loop()
    hub = Hub(heartbeat_seconds=0)
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(hub.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    return hub, loop, thread


def stop_hub(hub: Hub, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    asyncio.run_coroutine_threadsafe(hub.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_hub_reader_receives_published_bars_and_ticks():
    hub, loop, thread = serve_hub()
    out: queue.Queue = queue.Queue()
    reader = HubReader(hub.url, ["NIFTY"], out)
    reader.start()
    try:
        assert out.get(timeout=10) == ("status", "connected")
        ts = datetime(2024, 6, 10, 4, 45, tzinfo=UTC)
        for _ in range(50):  # the subscription is processed by the hub's loop: wait until the viewer is in
            if hub.client_count:
                break
            threading.Event().wait(0.05)
        loop.call_soon_threadsafe(hub.publish_bar, {"symbol": "NIFTY", "interval": "1m", "ts": ts, "open": 1.0,
                                                    "high": 2.0, "low": 0.5, "close": 1.5, "status": "complete"})
        # the feed's tick messages as tradesig.feed.ingest builds them (docs/viewer-protocol.md "tick")
        loop.call_soon_threadsafe(hub.publish_tick, {"symbol": "NIFTY", "token": 256265, "ltp": 23300.5,
                                                     "change": -5.9, "volume": None, "oi": None, "bid": None,
                                                     "ask": None, "ts": ts, "polled": False})
        option_ts = ts + timedelta(seconds=3)
        loop.call_soon_threadsafe(hub.publish_tick, {"symbol": "NIFTY2461323300CE", "token": 11111, "ltp": 101.5,
                                                     "change": 2.0, "volume": 1500, "oi": 0, "bid": 101.0,
                                                     "ask": 102.0, "ts": option_ts, "polled": False})
        kinds = {}
        ticks = []
        while len(kinds) < 2 or len(ticks) < 2:
            kind, msg = out.get(timeout=10)
            kinds[kind] = msg
            if kind == "tick":
                ticks.append(msg)
        engine = StubEngine()
        quotes = TickQuotes()
        runner = Runner(None, engine, "paper", None, tick_quotes=quotes)
        runner.handle("bar", kinds["bar"])
        runner.handle("bar", kinds["bar"])  # a duplicate after a reconnect is dropped
        assert len(engine.bars) == 1 and engine.bars[0][1].ts == ts and engine.bars[0][1].close == 1.5
        for tick in ticks:
            runner.handle("tick", tick)
        assert engine.spots.get("NIFTY") == (23300.5, ts)
        # the option's tick reaches the paper quotes with its best bid/ask (a BUY fills at the ask)
        c = OptionContract("NIFTY", "NIFTY2461323300CE", "NFO", date(2024, 6, 13), 23300, "CE", 25)
        q = quotes.quote(c)
        assert q is not None and (q.ltp, q.bid, q.ask, q.ts) == (101.5, 101.0, 102.0, option_ts)
    finally:
        reader.stop()
        reader.join(5)
        stop_hub(hub, loop, thread)


def test_option_ticks_feed_paper_quotes():
    engine = StubEngine()
    quotes = TickQuotes()
    runner = Runner(None, engine, "paper", None, tick_quotes=quotes)
    ts = datetime(2024, 6, 10, 5, 0, tzinfo=UTC)
    runner.handle("tick", {"type": "tick", "symbol": "NIFTY2461323350CE", "token": 1, "ltp": 101.5,
                           "ts": ts.isoformat(), "bid": 101.0, "ask": 102.0, "polled": False})
    c = OptionContract("NIFTY", "NIFTY2461323350CE", "NFO", datetime(2024, 6, 13).date(), 23350, "CE", 25)
    q = quotes.quote(c)
    assert (q.ltp, q.bid, q.ask, q.ts) == (101.5, 101.0, 102.0, ts)
    assert engine.spots.get("NIFTY") is None


def test_pick_clock_never_probes_a_remote_root():
    from tradesig.clock import SystemClock
    from tradesig.trade.runner import pick_clock

    assert isinstance(pick_clock("https://api.kite.trade", "auto"), SystemClock)
    assert isinstance(pick_clock("http://127.0.0.1:9", "auto"), SystemClock)   # nothing answers: system clock
    assert isinstance(pick_clock("http://127.0.0.1:9", "system"), SystemClock)
    import pytest

    from tradesig.errors import BrokerError

    with pytest.raises(BrokerError):
        pick_clock("http://127.0.0.1:9", "sim")


def test_a_stale_option_tick_gives_way_to_the_rest_quote():
    """The feed unsubscribes strikes when its chain re-centres: their last tick must not freeze paper fills."""
    from tradesig.clock import ManualClock
    from tradesig.trade.broker import Quote
    from tradesig.trade.runner import FeedQuotes

    clock = ManualClock(datetime(2024, 6, 4, 5, 50, tzinfo=UTC))
    c = OptionContract("NIFTY", "NIFTY2460623350CE", "NFO", date(2024, 6, 6), 23350, "CE", 25)

    class Rest:
        def quote(self, contract):
            return Quote(ltp=3.0, ts=clock.now(), bid=2.9, ask=3.1, source="rest")

        def quote_many(self, contracts):
            return {x.tradingsymbol: self.quote(x) for x in contracts}

    ticks = TickQuotes()
    quotes = FeedQuotes(ticks, Rest(), clock=clock, max_tick_age=5.0)
    ticks.update(c.tradingsymbol, {"ltp": 40.0, "bid": 39.5, "ask": 40.5}, clock.now())
    assert quotes.quote(c).ltp == 40.0 and quotes.quote_many([c])[c.tradingsymbol].ltp == 40.0
    clock.advance(6)
    assert quotes.quote(c).source == "rest" and quotes.quote_many([c])[c.tradingsymbol].ltp == 3.0


def test_an_engine_trailing_the_feed_does_not_close_an_hour_before_its_last_minutes():
    """At 200 x the hour 10:15-11:15 used to close by time 2 wall seconds (400 market seconds) after its end even
    when the engine's own data (hub ticks and bars) had only reached 11:10 — a loaded machine — so its last
    minutes were dropped as late and the hour's signal was lost. While the data trails the clock the horizon
    follows the data (FLUSH_GRACE behind it), down to FLUSH_GRACE_STALL_WALL wall seconds behind the clock (a
    feed that stopped); with no data, or data keeping up, it is the clock's as before; at 1 x nothing changes."""
    from tradesig.clock import ManualClock
    from tradesig.trade.runner import FLUSH_GRACE, FLUSH_GRACE_STALL_WALL, FLUSH_GRACE_WALL

    clock = ManualClock(datetime(2024, 6, 10, 5, 52, tzinfo=UTC))  # 11:22 IST
    clock.speed = 200.0
    runner = Runner(None, StubEngine(), "live", clock)
    by_clock = clock.now() - timedelta(seconds=FLUSH_GRACE_WALL * 200)  # 11:15:20
    assert runner.flush_horizon() == by_clock
    tick = datetime(2024, 6, 10, 5, 40, 30, tzinfo=UTC)  # 11:10:30: the engine is behind
    runner.handle("tick", {"type": "tick", "symbol": "NIFTY", "ltp": 23300.0, "ts": tick.isoformat()})
    assert runner.flush_horizon() == tick - FLUSH_GRACE < datetime(2024, 6, 10, 5, 45, tzinfo=UTC)
    runner.handle("tick", {"type": "tick", "symbol": "NIFTY2461323350CE", "ltp": 101.5,  # not an underlying
                           "ts": clock.now().isoformat()})
    assert runner.flush_horizon() == tick - FLUSH_GRACE
    clock.advance(timedelta(seconds=FLUSH_GRACE_STALL_WALL * 200))  # the feed stopped: the clock's longer grace
    assert runner.flush_horizon() == clock.now() - timedelta(seconds=FLUSH_GRACE_STALL_WALL * 200)
    runner.handle("tick", {"type": "tick", "symbol": "NIFTY", "ltp": 23301.0, "ts": clock.now().isoformat()})
    assert runner.flush_horizon() == clock.now() - timedelta(seconds=FLUSH_GRACE_WALL * 200)  # caught up
    clock.speed = 1.0  # real time: both wall graces are below FLUSH_GRACE
    assert runner.flush_horizon() == clock.now() - FLUSH_GRACE
    runner.data_time = clock.now() - timedelta(minutes=30)
    assert runner.flush_horizon() == clock.now() - FLUSH_GRACE
