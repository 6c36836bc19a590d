"""Tick-to-viewer latency of the viewer hub (p50/p99/max) with 100, 500 and 2,000 viewers, against websockets'
broadcast(), alone and while ingest runs at its goal rate in the hub's process.

Run from the repository root:

    /work/venv/bin/python benchmarks/fanout.py                  # both tables of docs/benchmarks.md "## fanout"
    /work/venv/bin/python benchmarks/fanout.py --mode steady    # only the 20 ticks/s table
    /work/venv/bin/python benchmarks/fanout.py --mode load      # only the ingest-at-200,000-ticks/s table
    /work/venv/bin/python benchmarks/fanout.py --quick          # shorter runs, one repeat

Set-up (both modes): the hub (:class:`tradesig.feed.hub.Hub`, loopback, default ``tick_interval`` 40 ms) runs in
this process; the viewers are WebSocket clients in a second process (one asyncio loop: on this 2-core machine the
hub and the viewers have a core each). Every viewer asks for ``ticks`` batches (``?batch=1``, as the page does) and
notes the arrival time (``time.monotonic_ns()``, a system-wide clock on Linux) of every tick it receives. Latency =
arrival − the tick's time of receipt in the hub's process. With conflation a viewer receives the *latest* tick per
symbol, so the figures are the age of each value a viewer receives; the ticks conflated away have no latency.
Each repeat runs ours, then the reference, for every viewer count (alternating). The viewer process measures its
own CPU time: near 100 % of a core, it (not the hub) is the bottleneck and the latencies include its queueing.

``steady``: 20 ticks/s of one symbol for ``--seconds`` (default 10), each carrying its publish time; every viewer
wants every tick. Prices: the real NIFTY 50 1-minute closes of 2024-06-04 (../shared/data/intraday), cycled.
Reference: a bare ``websockets.asyncio.server`` that sends each tick to every connection with
``websockets.broadcast()`` — the library's own fan-out (writes without waiting; no per-viewer queue, conflation or
slow-viewer policy).

``load``: the real :class:`tradesig.feed.ingest.Ingestor` (journal written and fsync'd, ticks decoded, Parquet parts
every 100,000 ticks, bars closed; a fresh data home in a temporary directory) is fed prerecorded ticker frames at
``--ingest-rate`` (default 200,000 ticks/s, the ingest goal) on the hub's event loop, as the feed's source does (a
frame is handed to ``on_frame`` with its receive time; the loop turns between frames), wired to the hub as in
``tradesig feed --serve`` (``on_tick_array=hub.publish_tick_array``, ``on_bar=hub.publish_bar``).
Frames: the whole session of 2024-06-04 for NIFTY 50 and NIFTY BANK (real
1-minute bars → 12 ticks per bar by the sim's path model) plus a chain of 200 option-like instruments in full mode
(``benchmarks/ingest.py``'s frames: 202 packets per frame, ~909,000 ticks, ~4.5 s at the goal rate). Viewers
subscribe to NIFTY and BANKNIFTY (the page's index ticks); a tick's time of receipt is the moment its frame was
handed to the ingestor, so latency includes journaling and decoding that frame, the wait for the next flush, any
Parquet write that blocks the loop meanwhile, encoding, sending and the viewer process. Reference: the same
ingestor and frames, its ``on_ticks`` (every tick as a dict) going to a bare ``websockets`` server that conflates the
viewers' two symbols to the latest tick every 40 ms and broadcast()s one ``ticks`` batch (the straightforward hub
on the library, same conflation, no per-viewer queue). "ingest t/s" is the rate the ingestor achieved (the goal is
the offered rate); below it, the loop could not keep up and every latency grows with the backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))
WATCHED = ("NIFTY", "BANKNIFTY")  # the load mode's viewers: the page's index ticks
INTERVAL = 0.04  # the reference's conflation interval, seconds (the hub's default tick_interval)


def _prices(data: Path) -> list[float]:
    import polars as pl

    df = pl.read_parquet(data / "intraday" / "nifty50_1min_2024-01-01_2024-08-23.parquet")
    return df.filter(pl.col("ts").dt.date() == pl.date(2024, 6, 4))["close"].to_list()


# ------------------------------------------------------------------------------------------------------- viewers

def _viewer_process(url: str, n: int, ready, go, done, results) -> None:
    """``n`` viewers on one loop; from ``go`` to ``done`` record (arrival ns, key) of every tick received.
    key: the tick's ``sent_ns`` (steady) or (symbol, ts) (load). Puts (samples, cpu seconds, wall seconds)."""
    from websockets.asyncio.client import connect

    samples: list[tuple[int, object]] = []
    recording = False

    async def one(opened: asyncio.Event) -> None:
        async with connect(url, max_size=2**22, ping_interval=None, open_timeout=60) as ws:
            opened.set()
            while True:
                raw = await ws.recv()
                now = time.monotonic_ns()
                msg = json.loads(raw)
                kind = msg.get("type")
                ticks = msg["ticks"] if kind == "ticks" else [msg] if kind == "tick" else ()
                if recording:
                    for t in ticks:
                        samples.append((now, t["sent_ns"] if "sent_ns" in t else (t["symbol"], t["ts"])))

    async def main() -> tuple[float, float]:
        nonlocal recording
        events = [asyncio.Event() for _ in range(n)]
        tasks = []
        for k, e in enumerate(events):  # connect in waves of 100, so 2,000 opening handshakes do not time out
            tasks.append(asyncio.create_task(one(e)))
            if (k + 1) % 100 == 0:
                await asyncio.gather(*(x.wait() for x in events[k - 99:k + 1]))
        await asyncio.gather(*(e.wait() for e in events))
        ready.set()
        await asyncio.to_thread(go.wait)
        recording = True
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.to_thread(done.wait)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return cpu, wall

    cpu, wall = asyncio.run(main())
    results.put((samples, cpu, wall))


