"""Ingest throughput: ticker frames → journal → ticks Parquet → 1m (and 5m/15m/1h/4h) bars, ticks per second.

Run from the repository root:

    /work/venv/bin/python benchmarks/ingest.py            # the table in docs/benchmarks.md "## ingest"
    /work/venv/bin/python benchmarks/ingest.py --quick    # a smaller session

One core: the process pins itself to CPU 0 (``os.sched_setaffinity``) and sets ``POLARS_MAX_THREADS=1`` before
polars is imported, so Parquet encoding and the bar group-bys cannot borrow the second core.

Frames: the real NIFTY 50 and NIFTY BANK 1-minute bars of 2024-06-04 (../shared/data/intraday) turned into ticks by
the sim's path model (:func:`tradesig.sim.paths.bar_path`, OHLC exact, 12 ticks per bar), as index-full packets
(32 bytes); alongside each index tick, full-mode packets (184 bytes, 5+5 depth) of ``--instruments`` option-like
instruments priced off the recorded spot (a subscribed chain; their prices are derived from the real spot, their
tokens are made up). One frame per tick second, like the Kite ticker's batching; real Kite frames for a chain are of
this size (tens to hundreds of packets).

Measured (ours): :class:`tradesig.feed.ingest.Ingestor` end to end — every frame journaled (length-prefixed, CRC,
written per frame, fsync'd before each ticks part), decoded (vectorised), ticks written as Parquet parts every
100,000 ticks, bars closed incrementally and resampled, everything flushed at the end.

Reference (same process, same frames): the official client's path — ``KiteTicker._parse_binary`` to dicts, rows
flattened into a list, one ``polars.DataFrame(rows)`` + ``write_parquet`` per 100,000 ticks, and 1m bars by a polars
group-by at the end (no journal, no fsync, no higher intervals): what a straightforward feed built on kiteconnect
does. The ratio is ours ÷ reference (higher is better).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))
DAY = date(2024, 6, 4)


def _one_core() -> None:
    os.environ["POLARS_MAX_THREADS"] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def build_frames(data: Path, minutes: int, instruments: int) -> tuple[list[bytes], int]:
    """Frames of the session's first ``minutes`` minutes; returns (frames, total ticks)."""
    import polars as pl

    from tradesig.clock import IST
    from tradesig.feed.kite_protocol import encode_frame
    from tradesig.sim.paths import bar_path

    by_second: dict[datetime, list[dict]] = {}
    for file, token in (("nifty50_1min_2024-01-01_2024-08-23.parquet", 256265),
                        ("niftybank_1min_2024-01-01_2024-08-23.parquet", 260105)):
        df = pl.read_parquet(data / "intraday" / file).with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
        start = datetime.combine(DAY, datetime.min.time(), IST).astimezone(UTC)
        df = df.filter((pl.col("ts") >= start) & (pl.col("ts") < start + timedelta(days=1))).sort("ts").head(minutes)
        for row in df.iter_rows(named=True):
            path = bar_path(round(row["open"] * 100), round(row["high"] * 100), round(row["low"] * 100),
                            round(row["close"] * 100), n=12, key=int(row["ts"].timestamp()))
            for p in path:
                when = row["ts"] + timedelta(seconds=p.offset)
                spot = p.price / 100
                ticks = by_second.setdefault(when, [])
                ticks.append({"mode": "full", "instrument_token": token, "last_price": spot, "exchange_timestamp": when,
                              "ohlc": {"open": row["open"], "high": row["high"], "low": row["low"],
                                       "close": row["close"]}})
                if token != 256265:
                    continue
                for k in range(instruments):  # a chain around spot: premium falls with distance from the money
                    px = round(max(1.0, 200.0 - 2.0 * abs(k - instruments / 2) + (spot % 7)), 2)
                    ticks.append({
                        "mode": "full", "instrument_token": 10_000_000 + 256 * k + 2, "last_price": px,
                        "last_traded_quantity": 65, "average_traded_price": px, "volume_traded": 1000 * k + p.offset,
                        "total_buy_quantity": 5000, "total_sell_quantity": 4000, "exchange_timestamp": when,
                        "last_trade_time": when, "oi": 100_000 + k, "oi_day_high": 120_000, "oi_day_low": 90_000,
                        "ohlc": {"open": px, "high": px, "low": px, "close": px},
                        "depth": {"buy": [{"quantity": 65 * (i + 1), "price": px - 0.05 * (i + 1), "orders": i + 1}
                                          for i in range(5)],
                                  "sell": [{"quantity": 65 * (i + 1), "price": px + 0.05 * (i + 1), "orders": i + 1}
                                           for i in range(5)]}})
    frames = [encode_frame(ticks) for _, ticks in sorted(by_second.items())]
    return frames, sum(len(t) for t in by_second.values())


