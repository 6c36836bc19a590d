"""Implied volatility for modelled option premiums: where the σ of Black-Scholes comes from.

A modelled premium is only as good as its volatility. This module answers "which IV for this index, date and
strike" and *names its source*, so every modelled price can say how it was made (``IVModel.source``).

Contract (used by the sim's option quotes and by the backtest/paper quote sources):

- :func:`build_iv_model` returns an :class:`IVModel` for one index;
- ``model.iv(on, spot=…, strike=…, t_years=…)`` → annualised decimal IV (0.15 = 15 %/year);
- ``model.source`` → a short label printed beside "modelled" (e.g. ``"IV file vix.csv with skew"``).

Sources, in order of preference:

1. **A daily IV series** (``iv_file``): CSV ``date,iv`` with one row per IST date and ``iv`` in percent (India VIX
   closes are the usual choice). The level used on a date is the latest row dated *before* it (the close known at
   that day's open: no look-ahead), times the moneyness skew below.
2. **Realised volatility of the index's own daily closes** (``daily_closes``): the annualised root-mean-square
   of close-to-close log returns over the last :data:`RV_WINDOW` sessions before the date (at least
   :data:`RV_MIN_RETURNS`), times the IV/RV ratio :data:`IV_RV_RATIO`, times the skew.
3. **Flat** ``fallback`` (the configured ``backtest.iv``), for dates neither covers.

Skew (a smile in standardised moneyness, the usual quadratic-in-z parametrisation): with
``z = ln(K/S) / (σ_atm·√t)``, ``σ = σ_atm · (1 + SKEW_SLOPE·z + SKEW_CURVE·z²)``, ``z`` clipped to ±:data:`Z_CLIP`.
The constants were fitted by ``benchmarks/iv_calibration.py`` on the real chains in ``../shared/data/options``
(per-minute NIFTY chains of Aug 2026, NSE end-of-day index options of Nov 2025, NIFTY chains of June 2024); its
printed table (premium error by moneyness and days to expiry, model vs flat 15 %) is in docs/trading.md.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from tradesig.errors import DataError

__all__ = ["IVModel", "FlatIV", "SeriesIV", "RealisedVolIV", "build_iv_model", "load_iv_file", "skew_factor",
           "iv_models_from_store",
           "realised_vol", "IV_RV_RATIO", "SKEW_SLOPE", "SKEW_CURVE", "RV_WINDOW"]

#: IV/RV ratio: median ATM implied vol over 60-session realised vol on the NIFTY chains whose dates have stored
#: closes (2024-06-21 and 2024-06-26, Upstox chains; benchmarks/iv_calibration.py prints it). Two points only:
#: treat the estimate as rough, and prefer an IV file.
IV_RV_RATIO = 0.73
#: Smile coefficients in standardised moneyness z (least squares on OTM options of the Aug 2026 NIFTY chains, the
#: Nov 2025 NSE index options and the June 2024 NIFTY chains, |z| < Z_CLIP, IV relative to the same expiry's ATM
#: IV; IVs implied from the premiums with ACT/365 time to 15:30 IST on expiry).
SKEW_SLOPE = -0.0233
SKEW_CURVE = 0.0367
Z_CLIP = 8.0
#: On an expiry day (under a day to the 15:30 close) the ATM IV of the expiring contract, in ACT/365 time, is this
#: multiple of the next expiry's (median over the expiry-day rows of the same chains).
EXPIRY_DAY_FACTOR = 1.87
#: Sessions of daily returns in the realised-volatility window, and the fewest accepted.
RV_WINDOW = 60
RV_MIN_RETURNS = 20
#: Trading days per year for annualising daily returns.
SESSIONS_PER_YEAR = 252
#: Bounds on any modelled IV (decimal): a guard against a bad row or a degenerate window.
IV_FLOOR, IV_CAP = 0.03, 1.5


class IVModel(Protocol):
    """Implied volatility of one index's options by date and strike."""

    #: short human label of where the IV comes from, printed beside "modelled"
    source: str

    def iv(self, on: date, *, spot: float, strike: float, t_years: float) -> float:
        """Annualised IV (decimal) for an option struck at ``strike`` (index points) with ``t_years`` to expiry,
        on IST date ``on`` with the index at ``spot`` (index points)."""
        ...


