"""The signal board: 13 indicator readings and their weighted aggregate (pure: no I/O, no clock).

Specification: shared/SIGNALS.md, "The board". Each signal answers BUY, SELL, NEUTRAL or UNAVAILABLE (with the
reason: not enough bars, no volume, no option chain), a confidence in [0, 1] and a one-line reason with the
numbers that decided it. The aggregate score is 100·Σ(wᵢ·dᵢ·cᵢ)/Σwᵢ over the available signals (d = +1 BUY,
−1 SELL, 0 NEUTRAL); labels ≥ 40 STRONG_BUY, ≥ 12 BUY, ≤ −12 SELL, ≤ −40 STRONG_SELL, else NEUTRAL; with fewer
than 7 available signals the label is NEUTRAL and says why.

The board is computed for *every* bar of a series at once (vectorised, :func:`board_series`), so a day's
timeline and the latest board (:func:`evaluate_board`) are the same code path. Reading i uses bars 0..i only.
Confidence rules (ours; SIGNALS.md leaves them open) are listed in docs/signals.md and in :data:`SIGNAL_SPECS`.

Inputs: ``bars`` is a BAR_SCHEMA polars frame of ONE symbol and one interval, closed bars only (the caller cuts
the in-progress bar). Prices in index points; ``volume`` null for index bars (then vwap and volume are
UNAVAILABLE: "no volume").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.signals import indicators as ind

if TYPE_CHECKING:
    from tradesig.config import Settings


class Call(str, Enum):
    """A board signal's answer."""

    BUY = "BUY"
    SELL = "SELL"
    NEUTRAL = "NEUTRAL"
    UNAVAILABLE = "UNAVAILABLE"


_BUY, _SELL, _NEUTRAL, _UNAV = 1, -1, 0, 2
_CODE_TO_CALL = {_BUY: Call.BUY, _SELL: Call.SELL, _NEUTRAL: Call.NEUTRAL, _UNAV: Call.UNAVAILABLE}

#: The 13 signals in board order with their weights (SIGNALS.md).
WEIGHTS: dict[str, int] = {
    "trend": 12, "supertrend": 10, "vwap": 9, "structure": 9, "pivots": 8, "camarilla": 6, "orb": 6, "rsi": 8,
    "volume": 7, "candle": 6, "pcr": 8, "sar": 5, "levels": 6,
}
MIN_AVAILABLE = 7


@dataclass(frozen=True)
class BoardParams:
    """Board parameters (SIGNALS.md defaults). Periods in bars; percentages as fractions (0.001 = 0.1 %)."""

    ema_fast: int = 20
    ema_mid: int = 50
    ema_slow: int = 200
    supertrend_atr: int = 10
    supertrend_mult: float = 3.0
    vwap_band: float = 0.001
    fractal_side: int = 2
    orb_minutes: int = 15
    rsi_period: int = 14
    rsi_buy: float = 60.0
    rsi_sell: float = 40.0
    volume_sma: int = 20
    volume_ratio: float = 1.5
    pcr_buy: float = 1.2
    pcr_sell: float = 0.8
    sar_step: float = 0.02
    sar_max: float = 0.2
    levels_window: int = 20
    levels_band: float = 0.0025
    atr_period: int = 14
    strong_buy: float = 40.0
    buy: float = 12.0
    sell: float = -12.0
    strong_sell: float = -40.0


@dataclass(frozen=True)
class SignalReading:
    """One board signal at one bar: ``call``, ``confidence`` in [0, 1] (0 for NEUTRAL/UNAVAILABLE), ``reason``
    (one line with the numbers), ``weight`` (SIGNALS.md)."""

    name: str
    call: Call
    confidence: float
    reason: str
    weight: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "call": self.call.value, "confidence": round(self.confidence, 4),
                "reason": self.reason, "weight": self.weight}


