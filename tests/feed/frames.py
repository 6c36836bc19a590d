"""Ticker frames from real recorded 1m bars (../shared/data), through the sim's path model and the codec."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from tradesig.clock import IST
from tradesig.feed.kite_protocol import encode_frame
from tradesig.sim.paths import bar_path

NIFTY_FILE = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"
BANK_FILE = "intraday/niftybank_1min_2024-01-01_2024-08-23.parquet"


def recorded_bars(path, day: date, symbol: str, first: int = 0, count: int | None = None) -> pl.DataFrame:
    """The recorded 1m bars of ``day`` as (symbol, ts UTC, open, high, low, close), optionally a slice."""
    df = pl.read_parquet(path)
    df = df.with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    start = datetime.combine(day, datetime.min.time(), IST).astimezone(UTC)
    df = df.filter((pl.col("ts") >= start) & (pl.col("ts") < start + timedelta(days=1))).sort("ts")
    df = df.slice(first, count) if count is not None else df.slice(first)
    return df.select(pl.lit(symbol).alias("symbol"), "ts", "open", "high", "low", "close")


def frames_from_bars(bars: dict[int, pl.DataFrame], n: int = 12) -> list[tuple[datetime, bytes]]:
    """(exchange time, frame) pairs: for each minute, ``n`` ticks per instrument, one frame per tick second
    holding every instrument's tick of that second (index full packets with exchange timestamps)."""
    by_time: dict[datetime, list[dict]] = {}
    for token, df in bars.items():
        for row in df.iter_rows(named=True):
            key = int(row["ts"].timestamp())
            path = bar_path(round(row["open"] * 100), round(row["high"] * 100), round(row["low"] * 100),
                            round(row["close"] * 100), n=n, key=key)
            for point in path:
                when = row["ts"] + timedelta(seconds=point.offset)
                by_time.setdefault(when, []).append({
                    "mode": "full", "instrument_token": token, "tradable": False, "last_price": point.price / 100,
                    "ohlc": {"open": row["open"], "high": row["high"], "low": row["low"], "close": row["close"]},
                    "exchange_timestamp": when})
    return [(when, encode_frame(ticks)) for when, ticks in sorted(by_time.items())]
