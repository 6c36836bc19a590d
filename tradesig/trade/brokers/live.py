"""Live broker: Kite Connect through the official ``kiteconnect`` client (``tradesig.broker.kite.make_kite``),
against Kite or ``tradesig sim``.

Errors: every kiteconnect/requests failure goes through :func:`tradesig.broker.kite.map_kite_error`, except that
an order placement whose outcome is unknown — a request timeout, a dropped connection, a Kite
``NetworkException`` (gateway 502/503/504) — raises :class:`~tradesig.trade.broker.OrderTimeout` so the order
manager reconciles by tag before any retry.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kiteconnect.exceptions as kex
import requests

from tradesig.broker.kite import KITE_ERRORS, map_kite_error
from tradesig.clock import IST
from tradesig.trade.broker import BrokerPosition, OrderRequest, OrderState, OrderTimeout, Quote
from tradesig.trade.instruments import InstrumentBook
from tradesig.trade.quotes import is_modelled, modelled_source

__all__ = ["LiveBroker"]

log = logging.getLogger(__name__)


def _aware(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=IST).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None


class LiveBroker:
    """A :class:`~tradesig.trade.broker.Broker` over a ``kiteconnect.KiteConnect`` client.

    ``autoslice``: use Kite's ``autoslice=true`` for above-freeze orders (at most 10 slices); ``root`` is named
    in error messages. ``quote_source``: the label of the prices :meth:`quote` returns ("quote"; against a sim
    whose option prices are modelled, a modelled label, tradesig.trade.quotes.modelled_source). A quote entry
    that says ``"modelled": true`` itself is labelled modelled with its ``iv_source``."""

    name = "live"

    def __init__(self, kite: Any, *, autoslice: bool = True, root: str | None = None,
                 quote_source: str = "quote") -> None:
        self.kite = kite
        self.supports_autoslice = autoslice
        self.root = root or getattr(kite, "root", None)
        self.quote_source = quote_source

    @property
    def fill_source(self) -> str:
        """The ``price_source`` of the order book's fills: "broker", or the modelled label of ``quote_source``
        (fills at a sim whose option prices are modelled are modelled too)."""
        return self.quote_source if is_modelled(self.quote_source) else "broker"

    def _params(self, r: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "variety": r.variety, "exchange": r.exchange, "tradingsymbol": r.tradingsymbol,
            "transaction_type": r.transaction_type, "quantity": r.quantity, "product": r.product,
            "order_type": r.order_type, "tag": r.tag,
        }
        if r.order_type == "LIMIT":
            params["price"] = r.price
        if r.order_type == "MARKET" and r.market_protection is not None:
            params["market_protection"] = r.market_protection
        return params

    def _place(self, call: Any, request: OrderRequest) -> Any:
        try:
            return call(**self._params(request))
        except (requests.Timeout, requests.ConnectionError, kex.NetworkException) as exc:
            raise OrderTimeout(f"no answer to order {request.tag} from Kite at {self.root}: "
                               f"{type(exc).__name__}", "reconciling against the order book") from exc
        except KITE_ERRORS as exc:
            raise map_kite_error(exc, context="order", root=self.root) from exc

    def place_order(self, request: OrderRequest) -> str:
        return str(self._place(self.kite.place_order, request))

    def place_autoslice_order(self, request: OrderRequest) -> list[str]:
        """Kite auto-slicing: returns the child order ids (children that failed are logged and skipped; the
        book shows them REJECTED)."""
        response = self._place(self.kite.place_autoslice_order, request)
        children = response.get("children") or [] if isinstance(response, dict) else []
        ids = [str(c["order_id"]) for c in children if c.get("order_id")]
        for child in children:
            if "error" in child:
                log.warning("autoslice child of %s failed: %s", request.tag, child["error"])
        if not ids and isinstance(response, dict) and response.get("order_id"):
            ids = [str(response["order_id"])]
        return ids

    def _call(self, fn: Any, *args: Any, context: str = "data", **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KITE_ERRORS as exc:
            raise map_kite_error(exc, context=context, root=self.root) from exc

    def modify_order(self, order_id: str, *, quantity: int | None = None, price: float | None = None,
                     order_type: str | None = None) -> str:
        return str(self._call(self.kite.modify_order, "regular", order_id, quantity=quantity, price=price,
                              order_type=order_type, context="order"))

    def cancel_order(self, order_id: str) -> str:
        return str(self._call(self.kite.cancel_order, "regular", order_id, context="order"))

    def orders(self) -> list[OrderState]:
        rows = self._call(self.kite.orders) or []
        out = []
        for o in rows:
            out.append(OrderState(
                order_id=str(o.get("order_id")), tag=o.get("tag"), tradingsymbol=o.get("tradingsymbol", ""),
                exchange=o.get("exchange", ""), transaction_type=o.get("transaction_type", ""),
                quantity=int(o.get("quantity") or 0), filled_quantity=int(o.get("filled_quantity") or 0),
                average_price=float(o.get("average_price") or 0.0), status=str(o.get("status") or ""),
                status_message=o.get("status_message"), order_timestamp=_aware(o.get("order_timestamp")),
                parent_order_id=o.get("parent_order_id"), price_source=self.fill_source))
        return out

    def positions(self) -> list[BrokerPosition]:
        data = self._call(self.kite.positions) or {}
        return [BrokerPosition(tradingsymbol=p.get("tradingsymbol", ""), exchange=p.get("exchange", ""),
                               product=p.get("product", ""), quantity=int(p.get("quantity") or 0),
                               average_price=float(p.get("average_price") or 0.0),
                               last_price=float(p.get("last_price") or 0.0), pnl=float(p.get("pnl") or 0.0))
                for p in data.get("net", [])]

    def quote(self, instruments: list[str]) -> dict[str, Quote]:
        data = self._call(self.kite.quote, instruments) or {}
        out = {}
        for key, q in data.items():
            depth = q.get("depth") or {}
            bid = ((depth.get("buy") or [{}])[0].get("price")) or None
            ask = ((depth.get("sell") or [{}])[0].get("price")) or None
            ts = _aware(q.get("timestamp")) or _aware(q.get("last_trade_time"))
            if ts is None or q.get("last_price") is None:
                continue
            source = modelled_source(str(q.get("iv_source") or "")) if q.get("modelled") else self.quote_source
            if key.split(":", 1)[0] in ("NSE", "BSE") and not q.get("modelled"):
                source = "quote"  # index and equity prices are the recorded market's, never modelled
            out[key] = Quote(ltp=float(q["last_price"]), ts=ts, bid=bid, ask=ask, source=source)
        return out

    def instruments(self, exchanges: tuple[str, ...] = ("NFO", "BFO")) -> InstrumentBook:
        """The instruments dump of the derivative exchanges (``GET /instruments/NFO`` …) as an
        :class:`InstrumentBook`. Raises :class:`BrokerError` when unreachable."""
        rows: list[dict[str, Any]] = []
        for exchange in exchanges:
            rows.extend(self._call(self.kite.instruments, exchange) or [])
        return InstrumentBook(rows)
