"""The board's machinery: bar columns, session bookkeeping, and the registry the 13 signals join.

A board signal is one registry entry (:func:`board_signal`): name, weight (SIGNALS.md), a one-line summary, and
a vectorised function of :class:`Inputs` returning an :class:`Answer` (availability, BUY and SELL masks,
confidence, and a reason for bar i built on demand). The registry turns answers into codes in one place; the
board's order, weights and signal count all come from :data:`REGISTRY` — adding an indicator is one function here
and one decorator. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import numpy as np
import polars as pl

from tradesig.errors import DataError
from tradesig.signals import indicators as ind


class Call(str, Enum):
    """A board signal's answer."""

    BUY = "BUY"
    SELL = "SELL"
    NEUTRAL = "NEUTRAL"
    UNAVAILABLE = "UNAVAILABLE"


_BUY, _SELL, _NEUTRAL, _UNAV = 1, -1, 0, 2
_CODE_TO_CALL = {_BUY: Call.BUY, _SELL: Call.SELL, _NEUTRAL: Call.NEUTRAL, _UNAV: Call.UNAVAILABLE}

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


# --------------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Inputs:
    """What every board signal may read: the bar columns ``fr``, the parameters ``p``, the interval in minutes,
    the previous session's (day, H, L, C) per bar ``prev``, the previous week's (H, L) per bar ``week`` (NaN
    when unknown; index points) and the option chain (or None)."""

    fr: _Frame
    p: BoardParams
    bar_minutes: int
    prev: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    week: tuple[np.ndarray, np.ndarray]
    chain: pl.DataFrame | None


@dataclass(frozen=True)
class Answer:
    """A signal over every bar: ``available``/``buy``/``sell`` (N,) bool masks (buy/sell only count where
    available), ``conf`` (N,) confidence in [0, 1] of a BUY/SELL, ``reason(i)`` the one line for bar i."""

    available: np.ndarray
    buy: np.ndarray
    sell: np.ndarray
    conf: np.ndarray
    reason: Callable[[int], str]


@dataclass(frozen=True)
class SignalSpec:
    """One registered board signal: ``name`` (board order = registration order), ``weight`` (SIGNALS.md),
    ``summary`` (what it measures, for docs and the dashboard) and ``compute``."""

    name: str
    weight: int
    summary: str
    compute: Callable[[Inputs], Answer]


@dataclass
class Reading:
    """Vectorised readings of one signal: ``code`` (N,) int8 in {1, −1, 0, 2=unavailable}, ``conf`` (N,),
    ``reason(i)`` builds the line for bar i on demand."""

    spec: SignalSpec
    code: np.ndarray
    conf: np.ndarray
    reason: Callable[[int], str]


#: Every board signal in board order (filled by :func:`board_signal` in tradesig.signals.board_signals).
REGISTRY: list[SignalSpec] = []


def board_signal(name: str, *, weight: int, summary: str) -> Callable[[Callable[[Inputs], Answer]],
                                                                        Callable[[Inputs], Answer]]:
    """Register a board signal (decorator). Raises ``ValueError`` when the name is taken."""

    def register(fn: Callable[[Inputs], Answer]) -> Callable[[Inputs], Answer]:
        if any(s.name == name for s in REGISTRY):
            raise ValueError(f"board signal {name!r} is registered twice")
        REGISTRY.append(SignalSpec(name, weight, summary, fn))
        return fn

    return register


def evaluate(spec: SignalSpec, inputs: Inputs) -> Reading:
    """Run one signal and encode its answer: UNAVAILABLE where not available, else BUY, SELL or NEUTRAL;
    confidence 0 unless BUY/SELL."""
    a = spec.compute(inputs)
    code = np.where(~a.available, _UNAV, np.where(a.buy, _BUY, np.where(a.sell, _SELL, _NEUTRAL)))
    return Reading(spec, *_finalise(code, a.conf), a.reason)