def skew_factor(atm: float, *, spot: float, strike: float, t_years: float) -> float:
    """Multiplier of the ATM IV ``atm`` (decimal) for a strike and time: ``f·(1 + SKEW_SLOPE·z + SKEW_CURVE·z²)``
    with ``z = ln(strike/spot) / (f·atm·√t_years)`` clipped to ±``Z_CLIP``, where ``f`` is
    :data:`EXPIRY_DAY_FACTOR` under a day to expiry and 1 otherwise (1.0 at the money a day or more out)."""
    if atm <= 0 or t_years <= 0 or spot <= 0 or strike <= 0:
        return 1.0
    if t_years < 1.0 / 365:
        atm *= EXPIRY_DAY_FACTOR
    z = math.log(strike / spot) / (atm * math.sqrt(t_years))
    z = max(-Z_CLIP, min(Z_CLIP, z))
    factor = EXPIRY_DAY_FACTOR if t_years < 1.0 / 365 else 1.0
    return factor * (1.0 + SKEW_SLOPE * z + SKEW_CURVE * z * z)


def _bounded(value: float) -> float:
    return max(IV_FLOOR, min(IV_CAP, value))


def _skewed(atm: float | None, fallback: IVModel, on: date, spot: float, strike: float, t_years: float) -> float:
    """``atm`` (decimal) times the skew for the strike, bounded; ``fallback``'s IV when ``atm`` is None."""
    if atm is None:
        return fallback.iv(on, spot=spot, strike=strike, t_years=t_years)
    return _bounded(atm * skew_factor(atm, spot=spot, strike=strike, t_years=t_years))


@dataclass(frozen=True)
class FlatIV:
    """One constant IV for every date and strike (the configured ``backtest.iv``): the last resort."""

    value: float
    source: str = ""

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", f"flat {self.value:.0%} (backtest.iv)")

    def iv(self, on: date, *, spot: float, strike: float, t_years: float) -> float:
        return self.value


@dataclass(frozen=True)
class SeriesIV:
    """ATM level from a daily series (``days`` ascending IST dates, ``levels`` decimal IVs), skewed by strike.
    A date before the first row, or more than ``max_gap_days`` after the last, uses ``fallback``."""

    days: tuple[date, ...]
    levels: tuple[float, ...]
    source: str
    fallback: FlatIV = field(default_factory=lambda: FlatIV(0.15))
    max_gap_days: int = 10

    def level(self, on: date) -> float | None:
        """The series value of the latest row strictly before ``on``, or None when none is recent enough."""
        i = bisect.bisect_left(self.days, on) - 1
        if i < 0 or (on - self.days[i]).days > self.max_gap_days:
            return None
        return self.levels[i]

    def iv(self, on: date, *, spot: float, strike: float, t_years: float) -> float:
        return _skewed(self.level(on), self.fallback, on, spot, strike, t_years)


def realised_vol(closes: Sequence[float]) -> float:
    """Annualised root-mean-square of the close-to-close log returns of ``closes`` (index points, oldest
    first): ``sqrt(252 · mean(ln(c_i/c_{i-1})²))``. Raises ``ValueError`` for fewer than two closes."""
    if len(closes) < 2:
        raise ValueError("realised volatility needs at least two closes")
    rets = [math.log(b / a) for a, b in zip(closes, closes[1:], strict=False)]
    return math.sqrt(SESSIONS_PER_YEAR * sum(r * r for r in rets) / len(rets))


class RealisedVolIV:
    """ATM IV = :data:`IV_RV_RATIO` × realised volatility of the ``RV_WINDOW`` sessions before the date, skewed
    by strike. ``closes``: (IST date, close) pairs in any order. Dates with fewer than ``RV_MIN_RETURNS``
    returns before them use ``fallback``."""

    def __init__(self, closes: Sequence[tuple[date, float]], symbol: str, fallback: FlatIV,
                 ratio: float = IV_RV_RATIO) -> None:
        pairs = sorted((d, float(c)) for d, c in closes if c and c > 0)
        self._days = [d for d, _ in pairs]
        self._closes = [c for _, c in pairs]
        self.fallback = fallback
        self.ratio = ratio
        self.source = f"{RV_WINDOW}-session realised vol of {symbol} x {ratio:g} with skew"
        self._cache: dict[date, float | None] = {}

    def level(self, on: date) -> float | None:
        """The ATM IV (decimal) estimated from closes before ``on``, or None without enough history."""
        if on not in self._cache:
            end = bisect.bisect_left(self._days, on)
            window = self._closes[max(0, end - RV_WINDOW - 1):end]
            self._cache[on] = (_bounded(self.ratio * realised_vol(window))
                               if len(window) - 1 >= RV_MIN_RETURNS else None)
        return self._cache[on]

    def iv(self, on: date, *, spot: float, strike: float, t_years: float) -> float:
        return _skewed(self.level(on), self.fallback, on, spot, strike, t_years)


