"""Synthetic-but-predictable 1m bars for the store tests."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from tradesig.clock import ist
from tradesig.store.bars import conform, resample


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


def weekdays(first: date, n: int) -> list[date]:
    """The first ``n`` weekdays from ``first`` on."""
    out, day = [], first
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def quarter_hours(days: list[date], symbol: str = "NIFTY", base: float = 100.0, step: float = 1.0) -> pl.DataFrame:
    """15m bars (derived from predictable 1m bars) of ``days``: day i's 1m bars start at ``base + step * i``."""
    return pl.concat([resample(minute_bars((d.year, d.month, d.day), "09:15", "15:29", symbol=symbol,
                                           base=base + step * i), "15m") for i, d in enumerate(days)])
