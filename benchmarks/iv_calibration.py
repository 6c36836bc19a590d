"""Modelled vs real option premiums: calibrate tradesig.volatility's skew and IV/RV ratio, and measure the error.

Run from the repository root:

    .venv/bin/python benchmarks/iv_calibration.py            # the table in docs/trading.md "Volatility"
    .venv/bin/python benchmarks/iv_calibration.py --every 5  # denser sampling of the minute chains

Real chains read (../shared/data/options, see its SOURCES.md):

* ``nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet``: NIFTY, per-minute LTP, spot and the
  scraper's IV (every ``--every``-th snapshot of each day is used);
* ``nse_fo_index_options_eod_2025-11-14_2025-11-17.parquet``: NSE end-of-day NIFTY and BANKNIFTY options (close
  price; spot backed out of the near-month future's close at r = 6.5 %, IV implied by Black-Scholes here);
* ``upstox_option_chain_api_responses``: NIFTY chains at the close of 2024-06-21 and 2024-06-26 (their spots are
  those days' official closes), the only chains whose dates have stored daily closes
  (``../shared/data/daily/nifty50_daily_derived_from_1min_*.csv``), so the only ones where the realised-volatility
  estimate can be evaluated and its IV/RV ratio calibrated.

Out-of-the-money and at-the-money options with a premium of at least ₹0.50 are used (deep in-the-money premiums
are mostly intrinsic value and say little about volatility). The premium error is |model − real| / real.

Models compared, each priced with Black-Scholes (r = 6.5 %, ACT/365 to 15:30 IST on expiry):

* ``flat 15%``: the old constant;
* ``series+skew``: source (a) of tradesig.volatility with the day's own ATM IV as the daily series (a stand-in
  for India VIX, which is not in the shared data) times the fitted skew: it measures the skew;
* ``rv+skew``: source (b), realised volatility of the 60 sessions before the day × the IV/RV ratio × skew (2024
  rows only: no daily closes exist for the 2025 and 2026 chains).

The fitted constants are printed first; tradesig/volatility.py holds them (update both together).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = Path(os.environ.get("TRADESIG_SHARED_DATA", REPO.parent / "shared" / "data"))

from tradesig.clock import IST  # noqa: E402
from tradesig.pricing import black_scholes, implied_vol, year_fraction  # noqa: E402
from tradesig.volatility import (  # noqa: E402
    EXPIRY_DAY_FACTOR,
    IV_RV_RATIO,
    RV_WINDOW,
    Z_CLIP,
    FlatIV,
    RealisedVolIV,
    SeriesIV,
)

RATE = 0.065
MIN_PREMIUM = 0.5
MONEYNESS = [(-1e9, -3.0, "K/S < -3%"), (-3.0, -1.0, "-3..-1%"), (-1.0, 1.0, "-1..+1%"), (1.0, 3.0, "+1..+3%"),
             (3.0, 1e9, "> +3%")]
DTE = [(0, 0, "0 d"), (1, 2, "1-2 d"), (3, 7, "3-7 d"), (8, 30, "8-30 d"), (31, 10**6, "> 30 d")]


@dataclass
class Row:
    dataset: str
    symbol: str
    day: date
    at: datetime
    spot: float
    strike: float
    kind: str
    expiry: date
    price: float
    iv: float | None  # decimal, observed or implied
    atm: float = 0.0  # ATM IV of the same snapshot and expiry (decimal)
    day_atm: float = 0.0  # the day's ATM IV (nearest expiry over a day out), the stand-in daily series

    @property
    def t(self) -> float:
        return year_fraction(self.at, datetime.combine(self.expiry, time(15, 30), tzinfo=IST))

    @property
    def otm(self) -> bool:
        return (self.kind == "CE" and self.strike >= self.spot * 0.995) or (
            self.kind == "PE" and self.strike <= self.spot * 1.005)


def _minute_chains(data: Path, every: int) -> list[Row]:
    import polars as pl

    df = pl.read_parquet(data / "options" / "nifty_option_chain_1min_snapshots_2026-08-17_to_2026-08-21.parquet")
    snaps = sorted(df["snapshot_ts"].unique().to_list())
    keep = {s for i, s in enumerate(snaps) if i % every == 0}
    df = df.filter(pl.col("snapshot_ts").is_in(list(keep)) & (pl.col("ltp") >= MIN_PREMIUM) & (pl.col("iv") > 0))
    return _implied([Row("NIFTY chains Aug 2026", "NIFTY", r["snapshot_ts"].date(), r["snapshot_ts"], r["spot"],
                         r["strike"], r["option_type"], r["expiry_date"], r["ltp"], None)
                     for r in df.iter_rows(named=True)])


def _implied(rows: list[Row]) -> list[Row]:
    """Each row's IV implied by Black-Scholes from its own premium with this script's conventions (r, ACT/365 to
    15:30 IST), so model and data agree on time to expiry; rows outside the no-arbitrage range are dropped."""
    out = []
    for row in rows:
        try:
            row.iv = implied_vol(row.price, row.spot, row.strike, row.t, RATE, row.kind)
        except ValueError:
            continue
        out.append(row)
    return out


def _eod_chains(data: Path) -> list[Row]:
    import polars as pl

    opts = pl.read_parquet(data / "options" / "nse_fo_index_options_eod_2025-11-14_2025-11-17.parquet")
    futs = pl.read_parquet(data / "options" / "nse_fo_futures_eod_2025-11-14_2025-11-17.parquet")
    rows: list[Row] = []
    for sym in ("NIFTY", "BANKNIFTY"):
        for day in sorted(opts["trade_date"].unique().to_list()):
            fut = futs.filter((pl.col("symbol") == sym) & (pl.col("trade_date") == day)).sort("exp_date").row(
                0, named=True)
            at = datetime.combine(day, time(15, 30), tzinfo=IST)
            t_fut = year_fraction(at, datetime.combine(fut["exp_date"], time(15, 30), tzinfo=IST))
            spot = fut["close_price"] * math.exp(-RATE * t_fut)
            sel = opts.filter((pl.col("symbol") == sym) & (pl.col("trade_date") == day)
                              & (pl.col("close_price") >= MIN_PREMIUM) & (pl.col("no_of_trade") >= 10))
            for r in sel.iter_rows(named=True):
                rows.append(Row("NSE EOD Nov 2025", sym, day, at, spot, r["str_price"], r["opt_type"].strip(),
                                r["exp_date"], r["close_price"], None))
    return _implied(rows)


def _upstox_chains(data: Path) -> list[Row]:
    rows: list[Row] = []
    # file → the IST date of its spot (the official close of that day; SOURCES.md section 3d)
    for name, day in (("nifty_upstox_oc_2024-06-24_commitdate.json", date(2024, 6, 21)),
                      ("nifty_upstox_oc_2024-06-29_commitdate.json", date(2024, 6, 26))):
        payload = json.loads((data / "options" / "upstox_option_chain_api_responses" / name).read_text())
        at = datetime.combine(day, time(15, 30), tzinfo=IST)
        for item in payload["data"]:
            for kind, key in (("CE", "call_options"), ("PE", "put_options")):
                md = item[key]["market_data"]
                if md["ltp"] >= MIN_PREMIUM:
                    rows.append(Row("NIFTY chains Jun 2024", "NIFTY", day, at, item["underlying_spot_price"],
                                    item["strike_price"], kind, date.fromisoformat(item["expiry"]), md["ltp"], None))
    return _implied(rows)


def _closes(data: Path) -> list[tuple[date, float]]:
    path = data / "daily" / "nifty50_daily_derived_from_1min_2024-01-01_2024-08-23.csv"
    with open(path, newline="") as fh:
        return [(date.fromisoformat(r["date"]), float(r["close"])) for r in csv.DictReader(fh)]


def _attach_atm(rows: list[Row]) -> None:
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.symbol, r.at, r.expiry), []).append(r)
    for group in groups.values():
        near = [r for r in group if r.iv and abs(math.log(r.strike / r.spot)) < 0.005]
        if not near:
            near = sorted((r for r in group if r.iv), key=lambda r: abs(r.strike - r.spot))[:2]
        atm = statistics.median(r.iv for r in near) if near else 0.0
        for r in group:
            r.atm = atm
    by_day: dict[tuple, list[Row]] = {}
    for r in rows:
        if r.atm and r.t > 1.0 / 365:
            by_day.setdefault((r.dataset, r.symbol, r.day), []).append(r)
    day_atm: dict[tuple, float] = {}
    for key, group in by_day.items():
        nearest = min(r.expiry for r in group)
        day_atm[key] = statistics.median(r.atm for r in group if r.expiry == nearest)
    for r in rows:
        r.day_atm = day_atm.get((r.dataset, r.symbol, r.day), r.atm)


def fit_skew(rows: list[Row]) -> tuple[float, float, int]:
    """Least squares of iv/atm − 1 = a·z + b·z² over OTM rows with |z| < Z_CLIP; returns (a, b, n)."""
    import numpy as np

    zs, ys = [], []
    for r in rows:
        if r.iv and r.atm and r.otm and r.t > 0:
            z = math.log(r.strike / r.spot) / (r.atm * math.sqrt(r.t))
            if abs(z) < Z_CLIP:
                zs.append(z)
                ys.append(r.iv / r.atm - 1.0)
    z = np.array(zs)
    coef, *_ = np.linalg.lstsq(np.vstack([z, z * z]).T, np.array(ys), rcond=None)
    return float(coef[0]), float(coef[1]), len(zs)


def fit_ratio(rows: list[Row], closes: list[tuple[date, float]]) -> tuple[float, list[tuple[date, float, float]]]:
    """Median over the 2024 chain days of (day's ATM IV) / (60-session realised vol before it)."""
    rv = RealisedVolIV(closes, "NIFTY", FlatIV(0.15), ratio=1.0)
    points = []
    for day in sorted({r.day for r in rows if r.dataset.endswith("2024")}):
        atm = next(r.day_atm for r in rows if r.day == day)
        level = rv.level(day)
        if level:
            points.append((day, atm, level))
    return statistics.median(p[1] / p[2] for p in points), points


def fit_expiry_day(rows: list[Row]) -> tuple[float, int]:
    """Median of (ATM IV on an expiry day) / (the day's ATM IV of the next expiry), over expiry-day rows."""
    ratios = [r.atm / r.day_atm for r in rows if r.expiry == r.day and r.day_atm]
    return (statistics.median(ratios), len(ratios)) if ratios else (1.0, 0)


def _bucket(value: float, table: list) -> str:
    for lo, hi, label in table:
        if lo <= value <= hi if isinstance(lo, int) else lo <= value < hi:
            return label
    return "?"


def _errors(rows: list[Row], sigma: Callable[[Row], float | None]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        s = sigma(r)
        if s is None:
            continue
        model = black_scholes(r.spot, r.strike, r.t, RATE, s, r.kind)
        err = abs(model - r.price) / r.price * 100.0
        mny = _bucket((r.strike / r.spot - 1.0) * 100.0, MONEYNESS)
        dte = _bucket((r.expiry - r.day).days, DTE)
        for key in ((mny, "all"), ("all", dte), ("all", "all")):
            out.setdefault(key, []).append(err)
    return out


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--every", type=int, default=15, help="use every N-th minute snapshot (default 15)")
    args = parser.parse_args(argv)
    if not (args.data / "options").is_dir():
        print(f"shared data not found at {args.data} (set TRADESIG_SHARED_DATA)", file=sys.stderr)
        return 2
    rows = [r for r in _minute_chains(args.data, args.every) + _eod_chains(args.data) + _upstox_chains(args.data)]
    _attach_atm(rows)
    rows = [r for r in rows if r.atm > 0 and r.t > 0]
    a, b, n = fit_skew(rows)
    closes = _closes(args.data)
    ratio, points = fit_ratio(rows, closes)
    factor, n_exp = fit_expiry_day(rows)
    print(f"skew fit on {n} OTM options (|z| < {Z_CLIP:g}): SKEW_SLOPE = {a:.4f}, SKEW_CURVE = {b:.4f}")
    print(f"expiry-day ATM IV / next expiry's ATM IV (median of {n_exp} rows) = {factor:.3f}   "
          f"(tradesig.volatility.EXPIRY_DAY_FACTOR = {EXPIRY_DAY_FACTOR})")
    for day, atm, level in points:
        print(f"  {day}: ATM IV {atm:.2%}, {RV_WINDOW}-session realised vol {level:.2%}, ratio {atm / level:.3f}")
    print(f"IV/RV ratio (median) = {ratio:.3f}   (tradesig.volatility.IV_RV_RATIO = {IV_RV_RATIO})")
    print(f"rows: {len(rows)} (" + ", ".join(f"{d} {sum(1 for r in rows if r.dataset == d)}"
                                         for d in sorted({r.dataset for r in rows})) + ")")
    print()
    rv_model = RealisedVolIV(closes, "NIFTY", FlatIV(0.15))
    models: dict[str, Callable[[Row], float | None]] = {
        "flat 15%": lambda r: 0.15,
        "series+skew": lambda r: SeriesIV((r.day - timedelta(days=1),), (r.day_atm,), "", FlatIV(0.15)).iv(
            r.day, spot=r.spot, strike=r.strike, t_years=r.t),
        "rv+skew": lambda r: (rv_model.iv(r.day, spot=r.spot, strike=r.strike, t_years=r.t)
                              if r.dataset.endswith("2024") and rv_model.level(r.day) else None),
    }
    otm = [r for r in rows if r.otm]
    results = {name: _errors(otm, fn) for name, fn in models.items()}
    keys = [(m[2], "all") for m in MONEYNESS] + [("all", d[2]) for d in DTE] + [("all", "all")]
    print("| moneyness | days to expiry | options | flat 15% median / p90 | series+skew median / p90 "
          "| rv+skew (2024 only) n, median / p90 |")
    print("|---|---|---:|---:|---:|---:|")
    for key in keys:
        flat = results["flat 15%"].get(key)
        if not flat:
            continue
        series = results["series+skew"].get(key, [])
        rvs = results["rv+skew"].get(key, [])
        rv_text = f"{len(rvs)}: {statistics.median(rvs):.1f} / {_p(rvs, 0.9):.1f}" if rvs else "–"
        print(f"| {key[0]} | {key[1]} | {len(flat)} | {statistics.median(flat):.1f} / {_p(flat, 0.9):.1f} | "
              f"{statistics.median(series):.1f} / {_p(series, 0.9):.1f} | {rv_text} |")
    flat24 = [e for r in otm if r.dataset.endswith("2024") for e in _errors([r], models["flat 15%"])[("all", "all")]]
    if flat24:
        print(f"\n2024 rows under flat 15%: median {statistics.median(flat24):.1f} / p90 {_p(flat24, 0.9):.1f} "
              f"(compare the rv+skew column)")
    print("\nerrors are |model − real| / real premium, percent; OTM and ATM options with premium >= ₹0.50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
