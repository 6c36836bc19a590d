"""Session-aligned resampling and ticks → 1m bars (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_store_helpers import minute_bars

from tradesig.clock import IST, ist
from tradesig.store.bars import (
    BAR_SCHEMA,
    INTERVALS,
    resample,
    session_hours,
    split_session,
    ticks_to_bars,
)


def ist_hm(df: pl.DataFrame) -> list[str]:
    return df["ts"].dt.convert_time_zone("Asia/Kolkata").dt.strftime("%H:%M").to_list()


def test_schema_and_intervals():
    bars = minute_bars((2024, 6, 3), "09:15", "09:20")
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert INTERVALS == ("1m", "5m", "15m", "1h", "4h", "1d")
    assert bars["volume"].null_count() == bars.height  # never 0-filled


def test_hourly_bars_are_session_aligned_with_short_last_bar():
    bars = minute_bars((2024, 6, 3), "09:15", "15:29")
    hourly = resample(bars, "1h")
    assert ist_hm(hourly) == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]
    assert hourly["status"].to_list() == ["complete"] * 7
    last = hourly.row(-1, named=True)
    # the 15:15 bar holds exactly 15 minutes: 15:15 .. 15:29
    assert last["open"] == 100.0 + 360 and last["close"] == 100.0 + 374 + 1
    four = resample(bars, "4h")
    assert ist_hm(four) == ["09:15", "13:15"]
    assert four["high"].to_list() == [100 + 239 + 2, 100 + 374 + 2]
    daily = resample(bars, "1d")
    assert ist_hm(daily) == ["09:15"] and daily["low"].item() == 99.0


def test_missing_minute_makes_bar_partial_and_only_that_bar():
    bars = minute_bars((2024, 6, 3), "09:15", "15:29", skip={"10:47"})
    hourly = resample(bars, "1h")
    assert hourly["status"].to_list() == ["complete", "partial"] + ["complete"] * 5
    fifteen = resample(bars, "15m")
    assert fifteen.filter(pl.col("status") == "partial").pipe(ist_hm) == ["10:45"]


def test_post_close_bars_do_not_alter_regular_bars():
    regular = minute_bars((2024, 1, 20), "09:15", "15:29")
    flat = minute_bars((2024, 1, 20), "15:30", "18:16", base=1.0)
    both = pl.concat([regular, flat])
    assert resample(both, "1d").equals(resample(regular, "1d"))
    assert resample(both, "1h").equals(resample(regular, "1h"))
    inside, outside = split_session(both)
    assert inside.height == 375 and outside.height == 167


def test_volume_summed_and_null_stays_null():
    bars = minute_bars((2024, 6, 3), "09:15", "09:24").with_columns(
        pl.when(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.minute() < 20).then(pl.lit(None))
        .otherwise(pl.lit(10)).cast(pl.Int64).alias("volume"))
    out = resample(bars, "5m")
    assert out["volume"].to_list() == [None, 50]


def test_2009_session_keeps_the_0915_anchor():
    assert session_hours(datetime(2009, 5, 18).date()) == (9 * 60 + 55, 15 * 60 + 30)
    bars = minute_bars((2009, 5, 18), "09:55", "15:29")
    hourly = resample(bars, "1h")
    assert ist_hm(hourly) == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]
    assert set(hourly["status"]) == {"complete"}
    assert hourly.row(0, named=True)["open"] == 100.0  # the first hourly bar opens at 09:55
    fifteen = resample(bars, "15m")
    assert ist_hm(fifteen)[:2] == ["09:45", "10:00"] and fifteen["status"][0] == "complete"
    # a 15:30 print is outside the 2009 session
    extra = minute_bars((2009, 5, 18), "15:30", "15:30")
    assert split_session(extra)[1].height == 1


def test_resample_from_15m_source():
    m1 = minute_bars((2021, 3, 1), "09:15", "15:29")
    m15 = resample(m1, "15m")
    assert resample(m15, "1h", source_interval="15m").equals(resample(m1, "1h"))
    with pytest.raises(ValueError):
        resample(m15, "5m", source_interval="15m")


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(0, 374), max_size=60), st.sampled_from(["5m", "15m", "1h", "4h", "1d"]))
def test_resample_matches_naive_grouping(missing, interval):
    skip = {(ist(2024, 6, 3, 9, 15) + timedelta(minutes=i)).strftime("%H:%M") for i in missing}
    bars = minute_bars((2024, 6, 3), "09:15", "15:29", skip=skip)
    out = resample(bars, interval)
    step = {"5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 10_000}[interval]
    expected: dict[int, list[int]] = {}
    for i in range(375):
        expected.setdefault(i // step, []).append(i)
    present = {k: [i for i in v if i not in missing] for k, v in expected.items()}
    want = [(k, v) for k, v in present.items() if v]
    assert out.height == len(want)
    for row, (k, idx) in zip(out.iter_rows(named=True), want, strict=True):
        assert row["open"] == 100.0 + idx[0] and row["close"] == 100.0 + idx[-1] + 1
        assert row["high"] == 100.0 + idx[-1] + 2 and row["low"] == 100.0 + idx[0] - 1
        assert row["status"] == ("complete" if len(idx) == len(expected[k]) else "partial")


def test_ticks_to_bars_ohlc_and_volume_diff():
    t0 = datetime(2024, 6, 3, 9, 15, 5, tzinfo=IST)
    rows = [
        (t0, 100.0, 1000), (t0 + timedelta(seconds=20), 103.0, 1010), (t0 + timedelta(seconds=40), 99.0, 1030),
        (t0 + timedelta(seconds=60), 101.0, 1050), (t0 + timedelta(seconds=90), 102.0, 1100),
        (t0 - timedelta(minutes=10), 98.0, 900),  # pre-open tick: stored, but forms no bar
    ]
    ticks = pl.DataFrame({
        "instrument_token": pl.Series([12345] * len(rows), dtype=pl.UInt32),
        "last_price": [r[1] for r in rows],
        "volume_traded": [r[2] for r in rows],
        "exchange_timestamp": pl.Series([r[0] for r in rows]).dt.convert_time_zone("UTC"),
        "recv_ts": pl.Series([r[0] for r in rows]).dt.convert_time_zone("UTC"),
    })
    bars = ticks_to_bars(ticks, symbols={12345: "NIFTY24JUNFUT"})
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert ist_hm(bars) == ["09:15", "09:16"]
    assert bars.select("open", "high", "low", "close").rows() == [(100.0, 103.0, 99.0, 99.0), (101.0, 102.0, 101.0,
                                                                                               102.0)]
    assert bars["volume"].to_list() == [30, 70]
    assert bars["symbol"].unique().to_list() == ["NIFTY24JUNFUT"]
    live = ticks_to_bars(ticks, symbols={12345: "X"}, now=datetime(2024, 6, 3, 9, 16, 40, tzinfo=IST))
    assert live["status"].to_list() == ["complete", "partial"]


def test_index_ticks_have_null_volume():
    t0 = datetime(2024, 6, 3, 3, 50, tzinfo=UTC)
    ticks = pl.DataFrame({"instrument_token": pl.Series([256265, 256265], dtype=pl.UInt32),
                          "last_price": [22000.0, 22010.0], "volume_traded": pl.Series([None, None], dtype=pl.Int64),
                          "exchange_timestamp": [t0, t0 + timedelta(seconds=3)],
                          "recv_ts": [t0, t0 + timedelta(seconds=3)]})
    bars = ticks_to_bars(ticks)
    assert bars["symbol"].to_list() == ["NIFTY"] and bars["volume"].to_list() == [None]