@dataclass(frozen=True)
class Board:
    """The board of one symbol on one closed bar.

    ``ts`` aware UTC start of the bar evaluated; ``close`` its close (index points); ``readings`` the 13
    signals in board order; ``score`` in [−100, 100]; ``label`` STRONG_BUY/BUY/NEUTRAL/SELL/STRONG_SELL;
    ``available`` how many signals were not UNAVAILABLE; ``note`` why the label is NEUTRAL when too few were.
    """

    symbol: str
    interval: str
    ts: datetime
    close: float
    readings: tuple[SignalReading, ...]
    score: float
    label: str
    available: int
    note: str = ""

    def reading(self, name: str) -> SignalReading:
        for r in self.readings:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (documented schema in docs/signals.md)."""
        return {"symbol": self.symbol, "interval": self.interval, "ts": self.ts.isoformat(), "close": self.close,
                "score": round(self.score, 2), "label": self.label, "available": self.available,
                "note": self.note, "signals": [r.to_dict() for r in self.readings]}


@dataclass
class _Signal:
    """Vectorised readings of one signal: ``code`` (N,) int8 in {1, −1, 0, 2=unavailable}, ``conf`` (N,),
    ``reason(i)`` builds the line for bar i on demand."""

    name: str
    code: np.ndarray
    conf: np.ndarray
    reason: Callable[[int], str]


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)


def _scaled(x: np.ndarray) -> np.ndarray:
    """0.5 + 0.5·min(1, x): the confidence ramp used by most signals (x ≥ 0 measures the margin)."""
    return 0.5 + 0.5 * _clip01(x)


def _finalise(code: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    conf = np.where((code == _BUY) | (code == _SELL), conf, 0.0)
    return code.astype(np.int8), np.clip(conf, 0.0, 1.0)


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.2f}"


@dataclass
class _Frame:
    """Column arrays of the bars plus session bookkeeping (IST)."""

    ts_us: np.ndarray  # bar start, microseconds since the epoch (UTC), int64
    o: np.ndarray
    h: np.ndarray
    lo: np.ndarray
    c: np.ndarray
    v: np.ndarray
    has_volume: np.ndarray
    day: np.ndarray  # IST date as days since epoch (int64)
    minute: np.ndarray  # IST minute of day of the bar start
    session_start: np.ndarray


_US_PER_DAY = 86_400_000_000
_IST_OFFSET_US = 19_800_000_000  # IST = UTC+05:30 all year (no DST)


def _frame(bars: pl.DataFrame) -> _Frame:
    missing = {"ts", "open", "high", "low", "close"} - set(bars.columns)
    if missing:
        raise DataError(f"bars lack column(s) {', '.join(sorted(missing))}", "pass BAR_SCHEMA bars")
    if "symbol" in bars.columns and bars.get_column("symbol").n_unique() > 1:
        raise DataError("board bars hold more than one symbol", "evaluate one symbol at a time")
    df = bars if bars.get_column("ts").is_sorted() else bars.sort("ts")
    if getattr(df.schema["ts"], "time_zone", None) is None:
        raise DataError("bar ts has no time zone", "bars carry aware UTC timestamps (BAR_SCHEMA)")
    ts_us = df.get_column("ts").dt.epoch("us").to_numpy().astype(np.int64)
    local = ts_us + _IST_OFFSET_US
    day = local // _US_PER_DAY
    minute = (local % _US_PER_DAY) // 60_000_000
    if "volume" in df.columns:
        v = df.get_column("volume").cast(pl.Float64).fill_null(np.nan).to_numpy()
    else:
        v = np.full(len(df), np.nan)
    v = np.asarray(v, dtype=np.float64)

    def col(name: str) -> np.ndarray:
        return np.ascontiguousarray(df.get_column(name).to_numpy(), dtype=np.float64)

    return _Frame(ts_us=ts_us, o=col("open"), h=col("high"), lo=col("low"), c=col("close"), v=v,
                  has_volume=~np.isnan(v), day=day, minute=minute, session_start=ind.session_starts(day))


def _to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _daily(fr: _Frame, daily: pl.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-session (day, high, low, close) arrays, sorted by day: from ``daily`` when given, else the bars."""
    if daily is not None and not daily.is_empty():
        key = "date" if "date" in daily.columns else "ts"
        expr = pl.col(key)
        if daily.schema[key] != pl.Date:
            expr = expr.dt.convert_time_zone("Asia/Kolkata").dt.date() if getattr(daily.schema[key], "time_zone",
                                                                                  None) else expr.dt.date()
        d = daily.select(expr.cast(pl.Int32).cast(pl.Int64).alias("day"), "high", "low", "close").sort("day")
        return (d.get_column("day").to_numpy(), d.get_column("high").to_numpy().astype(np.float64),
                d.get_column("low").to_numpy().astype(np.float64), d.get_column("close").to_numpy().astype(np.float64))
    starts = np.flatnonzero(fr.session_start)
    ends = np.append(starts[1:], len(fr.c))
    days = fr.day[starts]
    highs = np.maximum.reduceat(fr.h, starts) if len(starts) else np.zeros(0)
    lows = np.minimum.reduceat(fr.lo, starts) if len(starts) else np.zeros(0)
    closes = fr.c[ends - 1] if len(starts) else np.zeros(0)
    return days, highs, lows, closes