# ---------------------------------------------------------------------------------------------------- the hubs

class _Ours:
    def __init__(self) -> None:
        from tradesig.feed.hub import Hub

        self.hub = Hub(heartbeat_seconds=0)

    async def start(self) -> str:
        await self.hub.start()
        return self.hub.url + "?batch=1"

    def count(self) -> int:
        return self.hub.client_count

    def tick(self, tick: dict) -> None:
        self.hub.publish_tick(tick)

    def tick_array(self, array, rows) -> None:
        self.hub.publish_tick_array(array, rows)

    def bar(self, bar: dict) -> None:
        self.hub.publish_bar(bar)

    async def stop(self) -> None:
        await self.hub.stop()


class _Reference:
    """A bare websockets server; ``tick`` broadcasts each tick, ``ticks`` conflates the watched symbols and
    broadcasts one batch every ``INTERVAL`` seconds; bars are broadcast as they come."""

    def __init__(self) -> None:
        self.conns: set = set()
        self.latest: dict[str, dict] = {}
        self.timer: asyncio.Task | None = None

    async def start(self) -> str:
        from websockets.asyncio.server import serve

        async def handler(ws) -> None:
            self.conns.add(ws)
            await ws.send('{"type":"snapshot"}')
            try:
                await ws.wait_closed()
            finally:
                self.conns.discard(ws)

        self.server = await serve(handler, "127.0.0.1", 0, ping_interval=None)
        self.timer = asyncio.create_task(self._flusher())
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ws"

    def count(self) -> int:
        return len(self.conns)

    def _send(self, text: str) -> None:
        from websockets.asyncio.server import broadcast

        broadcast(self.conns, text)

    def tick(self, tick: dict) -> None:
        self._send(json.dumps({"type": "tick", **tick}, separators=(",", ":")))

    def ticks(self, rows: list[dict]) -> None:
        for row in rows:
            if row["symbol"] in WATCHED:
                self.latest[row["symbol"]] = row

    async def _flusher(self) -> None:
        from tradesig.jsonenc import json_default

        while True:
            await asyncio.sleep(INTERVAL)
            if self.latest:
                batch = [{"type": "tick", **t} for t in self.latest.values()]
                self.latest = {}
                self._send(json.dumps({"type": "ticks", "ticks": batch}, separators=(",", ":"), default=json_default))

    def bar(self, bar: dict) -> None:
        from tradesig.jsonenc import json_default

        if bar["symbol"] in WATCHED:
            self._send(json.dumps({"type": "bar", **bar}, separators=(",", ":"), default=json_default))

    async def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.server.close()
        await self.server.wait_closed()


