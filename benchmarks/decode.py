"""Ticks per second of tradesig's Kite ticker decoder against the official parser, on the same frames.

Run from the repository root:

    /work/venv/bin/python benchmarks/decode.py            # the table in docs/benchmarks.md "## decode"
    /work/venv/bin/python benchmarks/decode.py --quick    # fewer repeats
    /work/venv/bin/python benchmarks/decode.py --cpu      # CPU time of this process instead of wall time

Reference: ``kiteconnect.KiteTicker._parse_binary`` (pykiteconnect), called on an instance built with dummy
credentials (no network), in the same process. Frames:

* full / quote: the real TATAMOTORS packets of ../shared/data/kite_ws_packets (zerodha/kiteconnectjs test data),
  repeated to 1, 10 and 200 packets per frame;
* index-full: 32-byte NIFTY 50 index packets built by our encoder from the real 1-minute bars of 2024-06-04
  (../shared/data/intraday; last price = bar close, session open/high/low so far, previous close), since no real
  index packet was recorded;
* mixed: index-full and full packets alternating (the general, non-uniform decode path).

"ours" is ``decode_frame(frame)`` (a columnar TickBatch: numpy structured array, prices in rupees, every field the
official parser gives); "ours+dicts" adds ``.ticks.to_dicts()`` (the official dict shape), for callers that want
dicts. Each figure is the best of several timed repeats (``timeit``), the runs of the three interleaved, so that
other load on the machine shows less.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import timeit
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))


def _real_bodies(data: Path) -> dict[str, bytes]:
    out = {}
    for mode in ("full", "quote", "ltp"):
        frame = (data / "kite_ws_packets" / f"{mode}Mode_binary.packet").read_bytes()
        out[mode] = frame[4:]  # one packet: skip count and length
    return out


def _nifty_index_bodies(data: Path, day: date, n: int) -> list[bytes]:
    import polars as pl

    from tradesig.feed import kite_protocol as kp

    bars = pl.read_parquet(data / "intraday" / "nifty50_1min_2024-01-01_2024-08-23.parquet")
    bars = bars.with_columns(pl.col("ts").dt.date().alias("d"))
    prev_close = bars.filter(pl.col("d") < day)["close"][-1]
    todays = bars.filter(pl.col("d") == day).sort("ts")
    if todays.height == 0:
        raise SystemExit(f"no NIFTY bars for {day}")
    bodies = []
    high, low = float("-inf"), float("inf")
    day_open = todays["open"][0]
    for row in todays.iter_rows(named=True):
        high, low = max(high, row["high"]), min(low, row["low"])
        bodies.append(kp.encode_index_full({
            "instrument_token": 256265, "last_price": row["close"],
            "ohlc": {"open": day_open, "high": high, "low": low, "close": prev_close},
            "exchange_timestamp": row["ts"].astimezone(UTC) + timedelta(seconds=59),
        }))
        if len(bodies) == n:
            break
    while len(bodies) < n:
        bodies.extend(bodies[: n - len(bodies)])
    return bodies


def _best_rates(fns, frame: bytes, ticks: int, repeat: int, budget_s: float, clock=time.perf_counter) -> list[float]:
    """Ticks per second of each of ``fns`` on ``frame``: best of ``repeat`` timed runs of about ``budget_s`` each.

    The runs of the different functions are interleaved, so that a change of load on the machine during the
    measurement affects all of them alike and the ratios stay fair. ``clock``: wall (``perf_counter``) or this
    process's CPU time (``process_time``, less disturbed by other processes on a shared machine).
    """
    timers = [timeit.Timer(lambda fn=fn: fn(frame), timer=clock) for fn in fns]
    numbers = []
    for timer in timers:
        calls, elapsed = timer.autorange()  # also the warm-up
        numbers.append(max(1, int(calls * budget_s / max(elapsed, 1e-9))))
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number)
    return [ticks / b for b in best]


def _machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy as np

    return (f"{cpu or 'unknown CPU'}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data directory")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--cpu", action="store_true", help="time this process's CPU time, not wall time (steadier "
                        "on a shared, loaded machine)")
    args = parser.parse_args(argv)
    if not (args.data / "kite_ws_packets").exists():
        print(f"real frames not found under {args.data} (pass --data)", file=sys.stderr)
        return 2

    sys.path.insert(0, str(REPO))
    from kiteconnect import KiteTicker

    from tradesig.feed import kite_protocol as kp

    official = KiteTicker("dummy_api_key", "dummy_access_token")
    repeat, budget = (3, 0.05) if args.quick else (7, 0.2)
    real = _real_bodies(args.data)
    index = _nifty_index_bodies(args.data, date(2024, 6, 4), 200)
    cases = []
    for label, pick in (
        ("full", lambda n: [real["full"]] * n),
        ("quote", lambda n: [real["quote"]] * n),
        ("index-full", lambda n: index[:n]),
        ("mixed", lambda n: [index[i] if i % 2 else real["full"] for i in range(n)]),
    ):
        for n in (1, 10, 200):
            if label == "mixed" and n == 1:
                continue
            cases.append((label, n, kp.encode_packets(pick(n))))

    def ours(frame: bytes):
        return kp.decode_frame(frame)

    def ours_dicts(frame: bytes):
        return kp.decode_frame(frame).ticks.to_dicts()

    print(f"# decode: {_machine()}")
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; best of {repeat} repeats; ratios = ours / official"
          + ("; CPU time" if args.cpu else "; wall time"))
    header = (f"| {'mode':10} | packets/frame | official ticks/s | ours ticks/s | ours ÷ official "
              "| ours+dicts ÷ official |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for label, n, frame in cases:
        # same frames, same answers: check before timing
        assert len(kp.decode_frame(frame).ticks) == len(official._parse_binary(frame)) == n
        ref, fast, with_dicts = _best_rates([official._parse_binary, ours, ours_dicts], frame, n, repeat, budget,
                                            time.process_time if args.cpu else time.perf_counter)
        print(f"| {label:10} | {n:13d} | {ref:16,.0f} | {fast:12,.0f} | {fast / ref:14.1f}× | "
              f"{with_dicts / ref:20.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
