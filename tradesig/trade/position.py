"""One hedged basket as the engine tracks it (:class:`Position`) and its report/event records.

Quantities in units (lots × lot size); prices rupees per unit; money rupees; times aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tradesig.trade.charges import ChargeBreakdown
from tradesig.trade.events import BasketLeg, BasketOpened
from tradesig.trade.instruments import OptionContract
from tradesig.trade.quotes import is_modelled

__all__ = ["Position"]


@dataclass
class Position:
    """One hedged basket. Quantities in units; prices rupees per unit; times aware UTC.

    ``status``: "open" or "closed". ``main_qty``/``hedge_qty`` what is currently held (a partial exit lowers
    them); ``quantity`` the entered quantity. ``charges`` rupees paid so far (entry and exit orders).
    ``main_last``/``hedge_last`` the legs' latest marks (rupees per unit, None before the first), taken at
    ``marked_at`` from ``mark_source`` (see :meth:`mark`)."""

    id: str
    symbol: str
    signal: str
    side: str
    lots: int
    quantity: int
    main: OptionContract
    hedge: OptionContract
    main_entry: float
    hedge_entry: float
    opened_at: datetime
    entry_spot: float
    stop_loss: float
    signal_key: str
    main_qty: int = 0
    hedge_qty: int = 0
    main_exit: float | None = None
    hedge_exit: float | None = None
    closed_at: datetime | None = None
    exit_reason: str | None = None
    exit_spot: float | None = None
    status: str = "open"
    charges: ChargeBreakdown = field(default_factory=ChargeBreakdown)
    price_source: str = "broker"
    peak_pct: float = 0.0
    armed: bool = False
    main_last: float | None = None
    hedge_last: float | None = None
    marked_at: datetime | None = None
    mark_source: str | None = None

    def mark(self, main_px: float, hedge_px: float, at: datetime, source: str) -> None:
        """Record the legs' latest prices (rupees per unit) at ``at`` (aware) from ``source`` (a price label)."""
        self.main_last, self.hedge_last, self.marked_at, self.mark_source = main_px, hedge_px, at, source

    @property
    def unrealised_pnl(self) -> float | None:
        """Gross P&L of the open quantity at the latest marks, rupees; None before the first mark."""
        if self.main_last is None or self.hedge_last is None:
            return None
        return self.unrealised(self.main_last, self.hedge_last)

    @property
    def modelled(self) -> bool:
        """True when any price of this basket came from a model: a contract built by rule, or a premium
        (entry, exit or settlement) whose ``price_source`` is modelled."""
        return self.main.modelled or self.hedge.modelled or is_modelled(self.price_source)

    def add_price_source(self, *sources: str | None) -> None:
        """Merge the ``price_source`` labels of more fills ("a+b" when several), ignoring "none"."""
        parts = {p for s in (self.price_source, *sources) for p in str(s or "").split("+") if p and p != "none"}
        self.price_source = "+".join(sorted(parts)) or "none"

    @property
    def net_premium(self) -> float:
        """Net premium collected at entry, rupees: (main entry − hedge entry) × quantity."""
        return (self.main_entry - self.hedge_entry) * self.quantity

    def unrealised(self, main_px: float, hedge_px: float) -> float:
        """Gross P&L of the open quantity at the given prices, rupees."""
        return (self.main_entry - main_px) * self.main_qty + (hedge_px - self.hedge_entry) * self.hedge_qty

    @property
    def gross_pnl(self) -> float | None:
        if self.main_exit is None or self.hedge_exit is None:
            return None
        return ((self.main_entry - self.main_exit) + (self.hedge_exit - self.hedge_entry)) * self.quantity

    @property
    def net_pnl(self) -> float | None:
        gross = self.gross_pnl
        return None if gross is None else gross - self.charges.total

    def report_event(self, mode: str, kind: type[BasketOpened] = BasketOpened, **extra: Any) -> BasketOpened:
        """The basket in the shape tradesig.report reads (docs/report.md) as a ``kind`` event
        (:class:`~tradesig.trade.events.BasketOpened`, ``BasketClosed``): trade_id, mode, symbol, signal, side,
        entry_ts, exit_ts, exit_reason, gross_pnl, charges, net_pnl, modelled and legs (tradingsymbol, role
        main/hedge, side of the entry BUY/SELL, quantity, entry_price, exit_price, last_price once marked).
        ``extra``: the fields of a subclass (e.g. BasketMarked's unrealised_pnl, mark_source)."""
        gross, net = self.gross_pnl, self.net_pnl
        return kind(
            trade_id=self.id, mode=mode, symbol=self.symbol, signal=self.signal, side=self.side,
            entry_ts=self.opened_at.isoformat(), exit_ts=self.closed_at.isoformat() if self.closed_at else None,
            exit_reason=self.exit_reason, gross_pnl=None if gross is None else round(gross, 2),
            charges=round(self.charges.total, 2), net_pnl=None if net is None else round(net, 2),
            modelled=self.modelled, price_source=self.price_source,
            legs=(BasketLeg(self.main.tradingsymbol, "main", "SELL", self.quantity, self.main_entry, self.main_exit,
                            self.main_last),
                  BasketLeg(self.hedge.tradingsymbol, "hedge", "BUY", self.quantity, self.hedge_entry,
                            self.hedge_exit, self.hedge_last)), **extra)

    def as_dict(self) -> dict[str, Any]:
        gross, net = self.gross_pnl, self.net_pnl
        return {
            "id": self.id, "symbol": self.symbol, "signal": self.signal, "side": self.side, "lots": self.lots,
            "quantity": self.quantity, "main": self.main.tradingsymbol, "hedge": self.hedge.tradingsymbol,
            "exchange": self.main.exchange, "expiry": self.main.expiry.isoformat(), "main_strike": self.main.strike,
            "hedge_strike": self.hedge.strike, "option_type": self.main.option_type,
            "lot_size": self.main.lot_size, "main_entry": self.main_entry, "hedge_entry": self.hedge_entry,
            "main_exit": self.main_exit, "hedge_exit": self.hedge_exit, "main_qty": self.main_qty,
            "hedge_qty": self.hedge_qty, "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None, "entry_spot": self.entry_spot,
            "exit_spot": self.exit_spot, "stop_loss": self.stop_loss, "status": self.status,
            "exit_reason": self.exit_reason, "net_premium": round(self.net_premium, 2),
            "gross_pnl": None if gross is None else round(gross, 2),
            "charges": round(self.charges.total, 2), "net_pnl": None if net is None else round(net, 2),
            "price_source": self.price_source, "signal_key": self.signal_key, "modelled": self.modelled,
            "contract_modelled": self.main.modelled, "main_last": self.main_last, "hedge_last": self.hedge_last,
            "unrealised_pnl": None if self.unrealised_pnl is None else round(self.unrealised_pnl, 2),
            "marked_at": self.marked_at.isoformat() if self.marked_at else None, "mark_source": self.mark_source,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Position:
        """Rebuild a position from :meth:`as_dict` output (charges come back as a total under brokerage)."""
        expiry = date.fromisoformat(d["expiry"])

        def contract(sym: str, strike: float) -> OptionContract:
            return OptionContract(d["symbol"], sym, d["exchange"], expiry, float(strike), d["option_type"],
                                  int(d["lot_size"]),
                                  modelled=bool(d.get("contract_modelled", d.get("modelled"))))

        pos = cls(d["id"], d["symbol"], d["signal"], d["side"], int(d["lots"]), int(d["quantity"]),
                  contract(d["main"], d["main_strike"]), contract(d["hedge"], d["hedge_strike"]),
                  float(d["main_entry"]), float(d["hedge_entry"]), datetime.fromisoformat(d["opened_at"]),
                  float(d["entry_spot"]), float(d["stop_loss"]), d.get("signal_key", ""),
                  int(d["main_qty"]), int(d["hedge_qty"]))
        pos.status = d.get("status", "open")
        pos.charges = ChargeBreakdown(brokerage=float(d.get("charges") or 0.0))
        pos.price_source = d.get("price_source", "broker")
        if d.get("main_last") is not None and d.get("hedge_last") is not None and d.get("marked_at"):
            pos.mark(float(d["main_last"]), float(d["hedge_last"]), datetime.fromisoformat(d["marked_at"]),
                     str(d.get("mark_source") or ""))
        return pos