# ------------------------------------------------------------------------------------------------------ drivers

async def _steady(hub, rate: float, seconds: float, prices: list[float], sent: dict) -> dict:
    period = 1.0 / rate
    start = time.monotonic()
    for k in range(int(rate * seconds)):
        delay = start + k * period - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        hub.tick({"symbol": "NIFTY", "ltp": prices[k % len(prices)], "sent_ns": time.monotonic_ns()})
    return {"ticks": int(rate * seconds), "wall": time.monotonic() - start}


async def _load(hub, rate: float, frames: list[tuple[bytes, int]], sent: dict, home: Path, thread: bool) -> dict:
    """Feed ``frames`` to a fresh Ingestor at ``rate`` ticks/s; ``sent[(symbol, ts json)]`` = receive ns. With
    ``thread`` the ingestor runs in a worker thread and hands ticks and bars to the loop (an experiment)."""
    from tradesig.clock import ManualClock
    from tradesig.feed.ingest import Ingestor
    from tradesig.jsonenc import json_default

    now_ns = 0
    ing: Ingestor

    def note(rows: list[dict]) -> None:
        for row in rows:
            if row["symbol"] in WATCHED:
                sent[(row["symbol"], json_default(row["ts"]))] = now_ns

    def on_ticks(rows: list[dict]) -> None:  # the reference: every tick as a dict (Ingestor.on_ticks)
        note((rows[0], rows[-1]))  # the index ticks lead (NIFTY) or end (BANKNIFTY) their frame
        hub.ticks(rows)

    loop = asyncio.get_running_loop()
    tick_array, bar = hub.tick_array if isinstance(hub, _Ours) else None, hub.bar
    if thread:
        def tick_array(array, rows) -> None:
            loop.call_soon_threadsafe(hub.tick_array, array, rows)

        def bar(b: dict) -> None:
            loop.call_soon_threadsafe(hub.bar, b)

    def on_tick_array(array, rows) -> None:  # ours: the decoded frame, as tradesig feed --serve wires it
        note(rows(array[[0, -1]], False))
        tick_array(array, rows)

    base = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
    wiring = {"write_behind": True} if "write_behind" in inspect.signature(Ingestor).parameters else {}
    ing = Ingestor(home, ManualClock(base), source="bench", on_bar=bar, **wiring,
                   **({"on_tick_array": on_tick_array} if isinstance(hub, _Ours) else {"on_ticks": on_ticks}))
    start = time.monotonic()
    done = 0
    in_ingest = longest = 0  # ns inside on_frame (journal, decode, Parquet parts, bars, hub publish calls)

    def step(frame: bytes, n: int) -> None:
        nonlocal now_ns, in_ingest, longest, done
        now_ns = time.monotonic_ns()
        ing.on_frame(frame, base + timedelta(seconds=time.monotonic() - start))
        took = time.monotonic_ns() - now_ns
        in_ingest += took
        longest = max(longest, took)
        done += n

    def pump() -> None:
        for frame, n in frames:
            delay = start + done / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            step(frame, n)

    if thread:
        await asyncio.to_thread(pump)
    else:
        for frame, n in frames:
            delay = start + done / rate - time.monotonic()
            await asyncio.sleep(delay if delay > 0.0005 else 0)  # the loop turns between frames, as between reads
            step(frame, n)
    wall = time.monotonic() - start
    ing.close(now=datetime(2024, 6, 4, 10, 0, tzinfo=UTC))
    return {"ticks": done, "wall": wall, "ingest_share": in_ingest / 1e9 / wall,
            "ingest_max_ms": longest / 1e6}