def _previous_session(fr: _Frame, days: np.ndarray, highs: np.ndarray, lows: np.ndarray,
                      closes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each bar, the previous session's (day, H, L, C): the last daily row dated before the bar's date."""
    pos = np.searchsorted(days, fr.day, side="left") - 1
    ok = pos >= 0
    n = len(fr.c)
    out = [np.full(n, np.nan) for _ in range(4)]
    for arr, src in zip(out, (days.astype(np.float64), highs, lows, closes), strict=True):
        arr[ok] = src[pos[ok]]
    return out[0], out[1], out[2], out[3]


def _previous_week(fr: _Frame, days: np.ndarray, highs: np.ndarray,
                   lows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each bar, the previous Monday–Sunday week's high and low (NaN when unknown)."""
    n = len(fr.c)
    wk_h, wk_l = np.full(n, np.nan), np.full(n, np.nan)
    if len(days) == 0:
        return wk_h, wk_l
    # 1970-01-01 was a Thursday: Monday-based week number = (day + 3) // 7
    weeks = (days + 3) // 7
    uniq, first = np.unique(weeks, return_index=True)
    ends = np.append(first[1:], len(weeks))
    w_high = np.array([highs[s:e].max() for s, e in zip(first, ends, strict=True)])
    w_low = np.array([lows[s:e].min() for s, e in zip(first, ends, strict=True)])
    bar_week = (fr.day + 3) // 7
    pos = np.searchsorted(uniq, bar_week, side="left") - 1
    ok = pos >= 0
    wk_h[ok] = w_high[pos[ok]]
    wk_l[ok] = w_low[pos[ok]]
    return wk_h, wk_l


def _session_accumulate(values: np.ndarray, starts: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    out = np.empty_like(values)
    idx = np.append(np.flatnonzero(starts), len(values))
    for s, e in zip(idx[:-1], idx[1:], strict=True):
        out[s:e] = ufunc.accumulate(values[s:e])
    return out


# ------------------------------------------------------------------------------------------------ the signals


def _trend(fr: _Frame, p: BoardParams) -> _Signal:
    e1, e2, e3 = ind.ema(fr.c, p.ema_fast), ind.ema(fr.c, p.ema_mid), ind.ema(fr.c, p.ema_slow)
    c = fr.c
    avail = ~np.isnan(e2)
    buy = avail & (c > e1) & (e1 > e2)
    sell = avail & (c < e1) & (e1 < e2)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = np.where(buy, np.where(c > e3, 1.0, 0.7), np.where(sell, np.where(c < e3, 1.0, 0.7), 0.0))

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: EMA{p.ema_mid} needs {p.ema_mid}, have {i + 1}"
        return (f"close {_fmt(c[i])}, EMA{p.ema_fast} {_fmt(e1[i])}, EMA{p.ema_mid} {_fmt(e2[i])}, "
                f"EMA{p.ema_slow} {_fmt(e3[i])}")

    return _Signal("trend", *_finalise(code, conf), reason)


def _supertrend(fr: _Frame, p: BoardParams) -> _Signal:
    line, direction = ind.supertrend(fr.h, fr.lo, fr.c, p.supertrend_atr, p.supertrend_mult)
    a = ind.atr(fr.h, fr.lo, fr.c, p.supertrend_atr)
    avail = ~np.isnan(direction)
    code = np.where(~avail, _UNAV, np.where(direction > 0, _BUY, _SELL))
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = _scaled(np.abs(fr.c - line) / a)

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: ATR{p.supertrend_atr} needs {p.supertrend_atr + 1}, have {i + 1}"
        trend = "up" if direction[i] > 0 else "down"
        return f"{trend}trend: close {_fmt(fr.c[i])} vs SuperTrend {_fmt(line[i])} (ATR {_fmt(a[i])})"

    return _Signal("supertrend", *_finalise(code, conf), reason)


def _vwap(fr: _Frame, p: BoardParams) -> _Signal:
    has = fr.has_volume
    # a session counts as having volume only when every bar so far has it
    missing = _session_accumulate((~has).astype(np.int64), fr.session_start, np.add) > 0
    vw = ind.session_vwap(fr.day, fr.h, fr.lo, fr.c, np.where(has, fr.v, 0.0))
    avail = ~missing & ~np.isnan(vw)
    up, dn = vw * (1 + p.vwap_band), vw * (1 - p.vwap_band)
    buy, sell = avail & (fr.c > up), avail & (fr.c < dn)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = (fr.c - vw) / vw
    conf = _scaled(np.abs(dev) / 0.005)

    def reason(i: int) -> str:
        if missing[i]:
            return "no volume (index bars carry none; VWAP needs the future's volume)"
        if not avail[i]:
            return "no volume traded yet this session"
        return f"close {_fmt(fr.c[i])} vs session VWAP {_fmt(vw[i])} ({dev[i] * 100:+.2f} %, band ±{p.vwap_band:.1%})"

    return _Signal("vwap", *_finalise(code, conf), reason)


def _structure(fr: _Frame, p: BoardParams) -> _Signal:
    sh, sl = ind.fractals(fr.h, fr.lo, p.fractal_side)
    h1, h0 = ind.last_swings(fr.h, sh, p.fractal_side)
    l1, l0 = ind.last_swings(fr.lo, sl, p.fractal_side)
    avail = ~np.isnan(h0) & ~np.isnan(l0)
    hh, hl = h1 > h0, l1 > l0
    lh, ll = h1 < h0, l1 < l0
    buy, sell = avail & hh & hl, avail & lh & ll
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = np.full(len(fr.c), 0.8)

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: needs two confirmed swing highs and two swing lows (fractals)"
        hs = "HH" if hh[i] else "LH" if lh[i] else "EH"
        ls = "HL" if hl[i] else "LL" if ll[i] else "EL"
        return (f"{hs} {_fmt(h0[i])}→{_fmt(h1[i])}, {ls} {_fmt(l0[i])}→{_fmt(l1[i])} "
                f"(fractals {p.fractal_side} bars each side)")

    return _Signal("structure", *_finalise(code, conf), reason)


def _pivots(fr: _Frame, prev: tuple[np.ndarray, ...]) -> _Signal:
    _, ph, pl_, pc = prev
    piv = ind.floor_pivots(ph, pl_, pc)
    avail = ~np.isnan(piv.p)
    c = fr.c
    buy, sell = avail & (c > piv.r1), avail & (c < piv.s1)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = np.where(buy, np.where(c > piv.r2, 1.0, 0.7), np.where(sell, np.where(c < piv.s2, 1.0, 0.7), 0.0))

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: no previous session"
        return (f"close {_fmt(c[i])}; P {_fmt(piv.p[i])}, R1 {_fmt(piv.r1[i])}, R2 {_fmt(piv.r2[i])}, "
                f"S1 {_fmt(piv.s1[i])}, S2 {_fmt(piv.s2[i])}; CPR {_fmt(piv.bc[i])}/{_fmt(piv.tc[i])}")

    return _Signal("pivots", *_finalise(code, conf), reason)


def _camarilla(fr: _Frame, prev: tuple[np.ndarray, ...]) -> _Signal:
    _, ph, pl_, pc = prev
    cam = ind.camarilla(ph, pl_, pc)
    avail = ~np.isnan(cam.h4)
    c = fr.c
    session_low = _session_accumulate(fr.lo, fr.session_start, np.minimum)
    session_high = _session_accumulate(fr.h, fr.session_start, np.maximum)
    brk_up, brk_dn = avail & (c > cam.h4), avail & (c < cam.l4)
    rev_up = avail & ~brk_up & ~brk_dn & (session_low < cam.l3) & (c > cam.l3)
    rev_dn = avail & ~brk_up & ~brk_dn & (session_high > cam.h3) & (c < cam.h3)
    buy = brk_up | (rev_up & ~rev_dn)
    sell = brk_dn | (rev_dn & ~rev_up)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = np.where(brk_up | brk_dn, 1.0, 0.7)

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: no previous session"
        what = ("breakout above H4" if brk_up[i] else "breakdown below L4" if brk_dn[i]
                else "both reversals this session" if rev_up[i] and rev_dn[i]
                else "back above L3" if rev_up[i] else "back below H3" if rev_dn[i] else "inside")
        return (f"{what}: close {_fmt(c[i])}; H4 {_fmt(cam.h4[i])}, H3 {_fmt(cam.h3[i])}, L3 {_fmt(cam.l3[i])}, "
                f"L4 {_fmt(cam.l4[i])}; session range {_fmt(session_low[i])}-{_fmt(session_high[i])}")

    return _Signal("camarilla", *_finalise(code, conf), reason)


def _orb(fr: _Frame, p: BoardParams, bar_minutes: int) -> _Signal:
    rh, rl = ind.opening_range(fr.day, fr.minute, bar_minutes, fr.h, fr.lo, range_minutes=p.orb_minutes)
    avail = ~np.isnan(rh)
    c = fr.c
    buy, sell = avail & (c > rh), avail & (c < rl)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    width = np.where(rh > rl, rh - rl, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = _scaled(np.where(buy, (c - rh) / width, (rl - c) / width))

    starts = np.flatnonzero(fr.session_start)
    first_minute = np.repeat(fr.minute[starts], np.diff(np.append(starts, len(c)))) if len(c) else fr.minute

    def reason(i: int) -> str:
        if not avail[i]:
            if bar_minutes > p.orb_minutes:
                return f"interval {bar_minutes}m is coarser than the {p.orb_minutes}-minute opening range"
            if first_minute[i] != 9 * 60 + 15:
                hh, mm = divmod(int(first_minute[i]), 60)
                return f"session's first bar starts {hh:02d}:{mm:02d}, not 09:15: no opening range"
            return f"opening range ({p.orb_minutes} min from 09:15) not complete"
        return f"close {_fmt(c[i])} vs opening range {_fmt(rl[i])}-{_fmt(rh[i])}"

    return _Signal("orb", *_finalise(code, conf), reason)


def _rsi(fr: _Frame, p: BoardParams) -> _Signal:
    r = ind.rsi(fr.c, p.rsi_period)
    avail = ~np.isnan(r)
    buy, sell = avail & (r > p.rsi_buy), avail & (r < p.rsi_sell)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = _scaled(np.where(buy, (r - p.rsi_buy) / 20.0, (p.rsi_sell - r) / 20.0))

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: RSI{p.rsi_period} needs {p.rsi_period + 1}, have {i + 1}"
        return f"RSI{p.rsi_period} {r[i]:.1f} (BUY > {p.rsi_buy:g}, SELL < {p.rsi_sell:g})"

    return _Signal("rsi", *_finalise(code, conf), reason)


def _volume(fr: _Frame, p: BoardParams) -> _Signal:
    ratio = ind.volume_ratio(np.where(fr.has_volume, fr.v, np.nan), p.volume_sma)
    no_vol = ~fr.has_volume
    avail = ~no_vol & ~np.isnan(ratio)
    hot = avail & (ratio >= p.volume_ratio)
    buy, sell = hot & (fr.c > fr.o), hot & (fr.c < fr.o)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = _scaled((ratio - p.volume_ratio) / p.volume_ratio)

    def reason(i: int) -> str:
        if no_vol[i]:
            return "no volume (index bars carry none)"
        if not avail[i]:
            return f"not enough bars: volume SMA{p.volume_sma} needs {p.volume_sma} bars with volume"
        colour = "green" if fr.c[i] > fr.o[i] else "red" if fr.c[i] < fr.o[i] else "flat"
        return f"volume {fr.v[i]:.0f} = {ratio[i]:.2f}× SMA{p.volume_sma} (threshold {p.volume_ratio:g}), {colour} bar"

    return _Signal("volume", *_finalise(code, conf), reason)


def _candle(fr: _Frame) -> _Signal:
    pat_dir, pat = ind.candle_patterns(fr.o, fr.h, fr.lo, fr.c)
    wick_dir, ls, us = ind.wick_body(fr.o, fr.h, fr.lo, fr.c)
    direction = np.where(pat_dir != 0, pat_dir, wick_dir)
    code = np.where(direction > 0, _BUY, np.where(direction < 0, _SELL, _NEUTRAL))
    conf = np.where(pat_dir != 0, 0.8, 0.5)

    def reason(i: int) -> str:
        bar = f"O {_fmt(fr.o[i])} H {_fmt(fr.h[i])} L {_fmt(fr.lo[i])} C {_fmt(fr.c[i])}"
        if pat_dir[i] != 0:
            return f"{ind.CANDLE_LABELS[pat[i]]} (TA-Lib); {bar}"
        lw = "n/a" if np.isnan(ls[i]) else f"{ls[i]:.0%}"
        uw = "n/a" if np.isnan(us[i]) else f"{us[i]:.0%}"
        what = "absorption (long lower wick)" if wick_dir[i] > 0 else (
            "rejection (long upper wick)" if wick_dir[i] < 0 else "no pattern")
        return f"{what}: lower wick {lw}, upper wick {uw} of range; {bar}"

    return _Signal("candle", *_finalise(code, conf), reason)


def _pcr(fr: _Frame, p: BoardParams, chain: pl.DataFrame | None) -> _Signal:
    n = len(fr.c)
    value = np.full(n, np.nan)
    detail: list[str] = [""] * n
    if chain is not None and not chain.is_empty():
        for (lo_i, hi_i, reading, stamp) in _chain_readings(fr, chain):
            if reading is None:
                continue
            value[lo_i:hi_i] = reading.pcr
            text = (f"PCR {reading.pcr:.3f} = put OI {reading.put_oi:,.0f} / call OI {reading.call_oi:,.0f}, "
                    f"expiry {reading.expiry}{stamp}")
            detail[lo_i:hi_i] = [text] * (hi_i - lo_i)
    avail = ~np.isnan(value)
    buy, sell = avail & (value > p.pcr_buy), avail & (value < p.pcr_sell)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = _scaled(np.where(buy, (value - p.pcr_buy) / 0.3, (p.pcr_sell - value) / 0.3))

    def reason(i: int) -> str:
        if not avail[i]:
            return "no option chain for this session"
        return detail[i]

    return _Signal("pcr", *_finalise(code, conf), reason)


def _chain_readings(fr: _Frame, chain: pl.DataFrame) -> list[tuple[int, int, ind.PCRReading | None, str]]:
    """(first bar, end bar, PCR, label) spans: each bar gets the latest snapshot taken no later than the bar's
    start and on the same IST date; a chain without ``snapshot_ts`` applies to every bar."""
    need = {"expiry", "option_type", "oi"} - set(chain.columns)
    if need:
        raise DataError(f"option chain lacks column(s) {', '.join(sorted(need))}",
                        "pass a chain with expiry (date), option_type (PE/CE) and oi")
    n = len(fr.c)
    if "snapshot_ts" not in chain.columns:
        r = ind.put_call_ratio(chain.get_column("expiry").to_list(), chain.get_column("option_type").to_list(),
                               chain.get_column("oi").to_list())
        return [(0, n, r, "")]
    snaps = chain.with_columns(pl.col("snapshot_ts").dt.convert_time_zone("UTC")).sort("snapshot_ts")
    stamps = snaps.get_column("snapshot_ts").unique(maintain_order=True).to_list()
    bar_ts = fr.ts_us / 1e6
    out = []
    groups = {k[0]: g for k, g in snaps.group_by("snapshot_ts", maintain_order=True)}
    for k, stamp in enumerate(stamps):
        nxt = stamps[k + 1].timestamp() if k + 1 < len(stamps) else np.inf
        sday = (stamp.astimezone(IST).date() - date(1970, 1, 1)).days
        sel = np.flatnonzero((bar_ts >= stamp.timestamp()) & (bar_ts < nxt) & (fr.day == sday))
        if len(sel) == 0:
            continue
        g = groups[stamp]
        r = ind.put_call_ratio(g.get_column("expiry").to_list(), g.get_column("option_type").to_list(),
                               g.get_column("oi").to_list(), on_or_after=stamp.astimezone(IST).date())
        out.append((int(sel[0]), int(sel[-1]) + 1, r, f" (snapshot {stamp.astimezone(IST):%Y-%m-%d %H:%M} IST)"))
    return out


def _sar(fr: _Frame, p: BoardParams) -> _Signal:
    s = ind.parabolic_sar(fr.h, fr.lo, p.sar_step, p.sar_max)
    a = ind.atr(fr.h, fr.lo, fr.c, p.atr_period)
    avail = ~np.isnan(s)
    buy, sell = avail & (fr.c > s), avail & (fr.c < s)
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(np.isnan(a), 0.5, _scaled(np.abs(fr.c - s) / a))

    def reason(i: int) -> str:
        if not avail[i]:
            return "not enough bars: SAR needs 2"
        return f"close {_fmt(fr.c[i])} vs SAR {_fmt(s[i])} (step {p.sar_step:g}, max {p.sar_max:g})"

    return _Signal("sar", *_finalise(code, conf), reason)


def _levels(fr: _Frame, p: BoardParams, prev: tuple[np.ndarray, ...], week: tuple[np.ndarray, np.ndarray]) -> _Signal:
    _, ph, pl_, _ = prev
    wh, wl = week
    hi20 = ind.rolling_extreme(fr.h, p.levels_window, "max")
    lo20 = ind.rolling_extreme(fr.lo, p.levels_window, "min")
    c = fr.c
    prev_close = np.concatenate([[np.nan], c[:-1]])
    up, down = c > prev_close, c < prev_close
    avail = ~np.isnan(hi20)
    supports = np.vstack([pl_, wl, lo20])
    resists = np.vstack([ph, wh, hi20])
    with np.errstate(invalid="ignore"):
        d_sup = np.abs(c - supports) / supports
        d_res = np.abs(c - resists) / resists
    d_sup_min = np.nanmin(np.where(np.isnan(d_sup), np.inf, d_sup), axis=0)
    d_res_min = np.nanmin(np.where(np.isnan(d_res), np.inf, d_res), axis=0)
    near_sup, near_res = d_sup_min <= p.levels_band, d_res_min <= p.levels_band
    buy = avail & near_sup & up
    sell = avail & near_res & down
    code = np.where(~avail, _UNAV, np.where(buy, _BUY, np.where(sell, _SELL, _NEUTRAL)))
    conf = np.where(buy, _scaled(1 - d_sup_min / p.levels_band), _scaled(1 - d_res_min / p.levels_band))
    names = ("prev day", "prev week", f"{p.levels_window}-bar")

    def reason(i: int) -> str:
        if not avail[i]:
            return f"not enough bars: {p.levels_window}-bar high/low needs {p.levels_window + 1}, have {i + 1}"
        s_k = int(np.argmin(np.where(np.isnan(d_sup[:, i]), np.inf, d_sup[:, i])))
        r_k = int(np.argmin(np.where(np.isnan(d_res[:, i]), np.inf, d_res[:, i])))
        move = "closing up" if up[i] else "closing down" if down[i] else "unchanged"
        return (f"close {_fmt(c[i])} {move}; nearest support {names[s_k]} low {_fmt(supports[s_k, i])} "
                f"({d_sup[s_k, i] * 100:.2f} %), resistance {names[r_k]} high {_fmt(resists[r_k, i])} "
                f"({d_res[r_k, i] * 100:.2f} %); band {p.levels_band:.2%}")

    return _Signal("levels", *_finalise(code, conf), reason)


# ------------------------------------------------------------------------------------------------- the series


@dataclass
class BoardSeries:
    """The board on every bar of a series; :meth:`board_at` materialises one :class:`Board`.

    ``codes`` (13, N) int8 (1 BUY, −1 SELL, 0 NEUTRAL, 2 UNAVAILABLE), ``conf`` (13, N), ``score`` (N,),
    ``available`` (N,), ``label_codes`` (N,) int8 index into :data:`LABELS`; ``ts_us`` bar starts (µs since the
    epoch, UTC) — ``ts`` gives them as aware datetimes; ``close`` (N,).
    """

    symbol: str
    interval: str
    ts_us: np.ndarray
    close: np.ndarray
    names: list[str]
    codes: np.ndarray
    conf: np.ndarray
    score: np.ndarray
    available: np.ndarray
    label_codes: np.ndarray
    _signals: list[_Signal] = field(repr=False, default_factory=list)
    _ts: list[datetime] | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.ts_us)

    @property
    def ts(self) -> list[datetime]:
        """Bar starts as aware UTC datetimes (built on first use)."""
        if self._ts is None:
            self._ts = [_to_datetime(us) for us in self.ts_us.tolist()]
        return self._ts

    @property
    def labels(self) -> list[str]:
        return [LABELS[k] for k in self.label_codes.tolist()]

    def note(self, i: int) -> str:
        if self.available[i] < MIN_AVAILABLE:
            return f"only {int(self.available[i])} of 13 signals available (need {MIN_AVAILABLE}): label held NEUTRAL"
        return ""

    def board_at(self, i: int) -> Board:
        """The :class:`Board` of bar ``i`` (negative indexes count from the end). IndexError when out of range."""
        n = len(self.ts_us)
        if not -n <= i < n:
            raise IndexError(f"bar {i} out of range (series of {n} bars)")
        i %= n
        readings = tuple(
            SignalReading(name=s.name, call=_CODE_TO_CALL[int(s.code[i])], confidence=float(s.conf[i]),
                          reason=s.reason(i), weight=WEIGHTS[s.name])
            for s in self._signals)
        return Board(symbol=self.symbol, interval=self.interval, ts=_to_datetime(self.ts_us[i]),
                     close=float(self.close[i]), readings=readings, score=float(self.score[i]),
                     label=LABELS[int(self.label_codes[i])], available=int(self.available[i]), note=self.note(i))


LABELS = ["STRONG_SELL", "SELL", "NEUTRAL", "BUY", "STRONG_BUY"]


def _label(score: np.ndarray, available: np.ndarray, p: BoardParams) -> np.ndarray:
    """Label codes (index into :data:`LABELS`) from scores; NEUTRAL where fewer than 7 signals are available."""
    code = np.full(len(score), 2, dtype=np.int8)
    code[score >= p.buy] = 3
    code[score >= p.strong_buy] = 4
    code[score <= p.sell] = 1
    code[score <= p.strong_sell] = 0
    code[available < MIN_AVAILABLE] = 2
    return code


def board_series(bars: pl.DataFrame, *, interval: str, daily: pl.DataFrame | None = None,
                 chain: pl.DataFrame | None = None, settings: Settings | None = None,
                 params: BoardParams | None = None, symbol: str | None = None) -> BoardSeries:
    """The board on every bar of ``bars`` (vectorised; reading i uses bars 0..i only).

    ``bars``: BAR_SCHEMA frame of one symbol and ``interval`` ("1m", "5m", "15m", "1h", "4h"), closed bars.
    ``daily``: optional daily bars (``date`` Date or ``ts``; ``high``, ``low``, ``close``) for the previous
    session's H/L/C and the previous week (default: aggregated from ``bars`` per IST date — then the first
    session of the series has no pivots). ``chain``: optional option-chain rows (``expiry`` Date,
    ``option_type`` "PE"/"CE", ``oi``; optional ``snapshot_ts`` aware — each bar takes the latest snapshot of its
    session taken at or before its start). ``settings`` is accepted for symmetry with the engine (no board
    setting lives in the config yet); ``params`` overrides the SIGNALS.md defaults.
    Raises :class:`DataError` for missing columns or several symbols; ``ValueError`` for an unknown interval.
    """
    from tradesig.store.bars import interval_minutes

    p = params or BoardParams()
    minutes = interval_minutes(interval)
    fr = _frame(bars)
    if symbol is None:
        symbol = str(bars.get_column("symbol")[0]) if "symbol" in bars.columns and len(bars) else ""
    days, highs, lows, closes = _daily(fr, daily)
    prev = _previous_session(fr, days, highs, lows, closes)
    week = _previous_week(fr, days, highs, lows)
    sigs = [
        _trend(fr, p), _supertrend(fr, p), _vwap(fr, p), _structure(fr, p), _pivots(fr, prev), _camarilla(fr, prev),
        _orb(fr, p, minutes), _rsi(fr, p), _volume(fr, p), _candle(fr), _pcr(fr, p, chain), _sar(fr, p),
        _levels(fr, p, prev, week),
    ]
    n = len(fr.c)
    codes = np.vstack([s.code for s in sigs]) if n else np.zeros((13, 0), dtype=np.int8)
    conf = np.vstack([s.conf for s in sigs]) if n else np.zeros((13, 0))
    w = np.array([WEIGHTS[s.name] for s in sigs], dtype=np.float64)[:, None]
    avail = codes != _UNAV
    d = np.where(avail, codes, 0).astype(np.float64)
    wsum = (w * avail).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(wsum > 0, 100.0 * (w * d * conf).sum(axis=0) / wsum, 0.0)
    available = avail.sum(axis=0)
    return BoardSeries(symbol=symbol, interval=interval, ts_us=fr.ts_us, close=fr.c, names=[s.name for s in sigs],
                       codes=codes, conf=conf, score=score, available=available,
                       label_codes=_label(score, available, p), _signals=sigs)


def evaluate_board(bars: pl.DataFrame, *, interval: str, daily: pl.DataFrame | None = None,
                   chain: pl.DataFrame | None = None, settings: Settings | None = None,
                   params: BoardParams | None = None) -> Board:
    """The board on the last bar of ``bars`` (the last closed bar); arguments as :func:`board_series`.

    Raises :class:`DataError` when ``bars`` is empty.
    """
    if bars.is_empty():
        raise DataError("no bars to evaluate the board on", "import or stream bars first (tradesig history/feed)")
    return board_series(bars, interval=interval, daily=daily, chain=chain, settings=settings,
                        params=params).board_at(-1)


def bar_end(ts: datetime, interval: str, session_close_minute: int = 15 * 60 + 30) -> datetime:
    """End of a bar starting at ``ts`` (aware): start + interval, capped at the session close (IST)."""
    from tradesig.store.bars import interval_minutes

    local = ts.astimezone(IST)
    end = local + timedelta(minutes=interval_minutes(interval))
    close = local.replace(hour=session_close_minute // 60, minute=session_close_minute % 60, second=0,
                          microsecond=0)
    if local < close < end:
        end = close
    return end.astimezone(UTC)


__all__ = ["LABELS", "Call", "SignalReading", "Board", "BoardParams", "BoardSeries", "WEIGHTS", "board_series",
           "evaluate_board", "bar_end"]
