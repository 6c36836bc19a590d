"""Charges on index-option orders at Zerodha: brokerage, STT, exchange transaction charge, SEBI fee, stamp duty,
GST — from the dated, sourced tables of :mod:`tradesig.market`.

The rates in force on a date come from those tables (each row cites its Act, circular or the Zerodha charges
page): STT on option sales 0.0625 % from 2023-04-01, 0.1 % from 2024-10-01, 0.15 % from 2026-04-01; NSE
transaction charge 0.03503 % and BSE's 0.0325 % from 2024-10-01; stamp duty 0.003 % of the buy premium; SEBI fee
₹10 per crore; GST 18 % of (brokerage + transaction charge + SEBI fee); brokerage ₹20 per executed order.

``settings.charges`` (the ``[charges]`` config section) overrides the table from its own ``effective_from``, but
only for the fields set to something other than their default: a field left at its default follows the dated
table, so an untouched config never freezes an old rate (e.g. STT stays 0.1 % before 2026-04-01 and is 0.15 %
from then on).
Units: rupees; percentages as percent (0.1 means 0.1 %). Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from tradesig import market
from tradesig.config import ChargesSettings

__all__ = ["ChargeRates", "ChargeBreakdown", "RateTable", "order_charges", "statutory_rates"]

_RATE_FIELDS = ("brokerage_per_order", "stt_sell_pct", "exchange_txn_nse_pct", "exchange_txn_bse_pct",
                "sebi_per_crore", "stamp_buy_pct", "gst_pct")


@dataclass(frozen=True)
class ChargeRates:
    """The rates in force on one date (see the module docstring for the meaning and source of each field)."""

    effective_from: date
    brokerage_per_order: float
    stt_sell_pct: float
    exchange_txn_nse_pct: float
    exchange_txn_bse_pct: float
    sebi_per_crore: float
    stamp_buy_pct: float
    gst_pct: float

    @classmethod
    def from_settings(cls, s: ChargesSettings) -> ChargeRates:
        return cls(date.fromisoformat(s.effective_from), s.brokerage_per_order, s.stt_sell_pct,
                   s.exchange_txn_nse_pct, s.exchange_txn_bse_pct, s.sebi_per_crore, s.stamp_buy_pct, s.gst_pct)


def statutory_rates(day: date) -> ChargeRates:
    """The rates of :mod:`tradesig.market`'s dated tables in force on IST date ``day``."""
    return ChargeRates(
        day,
        market.fact_on(market.BROKERAGE_PER_ORDER, "*", day),
        market.fact_on(market.STT_OPTION_SELL_PCT, "*", day),
        market.fact_on(market.EXCHANGE_TXN_PCT, "NSE", day),
        market.fact_on(market.EXCHANGE_TXN_PCT, "BSE", day),
        market.fact_on(market.SEBI_FEE_PER_CRORE, "*", day),
        market.fact_on(market.STAMP_BUY_PCT, "*", day),
        market.fact_on(market.GST_PCT, "*", day),
    )


@dataclass(frozen=True)
class ChargeBreakdown:
    """Charges of one or more executed orders, rupees. ``total`` is their sum."""

    brokerage: float = 0.0
    stt: float = 0.0
    exchange_txn: float = 0.0
    sebi: float = 0.0
    stamp: float = 0.0
    gst: float = 0.0

    @property
    def total(self) -> float:
        return self.brokerage + self.stt + self.exchange_txn + self.sebi + self.stamp + self.gst

    def __add__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        return ChargeBreakdown(self.brokerage + other.brokerage, self.stt + other.stt,
                               self.exchange_txn + other.exchange_txn, self.sebi + other.sebi,
                               self.stamp + other.stamp, self.gst + other.gst)

    def as_dict(self) -> dict[str, float]:
        return {"brokerage": round(self.brokerage, 2), "stt": round(self.stt, 2),
                "exchange_txn": round(self.exchange_txn, 2), "sebi": round(self.sebi, 2),
                "stamp": round(self.stamp, 2), "gst": round(self.gst, 2), "total": round(self.total, 2)}


class RateTable:
    """The dated statutory rates (:func:`statutory_rates`) with the config's overrides: each field of
    ``settings`` that differs from its default replaces the table's value from ``settings.effective_from`` on."""

    def __init__(self, settings: ChargesSettings | None = None) -> None:
        self.overrides: dict[str, float] = {}
        self.overrides_from = date.max
        self._by_day: dict[date, ChargeRates] = {}
        if settings is not None:
            default = ChargesSettings()
            self.overrides = {f: getattr(settings, f) for f in _RATE_FIELDS
                              if getattr(settings, f) != getattr(default, f)}
            self.overrides_from = date.fromisoformat(settings.effective_from)

    def on(self, day: date) -> ChargeRates:
        """The rates in force on IST date ``day`` (kept per date: the tables and overrides do not change)."""
        rates = self._by_day.get(day)
        if rates is None:
            rates = statutory_rates(day)
            if self.overrides and day >= self.overrides_from:
                rates = replace(rates, **self.overrides)
            self._by_day[day] = rates
        return rates


def order_charges(rates: ChargeRates, transaction_type: str, quantity: int, price: float, exchange: str,
                  orders: int = 1) -> ChargeBreakdown:
    """Charges of an executed option order of ``quantity`` units at ``price`` rupees on ``exchange`` ("NFO" or
    "BFO"); ``orders`` executed orders (each slice pays brokerage). Raises ``ValueError`` for an unknown side."""
    if transaction_type not in ("BUY", "SELL"):
        raise ValueError(f"transaction_type must be BUY or SELL, got {transaction_type!r}")
    premium = quantity * price
    if quantity <= 0 or premium <= 0:
        return ChargeBreakdown()
    brokerage = rates.brokerage_per_order * orders
    stt = premium * rates.stt_sell_pct / 100 if transaction_type == "SELL" else 0.0
    txn_pct = rates.exchange_txn_bse_pct if exchange.upper().startswith("B") else rates.exchange_txn_nse_pct
    txn = premium * txn_pct / 100
    sebi = premium * rates.sebi_per_crore / 1e7
    stamp = premium * rates.stamp_buy_pct / 100 if transaction_type == "BUY" else 0.0
    gst = (brokerage + txn + sebi) * rates.gst_pct / 100
    return ChargeBreakdown(brokerage, stt, txn, sebi, stamp, gst)


def with_brokerage(rates: ChargeRates, brokerage: float) -> ChargeRates:
    """A copy of ``rates`` with another per-order brokerage (e.g. 0 for a broker-free comparison)."""
    return replace(rates, brokerage_per_order=brokerage)