async def _run(kind: str, viewers: int, args, payload, home: Path | None) -> dict:
    hub = _Ours() if kind == "ours" else _Reference()
    url = await hub.start()
    ctx = mp.get_context("spawn")
    ready, go, done, results = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
    if args.mode_now == "load":
        url += ("&" if "?" in url else "?") + "symbols=" + ",".join(WATCHED)
    proc = ctx.Process(target=_viewer_process, args=(url, viewers, ready, go, done, results), daemon=True)
    proc.start()
    sent: dict = {}
    try:
        while not (ready.is_set() and hub.count() >= viewers):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        go.set()
        await asyncio.sleep(0.1)
        cpu0 = time.process_time()
        if args.mode_now == "steady":
            info = await _steady(hub, args.rate, args.seconds, payload, sent)
        else:
            info = await _load(hub, args.ingest_rate, payload, sent, home, args.ingest_thread)
        info["hub_cpu"] = (time.process_time() - cpu0) / info["wall"]
        await asyncio.sleep(0.5)  # the last flushes reach the viewers
        done.set()
        samples, vcpu, vwall = await asyncio.to_thread(results.get, True, 300)
        await asyncio.to_thread(proc.join, 30)
    finally:
        await hub.stop()
    lat = []
    for arrival, key in samples:
        if isinstance(key, int):
            lat.append(arrival - key)
        elif tuple(key) in sent:
            lat.append(arrival - sent[tuple(key)])
    info.update(lat=lat, viewer_cpu=vcpu / vwall, received=len(samples))
    return info


