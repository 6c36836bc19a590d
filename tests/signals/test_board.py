"""The board: availability rules, aggregate and labels, no look-ahead, and real sessions (election day)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.signals import indicators as ind
from tradesig.signals.board import (
    LABELS,
    WEIGHTS,
    BoardParams,
    Call,
    _label,
    bar_end,
    board_series,
    evaluate_board,
)
from tradesig.store.bars import conform, resample


@pytest.fixture(scope="module")
def nifty_1m() -> pl.DataFrame:
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.filter((pl.col("ts") >= datetime(2024, 5, 1, tzinfo=IST))
                   & (pl.col("ts") < datetime(2024, 6, 8, tzinfo=IST)))
    return conform(df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC")))


@pytest.fixture(scope="module")
def nifty_15m(nifty_1m: pl.DataFrame) -> pl.DataFrame:
    return resample(nifty_1m, "15m")


def upto(df: pl.DataFrame, when: datetime) -> pl.DataFrame:
    return df.filter(pl.col("ts") <= when.astimezone(UTC))


def test_thirteen_signals_in_order_with_weights(nifty_15m):
    board = evaluate_board(nifty_15m, interval="15m")
    assert [r.name for r in board.readings] == list(WEIGHTS)
    assert len(board.readings) == 13
    for r in board.readings:
        assert 0.0 <= r.confidence <= 1.0 and r.reason
        if r.call in (Call.NEUTRAL, Call.UNAVAILABLE):
            assert r.confidence == 0.0


def test_index_bars_have_no_volume_and_no_chain(nifty_15m):
    board = evaluate_board(nifty_15m, interval="15m")
    for name in ("vwap", "volume"):
        r = board.reading(name)
        assert r.call is Call.UNAVAILABLE and "no volume" in r.reason
    assert board.reading("pcr").call is Call.UNAVAILABLE and "no option chain" in board.reading("pcr").reason
    assert board.available == 10


def test_aggregate_formula_and_label(nifty_15m):
    series = board_series(nifty_15m, interval="15m")
    for i in (-1, -40, -200):
        b = series.board_at(i)
        avail = [r for r in b.readings if r.call is not Call.UNAVAILABLE]
        d = {Call.BUY: 1, Call.SELL: -1, Call.NEUTRAL: 0}
        want = 100 * sum(r.weight * d[r.call] * r.confidence for r in avail) / sum(r.weight for r in avail)
        assert b.score == pytest.approx(want, abs=1e-9)
        assert b.available == len(avail)


def test_label_thresholds():
    p = BoardParams()
    scores = np.array([40.0, 39.9, 12.0, 11.9, 0.0, -11.9, -12.0, -39.9, -40.0, 80.0])
    labels = [LABELS[k] for k in _label(scores, np.full(len(scores), 10), p)]
    assert labels == ["STRONG_BUY", "BUY", "BUY", "NEUTRAL", "NEUTRAL", "NEUTRAL", "SELL", "SELL", "STRONG_SELL",
                      "STRONG_BUY"]
    assert LABELS[_label(np.array([80.0]), np.array([6]), p)[0]] == "NEUTRAL"


def test_fewer_than_seven_available_is_neutral_with_why(nifty_15m):
    # 12 bars of one session: no EMA50, SuperTrend, structure, RSI, pivots, camarilla, levels; no volume, chain
    bars = nifty_15m.head(12)
    b = evaluate_board(bars, interval="15m")
    assert b.available < 7
    assert b.label == "NEUTRAL"
    assert f"only {b.available} of 13 signals available" in b.note
    assert b.reading("trend").call is Call.UNAVAILABLE and "not enough bars" in b.reading("trend").reason


def test_no_look_ahead(nifty_15m):
    series = board_series(nifty_15m, interval="15m")
    for i in (30, 250, 400, len(series) - 5):
        alone = evaluate_board(nifty_15m.head(i + 1), interval="15m")
        full = series.board_at(i)
        assert alone.score == pytest.approx(full.score, abs=1e-9)
        assert [(r.call, r.reason) for r in alone.readings] == [(r.call, r.reason) for r in full.readings]


def test_board_inputs_match_talib(nifty_15m):
    import talib

    c = nifty_15m["close"].to_numpy()
    b = evaluate_board(nifty_15m, interval="15m")
    assert f"EMA20 {talib.EMA(c, 20)[-1]:.2f}" in b.reading("trend").reason
    assert f"EMA200 {talib.EMA(c, 200)[-1]:.2f}" in b.reading("trend").reason
    assert f"RSI14 {talib.RSI(c, 14)[-1]:.1f}" in b.reading("rsi").reason
    sar = talib.SAR(nifty_15m["high"].to_numpy(), nifty_15m["low"].to_numpy(), 0.02, 0.2)[-1]
    assert f"SAR {sar:.2f}" in b.reading("sar").reason


def test_election_day_fall(nifty_15m):
    """2024-06-04: the index fell from about 23,157 to 21,282 intraday."""
    series = board_series(nifty_15m, interval="15m")
    day = [i for i, ts in enumerate(series.ts) if ts.astimezone(IST).date() == date(2024, 6, 4)]
    assert len(day) == 25
    lows = series.board_at(day[12])  # 12:15 bar, the low of the day
    assert lows.label == "STRONG_SELL"
    for name in ("trend", "supertrend", "pivots", "camarilla", "orb", "rsi"):
        assert lows.reading(name).call is Call.SELL, name
    pivots = series.board_at(day[0]).reading("pivots").reason
    assert "P 23235.62" in pivots and "S1 23133.33" in pivots  # from 2024-06-03 H/L/C
    assert "breakdown below L4" in lows.reading("camarilla").reason and "L4 23154.76" in lows.reading(
        "camarilla").reason
    assert all(series.score[i] < 0 for i in day)


def test_orb_on_5m_and_unavailable_on_hourly(nifty_1m):
    five = resample(nifty_1m, "5m")
    b = evaluate_board(upto(five, datetime(2024, 6, 4, 9, 20, tzinfo=IST)), interval="5m")
    assert b.reading("orb").call is Call.UNAVAILABLE and "not complete" in b.reading("orb").reason
    b = evaluate_board(upto(five, datetime(2024, 6, 4, 9, 25, tzinfo=IST)), interval="5m")
    assert b.reading("orb").call is not Call.UNAVAILABLE
    hourly = resample(nifty_1m, "1h")
    assert "coarser" in evaluate_board(hourly, interval="1h").reading("orb").reason


def test_vwap_and_volume_with_real_volume():
    data = json.loads(shared_file("kite_mocks/historical_minute.json").read_text())["data"]["candles"]
    ts = [datetime.fromisoformat(row[0][:-2] + ":" + row[0][-2:]) for row in data]
    bars = conform(pl.DataFrame({
        "symbol": ["X"] * len(data), "ts": ts, "open": [float(r[1]) for r in data],
        "high": [float(r[2]) for r in data], "low": [float(r[3]) for r in data], "close": [float(r[4]) for r in data],
        "volume": [int(r[5]) for r in data]}).with_columns(pl.col("ts").dt.convert_time_zone("UTC")))
    series = board_series(bars, interval="1m")
    b = series.board_at(-1)
    h, lo, c, v = (bars[k].to_numpy().astype(float) for k in ("high", "low", "close", "volume"))
    vw = ind.session_vwap(np.zeros(len(c)), h, lo, c, v)[-1]
    assert b.reading("vwap").call is not Call.UNAVAILABLE
    assert f"VWAP {vw:.2f}" in b.reading("vwap").reason
    want = Call.BUY if c[-1] > vw * 1.001 else Call.SELL if c[-1] < vw * 0.999 else Call.NEUTRAL
    assert b.reading("vwap").call is want
    if len(c) >= 20:
        assert b.reading("volume").call is not Call.UNAVAILABLE
    else:
        assert "not enough bars" in b.reading("volume").reason


def test_pcr_from_real_chain_snapshots():
    chain = pl.read_parquet(shared_file("options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet"))
    from tradesig.signals.service import load_chain

    norm = load_chain(shared_file("options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet"))
    assert norm.schema["expiry"] == pl.Date and norm.schema["snapshot_ts"] == pl.Datetime("us", "UTC")
    # synthetic-free bars: the snapshot's own spot at 1-minute steps on 2026-08-18 (a real series with no OHLC,
    # so O=H=L=C=spot); each bar takes the latest snapshot at or before its start
    spots = (chain.filter(pl.col("snapshot_ts").dt.date() == date(2026, 8, 18))
             .group_by("snapshot_ts").agg(pl.col("spot").first()).sort("snapshot_ts"))
    bars = conform(spots.select(pl.lit("NIFTY").alias("symbol"), pl.col("snapshot_ts").dt.convert_time_zone("UTC")
                                .alias("ts"), *[pl.col("spot").alias(k) for k in ("open", "high", "low", "close")]))
    series = board_series(bars, interval="1m", chain=norm)
    b = series.board_at(-1)
    r = b.reading("pcr")
    assert r.call is not Call.UNAVAILABLE
    last = chain.filter(pl.col("snapshot_ts") == spots["snapshot_ts"][-1])
    want = ind.put_call_ratio(last["expiry_date"].to_list(), last["option_type"].to_list(), last["oi"].to_list(),
                              on_or_after=date(2026, 8, 18))
    assert f"PCR {want.pcr:.3f}" in r.reason and "expiry 2026-08-18" in r.reason
    want_call = Call.BUY if want.pcr > 1.2 else Call.SELL if want.pcr < 0.8 else Call.NEUTRAL
    assert r.call is want_call


def test_pcr_snapshot_of_another_day_is_not_used(nifty_15m):
    chain = pl.DataFrame({"snapshot_ts": [datetime(2024, 6, 3, 10, 0, tzinfo=IST)] * 2,
                          "expiry": [date(2024, 6, 4)] * 2, "option_type": ["PE", "CE"], "oi": [15.0, 10.0]})
    chain = chain.with_columns(pl.col("snapshot_ts").dt.convert_time_zone("UTC"))
    series = board_series(nifty_15m, interval="15m", chain=chain)
    i_same = next(i for i, t in enumerate(series.ts) if t.astimezone(IST) == datetime(2024, 6, 3, 10, 0, tzinfo=IST))
    assert series.board_at(i_same).reading("pcr").call is Call.BUY
    assert series.board_at(i_same - 1).reading("pcr").call is Call.UNAVAILABLE
    nxt = next(i for i, t in enumerate(series.ts) if t.astimezone(IST).date() == date(2024, 6, 4))
    assert series.board_at(nxt).reading("pcr").call is Call.UNAVAILABLE


def test_bad_input():
    with pytest.raises(DataError):
        evaluate_board(pl.DataFrame({"ts": []}), interval="15m")
    two = pl.DataFrame({"symbol": ["A", "B"], "ts": [datetime(2024, 1, 1, tzinfo=IST)] * 2, "open": [1.0, 1.0],
                        "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0]})
    with pytest.raises(DataError):
        evaluate_board(two, interval="15m")
    with pytest.raises(ValueError):
        evaluate_board(two.head(1), interval="7m")


def test_bar_end_caps_at_close():
    assert bar_end(datetime(2024, 6, 4, 15, 15, tzinfo=IST), "1h").astimezone(IST).time().isoformat() == "15:30:00"
    assert bar_end(datetime(2024, 6, 4, 14, 15, tzinfo=IST), "1h").astimezone(IST).hour == 15
    assert bar_end(datetime(2024, 6, 4, 9, 15, tzinfo=IST), "5m").astimezone(IST).minute == 20


def test_orb_unavailable_for_the_2009_session():
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2009.parquet")).head(700)
    bars = conform(df.select(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"),
                             "open", "high", "low", "close"))
    r = evaluate_board(bars, interval="1m").reading("orb")
    assert r.call is Call.UNAVAILABLE and "starts 09:55, not 09:15" in r.reason


def test_daily_bars_given_explicitly(nifty_15m):
    daily = pl.read_csv(shared_file("daily/nifty50_daily_derived_from_1min_2024-01-01_2024-08-23.csv"),
                        try_parse_dates=True)
    assert daily.schema["date"] == pl.Date
    with_daily = evaluate_board(upto(nifty_15m, datetime(2024, 6, 4, 12, 15, tzinfo=IST)), interval="15m",
                                daily=daily)
    derived = evaluate_board(upto(nifty_15m, datetime(2024, 6, 4, 12, 15, tzinfo=IST)), interval="15m")
    assert "P 23235.62" in with_daily.reading("pivots").reason
    assert with_daily.reading("pivots").reason == derived.reading("pivots").reason
    assert with_daily.reading("camarilla").reason == derived.reading("camarilla").reason
    # the first session of the series has a previous session only when daily bars are given
    first = evaluate_board(nifty_15m.head(3), interval="15m", daily=daily)
    assert first.reading("pivots").call is not Call.UNAVAILABLE
    assert evaluate_board(nifty_15m.head(3), interval="15m").reading("pivots").call is Call.UNAVAILABLE
