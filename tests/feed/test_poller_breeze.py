"""REST helpers (historical candles → bars, rate limiter, quotes → ticks) and Breeze ticks, no network."""

from __future__ import annotations

import asyncio
import sys
import types
from datetime import UTC, datetime

from tradesig.clock import IST
from tradesig.feed.breeze_ws import BreezeStream, breeze_ticks
from tradesig.feed.ingest import quote_ticks
from tradesig.feed.poller import RateLimiter, candles_to_bars


def test_candles_to_bars_index_volume_null_and_ist_times():
    candles = [{"date": datetime(2024, 6, 4, 9, 15, tzinfo=IST), "open": 1.0, "high": 2.0, "low": 0.5,
                "close": 1.5, "volume": 0, "oi": 0},
               {"date": datetime(2024, 6, 4, 9, 16), "open": 1.5, "high": 2.5, "low": 1.0, "close": 2.0, "volume": 0}]
    idx = candles_to_bars(candles, "NIFTY")
    assert idx["ts"].to_list() == [datetime(2024, 6, 4, 3, 45, tzinfo=UTC), datetime(2024, 6, 4, 3, 46, tzinfo=UTC)]
    assert idx["volume"].null_count() == 2 and idx["oi"].null_count() == 2
    assert set(idx["status"]) == {"backfilled"}
    fut = candles_to_bars([{**candles[0], "volume": 1200, "oi": 5}], "NIFTY24JUNFUT")
    assert fut["volume"].to_list() == [1200] and fut["oi"].to_list() == [5]


def test_rate_limiter_spaces_calls():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(1.05, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [1.05, 1.05] and limiter.calls == [0.0, 1.05, 2.1]


def test_quote_ticks_from_rest():
    quotes = {"NSE:NIFTY 50": {"instrument_token": 256265, "last_price": 22000.5, "timestamp": "2024-06-04 09:20:00",
                               "ohlc": {"open": 1, "high": 2, "low": 0.5, "close": 1.5}, "net_change": 0.3},
              "NFO:NIFTY24JUNFUT": {"last_price": 22100.0, "volume": 1000, "oi": 77,
                                    "timestamp": datetime(2024, 6, 4, 9, 20, 1)}}
    df = quote_ticks(quotes, {"NFO:NIFTY24JUNFUT": 13368834}, datetime(2026, 1, 1, tzinfo=UTC))
    assert df["instrument_token"].to_list() == [256265, 13368834]
    assert df["exchange_timestamp"].to_list() == [datetime(2024, 6, 4, 3, 50, tzinfo=UTC),
                                                  datetime(2024, 6, 4, 3, 50, 1, tzinfo=UTC)]
    assert df["volume_traded"].to_list() == [None, 1000] and df["mode"].to_list() == ["quote", "quote"]


def test_breeze_ticks_and_stream_with_a_patched_client():
    ltt = datetime(2024, 6, 4, 9, 20, 5, tzinfo=IST).astimezone().strftime("%c")  # as breeze_connect formats it
    ticks = [{"symbol": "4.1!NIFTY", "stock_name": "NIFTY 50", "last": 22000.0, "ttq": 10, "ltt": ltt},
             {"symbol": "4.1!CNXBAN", "last": 49000.0, "ltt": ltt}, {"symbol": "4.1!RELIANCE", "last": 1.0}]
    df = breeze_ticks(ticks, datetime(2026, 1, 1, tzinfo=UTC))
    assert df["instrument_token"].to_list() == [256265, 260105]
    assert df["exchange_timestamp"][0] == datetime(2024, 6, 4, 3, 50, 5, tzinfo=UTC)

    # the stream drives breeze_connect's API; a fake module stands in (importing the real one hits the network)
    calls = []

    class FakeBreeze:
        def __init__(self, api_key):
            calls.append(("init", api_key))
            self.on_ticks = None

        def generate_session(self, api_secret, session_token):
            calls.append(("session", session_token))

        def ws_connect(self):
            calls.append(("ws",))

        def subscribe_feeds(self, **kw):
            calls.append(("sub", kw["exchange_code"], kw["stock_code"]))
            self.on_ticks(ticks[0])

        def ws_disconnect(self):
            calls.append(("bye",))

    module = types.SimpleNamespace(BreezeConnect=FakeBreeze)
    got = []

    async def scenario():
        loop = asyncio.get_running_loop()
        stream = BreezeStream("key", "secret", "session", home=__import__("pathlib").Path("/nonexistent"),
                              loop=loop, on_ticks=got.append, module=module)
        await asyncio.to_thread(stream.start, ["NIFTY", "SENSEX"])
        await asyncio.sleep(0.05)
        stream.stop()

    asyncio.run(scenario())
    assert ("sub", "NSE", "NIFTY") in calls and ("sub", "BSE", "BSESEN") in calls and calls[-1] == ("bye",)
    assert len(got) == 2 and got[0][0]["last"] == 22000.0
    assert "breeze_connect" not in sys.modules or hasattr(sys.modules["breeze_connect"], "BreezeConnect")


def test_feed_service_streams_breeze_into_storage(home, monkeypatch):
    """--source breeze end to end with breeze_connect replaced (its import downloads from ICICI): ticks of real
    NIFTY prices arrive on a socket.io-like thread, are journaled as JSON records and stored."""
    import threading
    from datetime import timedelta

    from tradesig.broker.tokens import TokenRecord, TokenStore, breeze_expiry
    from tradesig.config import LoadedConfig, Settings
    from tradesig.feed.service import FeedOptions, FeedService
    from tradesig.store.datasets import Store
    from tradesig.store.journal import Journal

    monkeypatch.setenv("TRADESIG_BREEZE_API_SECRET", "not-a-real-secret")
    now = datetime.now(UTC)
    TokenStore(home).save(TokenRecord(broker="breeze", api_key="bk", access_token="session-123456789",
                                      user_id="U1", user_name="", login_time=now, expires_at=breeze_expiry(now)))
    base = datetime(2024, 6, 4, 9, 20, tzinfo=IST)
    prices = [22790.1, 22795.35, 22801.0, 22788.6]

    class FakeBreeze:
        def __init__(self, api_key):
            self.on_ticks = None

        def generate_session(self, api_secret, session_token):
            assert session_token == "session-123456789"

        def ws_connect(self):
            pass

        def subscribe_feeds(self, **kw):
            def emit():
                for i, px in enumerate(prices):
                    ltt = (base + timedelta(seconds=10 * i)).astimezone().strftime("%c")
                    self.on_ticks({"symbol": "4.1!NIFTY", "stock_name": "NIFTY 50", "last": px, "ltt": ltt})
            threading.Thread(target=emit).start()

        def ws_disconnect(self):
            pass

    service = FeedService(LoadedConfig(Settings(), None, home), FeedOptions(source="breeze", symbols=["NIFTY"],
                                                                            idle_outside_session=False),
                          breeze_module=types.SimpleNamespace(BreezeConnect=FakeBreeze))

    async def scenario():
        task = asyncio.create_task(service.run())
        for _ in range(200):
            await asyncio.sleep(0.02)
            if service.ingest is not None and service.ingest.stats.ticks >= len(prices):
                break
        service.request_stop()
        return await task

    summary = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert summary.ticks == len(prices) and summary.source == "breeze"
    ticks = Store(home).read_ticks(256265)
    assert ticks["last_price"].to_list() == prices and set(ticks["source"]) == {"breeze"}
    records = [r for d in Journal(home).dates() for r in Journal(home).records(d)]
    assert len(records) == len(prices) and all(r.data.startswith(b'{"kind":"breeze"') for r in records)
