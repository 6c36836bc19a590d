"""Indicator kernels against independent reference loops (the cited formulas) on real NIFTY 2024 bars.

The wrappers call TA-Lib; these tests check that TA-Lib's output (through our wrappers: input normalisation,
warm-up handling) equals a straightforward implementation of each author's formula to 1e-9 relative after the
warm-up, on the real 1-minute and hourly bars. Own kernels (SuperTrend, VWAP, pivots, Camarilla, ORB,
fractals, PCR) are checked against reference loops, hand arithmetic and an independent derived file.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest
import talib

from tests.conftest import shared_file
from tradesig.signals import indicators as ind
from tradesig.store.bars import conform, resample

REL = 1e-9


@pytest.fixture(scope="module")
def nifty_1m() -> pl.DataFrame:
    path = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    df = pl.read_parquet(path)
    return conform(df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC")))


@pytest.fixture(scope="module")
def nifty_1h(nifty_1m: pl.DataFrame) -> pl.DataFrame:
    return resample(nifty_1m, "1h")


def arrays(df: pl.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(df.get_column(c).to_numpy() for c in ("open", "high", "low", "close"))


# ---------------------------------------------------------------------------------------- reference loops


def ref_ema(x: np.ndarray, n: int) -> np.ndarray:
    """Appel: seed = mean of the first n values, then e += 2/(n+1)·(x − e)."""
    out = np.full(len(x), np.nan)
    k = 2.0 / (n + 1)
    e = sum(x[:n]) / n
    out[n - 1] = e
    for i in range(n, len(x)):
        e = e + k * (x[i] - e)
        out[i] = e
    return out


def ref_rsi(x: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder 1978: average gain/loss seeded by the mean of the first n changes, then (a·(n−1) + g)/n."""
    out = np.full(len(x), np.nan)
    d = np.diff(x)
    gain = sum(v for v in d[:n] if v > 0) / n
    loss = sum(-v for v in d[:n] if v < 0) / n
    out[n] = 100 * gain / (gain + loss)
    for i in range(n + 1, len(x)):
        ch = x[i] - x[i - 1]
        gain = (gain * (n - 1) + max(ch, 0.0)) / n
        loss = (loss * (n - 1) + max(-ch, 0.0)) / n
        out[i] = 100 * gain / (gain + loss)
    return out