def load_iv_file(path: Path) -> tuple[tuple[date, ...], tuple[float, ...]]:
    """Read a daily IV series: CSV with a header naming ``date`` and ``iv`` columns (others ignored), dates
    ``YYYY-MM-DD``, ``iv`` in percent (e.g. India VIX 14.25). Returns (dates ascending, decimal IVs).

    Raises :class:`DataError` (one line naming the file and the first bad row) for an unreadable file, missing
    columns, a bad date or number, an IV outside 1–300 %, a duplicate date, or no rows."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise DataError(f"cannot read IV file {path}: {exc.strerror}", "give a CSV 'date,iv' (docs/trading.md)") \
            from None
    fix = "expected CSV 'date,iv' with iv in percent, e.g. 2024-06-04,26.75 (docs/trading.md)"
    if not rows:
        raise DataError(f"IV file {path} is empty", fix)
    header = [h.strip().lower() for h in rows[0]]
    if "date" not in header or "iv" not in header:
        raise DataError(f"IV file {path}: header {','.join(rows[0])!r} lacks 'date' and 'iv' columns", fix)
    di, ii = header.index("date"), header.index("iv")
    found: dict[date, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            day = date.fromisoformat(row[di].strip())
            value = float(row[ii])
        except (ValueError, IndexError):
            raise DataError(f"IV file {path} line {line}: {','.join(row)!r} is not 'YYYY-MM-DD,percent'", fix) \
                from None
        if not 1.0 <= value <= 300.0 or math.isnan(value):
            raise DataError(f"IV file {path} line {line}: iv {value} is not a percentage between 1 and 300", fix)
        if day in found:
            raise DataError(f"IV file {path} line {line}: date {day} appears twice", fix)
        found[day] = value / 100.0
    if not found:
        raise DataError(f"IV file {path} has no rows", fix)
    days = tuple(sorted(found))
    return days, tuple(found[d] for d in days)


def build_iv_model(symbol: str, *, daily_closes: Sequence[tuple[date, float]] | None = None,
                   iv_file: Path | None = None, fallback: float = 0.15) -> IVModel:
    """The IV model for ``symbol``: from ``iv_file`` when given, else estimated from ``daily_closes`` (IST date,
    closing index level; at least a month of history before the priced date), else :class:`FlatIV` ``fallback``.
    Dates a source does not cover fall back to the flat value (its label stays the source's).

    Raises ``DataError`` for an unreadable or malformed ``iv_file``.
    """
    flat = FlatIV(fallback)
    if iv_file is not None:
        days, levels = load_iv_file(Path(iv_file))
        return SeriesIV(days, levels, f"IV file {Path(iv_file).name} with skew", flat)
    if daily_closes:
        closes = list(daily_closes)
        if len(closes) > RV_MIN_RETURNS:
            return RealisedVolIV(closes, symbol, flat)
    return flat


#: Calendar days of stored bars read before a run's first date for the realised-volatility window.
LOOKBACK_DAYS = 120


def iv_models_from_store(home: Path, symbols: Sequence[str], start: date, end: date, *,
                         iv_file: Path | None = None, fallback: float = 0.15, bars: Any = None) -> dict[str, IVModel]:
    """One :func:`build_iv_model` per symbol for a run over IST dates ``start``..``end``: with ``iv_file`` the
    same series for every symbol; without, each index's daily closes (the last close of each stored session, from
    ``LOOKBACK_DAYS`` before ``start``) from the Store at ``home`` — through ``bars``, a
    :class:`tradesig.store.bar_cache.BarCache` of ``home``, when given (the same closes, without polars once
    cached). Raises ``DataError`` for a bad ``iv_file``."""
    if iv_file is not None:
        model = build_iv_model(symbols[0] if symbols else "", iv_file=iv_file, fallback=fallback)
        return {sym: model for sym in symbols}
    from tradesig.clock import ist_date

    out: dict[str, IVModel] = {}
    for sym in symbols:
        first = start - timedelta(days=LOOKBACK_DAYS)
        if bars is not None:
            daily = bars.read(sym, "1d", first, end)
            closes = [(ist_date(ts), c) for ts, c in zip(daily.times(), daily.close, strict=True)]
        else:
            from tradesig.store.datasets import Store

            frame = Store(home).read_bars(sym, "1d", first, end)
            closes = [(ist_date(ts), float(c)) for ts, c in zip(frame["ts"], frame["close"], strict=False)]
        out[sym] = build_iv_model(sym, daily_closes=closes, fallback=fallback)
    return out
