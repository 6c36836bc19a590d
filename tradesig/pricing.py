"""Black-Scholes pricing of European index options (NIFTY, BANKNIFTY, SENSEX options: European, cash-settled).

Formulas: F. Black and M. Scholes, "The Pricing of Options and Corporate Liabilities", J. Political Economy
81 (1973); Merton (1973) for the continuous form. Greeks are the standard closed forms (Hull, *Options,
Futures and Other Derivatives*, ch. 19). Pure functions: no I/O, no clock.

Units: ``spot`` and ``strike`` in index points (= rupees per unit of the contract), ``t_years`` in years
(ACT/365), ``rate`` and ``iv`` annualised as decimals (0.065, 0.15). Premiums are rupees per unit: multiply
by the quantity (lots × lot size) for a position value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["black_scholes", "greeks", "Greeks", "year_fraction", "norm_cdf", "implied_vol", "MIN_T_YEARS"]

#: below this (about one minute) the option is priced at intrinsic value
MIN_T_YEARS = 1.0 / (365.0 * 24 * 60)


def norm_cdf(x: float) -> float:
    """Standard normal cumulative distribution, via ``math.erf`` (exact to double precision)."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _check(spot: float, strike: float, iv: float, option_type: str) -> str:
    kind = option_type.upper()
    if kind not in ("CE", "PE", "CALL", "PUT", "C", "P"):
        raise ValueError(f"option_type must be CE or PE, got {option_type!r}")
    if spot <= 0 or strike <= 0:
        raise ValueError(f"spot and strike must be positive (spot={spot}, strike={strike})")
    if iv < 0:
        raise ValueError(f"iv must be >= 0, got {iv}")
    return "CE" if kind in ("CE", "CALL", "C") else "PE"


def _d1_d2(spot: float, strike: float, t: float, rate: float, iv: float) -> tuple[float, float]:
    vol_t = iv * math.sqrt(t)
    d1 = (math.log(spot / strike) + (rate + 0.5 * iv * iv) * t) / vol_t
    return d1, d1 - vol_t


def black_scholes(spot: float, strike: float, t_years: float, rate: float, iv: float,
                  option_type: str) -> float:
    """Premium of a European option, rupees per unit.

    ``option_type`` is "CE" (call) or "PE" (put). With ``t_years`` at or below :data:`MIN_T_YEARS`, or
    ``iv`` 0, the price is the discounted intrinsic value (expiry / no-volatility limit). Raises
    ``ValueError`` for a non-positive spot or strike, negative iv, or an unknown option type.

    C = S·N(d1) − K·e^(−rT)·N(d2);  P = K·e^(−rT)·N(−d2) − S·N(−d1);
    d1 = (ln(S/K) + (r + σ²/2)T) / (σ√T), d2 = d1 − σ√T.
    """
    kind = _check(spot, strike, iv, option_type)
    t = max(float(t_years), 0.0)
    disc = math.exp(-rate * t)
    if t <= MIN_T_YEARS or iv == 0:
        forward_intrinsic = spot - strike * disc if kind == "CE" else strike * disc - spot
        return max(forward_intrinsic, 0.0)
    d1, d2 = _d1_d2(spot, strike, t, rate, iv)
    if kind == "CE":
        return max(spot * norm_cdf(d1) - strike * disc * norm_cdf(d2), 0.0)
    return max(strike * disc * norm_cdf(-d2) - spot * norm_cdf(-d1), 0.0)


@dataclass(frozen=True)
class Greeks:
    """Sensitivities per unit: delta (per point of spot), gamma (per point²), vega (rupees per 1.00 of vol,
    i.e. divide by 100 for per vol-point), theta (rupees per year; divide by 365 for per calendar day),
    rho (rupees per 1.00 of rate)."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


def greeks(spot: float, strike: float, t_years: float, rate: float, iv: float, option_type: str) -> Greeks:
    """Black-Scholes price and greeks (Hull ch. 19). At expiry (or iv 0) delta is 0/±1 and the rest 0.
    Raises ``ValueError`` as :func:`black_scholes`."""
    kind = _check(spot, strike, iv, option_type)
    price = black_scholes(spot, strike, t_years, rate, iv, kind)
    t = max(float(t_years), 0.0)
    if t <= MIN_T_YEARS or iv == 0:
        itm = spot > strike if kind == "CE" else spot < strike
        delta = (1.0 if kind == "CE" else -1.0) if itm else 0.0
        return Greeks(price, delta, 0.0, 0.0, 0.0, 0.0)
    d1, d2 = _d1_d2(spot, strike, t, rate, iv)
    disc = math.exp(-rate * t)
    pdf = _norm_pdf(d1)
    gamma = pdf / (spot * iv * math.sqrt(t))
    vega = spot * pdf * math.sqrt(t)
    if kind == "CE":
        delta = norm_cdf(d1)
        theta = -spot * pdf * iv / (2 * math.sqrt(t)) - rate * strike * disc * norm_cdf(d2)
        rho = strike * t * disc * norm_cdf(d2)
    else:
        delta = norm_cdf(d1) - 1.0
        theta = -spot * pdf * iv / (2 * math.sqrt(t)) + rate * strike * disc * norm_cdf(-d2)
        rho = -strike * t * disc * norm_cdf(-d2)
    return Greeks(price, delta, gamma, vega, theta, rho)


def implied_vol(price: float, spot: float, strike: float, t_years: float, rate: float, option_type: str,
                *, lo: float = 1e-4, hi: float = 5.0, tol: float = 1e-6) -> float:
    """Implied volatility by bisection on :func:`black_scholes` (monotone in iv). Raises ``ValueError`` when
    the price is outside the no-arbitrage range for [lo, hi]."""
    p_lo = black_scholes(spot, strike, t_years, rate, lo, option_type)
    p_hi = black_scholes(spot, strike, t_years, rate, hi, option_type)
    if not p_lo - tol <= price <= p_hi + tol:
        raise ValueError(f"price {price} outside [{p_lo:.4f}, {p_hi:.4f}] for iv in [{lo}, {hi}]")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if black_scholes(spot, strike, t_years, rate, mid, option_type) < price:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return 0.5 * (lo + hi)


def year_fraction(start: datetime, expiry_close: datetime) -> float:
    """Time to expiry in years (ACT/365, to the second) between two aware datetimes; 0 when past.

    ``expiry_close`` is the expiry session's close (15:30 IST on the expiry date)."""
    if start.tzinfo is None or expiry_close.tzinfo is None:
        raise ValueError("year_fraction needs timezone-aware datetimes")
    seconds = (expiry_close - start) / timedelta(seconds=1)
    return max(seconds, 0.0) / (365.0 * 86400.0)
