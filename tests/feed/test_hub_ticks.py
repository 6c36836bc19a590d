"""The hub's tick path: conflation to the latest tick per symbol, one encoding per tick for all viewers, ``ticks``
batches for viewers that ask (``?batch=1``), per-viewer conflation slots for a viewer that is behind."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

import tradesig.feed.hub as hub_module
from tradesig.feed.hub import Hub
from tradesig.feed.hub_client import TICKS_PREFIX, _Client


async def recv_json(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_ticks_conflated_batched_and_encoded_once(monkeypatch):
    encoded: list[str] = []
    real = hub_module._json

    def counting(obj):
        if isinstance(obj, dict) and obj.get("type") == "tick":
            encoded.append(obj["symbol"])
        return real(obj)

    monkeypatch.setattr(hub_module, "_json", counting)

    async def scenario():
        hub = Hub(heartbeat_seconds=0, tick_interval=0.05)
        await hub.start()
        try:
            async with connect(hub.url + "?batch=1") as batch, connect(hub.url + "?batch=1&symbols=NIFTY") as nifty, \
                    connect(hub.url) as single:
                for ws in (batch, nifty, single):
                    assert (await recv_json(ws))["protocol"] == 3
                while hub.client_count < 3:
                    await asyncio.sleep(0.01)
                # one frame's worth of ticks, published within one turn of the loop
                for symbol, ltp in (("NIFTY", 1.0), ("BANKNIFTY", 2.0), ("NIFTY", 3.0), ("SENSEX", 4.0)):
                    hub.publish_tick({"symbol": symbol, "ltp": ltp})
                got = await recv_json(batch)
                assert got["type"] == "ticks"
                assert [(t["type"], t["symbol"], t["ltp"]) for t in got["ticks"]] == [
                    ("tick", "NIFTY", 3.0), ("tick", "BANKNIFTY", 2.0), ("tick", "SENSEX", 4.0)]
                assert (await recv_json(nifty))["ticks"] == [{"type": "tick", "symbol": "NIFTY", "ltp": 3.0}]
                assert [(m["type"], m["symbol"], m["ltp"]) for m in [await recv_json(single) for _ in range(3)]] == [
                    ("tick", "NIFTY", 3.0), ("tick", "BANKNIFTY", 2.0), ("tick", "SENSEX", 4.0)]
                assert encoded == ["NIFTY", "BANKNIFTY", "SENSEX"]  # once per symbol, not once per viewer
                assert hub.stats.ticks_in == 4 and hub.stats.tick_flushes == 1
                # a bar is preceded by the ticks published before it, even inside the tick interval
                hub.publish_ticks([{"symbol": "NIFTY", "ltp": 5.0}])
                hub.publish_bar({"symbol": "NIFTY", "interval": "1m", "ts": "x", "open": 1.0, "high": 5.0,
                                 "low": 1.0, "close": 5.0, "volume": None, "oi": None, "status": "complete"})
                assert [m["type"] for m in [await recv_json(nifty) for _ in range(2)]] == ["ticks", "bar"]
                # the snapshot of a new viewer carries the latest tick, flushed or not
                hub.publish_tick({"symbol": "SENSEX", "ltp": 6.0})
                async with connect(hub.url) as late:
                    assert (await recv_json(late))["ticks"]["SENSEX"]["ltp"] == 6.0
        finally:
            await hub.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_viewer_behind_gets_one_slot_with_the_latest_ticks_then_is_dropped():
    client = _Client(ws=None, loopback=True, limit=3, batch=True)  # type: ignore[arg-type]
    first = {"NIFTY": '{"n":1}', "BANKNIFTY": '{"b":1}'}
    assert client.offer_ticks(first, TICKS_PREFIX + "...]}")
    assert list(client.queue) == [TICKS_PREFIX + "...]}"]  # idle: the shared batch text itself
    second = {"NIFTY": '{"n":2}'}
    assert client.offer_ticks(second, "shared")
    assert client.queue[-1] == second and client.queue[-1] is not second  # busy: its own slot (a copy)
    assert client.offer_ticks({"NIFTY": '{"n":3}', "SENSEX": '{"s":3}'}, "shared")
    assert client.queue[-1] == {"NIFTY": '{"n":3}', "SENSEX": '{"s":3}'} and client.behind == 1
    assert second == {"NIFTY": '{"n":2}'}  # the shared dict of the flush is never changed
    client.offer(None, '{"type":"signal"}')  # an unkeyed message ends the slot: later ticks go after it
    assert client.offer_ticks({"NIFTY": '{"n":4}'}, "shared")
    assert list(client.queue)[1:] == [{"NIFTY": '{"n":3}', "SENSEX": '{"s":3}'}, '{"type":"signal"}',
                                     {"NIFTY": '{"n":4}'}]
    # nothing sent since: each further flush merges and counts; past 2 × limit the viewer must be dropped
    assert client.offer_ticks({"NIFTY": '{"n":5}'}, "shared")  # 4 queued + behind 2 = 6
    assert not client.offer_ticks({"NIFTY": '{"n":6}'}, "shared")
    assert client.queue[-1] == {"NIFTY": '{"n":6}'}


def test_ingested_frames_reach_viewers_as_the_latest_tick_per_instrument(tmp_path):
    """The feed's path: ``Ingestor(on_tick_array=hub.publish_tick_array)``; two frames within one flush give one
    batch with each instrument's last tick (the dicts are built at the flush, by the ingestor's ``hub_rows``)."""
    from datetime import UTC, datetime

    from tradesig.clock import ManualClock
    from tradesig.feed.ingest import Ingestor
    from tradesig.feed.kite_protocol import encode_frame

    ts = datetime(2024, 6, 4, 5, 45, tzinfo=UTC)
    option = 12345678

    def packet(token: int, price: float) -> dict:
        return {"instrument_token": token, "mode": "full", "last_price": price, "change": 0.0,
                "ohlc": {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}, "exchange_timestamp": ts}

    async def scenario():
        hub = Hub(heartbeat_seconds=0, tick_interval=0.05)
        called = []
        ing = Ingestor(tmp_path, ManualClock(ts), source="sim", symbols={option: "NIFTY2460622000CE"},
                       on_ticks=called.append, on_tick_array=hub.publish_tick_array)
        await hub.start()
        try:
            async with connect(hub.url + "?batch=1") as ws:
                await recv_json(ws)
                while hub.client_count < 1:
                    await asyncio.sleep(0.01)
                ing.on_frame(encode_frame([packet(256265, 22800.0), packet(option, 100.5)]), ts)
                ing.on_frame(encode_frame([packet(256265, 22801.5)]), ts)
                got = await recv_json(ws)
                assert [(t["symbol"], t["token"], t["ltp"], t["ts"]) for t in got["ticks"]] == [
                    ("NIFTY2460622000CE", option, 100.5, "2024-06-04T05:45:00+00:00"),
                    ("NIFTY", 256265, 22801.5, "2024-06-04T05:45:00+00:00")]
                assert called == [] and hub.stats.ticks_in == 3
        finally:
            await hub.stop()
            ing.close(now=ts)

    asyncio.run(asyncio.wait_for(scenario(), 30))
