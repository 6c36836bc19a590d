"""Indicator kernels: pure functions over numpy arrays (no I/O, no clock).

Every kernel takes 1-D ``float64`` arrays of equal length ``N`` (prices in rupees / index points, oldest bar
first) and returns arrays of length ``N`` aligned bar for bar with the input: element ``i`` uses bars ``0..i``
only (no look-ahead), and bars inside an indicator's warm-up are ``NaN``.

Where TA-Lib implements an indicator we call it (``import talib``) and only normalise the input (contiguous
``float64``) — TA-Lib is the reference the project's tests and benchmarks compare against. Our own kernels cover
what TA-Lib lacks: SuperTrend, session VWAP, floor pivots/CPR, Camarilla, the opening range, fractals, the
wick/body reading, volume ratio, PCR and support/resistance levels.

Sources of the formulas:

- EMA: exponential smoothing with alpha = 2/(n+1), seeded by the n-bar simple mean (G. Appel's MACD
  EMA convention, as TA-Lib's ``TA_EMA``).
- RSI, ATR, Parabolic SAR: J. Welles Wilder, *New Concepts in Technical Trading Systems* (1978): Wilder
  smoothing alpha = 1/n seeded by an n-bar mean; SAR with acceleration step 0.02 and maximum 0.2.
- SuperTrend: Olivier Seban's indicator as popularised by Jason Olson's recursive "final band" form:
  basic bands hl2 ± m·ATR(n), final bands ratchet toward price, trend flips when the close crosses the band.
- Floor (classic) pivots and CPR: the floor traders' pivot points (P=(H+L+C)/3 …), CPR as in Frank Ochoa,
  *Secrets of a Pivot Boss* (2010).
- Camarilla equation: Nick Scott (1989): H_n/L_n = C ± (H−L)·1.1/k, k = 12, 6, 4, 2.
- Fractals: Bill Williams, *Trading Chaos* (1995): a swing high is a bar whose high is strictly above the
  highs of the ``n`` bars on each side (``n`` = 2).
- Candlestick patterns: TA-Lib's ``CDL*`` functions (after S. Nison, *Japanese Candlestick Charting
  Techniques*, 1991).
- PCR: put-call ratio of open interest, Σ put OI / Σ call OI (NSE option-chain convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import talib

FloatArray = np.ndarray


def _f64(values: Any) -> FloatArray:
    """``values`` as a contiguous 1-D float64 array (a copy only when needed)."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {arr.shape}")
    return arr


def _same_length(*arrays: FloatArray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"series of unequal length: {sorted(lengths)}")


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


# ----------------------------------------------------------------------------------------------- TA-Lib wrappers


def ema(close: Sequence[float] | FloatArray, period: int) -> FloatArray:
    """Exponential moving average of ``close`` (TA-Lib ``EMA``; Appel's convention).

    alpha = 2/(period+1); the first value (index ``period-1``) is the simple mean of the first ``period``
    closes; earlier bars are NaN. Shape: (N,) in the input's unit. Fewer than ``period`` bars: all NaN.
    """
    x = _f64(close)
    if len(x) < period:
        return _nan(len(x))
    return talib.EMA(x, timeperiod=period)


def sma(values: Sequence[float] | FloatArray, period: int) -> FloatArray:
    """Simple moving average over the last ``period`` values including the current one (TA-Lib ``SMA``)."""
    x = _f64(values)
    if len(x) < period:
        return _nan(len(x))
    return talib.SMA(x, timeperiod=period)


