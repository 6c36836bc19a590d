"""Charges on index-option orders at Zerodha: brokerage, STT, exchange transaction charge, SEBI fee, stamp duty,
GST — from a dated rate table.

Sources (https://zerodha.com/charges/ "F&O - Options", and the circulars named there):
- Brokerage: flat ₹20 per executed order (Zerodha).
- STT: on the sell-side premium; 0.0625 % from 2023-04-01 (Finance Act 2023), 0.1 % from 2024-10-01
  (Finance (No. 2) Act 2024).
- Exchange transaction charge on premium (both sides): NSE 0.0495 % in 2024 until 2024-09-30 (as listed on
  Zerodha's charges page in 2024), 0.03503 % from 2024-10-01 (NSE circular on the uniform "true to label"
  charges after SEBI's July 2024 circular); BSE SENSEX options 0.0325 % from 2024-10-01.
- SEBI turnover fee: ₹10 per crore of premium turnover.
- Stamp duty: 0.003 % of the buy-side premium (Indian Stamp Act, amended 2020, effective 2020-07-01).
- GST: 18 % of (brokerage + exchange transaction charge + SEBI fee).

The table in force on a date is the latest row whose ``effective_from`` is on or before it; the row from
``settings.charges`` takes effect from its own ``effective_from``, so a config change of rates is dated too.
Units: rupees; percentages as percent (0.1 means 0.1 %). Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from tradesig.config import ChargesSettings

__all__ = ["ChargeRates", "ChargeBreakdown", "RateTable", "order_charges", "HISTORICAL_RATES"]


@dataclass(frozen=True)
class ChargeRates:
    """One row of the rate table (see the module docstring for the meaning and source of each field)."""

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


#: Rates before the config's own row (oldest first). The 2023-04-01 row applies to the 2024 backtests.
HISTORICAL_RATES: tuple[ChargeRates, ...] = (
    ChargeRates(date(2023, 4, 1), 20.0, 0.0625, 0.0495, 0.0325, 10.0, 0.003, 18.0),
    ChargeRates(date(2024, 10, 1), 20.0, 0.1, 0.03503, 0.0325, 10.0, 0.003, 18.0),
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
    """The dated rate table: :data:`HISTORICAL_RATES` plus the row from ``settings.charges``."""

    def __init__(self, settings: ChargesSettings | None = None) -> None:
        rows = list(HISTORICAL_RATES)
        if settings is not None:
            configured = ChargeRates.from_settings(settings)
            rows = [r for r in rows if r.effective_from < configured.effective_from] + [configured]
        self.rows = sorted(rows, key=lambda r: r.effective_from)

    def on(self, day: date) -> ChargeRates:
        """The rates in force on ``day`` (the oldest row for a day before every row)."""
        chosen = self.rows[0]
        for row in self.rows:
            if row.effective_from <= day:
                chosen = row
        return chosen


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
