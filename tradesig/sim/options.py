"""The sim's option quotes: modelled, arbitrage-free, priced off the spot of the instant. **Modelled**, not market data.

Premium (rupees per unit) of an index option at spot ``S`` (the index's last replayed tick) and time ``t``:

* Black-Scholes (:func:`tradesig.pricing.black_scholes`; Black & Scholes 1973) with r = ``backtest.rate`` and τ
  the ACT/365 years to the expiry's 15:30 IST close, and σ from the index's IV model
  (:func:`tradesig.volatility.build_iv_model`: an IV file, an estimate from the index's daily closes up to the
  replayed date, or a flat fallback — ``IVModel.source`` names which);
* never below intrinsic value (``max(S − K, 0)`` for a call, ``max(K − S, 0)`` for a put): a European price may dip
  below it by the discounting of the strike, an index option quoted there would be a free lunch (buy, exercise);
* rounded to the 0.05 tick (NSE/BSE index option tick size), the intrinsic floor rounded up, at least one tick.

Bid/ask spread (a **modelled** liquidity model, not observed): ``spread_ticks = max(1, ⌈0.1 % × premium / tick⌉)
× (1 + ⌊m⌋)`` with ``m = |ln(K/S)| / (σ√τ)``, the strike's distance from spot in standard deviations. Near the money
a 200-rupee premium is quoted 0.20 wide (4 ticks); a strike 3 σ away costs 4 ticks however cheap it is, so cheap
far strikes are the widest relative to their price, as on the exchange. ``bid = LTP − ⌊spread/2⌋`` ticks (at
least one tick), ``ask = LTP + ⌈spread/2⌉`` ticks: bid ≤ LTP ≤ ask and ask ≥ intrinsic always.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from tradesig.pricing import black_scholes
from tradesig.volatility import IVModel

#: Tick size of index options (rupees): NSE/BSE contract specifications (tradesig.market.TICK_SIZE).
OPTION_TICK = 0.05
#: Spread near the money, as a fraction of the premium.
SPREAD_FRACTION = 0.001


def round_to_tick(price: float, tick: float) -> float:
    """Nearest multiple of ``tick`` (rupees), as a float with two decimals."""
    if tick <= 0:
        return round(price, 2)
    return round(round(price / tick) * tick, 2)


def ceil_to_tick(price: float, tick: float) -> float:
    """The smallest multiple of ``tick`` at or above ``price`` (rupees, two decimals)."""
    return round(math.ceil(price / tick - 1e-9) * tick, 2)


def intrinsic(spot: float, strike: float, option_type: str) -> float:
    """Intrinsic value per unit (rupees): ``max(S − K, 0)`` for CE, ``max(K − S, 0)`` for PE."""
    return max(spot - strike, 0.0) if option_type == "CE" else max(strike - spot, 0.0)


@dataclass(frozen=True)
class OptionQuote:
    """A modelled quote: ``ltp``, best ``bid``/``ask`` (rupees per unit, on the tick grid), ``iv`` (annualised
    decimal) and the spread in ticks."""

    ltp: float
    bid: float
    ask: float
    iv: float
    spread_ticks: int


class OptionPricer:
    """Modelled premiums and quotes of index options (module doc). ``iv_models``: index key → IV model;
    ``rate`` annualised decimal; ``on``: the replayed IST date the IV models are asked about."""

    def __init__(self, iv_models: Mapping[str, IVModel], rate: float, on: date) -> None:
        self.iv_models = dict(iv_models)
        self.rate = rate
        self.on = on

    def source(self, underlying: str) -> str:
        """The IV source label of ``underlying``'s options (printed beside "modelled")."""
        model = self.iv_models.get(underlying)
        return model.source if model is not None else "no IV model"

    def iv(self, underlying: str, spot: float, strike: float, t_years: float) -> float:
        return self.iv_models[underlying].iv(self.on, spot=spot, strike=strike, t_years=t_years)

    def premium(self, underlying: str, option_type: str, strike: float, spot: float, t_years: float,
                tick: float = OPTION_TICK) -> tuple[float, float]:
        """(LTP on the tick grid, never below intrinsic and at least one tick; the IV used)."""
        sigma = self.iv(underlying, spot, strike, t_years)
        model = black_scholes(spot, strike, t_years, self.rate, sigma, option_type)
        floor = ceil_to_tick(intrinsic(spot, strike, option_type), tick)
        return max(round_to_tick(model, tick), floor, tick), sigma

    def quote(self, underlying: str, option_type: str, strike: float, spot: float, t_years: float,
              tick: float = OPTION_TICK) -> OptionQuote:
        """LTP, bid and ask by the spread model (module doc)."""
        ltp, sigma = self.premium(underlying, option_type, strike, spot, t_years, tick)
        n = spread_ticks(ltp, strike, spot, sigma, t_years, tick)
        return OptionQuote(ltp, *bid_ask(ltp, n, tick), sigma, n)


def bid_ask(ltp: float, n: int, tick: float = OPTION_TICK) -> tuple[float, float]:
    """(bid, ask) of a spread of ``n`` ticks around ``ltp``: ``⌊n/2⌋`` ticks below (at least one tick), the rest
    above."""
    return max(round_to_tick(ltp - (n // 2) * tick, tick), tick), round_to_tick(ltp + (n - n // 2) * tick, tick)


def spread_ticks(premium: float, strike: float, spot: float, sigma: float, t_years: float,
                 tick: float = OPTION_TICK) -> int:
    """Modelled bid/ask spread in ticks (module doc): wider for dear premiums and for strikes far from spot."""
    base = max(1, math.ceil(SPREAD_FRACTION * premium / tick - 1e-9))
    width = sigma * math.sqrt(max(t_years, 1e-6))
    distance = abs(math.log(strike / spot)) / width if width > 0 else 0.0
    return base * (1 + min(int(distance), 9))


__all__ = ["OPTION_TICK", "OptionPricer", "OptionQuote", "bid_ask", "ceil_to_tick", "intrinsic", "round_to_tick",
           "spread_ticks"]
