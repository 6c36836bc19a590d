"""End to end: 200 viewers on the feed's hub, one deliberately slow — ingest unaffected, the slow one dropped."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import shared_file
from tests.e2e.feed_helpers import (
    BANK_FILE,
    DAY,
    NIFTY_FILE,
    compare_bars,
    login,
    make_service,
    recorded,
    run_service,
    start_sim,
    wait_until,
)
from tradesig.store.datasets import Store

pytestmark = pytest.mark.e2e

FAST = 199


def _viewers(service, release) -> dict:
    """Connect 199 NIFTY viewers and one that never reads, then ``release()`` the sim's held clock (so every
    viewer sees the whole replay, however slowly 200 connections are made); collect until the feed stops."""
    assert wait_until(lambda: service.hub is not None and service.hub.port not in (0, None) and
                      service.hub._server is not None, 30)
    url = service.hub.url

    async def fast(i: int, out: dict) -> None:
        last = None
        count = 0
        async with connect(url + "?symbols=NIFTY", max_queue=None) as ws:
            try:
                async for raw in ws:
                    if raw.startswith('{"type":"tick"'):  # parse only the last one: 199 viewers share a core
                        last, count = raw, count + 1
            except ConnectionClosed:
                pass
        msg = json.loads(last) if last else {}
        assert msg.get("symbol") == "NIFTY"
        out[i] = (count, msg.get("ltp"))

    async def slow(out: dict) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", service.hub.port))
        sock.setblocking(False)
        async with connect(url, sock=sock, max_queue=1, ping_interval=None) as ws:
            # never read while the feed runs; once the hub says it dropped a viewer, read: the connection ends
            while service.hub.stats.dropped_slow == 0 and not service._stop.is_set():
                await asyncio.sleep(0.05)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 30)
            except ConnectionClosed:
                out["slow_closed"] = True

    async def main() -> dict:
        out: dict = {}
        tasks = [asyncio.create_task(fast(i, out)) for i in range(FAST)]
        tasks.append(asyncio.create_task(slow(out)))
        while service.hub.stats.connected_total < FAST + 1 and not all(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        release()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 120)
        out["errors"] = [repr(r) for r in results if isinstance(r, BaseException)]
        return out

    return asyncio.run(main())


def test_two_hundred_viewers_one_slow_ingest_unaffected(home):
    files = [shared_file(NIFTY_FILE), shared_file(BANK_FILE)]
    handle = start_sim(files, start=time(15, 5), speed=150)
    clock = handle.exchange.clock
    handle.loop.call_soon_threadsafe(clock.hold)  # replay time stands still until every viewer is connected
    try:
        login(handle, home)
        service = make_service(home, handle, serve="127.0.0.1:0", client_queue=25, hub_send_buffer=8192)
        summary, viewers = run_service(
            service, timeout=120, during=lambda svc: _viewers(svc, lambda: handle.loop.call_soon_threadsafe(
                clock.release)))
    finally:
        handle.stop()
    # ingest unaffected: no reconnects, only the start gaps, every decoded tick stored, bars equal the recording
    assert summary.reconnects == 0 and summary.gaps == 4, summary
    assert summary.stopped_by in ("until", "sim session over"), summary
    store = Store(home)
    assert store.read_ticks().height == summary.ticks
    for file, symbol in zip(files, ("NIFTY", "BANKNIFTY"), strict=True):
        compare_bars(store.read_bars(symbol, "1m", DAY), recorded(file, symbol, time(9, 15)))
    # the slow viewer was dropped, the 199 others were not, and each ended on the feed's last NIFTY price
    assert viewers["errors"] == [], viewers["errors"][:3]
    assert service.hub.stats.dropped_slow == 1 and viewers.get("slow_closed"), service.hub.stats
    last_nifty = store.read_ticks(256265).sort("recv_ts")["last_price"][-1]
    fast = [viewers[i] for i in range(FAST)]
    behind = [(i, count, last) for i, (count, last) in enumerate(fast) if not (count > 0 and last == last_nifty)]
    assert not behind, f"{len(behind)} viewers did not end on the last NIFTY price {last_nifty}: {behind[:5]}"
    assert service.hub.stats.connected_total == FAST + 1