def rsi(close: Sequence[float] | FloatArray, period: int = 14) -> FloatArray:
    """Relative Strength Index, Wilder (1978), via TA-Lib ``RSI``: 0..100.

    Average gain/loss seeded by the mean of the first ``period`` changes, then Wilder smoothing (1/period).
    The first value is at index ``period``; earlier bars are NaN.
    """
    x = _f64(close)
    if len(x) <= period:
        return _nan(len(x))
    return talib.RSI(x, timeperiod=period)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Average True Range, Wilder (1978), via TA-Lib ``ATR`` (index points).

    TR_i = max(H_i−L_i, |H_i−C_{i−1}|, |L_i−C_{i−1}|) from bar 1; ATR seeded by the mean of TR_1..TR_period
    (first value at index ``period``) then ATR_i = (ATR_{i−1}·(period−1) + TR_i)/period.
    """
    h, lo, c = _f64(high), _f64(low), _f64(close)
    _same_length(h, lo, c)
    if len(c) <= period:
        return _nan(len(c))
    return talib.ATR(h, lo, c, timeperiod=period)


def parabolic_sar(high: FloatArray, low: FloatArray, step: float = 0.02, maximum: float = 0.2) -> FloatArray:
    """Parabolic SAR, Wilder (1978), via TA-Lib ``SAR`` (acceleration ``step``, cap ``maximum``).

    First value at index 1 (TA-Lib decides the initial direction from the first two bars' directional
    movement). Shape (N,), index points.
    """
    h, lo = _f64(high), _f64(low)
    _same_length(h, lo)
    if len(h) < 2:
        return _nan(len(h))
    return talib.SAR(h, lo, acceleration=step, maximum=maximum)


# ------------------------------------------------------------------------------------------------- own kernels


def supertrend(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 10,
               multiplier: float = 3.0) -> tuple[FloatArray, FloatArray]:
    """SuperTrend (Seban/Olson recursive final bands) over Wilder's ATR(``period``) from :func:`atr`.

    basic_upper = (H+L)/2 + m·ATR, basic_lower = (H+L)/2 − m·ATR;
    final_upper_i = basic_upper_i if basic_upper_i < final_upper_{i−1} or C_{i−1} > final_upper_{i−1}
    else final_upper_{i−1} (mirror for the lower band). In a downtrend the line is the final upper band and
    the trend turns up when C_i > final_upper_i; in an uptrend the line is the final lower band and it turns
    down when C_i < final_lower_i. The first bar with an ATR starts in an uptrend (the pandas-ta convention).

    Returns ``(line, direction)``: line in index points, direction +1 (up) / −1 (down); NaN during warm-up
    (the first ``period`` bars).
    """
    h, lo, c = _f64(high), _f64(low), _f64(close)
    _same_length(h, lo, c)
    n = len(c)
    line = _nan(n)
    direction = _nan(n)
    a = atr(h, lo, c, period)
    valid = np.flatnonzero(~np.isnan(a))
    if len(valid) == 0:
        return line, direction
    start = int(valid[0])
    mid = (h + lo) / 2.0
    bu = (mid + multiplier * a).tolist()
    bl = (mid - multiplier * a).tolist()
    cl = c.tolist()
    out_line = [float("nan")] * n
    out_dir = [float("nan")] * n
    fu, fl = bu[start], bl[start]
    up = True
    out_line[start], out_dir[start] = fl, 1.0
    for i in range(start + 1, n):
        prev_c = cl[i - 1]
        b_u, b_l = bu[i], bl[i]
        fu = b_u if (b_u < fu or prev_c > fu) else fu
        fl = b_l if (b_l > fl or prev_c < fl) else fl
        ci = cl[i]
        if up:
            if ci < fl:
                up = False
        elif ci > fu:
            up = True
        if up:
            out_line[i], out_dir[i] = fl, 1.0
        else:
            out_line[i], out_dir[i] = fu, -1.0
    line[:] = out_line
    direction[:] = out_dir
    return line, direction


def session_starts(session_id: np.ndarray) -> np.ndarray:
    """Boolean (N,): True on the first bar of each session (``session_id`` changes or index 0)."""
    sid = np.asarray(session_id)
    starts = np.ones(len(sid), dtype=bool)
    if len(sid) > 1:
        starts[1:] = sid[1:] != sid[:-1]
    return starts


def _segment_cumsum(values: FloatArray, starts: np.ndarray) -> FloatArray:
    """Cumulative sum restarting at every True of ``starts``."""
    total = np.cumsum(values)
    idx = np.flatnonzero(starts)
    offsets = np.zeros(len(values))
    if len(idx):
        before = np.where(idx > 0, total[idx - 1], 0.0)
        offsets = np.repeat(before, np.diff(np.append(idx, len(values))))
    return total - offsets


def session_vwap(session_id: np.ndarray, high: FloatArray, low: FloatArray, close: FloatArray,
                 volume: FloatArray) -> FloatArray:
    """Session VWAP from the first bar of each session: Σ(TP·V)/ΣV with TP = (H+L+C)/3.

    ``session_id``: (N,) any comparable id per bar (the IST trading date); ``volume`` in units traded.
    Bars before the first non-zero cumulative volume of a session, and any bar where volume is NaN, give NaN.
    """
    h, lo, c, v = _f64(high), _f64(low), _f64(close), _f64(volume)
    _same_length(h, lo, c, v)
    starts = session_starts(session_id)
    tp = (h + lo + c) / 3.0
    num = _segment_cumsum(tp * v, starts)
    den = _segment_cumsum(v, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return out


@dataclass(frozen=True)
class FloorPivots:
    """Classic floor pivots and the central pivot range (CPR). Fields are floats or (N,) arrays, index points."""

    p: Any
    r1: Any
    s1: Any
    r2: Any
    s2: Any
    r3: Any
    s3: Any
    bc: Any
    tc: Any


def floor_pivots(high: Any, low: Any, close: Any) -> FloorPivots:
    """Classic floor pivots from the previous session's H, L, C (floats or arrays; vectorised).

    P=(H+L+C)/3, R1=2P−L, S1=2P−H, R2=P+(H−L), S2=P−(H−L), R3=H+2(P−L), S3=L−2(H−P);
    CPR: BC=(H+L)/2, TC=2P−BC (Ochoa's central pivot range, as written in SIGNALS.md: TC may be below BC).
    """
    p = (high + low + close) / 3.0
    bc = (high + low) / 2.0
    return FloorPivots(p=p, r1=2 * p - low, s1=2 * p - high, r2=p + (high - low), s2=p - (high - low),
                       r3=high + 2 * (p - low), s3=low - 2 * (high - p), bc=bc, tc=2 * p - bc)


@dataclass(frozen=True)
class CamarillaLevels:
    """Camarilla levels H1..H4 above and L1..L4 below the previous close (floats or arrays, index points)."""

    h1: Any
    h2: Any
    h3: Any
    h4: Any
    l1: Any
    l2: Any
    l3: Any
    l4: Any


def camarilla(high: Any, low: Any, close: Any) -> CamarillaLevels:
    """Nick Scott's Camarilla equation (1989): H_n = C + (H−L)·1.1/k, L_n = C − (H−L)·1.1/k, k = 12, 6, 4, 2.

    Inputs are the previous session's H, L, C (floats or arrays).
    """
    rng = (high - low) * 1.1
    return CamarillaLevels(h1=close + rng / 12, h2=close + rng / 6, h3=close + rng / 4, h4=close + rng / 2,
                           l1=close - rng / 12, l2=close - rng / 6, l3=close - rng / 4, l4=close - rng / 2)


def opening_range(session_id: np.ndarray, minute_of_day: np.ndarray, bar_minutes: int, high: FloatArray,
                  low: FloatArray, open_minute: int = 9 * 60 + 15,
                  range_minutes: int = 15) -> tuple[FloatArray, FloatArray]:
    """Opening range (ORB): high/low of the first ``range_minutes`` of each session (09:15–09:30 IST).

    ``minute_of_day``: (N,) IST minute of each bar's *start*; ``bar_minutes``: the bar interval in minutes.
    Returns ``(range_high, range_low)`` per bar: NaN on bars that end before the range completes, and on every
    bar of a session whose bars do not tile the range (the interval is coarser than the range, or the
    session's first bar starts after ``open_minute``).
    """
    h, lo = _f64(high), _f64(low)
    sid = np.asarray(session_id)
    mod = np.asarray(minute_of_day, dtype=np.int64)
    n = len(h)
    rh, rl = _nan(n), _nan(n)
    if n == 0 or bar_minutes > range_minutes or range_minutes % bar_minutes:
        return rh, rl
    end = open_minute + range_minutes
    in_range = (mod >= open_minute) & (mod + bar_minutes <= end)
    starts = np.flatnonzero(session_starts(sid))
    bounds = np.append(starts, n)
    need = range_minutes // bar_minutes
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        sel = in_range[s:e]
        if int(sel.sum()) != need or mod[s] != open_minute:
            continue
        hi = float(np.max(h[s:e][sel]))
        lw = float(np.min(lo[s:e][sel]))
        done = mod[s:e] + bar_minutes >= end
        rh[s:e][done] = hi
        rl[s:e][done] = lw
    return rh, rl


def fractals(high: FloatArray, low: FloatArray, n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Bill Williams fractals: boolean (N,) arrays ``(swing_high, swing_low)`` marking the *middle* bar.

    A swing high at i: H_i > H_j for every j in [i−n, i+n], j ≠ i (strict); swing low mirrors on lows. The
    last ``n`` bars cannot be marked yet (a fractal is confirmed ``n`` bars later: see :func:`last_swings`).
    """
    h, lo = _f64(high), _f64(low)
    _same_length(h, lo)
    size = len(h)
    sh = np.zeros(size, dtype=bool)
    sl = np.zeros(size, dtype=bool)
    if size < 2 * n + 1:
        return sh, sl
    core = slice(n, size - n)
    sh_core = np.ones(size - 2 * n, dtype=bool)
    sl_core = np.ones(size - 2 * n, dtype=bool)
    for k in range(1, n + 1):
        sh_core &= (h[core] > h[n - k:size - n - k]) & (h[core] > h[n + k:size - n + k])
        sl_core &= (lo[core] < lo[n - k:size - n - k]) & (lo[core] < lo[n + k:size - n + k])
    sh[core] = sh_core
    sl[core] = sl_core
    return sh, sl


def last_swings(values: FloatArray, marks: np.ndarray, confirm: int = 2) -> tuple[FloatArray, FloatArray]:
    """As of each bar i, the last and the one-before-last marked values among bars confirmed by bar i.

    A mark at bar j is known at bar j + ``confirm`` (the fractal's right side). Returns ``(last, previous)``
    (N,) arrays, NaN where fewer marks are known. Used for the structure signal (HH/HL, LH/LL).
    """
    v = _f64(values)
    n = len(v)
    idx = np.flatnonzero(marks)
    last, prev = _nan(n), _nan(n)
    if len(idx) == 0:
        return last, prev
    known_at = idx + confirm
    # position of the newest mark known at bar i = count of known_at <= i, minus one
    count = np.searchsorted(known_at, np.arange(n), side="right")
    has1 = count >= 1
    has2 = count >= 2
    last[has1] = v[idx[count[has1] - 1]]
    prev[has2] = v[idx[count[has2] - 2]]
    return last, prev


def volume_ratio(volume: FloatArray, period: int = 20) -> FloatArray:
    """Volume over its ``period``-bar simple mean (including the current bar): V_i / SMA(V, period)_i.

    NaN during warm-up, where the mean is 0, or where any volume in the window is NaN (no volume data).
    """
    v = _f64(volume)
    mean = sma(v, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, v / mean, np.nan)


#: TA-Lib candlestick functions read as bullish when they return > 0, name -> label.
BULLISH_PATTERNS: dict[str, str] = {
    "CDLENGULFING": "bullish engulfing", "CDLHAMMER": "hammer", "CDLINVERTEDHAMMER": "inverted hammer",
    "CDLMORNINGSTAR": "morning star", "CDLMORNINGDOJISTAR": "morning doji star", "CDLPIERCING": "piercing",
    "CDL3WHITESOLDIERS": "three white soldiers", "CDL3INSIDE": "three inside up", "CDLHARAMI": "bullish harami",
}
#: TA-Lib candlestick functions read as bearish when they return < 0, name -> label.
BEARISH_PATTERNS: dict[str, str] = {
    "CDLENGULFING": "bearish engulfing", "CDLSHOOTINGSTAR": "shooting star", "CDLHANGINGMAN": "hanging man",
    "CDLEVENINGSTAR": "evening star", "CDLEVENINGDOJISTAR": "evening doji star",
    "CDLDARKCLOUDCOVER": "dark cloud cover", "CDL3BLACKCROWS": "three black crows",
    "CDL3INSIDE": "three inside down", "CDLHARAMI": "bearish harami",
}


#: Labels of the candle patterns, indexed by the ``pattern`` array of :func:`candle_patterns`.
CANDLE_LABELS: list[str] = [*BULLISH_PATTERNS.values(), *BEARISH_PATTERNS.values()]


def candle_patterns(open_: FloatArray, high: FloatArray, low: FloatArray,
                    close: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """TA-Lib candlestick patterns on each bar: ``(direction, pattern)``.

    ``direction`` (N,) int8: +1 when any pattern of :data:`BULLISH_PATTERNS` fires (TA-Lib value > 0) and
    none of :data:`BEARISH_PATTERNS` (value < 0), −1 for the mirror, 0 for none or a conflict. ``pattern``
    (N,) int16: index into :data:`CANDLE_LABELS` of the first matching pattern of the winning side, −1 if none.
    Pattern definitions are TA-Lib's (after Nison 1991).
    """
    o, h, lo, c = _f64(open_), _f64(high), _f64(low), _f64(close)
    _same_length(o, h, lo, c)
    n = len(c)
    bull_id = np.full(n, -1, dtype=np.int16)
    bear_id = np.full(n, -1, dtype=np.int16)
    if n == 0:
        return np.zeros(0, dtype=np.int8), bull_id
    cache: dict[str, np.ndarray] = {}

    def run(fn: str) -> np.ndarray:
        if fn not in cache:
            cache[fn] = getattr(talib, fn)(o, h, lo, c)
        return cache[fn]

    for k, fn in enumerate(BULLISH_PATTERNS):
        bull_id = np.where((bull_id < 0) & (run(fn) > 0), k, bull_id).astype(np.int16)
    offset = len(BULLISH_PATTERNS)
    for k, fn in enumerate(BEARISH_PATTERNS):
        bear_id = np.where((bear_id < 0) & (run(fn) < 0), offset + k, bear_id).astype(np.int16)
    bull, bear = bull_id >= 0, bear_id >= 0
    direction = np.where(bull & ~bear, 1, np.where(bear & ~bull, -1, 0)).astype(np.int8)
    pattern = np.where(direction > 0, bull_id, np.where(direction < 0, bear_id, -1)).astype(np.int16)
    return direction, pattern


def wick_body(open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray,
              wick_share: float = 0.4, wick_ratio: float = 1.5) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """The wick/body reading of a candle (SIGNALS.md, candle rule).

    lower wick = min(O,C) − L, upper wick = H − max(O,C), range = H − L. +1 (absorption) when the lower wick is
    ≥ ``wick_share`` of the range and ≥ ``wick_ratio`` × the upper wick; −1 (rejection) for the mirror; else 0
    (also for a zero range). Returns ``(direction int8, lower_share, upper_share)``, shares in [0, 1] (NaN for
    a zero range).
    """
    o, h, lo, c = _f64(open_), _f64(high), _f64(low), _f64(close)
    _same_length(o, h, lo, c)
    rng = h - lo
    lower = np.minimum(o, c) - lo
    upper = h - np.maximum(o, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        ls = np.where(rng > 0, lower / rng, np.nan)
        us = np.where(rng > 0, upper / rng, np.nan)
    buy = (rng > 0) & (lower >= wick_share * rng) & (lower >= wick_ratio * upper)
    sell = (rng > 0) & (upper >= wick_share * rng) & (upper >= wick_ratio * lower)
    direction = np.where(buy & ~sell, 1, np.where(sell & ~buy, -1, 0)).astype(np.int8)
    return direction, ls, us


def rolling_extreme(values: FloatArray, window: int, kind: str) -> FloatArray:
    """Max (``kind="max"``) or min (``"min"``) of the ``window`` values *before* each bar (excluding it).

    NaN for the first ``window`` bars. TA-Lib ``MAX``/``MIN`` over the window, shifted by one bar.
    """
    v = _f64(values)
    n = len(v)
    out = _nan(n)
    if n <= window:
        return out
    fn = talib.MAX if kind == "max" else talib.MIN
    out[1:] = fn(v, timeperiod=window)[:-1]
    return out


@dataclass(frozen=True)
class PCRReading:
    """Put-call ratio of one option-chain snapshot: ``pcr`` = ``put_oi`` / ``call_oi`` over ``expiry``."""

    pcr: float
    put_oi: float
    call_oi: float
    expiry: Any
    strikes: int


def put_call_ratio(expiry: Sequence[Any], option_type: Sequence[str], oi: Sequence[float],
                   on_or_after: Any = None) -> PCRReading | None:
    """PCR of the nearest expiry: Σ put OI / Σ call OI over the whole chain of that expiry.

    ``expiry`` (M,) dates, ``option_type`` (M,) "PE"/"CE", ``oi`` (M,) open interest (contracts or shares,
    the same unit on both sides). The nearest expiry is the smallest on or after ``on_or_after`` (a date;
    None: the smallest present). Returns None when there is no such expiry or its call OI sums to 0.
    """
    exp = np.asarray(expiry, dtype=object)
    typ = np.asarray(option_type, dtype=object)
    o = np.asarray(oi, dtype=np.float64)
    candidates = sorted({e for e in exp.tolist() if e is not None and (on_or_after is None or e >= on_or_after)})
    if not candidates:
        return None
    nearest = candidates[0]
    sel = exp == nearest
    puts = float(np.nansum(o[sel & (typ == "PE")]))
    calls = float(np.nansum(o[sel & (typ == "CE")]))
    if calls <= 0:
        return None
    strikes = int((sel & (typ == "CE")).sum())
    return PCRReading(pcr=puts / calls, put_oi=puts, call_oi=calls, expiry=nearest, strikes=strikes)
