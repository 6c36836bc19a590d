"""Benchmark of the signal board and its kernels, as ratios against references run in the same process.

1. The full board (13 signals + aggregate, computed for EVERY bar) over the real 1-minute series of
   ../shared/data: NIFTY 50 2024 (Jan–Aug), NIFTY BANK 2024 (Jan–Aug) and NIFTY 50 2009 (a whole year) — three
   series, about 193k bars. The goal is one year of 1m bars for 3 symbols (3 × 250 sessions × 375 bars =
   281,250 bars) in under 0.5 s; the time for that is extrapolated from the measured bars per second.
2. Each kernel's time against TA-Lib called directly (where TA-Lib has the indicator: our wrapper's overhead),
   and our own kernels against a straightforward pandas implementation of the same formula (outputs checked
   equal before timing).
3. The S1–S8 engine over all real hourly bars (the golden run's input).

Run:  /work/venv/bin/python benchmarks/signals.py        (prints a Markdown table)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import talib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tradesig.config import Settings  # noqa: E402
from tradesig.signals import indicators as ind  # noqa: E402
from tradesig.signals.board import board_series  # noqa: E402
from tradesig.signals.strategies import WeeklyZoneEngine  # noqa: E402
from tradesig.store.bars import conform, resample  # noqa: E402

DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))
SERIES = [("NIFTY", "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"),
          ("BANKNIFTY", "intraday/niftybank_1min_2024-01-01_2024-08-23.parquet"),
          ("NIFTY", "intraday/nifty50_1min_2009.parquet")]
YEAR_BARS = 3 * 250 * 375


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs, seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def load(symbol: str, rel: str) -> pl.DataFrame:
    df = pl.read_parquet(DATA / rel)
    return conform(df.select(pl.lit(symbol).alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"),
                             "open", "high", "low", "close"))


# ------------------------------------------------------------------------------------- pandas references


def pd_supertrend(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 10, m: float = 3.0) -> np.ndarray:
    df = pd.DataFrame({"h": h, "l": lo, "c": c})
    df["atr"] = talib.ATR(h, lo, c, n)
    df["bu"] = (df.h + df.l) / 2 + m * df.atr
    df["bl"] = (df.h + df.l) / 2 - m * df.atr
    st = np.full(len(df), np.nan)
    fu = fl = np.nan
    up = True
    bu, bl, cc = df["bu"], df["bl"], df["c"]
    for i in range(n, len(df)):
        if i == n:
            fu, fl = bu.iat[i], bl.iat[i]
        else:
            fu = bu.iat[i] if (bu.iat[i] < fu or cc.iat[i - 1] > fu) else fu
            fl = bl.iat[i] if (bl.iat[i] > fl or cc.iat[i - 1] < fl) else fl
            if up and cc.iat[i] < fl:
                up = False
            elif not up and cc.iat[i] > fu:
                up = True
        st[i] = fl if up else fu
    return st


def pd_vwap(day: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    df = pd.DataFrame({"d": day, "pv": (h + lo + c) / 3 * v, "v": v})
    g = df.groupby("d", sort=False)
    return (g["pv"].cumsum() / g["v"].cumsum()).to_numpy()


def pd_fractals(h: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hs, ls = pd.Series(h), pd.Series(lo)
    sh = pd.Series(True, index=hs.index)
    sl = pd.Series(True, index=hs.index)
    for k in (1, 2):
        sh &= (hs > hs.shift(k)) & (hs > hs.shift(-k))
        sl &= (ls < ls.shift(k)) & (ls < ls.shift(-k))
    return sh.to_numpy(), sl.to_numpy()


def pd_opening_range(day: np.ndarray, minute: np.ndarray, h: np.ndarray, lo: np.ndarray) -> np.ndarray:
    df = pd.DataFrame({"d": day, "m": minute, "h": h, "l": lo})
    first = df[(df.m >= 555) & (df.m < 570)].groupby("d").agg(rh=("h", "max"), n=("h", "size"))
    out = df.join(first, on="d")
    return np.where((out.m + 1 >= 570) & (out.n == 15), out.rh, np.nan)


def pd_pcr(chain: pd.DataFrame) -> pd.Series:
    near = chain[chain.expiry == chain.groupby("snapshot_ts").expiry.transform("min")]
    s = near.groupby(["snapshot_ts", "option_type"]).oi.sum().unstack()
    return s["PE"] / s["CE"]


def main() -> None:
    if not DATA.exists():
        sys.exit(f"{DATA} is absent: the benchmark reads the real data beside the repo")
    frames = [load(sym, rel) for sym, rel in SERIES]
    total = sum(len(f) for f in frames)
    t_board = best(lambda: [board_series(f, interval="1m") for f in frames], repeat=7)
    rate = total / t_board
    lines = [f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
             f"TA-Lib {talib.__version__}, polars {pl.__version__}, pandas {pd.__version__}.", ""]
    lines += ["| measurement | bars | seconds | bars/s |", "|---|---:|---:|---:|",
              f"| full board, every bar, 3 real 1m series | {total:,} | {t_board:.3f} | {rate:,.0f} |",
              f"| → one year × 3 symbols (extrapolated) | {YEAR_BARS:,} | {YEAR_BARS / rate:.3f} | |"]

    f0 = frames[0]
    o, h, lo, c = (f0[k].to_numpy() for k in ("open", "high", "low", "close"))
    local = f0.select(pl.col("ts").dt.convert_time_zone("Asia/Kolkata"))["ts"]
    day = local.dt.date().cast(pl.Int32).to_numpy()
    minute = (local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)).to_numpy()
    unit = np.ones(len(c))
    rows: list[tuple[str, str, float, float]] = []

    def vs(name: str, ref_name: str, ours: Callable[[], object], ref: Callable[[], object]) -> None:
        rows.append((name, ref_name, best(ours), best(ref)))

    vs("EMA(20)", "talib.EMA", lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20))
    vs("RSI(14)", "talib.RSI", lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14))
    vs("ATR(14)", "talib.ATR", lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14))
    vs("SAR(0.02, 0.2)", "talib.SAR", lambda: ind.parabolic_sar(h, lo), lambda: talib.SAR(h, lo, 0.02, 0.2))
    vs("volume SMA(20)", "talib.SMA", lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20))
    vs("20-bar high", "talib.MAX", lambda: ind.rolling_extreme(h, 20, "max"), lambda: talib.MAX(h, 20))
    cdl = list(dict.fromkeys([*ind.BULLISH_PATTERNS, *ind.BEARISH_PATTERNS]))
    vs(f"candle patterns ({len(cdl)} CDL)", "talib.CDL* calls", lambda: ind.candle_patterns(o, h, lo, c),
       lambda: [getattr(talib, fn)(o, h, lo, c) for fn in cdl])

    st_ours = ind.supertrend(h, lo, c)[0]
    assert np.allclose(st_ours[10:], pd_supertrend(h, lo, c)[10:], rtol=1e-12)
    vs("SuperTrend(10, 3)", "pandas loop", lambda: ind.supertrend(h, lo, c), lambda: pd_supertrend(h, lo, c))
    assert np.allclose(ind.session_vwap(day, h, lo, c, unit), pd_vwap(day, h, lo, c, unit))
    vs("session VWAP*", "pandas groupby cumsum", lambda: ind.session_vwap(day, h, lo, c, unit),
       lambda: pd_vwap(day, h, lo, c, unit))
    fo, fr = ind.fractals(h, lo), pd_fractals(h, lo)
    assert (fo[0] == fr[0]).all() and (fo[1] == fr[1]).all()
    vs("fractals(2)", "pandas shift", lambda: ind.fractals(h, lo), lambda: pd_fractals(h, lo))
    rh = ind.opening_range(day, minute, 1, h, lo)[0]
    assert np.array_equal(rh, pd_opening_range(day, minute, h, lo), equal_nan=True)
    vs("opening range", "pandas groupby join", lambda: ind.opening_range(day, minute, 1, h, lo),
       lambda: pd_opening_range(day, minute, h, lo))
    dh, dl, dc = (np.asarray(x) for x in (h[:156], lo[:156], c[:156]))
    vs("floor pivots + Camarilla", "pandas Series", lambda: (ind.floor_pivots(dh, dl, dc), ind.camarilla(dh, dl, dc)),
       lambda: _pd_levels(dh, dl, dc))

    chain = pl.read_parquet(DATA / "options/nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet")
    chain_pd = pd.DataFrame(chain.select("snapshot_ts", pl.col("expiry_date").alias("expiry"), "option_type",
                                         "oi").to_dict(as_series=False))
    groups = [(g["expiry_date"].to_list(), g["option_type"].to_list(), g["oi"].to_list())
              for _, g in chain.group_by("snapshot_ts", maintain_order=True)]
    ours_pcr = [ind.put_call_ratio(*g).pcr for g in groups]
    assert np.allclose(sorted(ours_pcr), sorted(pd_pcr(chain_pd).to_numpy()))
    vs(f"PCR ({len(groups)} snapshots)", "pandas groupby", lambda: [ind.put_call_ratio(*g) for g in groups],
       lambda: pd_pcr(chain_pd))

    lines += ["", "| kernel (NIFTY 2024 1m, 58,127 bars) | reference | ours ms | reference ms | ratio ours/ref |",
              "|---|---|---:|---:|---:|"]
    for name, ref, t_o, t_r in rows:
        lines.append(f"| {name} | {ref} | {t_o * 1e3:.2f} | {t_r * 1e3:.2f} | {t_o / t_r:.2f} |")
    lines.append("")
    lines.append("*VWAP timed with unit weights: no real volume exists at this size (index bars carry none).")

    hourly = [resample(f, "1h") for f in frames]
    hb = sum(len(x) for x in hourly)
    t_eng = best(lambda: [WeeklyZoneEngine(f["symbol"][0], Settings(), expiry_fn=lambda s, d: d).scan(x)
                          for f, x in zip(frames, hourly, strict=True)], repeat=3)
    lines += ["", "| S1–S8 engine | hourly bars | seconds | bars/s |", "|---|---:|---:|---:|",
              f"| scan (same path as live on_hourly_bar) | {hb:,} | {t_eng:.3f} | {hb / t_eng:,.0f} |"]
    print("\n".join(lines))


def _pd_levels(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"h": h, "l": lo, "c": c})
    df["p"] = (df.h + df.l + df.c) / 3
    df["r1"], df["s1"] = 2 * df.p - df.l, 2 * df.p - df.h
    df["r2"], df["s2"] = df.p + (df.h - df.l), df.p - (df.h - df.l)
    df["r3"], df["s3"] = df.h + 2 * (df.p - df.l), df.l - 2 * (df.h - df.p)
    df["bc"] = (df.h + df.l) / 2
    df["tc"] = 2 * df.p - df.bc
    rng = (df.h - df.l) * 1.1
    for k, div in ((1, 12), (2, 6), (3, 4), (4, 2)):
        df[f"h{k}"], df[f"l{k}"] = df.c + rng / div, df.c - rng / div
    return df


if __name__ == "__main__":
    main()