def ref_atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder 1978: TR from bar 1, ATR_n = mean(TR_1..TR_n), then (ATR·(n−1) + TR)/n."""
    out = np.full(len(c), np.nan)
    tr = [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]
    a = sum(tr[:n]) / n
    out[n] = a
    for i in range(n + 1, len(c)):
        a = (a * (n - 1) + tr[i - 1]) / n
        out[i] = a
    return out


def ref_sar(h: np.ndarray, lo: np.ndarray, step: float = 0.02, cap: float = 0.2) -> np.ndarray:
    """Wilder's Parabolic SAR with the usual start: direction from bar 1's directional movement (short when
    the low fell more than the high rose), SAR at the extreme of bar 0, EP the extreme of bar 1."""
    out = np.full(len(h), np.nan)
    down_move, up_move = lo[0] - lo[1], h[1] - h[0]
    long = not (down_move > 0 and down_move > up_move)
    if long:
        ep, sar = h[1], lo[0]
    else:
        ep, sar = lo[1], h[0]
    af = step
    new_low, new_high = lo[1], h[1]
    for i in range(1, len(h)):
        prev_low, prev_high = new_low, new_high
        new_low, new_high = lo[i], h[i]
        if long:
            if new_low <= sar:
                long = False
                sar = max(ep, prev_high, new_high)
                out[i] = sar
                af, ep = step, new_low
                sar = max(sar + af * (ep - sar), prev_high, new_high)
            else:
                out[i] = sar
                if new_high > ep:
                    ep, af = new_high, min(af + step, cap)
                sar = min(sar + af * (ep - sar), prev_low, new_low)
        else:
            if new_high >= sar:
                long = True
                sar = min(ep, prev_low, new_low)
                out[i] = sar
                af, ep = step, new_high
                sar = min(sar + af * (ep - sar), prev_low, new_low)
            else:
                out[i] = sar
                if new_low < ep:
                    ep, af = new_low, min(af + step, cap)
                sar = max(sar + af * (ep - sar), prev_high, new_high)
    return out


def ref_supertrend(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 10, m: float = 3.0) -> np.ndarray:
    """The textbook loop: final bands, and 'if the previous line was the upper band …' switching."""
    atr = ref_atr(h, lo, c, n)
    st = np.full(len(c), np.nan)
    fu = fl = None
    for i in range(n, len(c)):
        bu = (h[i] + lo[i]) / 2 + m * atr[i]
        bl = (h[i] + lo[i]) / 2 - m * atr[i]
        if fu is None:
            fu, fl = bu, bl
            st[i] = fl
            continue
        pfu, pfl = fu, fl
        fu = bu if (bu < pfu or c[i - 1] > pfu) else pfu
        fl = bl if (bl > pfl or c[i - 1] < pfl) else pfl
        if st[i - 1] == pfu:
            st[i] = fu if c[i] <= fu else fl
        else:
            st[i] = fl if c[i] >= fl else fu
    return st


def assert_close(got: np.ndarray, want: np.ndarray, warmup: int) -> None:
    assert got.shape == want.shape
    assert np.isnan(got[:warmup]).all(), "warm-up bars must be NaN"
    g, w = got[warmup:], want[warmup:]
    assert not np.isnan(g).any()
    np.testing.assert_allclose(g, w, rtol=REL, atol=0)


# ------------------------------------------------------------------------------------------- TA-Lib kernels


@pytest.mark.parametrize("frame", ["nifty_1m", "nifty_1h"])
def test_ema_rsi_atr_sar_match_the_formulas(frame, request):
    df = request.getfixturevalue(frame)
    _, h, lo, c = arrays(df)
    assert len(c) > 1000
    for n in (20, 50, 200):
        assert_close(ind.ema(c, n), ref_ema(c, n), n - 1)
    assert_close(ind.rsi(c, 14), ref_rsi(c, 14), 14)
    assert_close(ind.atr(h, lo, c, 14), ref_atr(h, lo, c, 14), 14)
    assert_close(ind.parabolic_sar(h, lo, 0.02, 0.2), ref_sar(h, lo), 1)


def test_wrappers_equal_talib_itself(nifty_1h):
    _, h, lo, c = arrays(nifty_1h)
    np.testing.assert_array_equal(ind.ema(c, 20), talib.EMA(c, 20))
    np.testing.assert_array_equal(ind.rsi(c, 14), talib.RSI(c, 14))
    np.testing.assert_array_equal(ind.atr(h, lo, c, 10), talib.ATR(h, lo, c, 10))
    np.testing.assert_array_equal(ind.parabolic_sar(h, lo), talib.SAR(h, lo, 0.02, 0.2))


def test_wrappers_take_lists_and_short_series():
    assert np.isnan(ind.ema([1.0, 2.0], 5)).all() and len(ind.ema([1.0, 2.0], 5)) == 2
    assert np.isnan(ind.rsi([1.0] * 14, 14)).all()
    assert np.isnan(ind.atr([2.0] * 3, [1.0] * 3, [1.5] * 3, 14)).all()
    assert len(ind.parabolic_sar([2.0], [1.0])) == 1
    np.testing.assert_allclose(ind.ema([1, 2, 3, 4], 2)[1:], [1.5, 2.5, 3.5])  # ints accepted
    with pytest.raises(ValueError):
        ind.ema(np.ones((3, 3)), 2)
    with pytest.raises(ValueError):
        ind.atr([1.0, 2.0], [1.0], [1.0, 2.0])


def test_supertrend_matches_reference_loop(nifty_1m, nifty_1h):
    for df in (nifty_1m.head(20000), nifty_1h):
        _, h, lo, c = arrays(df)
        line, direction = ind.supertrend(h, lo, c, 10, 3.0)
        want = ref_supertrend(h, lo, c, 10, 3.0)
        assert_close(line, want, 10)
        assert set(np.unique(direction[10:])) == {-1.0, 1.0}
        up = direction[10:] > 0
        # in an uptrend the line is below the close, in a downtrend above it
        assert (line[10:][up] <= c[10:][up]).all() and (line[10:][~up] >= c[10:][~up]).all()


# -------------------------------------------------------------------------------------------- own kernels


def test_session_vwap_on_real_volume():
    """The official client's mock of real Kite 1-minute candles (2017-12-15) carries volume."""
    data = json.loads(shared_file("kite_mocks/historical_minute.json").read_text())["data"]["candles"]
    o, h, lo, c, v = (np.array([row[k] for row in data], dtype=float) for k in range(1, 6))
    day = np.zeros(len(c), dtype=int)
    got = ind.session_vwap(day, h, lo, c, v)
    tp = (h + lo + c) / 3
    for i in range(len(c)):
        assert got[i] == pytest.approx(sum(tp[: i + 1] * v[: i + 1]) / sum(v[: i + 1]), rel=1e-12)
    # first bar: VWAP is its typical price
    assert got[0] == pytest.approx((1705 + 1699.25 + 1702.8) / 3)
    # a new session restarts the sums
    two = ind.session_vwap(np.array([0, 0, 1]), h[:3], lo[:3], c[:3], v[:3])
    assert two[2] == pytest.approx(tp[2])
    assert np.isnan(ind.session_vwap(np.zeros(2), h[:2], lo[:2], c[:2], np.zeros(2))).all()


