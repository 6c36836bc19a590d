"""Market data the sim replays: recorded 1-minute index bars (``--data``) or a seeded synthetic session.

Shapes: :class:`BarSeries` holds one instrument's 1-minute bars as numpy arrays — ``ts`` bar start as epoch
seconds (UTC), ``open/high/low/close`` in **paise** (int64, exact), ``volume``/``oi`` int64 or ``None`` when the
source has none (index data has none: never invented). A :class:`MarketData` maps instrument token →
BarSeries and says whether it is ``synthetic``.

Input files: Parquet or CSV with columns ``ts`` (bar start; naive values are IST), ``symbol`` (any spelling
:func:`tradesig.market.canonical_symbol` knows: "NIFTY 50", "NIFTY BANK", "SENSEX"), ``open``, ``high``, ``low``,
``close`` (rupees) and optionally ``volume``, ``oi`` — the layout of ``shared/data/intraday/*.parquet`` and of
tradesig's own bar store.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.market import INDICES, canonical_symbol

SESSION_OPEN = time(9, 15)
SESSION_BARS = 375  # 09:15 .. 15:29

#: start levels of the synthetic session, index points (round numbers near mid-2024 levels; synthetic)
SYNTHETIC_LEVELS = {"NIFTY": 22000.0, "BANKNIFTY": 48000.0, "SENSEX": 72500.0}


@dataclass
class BarSeries:
    """One instrument's 1-minute bars, sorted by ``ts`` (epoch seconds UTC, bar start); prices in paise."""

    token: int
    symbol: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray | None = None
    oi: np.ndarray | None = None

    def dates(self) -> list[date]:
        """IST dates present, ascending (IST = UTC + 19,800 s, no DST)."""
        return [date(1970, 1, 1) + timedelta(days=int(d)) for d in np.unique((self.ts + 19800) // 86400)]

    def daily_closes(self, before: date) -> list[tuple[date, float]]:
        """(IST date, last 1-minute close in rupees) of every session before ``before``, ascending."""
        start = int(datetime.combine(before, time(0), IST).timestamp())
        n = int(np.searchsorted(self.ts, start, "left"))
        if n == 0:
            return []
        days = (self.ts[:n] + 19800) // 86400
        last = np.flatnonzero(np.diff(days, append=days[-1] + 1))  # the last bar of each day
        return [(date(1970, 1, 1) + timedelta(days=int(days[i])), float(self.close[i]) / 100) for i in last]

    def day_slice(self, day: date) -> slice:
        """Index range of the bars of IST date ``day`` (empty slice when none)."""
        start = int(datetime.combine(day, time(0), IST).timestamp())
        lo = int(np.searchsorted(self.ts, start, "left"))
        hi = int(np.searchsorted(self.ts, start + 86400, "left"))
        return slice(lo, hi)


@dataclass
class MarketData:
    """The bars the sim replays, by instrument token; ``synthetic`` marks generated (not recorded) data."""

    series: dict[int, BarSeries] = field(default_factory=dict)
    synthetic: bool = False
    sources: list[str] = field(default_factory=list)

    def dates(self) -> list[date]:
        out: set[date] = set()
        for s in self.series.values():
            out.update(s.dates())
        return sorted(out)

    def symbols(self) -> list[str]:
        return [s.symbol for s in self.series.values()]


def _paise(values: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(values, dtype=np.float64) * 100.0).astype(np.int64)


def load_bars(paths: list[Path]) -> MarketData:
    """Read recorded 1-minute bars from Parquet/CSV files (see module doc for the columns).

    Raises :class:`DataError` for an unreadable file, missing columns, an unknown symbol or a bar breaking the
    OHLC rules (high below max(open, close) or low above min(open, close)).
    """
    import polars as pl

    frames = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise DataError(f"data file {path} does not exist", "give a Parquet/CSV file of 1-minute bars")
        try:
            if path.suffix == ".parquet":
                df = pl.read_parquet(path)
            else:
                df = pl.read_csv(path, try_parse_dates=True)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise DataError(f"cannot read {path}: {exc}", "give a Parquet or CSV file") from None
        missing = {"ts", "symbol", "open", "high", "low", "close"} - set(df.columns)
        if missing:
            raise DataError(f"{path} lacks column(s) {', '.join(sorted(missing))}",
                            "columns: ts, symbol, open, high, low, close [, volume, oi]")
        ts = df["ts"]
        if ts.dtype == pl.String:
            ts = ts.str.to_datetime()
        if getattr(ts.dtype, "time_zone", None) is None:
            ts = ts.dt.replace_time_zone("Asia/Kolkata")
        cols = [ts.dt.convert_time_zone("UTC").alias("ts"), pl.col("symbol").cast(pl.String),
                *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close"))]
        for c in ("volume", "oi"):
            cols.append(pl.col(c).cast(pl.Int64) if c in df.columns else pl.lit(None, pl.Int64).alias(c))
        frames.append(df.select(cols))
    data = MarketData(sources=[str(p) for p in paths])
    if not frames:
        return data
    all_bars = pl.concat(frames).unique(["symbol", "ts"], keep="first").sort(["symbol", "ts"])
    for (name,), part in all_bars.group_by(["symbol"], maintain_order=True):
        try:
            key = canonical_symbol(str(name))
        except KeyError:
            raise DataError(f"unknown symbol {name!r} in the data", "symbols: NIFTY 50, NIFTY BANK, SENSEX") from None
        spec = INDICES[key]
        o, h, lo, c = (_paise(part[k].to_numpy()) for k in ("open", "high", "low", "close"))
        bad = (h < np.maximum(o, c)) | (lo > np.minimum(o, c))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{name}: bar {part['ts'][i]} breaks the OHLC rules",
                            "the sim reproduces OHLC exactly and needs valid bars")
        vol = part["volume"].to_numpy() if part["volume"].null_count() < len(part) else None
        oi = part["oi"].to_numpy() if part["oi"].null_count() < len(part) else None
        epoch = (part["ts"].dt.epoch("us").to_numpy() // 1_000_000).astype(np.int64)
        data.series[spec.token] = BarSeries(spec.token, key, epoch, o, h, lo, c,
                                            None if vol is None else np.nan_to_num(vol).astype(np.int64),
                                            None if oi is None else np.nan_to_num(oi).astype(np.int64))
    return data


def synthetic_data(day: date, *, seed: int = 7, days_before: int = 5,
                   symbols: tuple[str, ...] = ("NIFTY", "BANKNIFTY", "SENSEX")) -> MarketData:
    """A seeded **synthetic** session on ``day`` (plus ``days_before`` earlier weekday sessions for history).

    Per-minute log returns are Gaussian with 15 % annualised volatility (σ·√(1/(375·252)) per minute); each bar's
    high/low extend beyond max/min(open, close) by a half-normal amount; prices in 5-paise steps. Deterministic
    for a given ``seed``. Every output made from it is marked synthetic (profile, banner, /_sim/state).
    """
    rng = random.Random(seed)
    sigma = 0.15 / math.sqrt(375 * 252)
    sessions: list[date] = []
    d = day
    while len(sessions) < days_before + 1:
        if d.weekday() < 5:
            sessions.append(d)
        d -= timedelta(days=1)
    sessions.reverse()
    data = MarketData(synthetic=True, sources=[f"synthetic(seed={seed})"])
    for sym in symbols:
        spec = INDICES[sym]
        level = SYNTHETIC_LEVELS[sym]
        ts, o, h, lo, c = [], [], [], [], []
        for sd in sessions:
            t0 = int(datetime.combine(sd, SESSION_OPEN, IST).timestamp())
            for k in range(SESSION_BARS):
                op = level
                cl = op * math.exp(sigma * rng.gauss(0, 1))
                hi = max(op, cl) * (1 + abs(rng.gauss(0, sigma * 0.6)))
                lw = min(op, cl) * (1 - abs(rng.gauss(0, sigma * 0.6)))
                vals = [int(round(v * 20)) * 5 for v in (op, hi, lw, cl)]
                vals[1] = max(vals[1], vals[0], vals[3])
                vals[2] = min(vals[2], vals[0], vals[3])
                ts.append(t0 + 60 * k)
                o.append(vals[0])
                h.append(vals[1])
                lo.append(vals[2])
                c.append(vals[3])
                level = vals[3] / 100.0
        data.series[spec.token] = BarSeries(spec.token, sym, np.array(ts, np.int64), np.array(o, np.int64),
                                            np.array(h, np.int64), np.array(lo, np.int64), np.array(c, np.int64))
    return data
