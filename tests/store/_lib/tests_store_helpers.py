"""Synthetic-but-predictable 1m bars for the store tests."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from tradesig.clock import ist
from tradesig.store.bars import conform


def minute_bars(day: tuple[int, int, int], start: str, end: str, symbol: str = "NIFTY", skip: set[str] = frozenset(),
                base: float = 100.0) -> pl.DataFrame:
    """1m bars from start to end (IST, inclusive) with predictable prices: open = base + i."""
    h0, m0 = map(int, start.split(":"))
    h1, m1 = map(int, end.split(":"))
    t = ist(*day, h0, m0)
    stop = ist(*day, h1, m1)
    rows = []
    i = 0
    while t <= stop:
        if t.strftime("%H:%M") not in skip:
            o = base + i
            rows.append({"symbol": symbol, "ts": t, "open": o, "high": o + 2, "low": o - 1, "close": o + 1})
        t += timedelta(minutes=1)
        i += 1
    return conform(pl.DataFrame(rows))