def test_floor_pivots_and_camarilla_for_2024_06_04():
    # previous session 2024-06-03 (from the 1m bars): H 23337.90, L 23063.00, C 23305.95
    piv = ind.floor_pivots(23337.90, 23063.00, 23305.95)
    # P = (23337.90 + 23063.00 + 23305.95)/3 = 69706.85/3
    assert piv.p == pytest.approx(23235.616667, abs=1e-5)
    assert piv.r1 == pytest.approx(23408.233333, abs=1e-5)   # 2P − L
    assert piv.s1 == pytest.approx(23133.333333, abs=1e-5)   # 2P − H
    assert piv.r2 == pytest.approx(23510.516667, abs=1e-5)   # P + 274.90
    assert piv.s2 == pytest.approx(22960.716667, abs=1e-5)   # P − 274.90
    assert piv.r3 == pytest.approx(23683.133333, abs=1e-5)   # H + 2·172.616667
    assert piv.s3 == pytest.approx(22858.433333, abs=1e-5)   # L − 2·102.283333
    assert piv.bc == pytest.approx(23200.45, abs=1e-9)       # (H + L)/2
    assert piv.tc == pytest.approx(23270.783333, abs=1e-5)   # 2P − BC
    cam = ind.camarilla(23337.90, 23063.00, 23305.95)        # (H − L)·1.1 = 302.39
    assert cam.h4 == pytest.approx(23457.145, abs=1e-6)      # C + 302.39/2
    assert cam.h3 == pytest.approx(23381.5475, abs=1e-6)     # C + 302.39/4
    assert cam.h2 == pytest.approx(23356.348333, abs=1e-5)   # C + 302.39/6
    assert cam.h1 == pytest.approx(23331.149167, abs=1e-5)   # C + 302.39/12
    assert cam.l1 == pytest.approx(23280.750833, abs=1e-5)
    assert cam.l2 == pytest.approx(23255.551667, abs=1e-5)
    assert cam.l3 == pytest.approx(23230.3525, abs=1e-6)
    assert cam.l4 == pytest.approx(23154.755, abs=1e-6)