def run_ours(frames: list[bytes], home: Path) -> float:
    from tradesig.clock import ManualClock
    from tradesig.feed.ingest import Ingestor

    recv = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    ing = Ingestor(home, ManualClock(recv), source="bench")
    step = timedelta(microseconds=1000)
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        ing.on_frame(frame, recv + step * i)
    ing.close(now=datetime(2024, 6, 4, 10, 0, tzinfo=UTC))
    return time.perf_counter() - t0


def run_reference(frames: list[bytes], home: Path) -> float:
    import polars as pl
    from kiteconnect import KiteTicker

    ticker = KiteTicker("bench", "bench")
    rows: list[dict] = []
    parts = 0
    t0 = time.perf_counter()

    def flush() -> None:
        nonlocal rows, parts
        if rows:
            pl.DataFrame(rows, infer_schema_length=None).write_parquet(home / f"ref-{parts}.parquet")
            parts += 1
            rows = []

    bars_in = []
    for frame in frames:
        for t in ticker._parse_binary(frame):
            ohlc = t.pop("ohlc", {})
            depth = t.pop("depth", None)
            row = {**t, **{f"ohlc_{k}": v for k, v in ohlc.items()}}
            if depth:
                for side, key in (("buy", "bid"), ("sell", "ask")):
                    for i, level in enumerate(depth[side], start=1):
                        row[f"{key}_price_{i}"] = level["price"]
                        row[f"{key}_qty_{i}"] = level["quantity"]
                        row[f"{key}_orders_{i}"] = level["orders"]
            rows.append(row)
            bars_in.append((t["instrument_token"], t.get("exchange_timestamp"), t["last_price"]))
        if len(rows) >= 100_000:
            flush()
    flush()
    df = pl.DataFrame(bars_in, schema=["token", "ts", "price"], orient="row")
    df.group_by("token", pl.col("ts").dt.truncate("1m")).agg(
        pl.col("price").first().alias("open"), pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"), pl.col("price").last().alias("close"))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="60 minutes, 1 repeat")
    parser.add_argument("--minutes", type=int, default=None, help="session minutes replayed (default 150)")
    parser.add_argument("--instruments", type=int, nargs="*", default=[0, 40, 200])
    args = parser.parse_args()
    _one_core()
    minutes = args.minutes or (60 if args.quick else 150)
    repeats = 1 if args.quick else 2
    print(f"ingest benchmark: {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, one core (affinity {sorted(os.sched_getaffinity(0))}, POLARS_MAX_THREADS=1)")
    print(f"session: NIFTY 50 + NIFTY BANK 2024-06-04, first {minutes} minutes, 12 ticks per bar")
    print(f"{'chain instruments':>18} {'packets/frame':>13} {'ticks':>9} {'ours ticks/s':>13} "
          f"{'reference ticks/s':>18} {'ratio':>6}")
    warm, _ = build_frames(args.data, 5, 2)  # imports, first-write catalog set-up: not part of the rate
    for fn in (run_ours, run_reference):
        home = Path(tempfile.mkdtemp(prefix="tradesig-bench-"))
        fn(warm, home)
        shutil.rmtree(home, ignore_errors=True)
    for n in args.instruments:
        frames, ticks = build_frames(args.data, minutes, n)
        best_ours = best_ref = float("inf")
        for _ in range(repeats):
            for fn in (run_ours, run_reference):
                home = Path(tempfile.mkdtemp(prefix="tradesig-bench-"))
                try:
                    took = fn(frames, home)
                finally:
                    shutil.rmtree(home, ignore_errors=True)
                if fn is run_ours:
                    best_ours = min(best_ours, took)
                else:
                    best_ref = min(best_ref, took)
        per_frame = ticks / len(frames)
        print(f"{n:>18} {per_frame:>13.1f} {ticks:>9,} {ticks / best_ours:>13,.0f} {ticks / best_ref:>18,.0f} "
              f"{best_ref / best_ours:>5.1f}×")


if __name__ == "__main__":
    main()