def _pct(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1e6  # ms


def _frames(data: Path, minutes: int) -> list[tuple[bytes, int]]:
    """``benchmarks/ingest.py``'s frames (200-instrument chain) with their tick counts, cached in the temporary
    directory (building them takes ~40 s, which need not happen under a timing lock: run ``--frames-only`` first).
    """
    import hashlib
    import importlib.util
    import pickle

    from tradesig.feed.kite_protocol import decode_frame

    code = [(REPO / "benchmarks" / "ingest.py").read_bytes(), (REPO / "tradesig/feed/kite_encode.py").read_bytes()]
    digest = hashlib.sha1(b"".join(code)).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"tradesig-fanout-frames-{minutes}-{digest}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    spec = importlib.util.spec_from_file_location("bench_ingest", REPO / "benchmarks" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frames, _ = module.build_frames(data, minutes, 200)
    out = [(f, len(decode_frame(f).ticks)) for f in frames]
    part = cache.with_suffix(".part")
    part.write_bytes(pickle.dumps(out))
    part.replace(cache)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--mode", choices=["steady", "load", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="3 s steady runs, 120 load minutes, one repeat")
    parser.add_argument("--rate", type=float, default=20.0, help="steady: ticks published per second (20)")
    parser.add_argument("--ingest-rate", type=float, default=200_000.0, help="load: ingest ticks/s (200,000)")
    parser.add_argument("--viewers", type=int, nargs="*", default=[100, 500, 2000])
    parser.add_argument("--repeats", type=int, default=None, help="repeats, each ours then reference (2)")
    parser.add_argument("--seconds", type=float, default=None, help="steady: seconds per run (10)")
    parser.add_argument("--ingest-thread", action="store_true",
                        help="load: run the ingestor in a worker thread (an experiment: the feed runs it on the loop)")
    parser.add_argument("--frames-only", action="store_true", help="build and cache the load mode's frames, exit")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile our hub's runs into this file")
    parser.add_argument("--hubs", nargs="*", choices=["ours", "reference"], default=["ours", "reference"])
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    repeats = args.repeats or (1 if args.quick else 2)
    if args.frames_only:
        print(f"{sum(n for _, n in _frames(args.data, 120 if args.quick else 375)):,} ticks of frames cached")
        return
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    print(f"fanout benchmark: {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores; hub in this process, viewers in another; repeats {repeats} (ours, reference "
          f"alternating); latency = viewer arrival - tick receipt in the hub's process")
    bad = False
    for mode in (["steady", "load"] if args.mode == "both" else [args.mode]):
        args.mode_now = mode
        if mode == "steady":
            payload = _prices(args.data)
            print(f"\nsteady: {args.rate:g} ticks/s of NIFTY for {args.seconds:g} s, every viewer every tick")
        else:
            minutes = 120 if args.quick else 375
            payload = _frames(args.data, minutes)
            total = sum(n for _, n in payload)
            args.load_seconds = total / args.ingest_rate
            print(f"\nload: Ingestor fed {len(payload):,} frames / {total:,} ticks ({minutes} min of 2024-06-04, "
                  f"200-instrument chain) at {args.ingest_rate:,.0f} ticks/s (~{args.load_seconds:.1f} s); viewers "
                  f"want {','.join(WATCHED)}")
        print(f"{'viewers':>7} {'hub':>5} {'ticks rcvd':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'ingest t/s':>10} {'hub cpu':>7} {'viewer cpu':>10}")
        pooled: dict[tuple[int, str], list[int]] = {}
        for rep in range(repeats):
            for n in args.viewers:
                for kind in args.hubs:
                    home = Path(tempfile.mkdtemp(prefix="tradesig-fanout-")) if mode == "load" else None
                    try:
                        if profiler is not None and kind == "ours":
                            profiler.enable()
                        info = asyncio.run(_run(kind, n, args, payload, home))
                    finally:
                        if profiler is not None:
                            profiler.disable()
                        if home is not None:
                            shutil.rmtree(home, ignore_errors=True)
                    lat = info["lat"]
                    if not lat or min(lat) < 0:
                        bad = True  # no tick arrived, or a tick arrived before it was received: a wrong result
                    pooled.setdefault((n, kind), []).extend(lat)
                    print(f"{n:>7} {kind[:5]:>5} {len(lat):>10,} {_pct(lat, 0.5):>7.2f} {_pct(lat, 0.99):>7.2f} "
                          f"{max(lat or [0]) / 1e6:>7.1f} {info['ticks'] / info['wall']:>10,.0f} "
                          f"{info['hub_cpu']:>6.0%} {info['viewer_cpu']:>9.0%}  (repeat {rep + 1})"
                          + (f" on_frame {info['ingest_share']:.0%} of the wall, longest {info['ingest_max_ms']:.0f} ms"
                             if "ingest_share" in info else ""), flush=True)
        print(f"pooled over repeats ({mode}):")
        print(f"{'viewers':>7} {'ours p50':>8} {'ours p99':>8} {'ours max':>8} {'ref p50':>8} {'ref p99':>8} "
              f"{'ref max':>8} {'p99 ratio':>9}")
        for n in args.viewers:
            o, r = pooled.get((n, "ours"), []), pooled.get((n, "reference"), [])
            print(f"{n:>7} {_pct(o, .5):>8.2f} {_pct(o, .99):>8.2f} {max(o or [0]) / 1e6:>8.1f} {_pct(r, .5):>8.2f} "
                  f"{_pct(r, .99):>8.2f} {max(r or [0]) / 1e6:>8.1f} {_pct(o, .99) / _pct(r, .99):>8.2f}×")
    if profiler is not None:
        profiler.dump_stats(args.profile)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