def test_floor_pivots_and_camarilla_for_2024_06_21(nifty_1m):
    # previous session 2024-06-20: check H/L/C from the real bars first
    local = nifty_1m.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("d"))
    day = local.filter(pl.col("d") == date(2024, 6, 20))
    assert (day["high"].max(), day["low"].min(), day["close"][-1]) == (23624.0, 23442.6, 23579.15)
    piv = ind.floor_pivots(23624.0, 23442.6, 23579.15)
    assert piv.p == pytest.approx(23548.583333, abs=1e-5)    # 70645.75/3
    assert piv.r1 == pytest.approx(23654.566667, abs=1e-5)
    assert piv.s1 == pytest.approx(23473.166667, abs=1e-5)
    assert piv.r2 == pytest.approx(23729.983333, abs=1e-5)   # P + 181.40
    assert piv.s2 == pytest.approx(23367.183333, abs=1e-5)
    assert piv.r3 == pytest.approx(23835.966667, abs=1e-5)
    assert piv.s3 == pytest.approx(23291.766667, abs=1e-5)
    assert piv.bc == pytest.approx(23533.3, abs=1e-9)
    assert piv.tc == pytest.approx(23563.866667, abs=1e-5)
    cam = ind.camarilla(23624.0, 23442.6, 23579.15)          # (H − L)·1.1 = 199.54
    assert (cam.h4, cam.h3, cam.l3, cam.l4) == pytest.approx((23678.92, 23629.035, 23529.265, 23479.38), abs=1e-6)
    assert (cam.h1, cam.h2, cam.l1, cam.l2) == pytest.approx((23595.778333, 23612.406667, 23562.521667,
                                                              23545.893333), abs=1e-5)


def test_pivots_vectorise():
    h, lo, c = np.array([10.0, 20.0]), np.array([4.0, 10.0]), np.array([7.0, 15.0])
    piv = ind.floor_pivots(h, lo, c)
    np.testing.assert_allclose(piv.p, [7.0, 15.0])
    np.testing.assert_allclose(piv.r1, [10.0, 20.0])


def test_opening_range():
    # 1m bars 09:15..09:34 of one session: the range is known from the 09:29 bar's close on
    minutes = np.arange(9 * 60 + 15, 9 * 60 + 35)
    h = np.arange(20, dtype=float) + 100
    lo = h - 1
    rh, rl = ind.opening_range(np.zeros(20), minutes, 1, h, lo)
    assert np.isnan(rh[:14]).all()
    assert (rh[14:] == 114).all() and (rl[14:] == 99).all()
    # 15m: the first bar is the whole range
    rh, rl = ind.opening_range(np.zeros(3), np.array([555, 570, 585]), 15, np.array([5.0, 9, 7]),
                               np.array([1.0, 2, 3]))
    assert list(rh) == [5, 5, 5] and list(rl) == [1, 1, 1]
    # hourly bars cannot give a 15-minute range
    rh, _ = ind.opening_range(np.zeros(2), np.array([555, 615]), 60, np.ones(2), np.ones(2))
    assert np.isnan(rh).all()
    # a session starting late (no 09:15 bar) has no range
    rh, _ = ind.opening_range(np.zeros(2), np.array([600, 615]), 15, np.ones(2), np.ones(2))
    assert np.isnan(rh).all()


def test_fractals_and_last_swings():
    h = np.array([1, 2, 5, 2, 1, 3, 6, 3, 2, 1], dtype=float)
    lo = h - 1
    sh, sl = ind.fractals(h, lo, 2)
    assert list(np.flatnonzero(sh)) == [2, 6]
    assert list(np.flatnonzero(sl)) == [4]
    last, prev = ind.last_swings(h, sh, 2)
    assert np.isnan(last[:4]).all() and last[4] == 5 and np.isnan(prev[7])
    assert last[8] == 6 and prev[8] == 5
    # equal highs are not a fractal (strict)
    sh2, _ = ind.fractals(np.array([1, 2, 3, 3, 2, 1], dtype=float), np.zeros(6), 2)
    assert not sh2.any()


