"""The one broker interface the trade engine sees, and the value types that cross it.

Backtest, paper and live construct different :class:`Broker` implementations (``brokers/backtest.py``,
``brokers/paper.py``, ``brokers/live.py``); strategy, order and risk code only ever call this interface and a
:class:`tradesig.clock.Clock`. Field names follow Kite Connect's order and position objects
(https://kite.trade/docs/connect/v3/orders/, /portfolio/).

Units: quantities in units (lots × lot size), prices in rupees per unit, timestamps aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from tradesig.errors import BrokerError

__all__ = [
    "OrderRequest", "OrderState", "BrokerPosition", "Quote", "Broker", "OrderTimeout", "TERMINAL_STATUSES",
    "BUY", "SELL",
]

BUY = "BUY"
SELL = "SELL"

#: Kite order statuses after which an order never changes again.
TERMINAL_STATUSES = frozenset({"COMPLETE", "REJECTED", "CANCELLED"})


class OrderTimeout(BrokerError):
    """The broker did not answer a place/modify/cancel in time: the order may or may not exist (exit 3).

    Callers reconcile against the order book by the order's ``tag`` before retrying."""


@dataclass(frozen=True)
class OrderRequest:
    """One order as sent to the broker.

    ``quantity`` units (a multiple of the lot size, at most the freeze limit unless ``autoslice``);
    ``order_type`` "MARKET" or "LIMIT" (``price`` rupees for LIMIT); ``product`` "NRML" (carried to expiry) or
    "MIS"; ``tag`` unique per order (Kite: alphanumeric, at most 20 characters) — the key used to reconcile
    after a timeout; ``market_protection`` percent for MARKET orders (Kite requires it since April 2026).
    """

    tradingsymbol: str
    exchange: str
    transaction_type: str
    quantity: int
    tag: str
    order_type: str = "MARKET"
    product: str = "NRML"
    price: float | None = None
    market_protection: float | None = None
    variety: str = "regular"


@dataclass(frozen=True)
class OrderState:
    """An order as the broker's order book reports it (Kite ``GET /orders`` fields).

    ``status`` is Kite's ("OPEN", "COMPLETE", "REJECTED", "CANCELLED", "TRIGGER PENDING", "PUT ORDER REQ
    RECEIVED", …); ``average_price`` rupees per unit (0 until filled); ``filled_quantity`` units."""

    order_id: str
    tag: str | None
    tradingsymbol: str
    exchange: str
    transaction_type: str
    quantity: int
    filled_quantity: int
    average_price: float
    status: str
    status_message: str | None = None
    order_timestamp: datetime | None = None
    parent_order_id: str | None = None
    price_source: str = "broker"

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class BrokerPosition:
    """A net position (Kite ``positions()["net"]``): ``quantity`` units, positive long, negative short."""

    tradingsymbol: str
    exchange: str
    product: str
    quantity: int
    average_price: float = 0.0
    last_price: float = 0.0
    pnl: float = 0.0


@dataclass(frozen=True)
class Quote:
    """A price of one instrument at ``ts`` (aware UTC). ``bid``/``ask`` None without depth.

    ``source``: "quote" (broker or feed), "chain" (a real option-chain snapshot), "modelled" (Black-Scholes)."""

    ltp: float
    ts: datetime
    bid: float | None = None
    ask: float | None = None
    source: str = "quote"
    extra: dict = field(default_factory=dict, compare=False)


@runtime_checkable
class Broker(Protocol):
    """Orders, positions and quotes. ``supports_autoslice``: the broker slices above-freeze orders itself
    (Kite ``autoslice=true``, at most 10 slices).

    Errors: :class:`tradesig.errors.OrderRejected` (refused, exit 1), :class:`OrderTimeout` (no answer in time:
    reconcile by tag), :class:`tradesig.errors.BrokerError` (unreachable), :class:`tradesig.errors.TokenError`.
    """

    name: str
    supports_autoslice: bool

    def place_order(self, request: OrderRequest) -> str:
        """Place one order; returns the order id."""
        ...

    def place_autoslice_order(self, request: OrderRequest) -> list[str]:
        """Place an above-freeze order that the broker slices; returns the child order ids."""
        ...

    def modify_order(self, order_id: str, *, quantity: int | None = None, price: float | None = None,
                     order_type: str | None = None) -> str: ...

    def cancel_order(self, order_id: str) -> str: ...

    def orders(self) -> list[OrderState]:
        """Today's order book."""
        ...

    def positions(self) -> list[BrokerPosition]:
        """Net positions (including closed ones with quantity 0)."""
        ...

    def quote(self, instruments: list[str]) -> dict[str, Quote]:
        """Quotes keyed by "EXCHANGE:TRADINGSYMBOL"; an instrument without a price is absent."""
        ...
