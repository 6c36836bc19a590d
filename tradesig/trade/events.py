"""Trading events: every decision, order and fill of the engine as a frozen dataclass.

An event's ``kind`` in the events log is its type name in snake case (``BasketOpened`` → ``"basket_opened"``); its
payload is its fields (:meth:`TradeEvent.payload`). The JSON written is the schema docs/trading.md and
docs/report.md describe (the same kind strings and payload keys as before events were typed): an optional field
(default ``None``) left at ``None`` is not written, and a field named in ``_FLATTEN`` (a record of another
type, e.g. a position's ``as_dict``) is written as top-level keys.

Units: money in rupees; premiums in rupees per unit (index points); quantities in units (lots × lot size) unless
a field says lots; times aware UTC (or ISO 8601 strings of them); index levels in index points.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

__all__ = [
    "TradeEvent", "EventSink", "to_record", "EVENT_TYPES", "kind_of",
    "EngineStart", "Signal", "SignalError", "Decision", "Entry", "EntryFailed", "PositionOpened", "PositionClosed",
    "BasketLeg", "BasketOpened", "BasketClosed", "BasketMarked", "OrderPlaced", "OrderTimeout", "OrderReconciled",
    "OrderRetry", "OrderRejected", "OrderUpdate", "ExitSignal", "ExitFailed", "Risk", "KillSwitch", "ManualExit",
    "FlattenOrder", "FlattenSkip",
]


def kind_of(cls: type) -> str:
    """The events-log kind of an event type: its name in snake case (``OrderPlaced`` → ``"order_placed"``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class TradeEvent:
    """Base of the trading events (each a frozen dataclass). ``kind`` from the type name; ``payload()`` the
    JSON-ready fields (see the module docstring)."""

    _FLATTEN: ClassVar[tuple[str, ...]] = ()

    @property
    def kind(self) -> str:
        cls = type(self)
        kind = _KINDS.get(cls)
        if kind is None:
            kind = _KINDS[cls] = kind_of(cls)
        return kind

    def payload(self) -> dict[str, Any]:
        """The JSON-ready fields, in field order: a field in ``_FLATTEN`` merged as top-level keys, an optional
        field (default None) left at None omitted, a tuple of events as a list of their payloads, any other tuple
        as a list, the rest as is (:func:`_payload_function`)."""
        cls = type(self)
        build = _PAYLOADS.get(cls)
        if build is None:
            build = _PAYLOADS[cls] = _payload_function(cls)
        return build(self)


_KINDS: dict[type, str] = {}
_PLANS: dict[type, tuple[tuple[str, bool, bool], ...]] = {}
_PAYLOADS: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _value(value: Any) -> Any:
    """A non-flattened field's JSON-ready value: a tuple of events → their payloads, another tuple → a list."""
    if isinstance(value, tuple):
        if value and hasattr(value[0], "payload"):
            return [v.payload() for v in value]
        return list(value)
    return value


def _payload_function(cls: type) -> Callable[[Any], dict[str, Any]]:
    """:meth:`TradeEvent.payload` of one event type as a function written out field by field from its
    :func:`_field_plan` (as ``dataclasses`` writes ``__init__``): the walk over the plan, its look-ups by name and
    its branches cost more than the fields' values on the engine's hot path (a basket mark per open basket per
    bar). Fields whose type can hold a tuple go through :func:`_value`; the result is the same dict."""
    lines = ["def payload(self):", "    out = {}"]
    for name, flatten, optional in _field_plan(cls):
        if not name.isidentifier():
            raise ValueError(f"{cls.__name__}: field {name!r} is not an identifier")
        if flatten:
            lines.append(f"    out.update(self.{name} or {{}})")
        elif optional:
            lines += [f"    v = self.{name}", "    if v is not None:", f"        out[{name!r}] = _value(v)"]
        else:
            lines.append(f"    out[{name!r}] = _value(self.{name})")
    lines.append("    return out")
    namespace: dict[str, Any] = {"_value": _value}
    exec("\n".join(lines), namespace)  # noqa: S102 - code built from the dataclass's own field names
    return namespace["payload"]


def _field_plan(cls: type) -> tuple[tuple[str, bool, bool], ...]:
    """``(name, flattened, optional)`` of each field of an event type, in field order, computed once per type:
    what :meth:`TradeEvent.payload` walks (``optional``: the default is None, so a None value is not written)."""
    plan = _PLANS.get(cls)
    if plan is None:
        flatten = cls._FLATTEN  # type: ignore[attr-defined]
        plan = _PLANS[cls] = tuple((f.name, f.name in flatten, f.default is None) for f in fields(cls))
    return plan


#: Where the engine sends its events: the events log in paper/live (tradesig.trade.service.event_sink), a list in
#: backtests (tradesig.trade.build).
EventSink = Callable[[TradeEvent], None]


def to_record(event: TradeEvent) -> tuple[str, dict[str, Any]]:
    """``(kind, payload)`` as written to the events log."""
    return event.kind, event.payload()


# --------------------------------------------------------------------------------------------- engine life


@dataclass(frozen=True)
class EngineStart(TradeEvent):
    """``trade start`` began following the market."""

    mode: str                        #: "paper" | "live"
    symbols: tuple[str, ...]         #: index keys traded (NIFTY, BANKNIFTY …)
    strategies: tuple[str, ...]      #: S1..S8 that may trade
    lots: int                        #: lots per leg
    restored: int                    #: open baskets adopted from the previous state file


# ------------------------------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class Signal(TradeEvent):
    """An S1–S8 signal fired on an hourly close. Written as the signal's own dict (tradesig.signals.strategies.
    SignalEvent.to_dict: signal, side, symbol, bar_ts, entry_price and stop_loss in index points, option …)."""

    _FLATTEN: ClassVar[tuple[str, ...]] = ("fired",)
    fired: Mapping[str, Any]         #: SignalEvent.to_dict()


@dataclass(frozen=True)
class SignalError(TradeEvent):
    """The signal engine could not evaluate a bar (e.g. no listed expiry in a stale instruments dump)."""

    symbol: str
    bar_ts: datetime                 #: start of the hourly bar, aware UTC
    error: str


@dataclass(frozen=True)
class Decision(TradeEvent):
    """What the engine did with a signal: ``action`` "skip" | "enter" | "block", ``reason`` one line."""

    signal: str                      #: the signal's key (symbol, signal, bar)
    action: str
    reason: str


# ----------------------------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry(TradeEvent):
    """A basket is about to be entered (hedge first)."""

    position: str                    #: basket id
    signal: str                      #: the signal's key
    main: str                        #: main leg's tradingsymbol (sold)
    hedge: str                       #: hedge leg's tradingsymbol (bought)
    quantity: int                    #: units per leg
    lots: int                        #: lots per leg


@dataclass(frozen=True)
class EntryFailed(TradeEvent):
    """Nothing was opened: no contract, the broker refused, or the main leg did not fill (hedge unwound).
    ``hedge``/``unwind`` are LegFill.as_dict() records, ``charges`` a ChargeBreakdown.as_dict() (rupees)."""

    signal: str
    reason: str
    position: str | None = None
    hedge: Mapping[str, Any] | None = None
    unwind: Mapping[str, Any] | None = None
    charges: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PositionOpened(TradeEvent):
    """The engine's full record of an opened basket: the keys of tradesig.trade.position.Position.as_dict
    (prices rupees per unit, quantities units, ``charges``/P&L rupees, ``price_source``, ``modelled``)."""

    _FLATTEN: ClassVar[tuple[str, ...]] = ("basket",)
    basket: Mapping[str, Any]


@dataclass(frozen=True)
class PositionClosed(PositionOpened):
    """The engine's full record of a closed basket (as :class:`PositionOpened`, with exit prices and P&L)."""


@dataclass(frozen=True)
class BasketLeg(TradeEvent):
    """One leg of a basket as the report reads it."""

    tradingsymbol: str
    role: str                        #: "main" | "hedge"
    side: str                        #: entry side: "SELL" (main) | "BUY" (hedge)
    quantity: int                    #: units
    entry_price: float               #: rupees per unit
    exit_price: float | None         #: rupees per unit; None while open
    last_price: float | None = None  #: the latest mark, rupees per unit (BasketMarked)


@dataclass(frozen=True)
class BasketOpened(TradeEvent):
    """A basket in the shape ``tradesig report`` reads (docs/report.md)."""

    trade_id: str
    mode: str                        #: "backtest" | "paper" | "live"
    symbol: str
    signal: str                      #: S1..S8
    side: str                        #: "bullish" | "bearish"
    entry_ts: str                    #: ISO 8601, UTC
    exit_ts: str | None              #: ISO 8601, UTC; None while open
    exit_reason: str | None
    gross_pnl: float | None          #: rupees; None while open
    charges: float                   #: rupees paid so far (entry and exit orders)
    net_pnl: float | None            #: rupees; None while open
    modelled: bool                   #: some premium came from the model, not the market
    legs: tuple[BasketLeg, ...]
    price_source: str | None = None  #: e.g. "quote", "modelled (iv: flat 15.0%)", "chain+modelled (…)"


@dataclass(frozen=True)
class BasketClosed(BasketOpened):
    """A closed basket in the report's shape (exit prices, P&L and charges final)."""


@dataclass(frozen=True)
class BasketMarked(BasketOpened):
    """An open basket marked to market (paper/live: at most once a minute when a price moved; backtest: at every
    hourly close): each leg's ``last_price``, ``unrealised_pnl`` (gross, rupees, open quantity at the marks) and
    the ``charges`` paid so far; ``mark_source`` where the marks came from (e.g. "quote", "modelled (…)")."""

    unrealised_pnl: float = 0.0
    mark_source: str | None = None


# ------------------------------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class OrderPlaced(TradeEvent):
    """An order (or one auto-sliced order) the broker accepted."""

    order_ids: tuple[str, ...]
    tag: str                         #: ts<basket><leg><action><attempt><slice>
    tradingsymbol: str
    exchange: str
    transaction_type: str            #: "BUY" | "SELL"
    quantity: int                    #: units
    order_type: str                  #: "MARKET" | "LIMIT"
    autoslice: bool
    market_protection: float | None  #: percent


@dataclass(frozen=True)
class OrderTimeout(TradeEvent):
    """No answer to a placement: the order book is searched for ``tag`` before anything is re-sent."""

    tag: str
    attempt: int                     #: 1-based placement attempt
    error: str


@dataclass(frozen=True)
class OrderReconciled(TradeEvent):
    """After a timeout the order book held the tag: the order exists and is not sent again."""

    tag: str
    order_ids: tuple[str, ...]


@dataclass(frozen=True)
class OrderRetry(TradeEvent):
    """After a timeout no order carried the tag: it is sent again (``attempt``, 1-based)."""

    tag: str
    attempt: int


@dataclass(frozen=True)
class OrderRejected(TradeEvent):
    """A slice was refused (``unreachable`` True: no answer after reconciliation)."""

    tag: str
    tradingsymbol: str
    quantity: int                    #: units
    message: str
    unreachable: bool


@dataclass(frozen=True)
class OrderUpdate(TradeEvent):
    """An order's final state in the broker's book."""

    order_id: str
    tag: str | None
    tradingsymbol: str
    transaction_type: str
    status: str                      #: Kite's: COMPLETE, REJECTED, CANCELLED, OPEN …
    quantity: int                    #: units
    filled_quantity: int             #: units
    average_price: float             #: rupees per unit
    status_message: str | None
    price_source: str                #: "broker", "quote", "chain", "modelled (iv: …)"


# -------------------------------------------------------------------------------------------------- exits


@dataclass(frozen=True)
class ExitSignal(TradeEvent):
    """Why a basket is being closed: ``reason`` "strike_breach" (``close`` beyond ``strike``, index points, on
    the hourly bar ``bar_ts``), "expiry", "expired" (cash-settled at ``settlement_spot``), "profit_lock"
    (``profit_pct`` below ``floor_pct``, peak ``peak_pct``, percent of the net premium)."""

    position: str
    reason: str
    close: float | None = None
    strike: float | None = None
    bar_ts: datetime | None = None
    settlement_spot: float | None = None
    profit_pct: float | None = None
    floor_pct: float | None = None
    peak_pct: float | None = None


@dataclass(frozen=True)
class ExitFailed(TradeEvent):
    """A square-off did not complete; ``main_qty``/``hedge_qty`` units still held."""

    position: str
    reason: str
    error: str | None
    main_qty: int | None = None
    hedge_qty: int | None = None


# --------------------------------------------------------------------------------------------------- risk


@dataclass(frozen=True)
class Risk(TradeEvent):
    """A risk limit acted: ``event`` "daily_loss_breached" with the day's net P&L and the limit (rupees)."""

    event: str
    day_pnl: float
    limit: float
    flatten: bool


@dataclass(frozen=True)
class KillSwitch(TradeEvent):
    """The kill switch: ``action`` "engage" | "seen" | "release"."""

    action: str
    reason: str | None = None
    mode: str | None = None
    was_engaged: bool | None = None


@dataclass(frozen=True)
class ManualExit(TradeEvent):
    """``trade exit ID`` asked for a basket to be closed."""

    position: str
    mode: str


@dataclass(frozen=True)
class FlattenOrder(TradeEvent):
    """``trade flatten --mode live`` squared off one broker position (``quantity`` units, negative short)."""

    tradingsymbol: str
    quantity: int
    action: str                      #: "BUY" | "SELL"
    filled: int                      #: units
    status: str
    message: str | None


@dataclass(frozen=True)
class FlattenSkip(TradeEvent):
    """A broker position the flatten left alone, and why (``status``)."""

    tradingsymbol: str
    quantity: int
    action: str
    filled: int
    status: str


#: kind → event type, for readers that want typed events back.
EVENT_TYPES: dict[str, type[TradeEvent]] = {kind_of(c): c for c in (
    EngineStart, Signal, SignalError, Decision, Entry, EntryFailed, PositionOpened, PositionClosed, BasketOpened,
    BasketClosed, BasketMarked, OrderPlaced, OrderTimeout, OrderReconciled, OrderRetry, OrderRejected, OrderUpdate,
    ExitSignal, ExitFailed, Risk, KillSwitch, ManualExit, FlattenOrder, FlattenSkip)}