def test_wick_body_reading():
    # hammer-like: long lower wick
    d, ls, us = ind.wick_body(np.array([100.0]), np.array([101.0]), np.array([90.0]), np.array([100.5]))
    assert d[0] == 1 and ls[0] == pytest.approx(10 / 11)
    d, _, _ = ind.wick_body(np.array([100.0]), np.array([110.0]), np.array([99.0]), np.array([99.5]))
    assert d[0] == -1
    d, _, _ = ind.wick_body(np.array([100.0]), np.array([100.0]), np.array([100.0]), np.array([100.0]))
    assert d[0] == 0
    # both wicks ≥ 40 % of the range, neither 1.5× the other: neutral
    d, _, _ = ind.wick_body(np.array([104.5]), np.array([110.0]), np.array([100.0]), np.array([104.5]))
    assert d[0] == 0
    # upper wick 60 %, exactly 1.5× the lower: rejection
    d, _, _ = ind.wick_body(np.array([104.0]), np.array([110.0]), np.array([100.0]), np.array([104.0]))
    assert d[0] == -1


def test_candle_patterns_use_talib(nifty_1h):
    o, h, lo, c = arrays(nifty_1h)
    direction, pattern = ind.candle_patterns(o, h, lo, c)
    bull = talib.CDLENGULFING(o, h, lo, c) > 0
    bear_any = np.zeros(len(c), dtype=bool)
    for fn in ind.BEARISH_PATTERNS:
        bear_any |= getattr(talib, fn)(o, h, lo, c) < 0
    assert (direction[bull & ~bear_any] == 1).all()
    assert (pattern[direction == 0] == -1).all() and (pattern[direction != 0] >= 0).all()
    assert {ind.CANDLE_LABELS[k] for k in pattern[direction == 1]} <= set(ind.BULLISH_PATTERNS.values())
    assert {ind.CANDLE_LABELS[k] for k in pattern[direction == -1]} <= set(ind.BEARISH_PATTERNS.values())
    assert (direction == 1).sum() > 0 and (direction == -1).sum() > 0


def test_volume_ratio_and_rolling_extremes():
    v = np.array([10.0] * 19 + [30.0])
    r = ind.volume_ratio(v, 20)
    assert np.isnan(r[:19]).all() and r[19] == pytest.approx(30 / 11)
    assert np.isnan(ind.volume_ratio(np.full(25, np.nan), 20)).all()
    x = np.arange(25, dtype=float)
    hi = ind.rolling_extreme(x, 20, "max")
    assert np.isnan(hi[:20]).all() and hi[20] == 19 and hi[24] == 23


def test_pcr_matches_the_derived_per_snapshot_file():
    chain = pl.read_parquet(shared_file(
        "options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet"))
    derived = pl.read_csv(shared_file("options/nifty_pcr_per_snapshot_2026-08-17_to_2026-08-21.csv"))
    checked = 0
    for row in derived.head(40).iter_rows(named=True):
        stamp = row["snapshot_ts"]
        snap = chain.filter(pl.col("snapshot_ts").dt.strftime("%Y-%m-%d %H:%M:%S%:z") == stamp)
        if snap.is_empty():
            continue
        day = snap["snapshot_ts"][0].date()
        r = ind.put_call_ratio(snap["expiry_date"].to_list(), snap["option_type"].to_list(), snap["oi"].to_list(),
                               on_or_after=day)
        assert r is not None
        assert str(r.expiry) == row["nearest_expiry"]
        assert r.pcr == pytest.approx(row["pcr_oi_near"], rel=1e-9)
        assert r.put_oi == pytest.approx(row["pe_oi_near"]) and r.call_oi == pytest.approx(row["ce_oi_near"])
        checked += 1
    assert checked >= 30


def test_pcr_edge_cases():
    assert ind.put_call_ratio([], [], []) is None
    assert ind.put_call_ratio([date(2024, 1, 2)], ["PE"], [10.0]) is None  # no call OI
    r = ind.put_call_ratio([date(2024, 1, 2), date(2024, 1, 2), date(2024, 1, 9)], ["PE", "CE", "CE"],
                           [12.0, 10.0, 99.0], on_or_after=date(2024, 1, 1))
    assert r.pcr == pytest.approx(1.2) and r.expiry == date(2024, 1, 2)
    assert ind.put_call_ratio([date(2024, 1, 2)], ["CE"], [1.0], on_or_after=date(2024, 1, 3)) is None
