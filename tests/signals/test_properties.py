"""Properties over generated bar paths: one event per week, batch = streaming, strike rounding, board bounds."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tradesig.clock import IST
from tradesig.config import Settings
from tradesig.signals.board import board_series
from tradesig.signals.strategies import WeeklyZoneEngine
from tradesig.signals.zones import HourlyBar, week_start


def walk(seed: int, weeks: int, vol: float) -> list[HourlyBar]:
    """A seeded random walk of hourly bars, 5 days × 7 bars a week from Monday 2024-01-01 (test input only)."""
    rng = np.random.default_rng(seed)
    price = 20000.0
    out = []
    for w in range(weeks):
        for d in range(5):
            day = datetime(2024, 1, 1) + timedelta(days=7 * w + d)
            for k in range(7):
                o = price
                c = o * (1 + rng.normal(0, vol))
                h = max(o, c) * (1 + abs(rng.normal(0, vol / 2)))
                lo = min(o, c) * (1 - abs(rng.normal(0, vol / 2)))
                start = datetime.combine(day.date(), time(9, 15), tzinfo=IST) + timedelta(hours=k)
                out.append(HourlyBar(start, round(o, 2), round(h, 2), round(lo, 2), round(c, 2)))
                price = c
    return out


def next_tuesday(_s, d):
    return d + timedelta(days=(1 - d.weekday()) % 7)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vol=st.sampled_from([0.001, 0.003, 0.008]))
def test_engine_properties(seed, vol):
    bars = walk(seed, 6, vol)
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday)
    streamed = [e for e in (engine.on_hourly_bar(b) for b in bars) if e]
    scanned = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=next_tuesday).scan(bars)
    assert streamed == scanned
    weeks = [week_start(e.bar_ts.astimezone(IST).date()) for e in streamed]
    assert len(weeks) == len(set(weeks)), "at most one signal per week"
    assert all(w > week_start(bars[0].day) for w in weeks), "no signal without a previous week"
    for e in streamed:
        if e.option.option_type == "PE":
            assert e.option.strike <= e.stop_loss < e.option.strike + 50
            assert e.option.hedge_strike == e.option.strike - 200
        else:
            assert e.option.strike - 50 < e.stop_loss <= e.option.strike
            assert e.option.hedge_strike == e.option.strike + 200
        assert e.entry_price == e.bar.close and e.option.expiry >= e.entry_ts.astimezone(IST).date()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_board_bounds(seed):
    bars = walk(seed, 4, 0.004)
    df = pl.DataFrame({"symbol": ["NIFTY"] * len(bars), "ts": [b.ts for b in bars],
                       "open": [b.open for b in bars], "high": [b.high for b in bars],
                       "low": [b.low for b in bars], "close": [b.close for b in bars]}).with_columns(
        pl.col("ts").dt.convert_time_zone("UTC"))
    series = board_series(df, interval="1h")
    assert np.all(np.abs(series.score) <= 100.0)
    assert np.all((series.conf >= 0) & (series.conf <= 1))
    assert np.all(series.available <= 13)
    low = series.available < 7
    assert all(series.labels[i] == "NEUTRAL" for i in np.flatnonzero(low))
