"""The path model reproduces every bar's OHLC exactly, inside the minute, deterministically."""

from __future__ import annotations

from datetime import date, time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import shared_file
from tradesig.sim.data import load_bars, synthetic_data
from tradesig.sim.paths import MAX_TICKS_PER_BAR, bar_path, ohlc, tick_offsets
from tradesig.sim.replay import build_schedule


@st.composite
def bars(draw):
    lo = draw(st.integers(1, 10_000_000))
    hi = draw(st.integers(lo, lo + 500_000))
    o = draw(st.integers(lo, hi))
    c = draw(st.integers(lo, hi))
    return o, hi, lo, c


@given(bars(), st.integers(1, MAX_TICKS_PER_BAR), st.integers(0, 2**31), st.integers(0, 2**40))
@settings(max_examples=400, deadline=None)
def test_path_reproduces_ohlc_exactly(bar, n, seed, key):
    o, h, lo, c = bar
    path = bar_path(o, h, lo, c, n=n, seed=seed, key=key)
    prices = [p.price for p in path]
    assert ohlc(prices) == (o, h, lo, c)
    offsets = [p.offset for p in path]
    assert offsets == sorted(set(offsets)) and 1 <= offsets[0] and offsets[-1] <= 59
    assert len(path) >= min(n, 1)
    assert path == bar_path(o, h, lo, c, n=n, seed=seed, key=key)  # deterministic


def test_extreme_order_follows_the_bar_direction():
    up = [p.price for p in bar_path(100_00, 110_00, 95_00, 108_00, n=12)]
    assert up.index(95_00) < up.index(110_00)  # an up bar dips first
    down = [p.price for p in bar_path(100_00, 110_00, 95_00, 97_00, n=12)]
    assert down.index(110_00) < down.index(95_00)


def test_bad_bars_and_tick_counts_are_refused():
    with pytest.raises(ValueError, match="OHLC"):
        bar_path(100, 99, 90, 95)
    with pytest.raises(ValueError):
        tick_offsets(60)
    assert tick_offsets(59) == list(range(1, 60))


def test_schedule_of_a_real_day_rebuilds_every_bar():
    data = load_bars([shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"),
                      shared_file("intraday/niftybank_1min_2024-01-01_2024-08-23.parquet")])
    day = date(2024, 6, 4)
    sched = build_schedule(data, day)
    assert np.all(np.diff(sched.ts) >= 0)
    for token, series in data.series.items():
        sl = series.day_slice(day)
        assert sl.stop - sl.start == 375
        mask = sched.token == token
        minutes = sched.ts[mask] - sched.ts[mask] % 60
        prices = sched.price[mask]
        for i in range(sl.start, sl.stop):
            got = prices[minutes == series.ts[i]]
            assert (got[0], got.max(), got.min(), got[-1]) == (series.open[i], series.high[i], series.low[i],
                                                               series.close[i])


def test_schedule_from_a_start_time_skips_earlier_bars():
    data = synthetic_data(date(2024, 6, 4), seed=3, days_before=0, symbols=("NIFTY",))
    sched = build_schedule(data, date(2024, 6, 4), start=time(15, 0), ticks_per_bar=5)
    assert len(sched) == 30 * 5


def test_synthetic_data_is_seeded_and_valid():
    a = synthetic_data(date(2024, 6, 4), seed=11)
    b = synthetic_data(date(2024, 6, 4), seed=11)
    assert a.synthetic
    for token in a.series:
        sa, sb = a.series[token], b.series[token]
        assert np.array_equal(sa.close, sb.close)
        assert np.all(sa.high >= np.maximum(sa.open, sa.close)) and np.all(sa.low <= np.minimum(sa.open, sa.close))
    assert a.dates()[-1] == date(2024, 6, 4) and len(a.dates()) == 6
