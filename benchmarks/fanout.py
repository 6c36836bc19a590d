"""Tick-to-viewer latency of the viewer hub: p50/p99 with 100 and 500 viewers, against websockets' broadcast().

Run from the repository root:

    /work/venv/bin/python benchmarks/fanout.py            # the table in docs/benchmarks.md "## fanout"
    /work/venv/bin/python benchmarks/fanout.py --quick    # shorter runs

Set-up: the hub (:class:`tradesig.feed.hub.Hub`, loopback) runs in this process and publishes ``--rate`` ticks per
second for ``--seconds`` seconds, each carrying its publish time (``time.monotonic_ns()``, a system-wide clock on
Linux); the viewers are WebSocket clients in a second process (one asyncio loop, so viewers and hub each have a core
of this 2-core machine), which note the arrival time of every tick message and report the latencies. Prices are
the real NIFTY 50 1-minute closes of 2024-06-04 (../shared/data/intraday), cycled.

Reference (same process, same viewers, same rate): a bare ``websockets.asyncio.server`` that sends each message to
every connection with ``websockets.broadcast()`` — the library's own fan-out, which writes without waiting and has
no per-viewer queue, coalescing or slow-viewer policy. Ratio = ours ÷ reference (1.0 = as fast as the bare library;
the hub adds a queue and a writer task per viewer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))


def _prices(data: Path) -> list[float]:
    import polars as pl

    df = pl.read_parquet(data / "intraday" / "nifty50_1min_2024-01-01_2024-08-23.parquet")
    return df.filter(pl.col("ts").dt.date() == pl.date(2024, 6, 4))["close"].to_list()


def _viewer_process(url: str, n: int, expect: int, ready, results) -> None:
    from websockets.asyncio.client import connect

    async def one(lat: list[int], done: asyncio.Event) -> None:
        async with connect(url, max_size=2**20, ping_interval=None) as ws:
            got = 0
            while got < expect:
                raw = await ws.recv()
                now = time.monotonic_ns()
                if '"tick"' in raw:
                    lat.append(now - json.loads(raw)["sent_ns"])
                    got += 1
        done.set()

    async def main() -> list[int]:
        lat: list[int] = []
        events = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.create_task(one(lat, e)) for e in events]
        await asyncio.sleep(0.5)
        ready.set()
        await asyncio.gather(*tasks)
        return lat

    results.put(asyncio.run(main()))


async def _drive(publish, rate: float, seconds: float, prices: list[float]) -> None:
    period = 1.0 / rate
    start = time.monotonic()
    k = 0
    while k < int(rate * seconds):
        target = start + k * period
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        publish({"symbol": "NIFTY", "ltp": prices[k % len(prices)], "sent_ns": time.monotonic_ns()})
        k += 1


async def _run_ours(viewers: int, rate: float, seconds: float, prices: list[float]) -> list[int]:
    from tradesig.feed.hub import Hub

    hub = Hub(heartbeat_seconds=0, client_queue=1000)
    await hub.start()
    try:
        return await _with_viewers(hub.url, viewers, rate, seconds, prices, hub.publish_tick,
                                   lambda: hub.client_count)
    finally:
        await hub.stop()


async def _run_reference(viewers: int, rate: float, seconds: float, prices: list[float]) -> list[int]:
    from websockets.asyncio.server import broadcast, serve

    conns: set = set()

    async def handler(ws) -> None:
        conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            conns.discard(ws)

    server = await serve(handler, "127.0.0.1", 0, ping_interval=None)
    port = server.sockets[0].getsockname()[1]
    try:
        def publish(tick: dict) -> None:
            broadcast(conns, json.dumps({"type": "tick", **tick}, separators=(",", ":")))

        return await _with_viewers(f"ws://127.0.0.1:{port}/ws", viewers, rate, seconds, prices, publish,
                                   lambda: len(conns))
    finally:
        server.close()
        await server.wait_closed()


async def _with_viewers(url, viewers, rate, seconds, prices, publish, count) -> list[int]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    expect = int(rate * seconds)
    proc = ctx.Process(target=_viewer_process, args=(url, viewers, expect, ready, results), daemon=True)
    proc.start()
    while not (ready.is_set() and count() >= viewers):
        await asyncio.sleep(0.05)
    await _drive(publish, rate, seconds, prices)
    lat = await asyncio.to_thread(results.get, True, 120)
    await asyncio.to_thread(proc.join, 30)
    return lat


def _pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1e6  # ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="3 s per run instead of 10")
    parser.add_argument("--rate", type=float, default=20.0, help="ticks published per second (default 20)")
    parser.add_argument("--viewers", type=int, nargs="*", default=[100, 500])
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 10.0
    prices = _prices(args.data)
    print(f"fanout benchmark: {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores; hub in one process, viewers in another; {args.rate:g} ticks/s for {seconds:g} s")
    print(f"{'viewers':>7} {'msgs':>8} {'ours p50 ms':>11} {'ours p99 ms':>11} {'ref p50 ms':>10} {'ref p99 ms':>10} "
          f"{'p50 ratio':>9} {'p99 ratio':>9}")
    for n in args.viewers:
        ours = asyncio.run(_run_ours(n, args.rate, seconds, prices))
        ref = asyncio.run(_run_reference(n, args.rate, seconds, prices))
        o50, o99, r50, r99 = _pct(ours, 0.5), _pct(ours, 0.99), _pct(ref, 0.5), _pct(ref, 0.99)
        print(f"{n:>7} {len(ours):>8,} {o50:>11.2f} {o99:>11.2f} {r50:>10.2f} {r99:>10.2f} {o50 / r50:>8.2f}× "
              f"{o99 / r99:>8.2f}×")


if __name__ == "__main__":
    main()
