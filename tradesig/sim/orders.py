"""Order matching, positions and margins of the sim (Kite's REST shapes, kite_mocks/*.json).

Units: prices rupees, quantities in units (not lots). Times are sim time (aware), shown as IST text.

Rules (docs/sim.md, "Orders"):

* Validation answered at once with HTTP 400 ``InputException`` (no order is created): unknown instrument, an index
  (not tradable), variety other than regular/iceberg, order type other than MARKET/LIMIT, a quantity that is not a
  multiple of the lot size, a LIMIT price off the tick grid, a MARKET order without ``market_protection`` (Kite,
  since April 2026), a quantity above the largest legal slice (the largest lot multiple strictly below the freeze
  quantity) without ``autoslice``, or an autoslice of more than 10 slices.
* An accepted order gets an id at once (status ``OPEN PENDING``); after ``latency`` (sim time) it is checked
  against margin (and the ``reject_next_order`` fault) and becomes ``REJECTED`` or ``OPEN``; an open order fills
  against the simulated depth (market: every level within ``market_protection`` % of LTP, -1 = 2 %; limit: levels
  at or better than its price). Depth consumed in a minute stays consumed, so large orders fill partially across
  minutes (postback ``UPDATE``) until ``COMPLETE``. ``IOC`` orders cancel their remainder. Postbacks are sent for
  OPEN, UPDATE, COMPLETE, CANCELLED and REJECTED, as Kite does.
* Margins (modelled, not SPAN): buying an option blocks its premium; selling an option or either side of a
  future blocks SPAN ≈ 9 % + exposure 2 % of the notional (spot × quantity). A basket's ``final`` margin caps a
  short option hedged by a long one of the same underlying, expiry and type at the strike width × quantity.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tradesig.clock import IST
from tradesig.sim.instruments import Catalog, Instrument
from tradesig.sim.market import MarketState, round_to_tick

SPAN_PCT = 0.09
EXPOSURE_PCT = 0.02
AUTO_PROTECTION_PCT = 2.0
MAX_AUTOSLICES = 10


class OrderError(Exception):
    """A request Kite would refuse: ``status`` HTTP code, ``error_type`` Kite's exception name."""

    def __init__(self, message: str, error_type: str = "InputException", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status


def ist_text(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Order:
    """One order: ``rec`` is its Kite record (orders.json shape); ``history`` the snapshots of each change."""

    rec: dict[str, Any]
    ins: Instrument
    due: datetime
    protection: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    fill_value: float = 0.0

    @property
    def id(self) -> str:
        return self.rec["order_id"]

    def snapshot(self) -> dict[str, Any]:
        snap = dict(self.rec)
        snap["meta"] = dict(snap.get("meta") or {})
        self.history.append(snap)
        return snap


@dataclass
class Position:
    ins: Instrument
    product: str
    buy_qty: int = 0
    buy_value: float = 0.0
    sell_qty: int = 0
    sell_value: float = 0.0


def _one(params: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    v = params.get(name)
    return v[0] if v else default


class OrderBook:
    """The sim's order book for one user.

    ``freeze`` maps index key → freeze quantity (units); ``capital`` rupees; ``latency`` sim-time delay before an
    order is open; ``api_secret`` signs postbacks (checksum = sha256(order_id + order_timestamp + api_secret)).
    """

    def __init__(self, catalog: Catalog, market: MarketState, *, freeze: dict[str, int], capital: float = 1_000_000.0,
                 latency: timedelta = timedelta(milliseconds=200), user_id: str = "SIM001",
                 api_secret: str = "", day_prefix: str = "24") -> None:
        self.catalog = catalog
        self.market = market
        self.freeze = freeze
        self.capital = capital
        self.latency = latency
        self.user_id = user_id
        self.api_secret = api_secret
        self.orders: dict[str, Order] = {}
        self.trades: list[dict[str, Any]] = []
        self.positions: dict[tuple[int, str], Position] = {}
        self.reject_next: str | None = None
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._prefix = day_prefix
        self._consumed: dict[tuple[int, int, str, int], int] = {}

    # -------------------------------------------------------------------------------------------- placing

    def _new_id(self) -> str:
        return f"{self._prefix}{next(self._ids):09d}"

    def max_slice(self, ins: Instrument) -> int:
        """Largest legal order quantity: the largest lot multiple strictly below the freeze quantity."""
        freeze = self.freeze.get(ins.underlying, 10**9)
        lot = max(ins.lot_size, 1)
        return ((freeze - 1) // lot) * lot

    def _validate(self, variety: str, p: dict[str, list[str]]) -> tuple[Instrument, dict[str, Any], float]:
        if variety not in ("regular", "iceberg"):
            raise OrderError(f"Order variety `{variety}` is not supported by the sim (regular, iceberg).")
        exchange, symbol = _one(p, "exchange"), _one(p, "tradingsymbol")
        if not exchange or not symbol:
            raise OrderError("Missing `exchange` or `tradingsymbol`.")
        ins = self.catalog.by_symbol(exchange, symbol)
        if ins is None:
            raise OrderError("The instrument you are placing an order for has either expired or does not exist.")
        if ins.is_index:
            raise OrderError(f"{symbol} is an index and cannot be traded.")
        side = _one(p, "transaction_type")
        if side not in ("BUY", "SELL"):
            raise OrderError("Invalid `transaction_type`.")
        otype = _one(p, "order_type")
        if otype not in ("MARKET", "LIMIT"):
            raise OrderError(f"Order type `{otype}` is not supported by the sim (MARKET, LIMIT).")
        product = _one(p, "product", "")
        if product not in ("MIS", "NRML"):
            raise OrderError("Invalid `product` for F&O (MIS or NRML).")
        try:
            qty = int(_one(p, "quantity", "0") or 0)
        except ValueError:
            raise OrderError("Invalid `quantity`.") from None
        if qty <= 0:
            raise OrderError("Invalid `quantity`.")
        if qty % max(ins.lot_size, 1):
            raise OrderError(f"Quantity should be a multiple of the lot size ({ins.lot_size}).")
        price = 0.0
        if otype == "LIMIT":
            try:
                price = float(_one(p, "price", "0") or 0)
            except ValueError:
                raise OrderError("Invalid `price`.") from None
            tick = ins.tick_size or 0.05
            if price <= 0 or abs(round(price / tick) * tick - price) > 1e-6:
                raise OrderError(f"Price should be a positive multiple of the tick size ({tick}).")
        protection = 0.0
        if otype == "MARKET":
            mp = _one(p, "market_protection")
            if mp in (None, "", "0"):
                raise OrderError("Market orders without market protection are not allowed. "
                                 "Set `market_protection` (-1 for automatic, or 1-100 %).")
            try:
                protection = float(mp)
            except ValueError:
                raise OrderError("Invalid `market_protection`.") from None
            if protection == -1:
                protection = AUTO_PROTECTION_PCT
            elif not 0 < protection <= 100:
                raise OrderError("`market_protection` must be -1 or between 0 and 100.")
        validity = _one(p, "validity", "DAY") or "DAY"
        if validity not in ("DAY", "IOC"):
            raise OrderError("Invalid `validity` (DAY or IOC).")
        rec = {"exchange": exchange, "tradingsymbol": symbol, "instrument_token": ins.instrument_token,
               "transaction_type": side, "order_type": otype, "product": product, "quantity": qty,
               "price": price, "validity": validity, "tag": _one(p, "tag"),
               "disclosed_quantity": int(_one(p, "disclosed_quantity", "0") or 0),
               "market_protection": float(_one(p, "market_protection", "0") or 0)}
        return ins, rec, protection

    def place(self, variety: str, params: dict[str, list[str]], now: datetime) -> dict[str, Any]:
        """Place an order (or an autoslice): returns Kite's ``data`` — ``{"order_id"}`` or, with
        ``autoslice=true``, ``{"order_id", "children": [{"order_id"} | {"error": {...}}]}``.

        Raises :class:`OrderError` for a request Kite would refuse (see module doc).
        """
        ins, rec, protection = self._validate(variety, params)
        autoslice = (_one(params, "autoslice", "") or "").lower() in ("true", "1")
        limit = self.max_slice(ins)
        qty = rec["quantity"]
        if variety == "iceberg":
            legs = int(_one(params, "iceberg_legs", "0") or 0)
            if not 2 <= legs <= 50:
                raise OrderError("`iceberg_legs` must be between 2 and 50.")
            if -(-qty // legs) > limit:
                raise OrderError(f"Iceberg leg quantity exceeds the freeze limit ({limit}).")
        elif qty > limit and not autoslice:
            raise OrderError(f"Quantity {qty} exceeds the freeze limit: the largest order for {ins.tradingsymbol} "
                             f"is {limit}. Split the order or use autoslice.")
        if autoslice and qty > limit:
            n = -(-qty // limit)
            if n > MAX_AUTOSLICES:
                raise OrderError(f"Autoslice would need {n} slices; at most {MAX_AUTOSLICES} are allowed.")
            parent = self._new_id()
            children = []
            left = qty
            while left > 0:
                part = min(limit, left)
                left -= part
                child = self._create(variety, ins, {**rec, "quantity": part}, protection, now, parent)
                children.append({"order_id": child.id})
            return {"order_id": parent, "children": children}
        order = self._create(variety, ins, rec, protection, now, None)
        if autoslice:
            return {"order_id": order.id, "children": [{"order_id": order.id}]}
        return {"order_id": order.id}

    def _create(self, variety: str, ins: Instrument, rec: dict[str, Any], protection: float, now: datetime,
                parent: str | None) -> Order:
        oid = self._new_id()
        full = {"placed_by": self.user_id, "order_id": oid, "exchange_order_id": None, "parent_order_id": parent,
                "status": "PUT ORDER REQ RECEIVED", "status_message": None, "status_message_raw": None,
                "order_timestamp": ist_text(now), "exchange_update_timestamp": None, "exchange_timestamp": None,
                "variety": variety, "modified": False, **rec, "trigger_price": 0, "average_price": 0,
                "filled_quantity": 0, "pending_quantity": rec["quantity"], "cancelled_quantity": 0, "meta": {},
                "guid": f"sim{oid}"}
        order = Order(full, ins, now + self.latency, protection)
        for status in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"):
            order.rec["status"] = status
            order.snapshot()
        self.orders[oid] = order
        return order

    def _get(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise OrderError(f"Couldn't find that `order_id` ({order_id}).", "InputException", 400)
        return order

    def modify(self, variety: str, order_id: str, params: dict[str, list[str]], now: datetime) -> list[dict]:
        """Modify an open order's quantity/price/order_type/validity; returns the postbacks (UPDATE).

        Raises :class:`OrderError` when the order is unknown, not open, or the change is invalid."""
        order = self._get(order_id)
        if order.rec["status"] not in ("OPEN", "OPEN PENDING"):
            raise OrderError(f"Order cannot be modified as it is in {order.rec['status']} state.")
        rec = order.rec
        merged = {"exchange": [rec["exchange"]], "tradingsymbol": [rec["tradingsymbol"]],
                  "transaction_type": [rec["transaction_type"]], "product": [rec["product"]],
                  "order_type": [_one(params, "order_type", rec["order_type"])],
                  "quantity": [_one(params, "quantity", str(rec["quantity"]))],
                  "price": [_one(params, "price", str(rec["price"]))],
                  "validity": [_one(params, "validity", rec["validity"])],
                  "market_protection": [_one(params, "market_protection", str(rec["market_protection"] or ""))]}
        _, new, protection = self._validate(variety, merged)
        if new["quantity"] < rec["filled_quantity"]:
            raise OrderError("New quantity is below the filled quantity.")
        for k in ("order_type", "quantity", "price", "validity", "market_protection"):
            rec[k] = new[k]
        order.protection = protection
        rec["pending_quantity"] = rec["quantity"] - rec["filled_quantity"]
        rec["modified"] = True
        rec["exchange_update_timestamp"] = ist_text(now)
        return [self._postback(order, "UPDATE")]

    def cancel(self, variety: str, order_id: str, now: datetime) -> list[dict]:
        """Cancel an open order; returns the CANCELLED postback. Raises :class:`OrderError` when not open."""
        order = self._get(order_id)
        if order.rec["status"] not in ("OPEN", "OPEN PENDING"):
            raise OrderError(f"Order cannot be cancelled as it is in {order.rec['status']} state.")
        return [self._finish(order, "CANCELLED", now, None)]

    # ------------------------------------------------------------------------------------------- matching

    def next_due(self) -> datetime | None:
        pending = [o.due for o in self.orders.values() if o.rec["status"] == "OPEN PENDING"]
        return min(pending) if pending else None

    def has_open(self) -> bool:
        return any(o.rec["status"] == "OPEN" for o in self.orders.values())

    def step(self, now: datetime) -> list[dict[str, Any]]:
        """Advance every order to sim time ``now``; returns the postbacks (order snapshots) to send, in order."""
        out: list[dict[str, Any]] = []
        for order in list(self.orders.values()):
            status = order.rec["status"]
            if status == "OPEN PENDING" and now >= order.due:
                reason = self._rms_reject(order, now)
                if reason is not None:
                    out.append(self._finish(order, "REJECTED", now, reason))
                    continue
                order.rec["status"] = "OPEN"
                order.rec["exchange_order_id"] = f"1{order.id[-15:].rjust(15, '0')}"
                order.rec["exchange_timestamp"] = order.rec["exchange_update_timestamp"] = ist_text(now)
                out.append(self._postback(order, "OPEN"))
                status = "OPEN"
            if status == "OPEN":
                out.extend(self._match(order, now))
        return out

    def _rms_reject(self, order: Order, now: datetime) -> str | None:
        if self.reject_next is not None:
            reason, self.reject_next = self.reject_next, None
            return reason
        need = self._order_margin(order.ins, order.rec["transaction_type"], order.rec["quantity"], now,
                                  order.rec["price"])
        if need <= 0:
            return None
        avail = self.margins(now)["equity"]["net"]
        if need > avail:
            return (f"Insufficient funds. Required margin is {need:.2f} but available margin is {avail:.2f}.")
        return None

    def _match(self, order: Order, now: datetime) -> list[dict[str, Any]]:
        rec = order.rec
        ltp = self.market.price(order.ins, now)
        if ltp is None:
            return []
        depth = self.market.depth(order.ins, ltp, now)
        buy = rec["transaction_type"] == "BUY"
        levels = depth["sell"] if buy else depth["buy"]
        if rec["order_type"] == "MARKET":
            bound = ltp * (1 + order.protection / 100) if buy else ltp * (1 - order.protection / 100)
        else:
            bound = rec["price"]
        minute = int(now.timestamp()) // 60
        out = []
        filled_now = 0
        for k, lvl in enumerate(levels):
            left = rec["pending_quantity"]
            if left <= 0 or lvl["quantity"] <= 0:
                break
            price = float(lvl["price"])
            if (buy and price > bound + 1e-9) or (not buy and price < bound - 1e-9):
                break
            key = (order.ins.instrument_token, minute, "s" if buy else "b", k)
            avail = int(lvl["quantity"]) - self._consumed.get(key, 0)
            lot = max(order.ins.lot_size, 1)
            take = min(left, (avail // lot) * lot)
            if take <= 0:
                continue
            self._consumed[key] = self._consumed.get(key, 0) + take
            self._fill(order, take, price, now)
            filled_now += take
        if filled_now:
            status = "COMPLETE" if rec["pending_quantity"] == 0 else "UPDATE"
            if status == "COMPLETE":
                out.append(self._finish(order, "COMPLETE", now, None))
            else:
                out.append(self._postback(order, "UPDATE"))
        if rec["status"] == "OPEN" and rec["validity"] == "IOC":
            out.append(self._finish(order, "CANCELLED", now, None))
        return out

    def _fill(self, order: Order, qty: int, price: float, now: datetime) -> None:
        rec = order.rec
        rec["filled_quantity"] += qty
        rec["pending_quantity"] -= qty
        order.fill_value += qty * price
        rec["average_price"] = round(order.fill_value / rec["filled_quantity"], 2)
        rec["exchange_update_timestamp"] = ist_text(now)
        self.trades.append({"trade_id": f"{next(self._trade_ids):08d}", "order_id": order.id,
                            "exchange": rec["exchange"], "tradingsymbol": rec["tradingsymbol"],
                            "instrument_token": rec["instrument_token"], "product": rec["product"],
                            "average_price": price, "quantity": qty, "exchange_order_id": rec["exchange_order_id"],
                            "transaction_type": rec["transaction_type"], "fill_timestamp": ist_text(now),
                            "order_timestamp": ist_text(now)[11:], "exchange_timestamp": ist_text(now)})
        pos = self.positions.setdefault((order.ins.instrument_token, rec["product"]),
                                        Position(order.ins, rec["product"]))
        if rec["transaction_type"] == "BUY":
            pos.buy_qty += qty
            pos.buy_value += qty * price
        else:
            pos.sell_qty += qty
            pos.sell_value += qty * price

    def _finish(self, order: Order, status: str, now: datetime, message: str | None) -> dict[str, Any]:
        rec = order.rec
        if status in ("CANCELLED", "REJECTED"):
            rec["cancelled_quantity"] = rec["pending_quantity"] if status == "CANCELLED" else 0
            rec["pending_quantity"] = 0 if status == "CANCELLED" else rec["pending_quantity"]
            if status == "REJECTED":
                rec["pending_quantity"] = 0
        rec["status_message"] = message
        rec["status_message_raw"] = message
        rec["exchange_update_timestamp"] = ist_text(now)
        return self._postback(order, status)

    def _postback(self, order: Order, status: str) -> dict[str, Any]:
        """Record a status change and return the postback payload (kite_mocks/postback.json shape)."""
        rec = order.rec
        if status != "UPDATE":
            rec["status"] = status
        snap = order.snapshot()
        if status == "UPDATE":
            snap["status"] = "UPDATE"
        checksum = hashlib.sha256((rec["order_id"] + rec["order_timestamp"] + self.api_secret).encode()).hexdigest()
        return {"user_id": self.user_id, "unfilled_quantity": rec["pending_quantity"], "app_id": 0,
                "checksum": checksum, **snap}

    # ------------------------------------------------------------------------------------------ reporting

    def order_list(self) -> list[dict[str, Any]]:
        return [dict(o.rec) for o in self.orders.values()]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        return [h for h in self._get(order_id).history if h["status"] != "UPDATE"]

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        self._get(order_id)
        return [t for t in self.trades if t["order_id"] == order_id]

    def position_rows(self, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """Kite's /portfolio/positions ``{"net": [...], "day": [...]}`` (intraday sim: both the same)."""
        rows = []
        for pos in self.positions.values():
            ltp = self.market.price(pos.ins, now) or 0.0
            close = self.market.day_ohlc(pos.ins, now)["close"]
            qty = pos.buy_qty - pos.sell_qty
            value = pos.sell_value - pos.buy_value
            pnl = value + qty * ltp
            buy_avg = pos.buy_value / pos.buy_qty if pos.buy_qty else 0.0
            sell_avg = pos.sell_value / pos.sell_qty if pos.sell_qty else 0.0
            closed = min(pos.buy_qty, pos.sell_qty)
            realised = closed * (sell_avg - buy_avg)
            avg = buy_avg if qty > 0 else sell_avg if qty < 0 else 0.0
            rows.append({"tradingsymbol": pos.ins.tradingsymbol, "exchange": pos.ins.exchange,
                         "instrument_token": pos.ins.instrument_token, "product": pos.product, "quantity": qty,
                         "overnight_quantity": 0, "multiplier": 1, "average_price": round(avg, 4),
                         "close_price": close, "last_price": ltp, "value": round(value, 2), "pnl": round(pnl, 2),
                         "m2m": round(pnl, 2), "unrealised": round(pnl - realised, 2), "realised": round(realised, 2),
                         "buy_quantity": pos.buy_qty, "buy_price": round(buy_avg, 4),
                         "buy_value": round(pos.buy_value, 2), "buy_m2m": round(pos.buy_value, 2),
                         "sell_quantity": pos.sell_qty, "sell_price": round(sell_avg, 4),
                         "sell_value": round(pos.sell_value, 2), "sell_m2m": round(pos.sell_value, 2),
                         "day_buy_quantity": pos.buy_qty, "day_buy_price": round(buy_avg, 4),
                         "day_buy_value": round(pos.buy_value, 2), "day_sell_quantity": pos.sell_qty,
                         "day_sell_price": round(sell_avg, 4), "day_sell_value": round(pos.sell_value, 2)})
        return {"net": rows, "day": [dict(r) for r in rows]}

    # --------------------------------------------------------------------------------------------- margins

    def _order_margin(self, ins: Instrument, side: str, qty: int, now: datetime, price: float = 0.0) -> float:
        """Margin one order blocks (rupees, modelled; see module doc); 0 when it only reduces a position."""
        net = sum(p.buy_qty - p.sell_qty for (tok, _), p in self.positions.items() if tok == ins.instrument_token)
        signed = qty if side == "BUY" else -qty
        if net and (net > 0) != (signed > 0) and abs(signed) <= abs(net):
            return 0.0
        span, exposure, premium = self._components(ins, side, qty, now, price)
        return span + exposure + premium

    def _components(self, ins: Instrument, side: str, qty: int, now: datetime,
                    price: float = 0.0) -> tuple[float, float, float]:
        spot = self.market.spot(ins.underlying) or 0.0
        if ins.instrument_type in ("CE", "PE") and side == "BUY":
            px = price or self.market.price(ins, now) or 0.0
            return 0.0, 0.0, round(px * qty, 2)
        notional = spot * qty
        return round(notional * SPAN_PCT, 2), round(notional * EXPOSURE_PCT, 2), 0.0

    def utilised(self, now: datetime) -> dict[str, float]:
        span = exposure = premium = 0.0
        for pos in self.positions.values():
            qty = pos.buy_qty - pos.sell_qty
            if qty == 0:
                continue
            s, e, p = self._components(pos.ins, "BUY" if qty > 0 else "SELL", abs(qty), now,
                                       pos.buy_value / pos.buy_qty if qty > 0 and pos.buy_qty else 0.0)
            span, exposure, premium = span + s, exposure + e, premium + p
        return {"span": span, "exposure": exposure, "option_premium": premium}

    def margins(self, now: datetime) -> dict[str, Any]:
        """Kite's /user/margins (kite_mocks/margins.json shape); equity only carries money."""
        rows = self.position_rows(now)["net"]
        realised = sum(r["realised"] for r in rows)
        unrealised = sum(r["unrealised"] for r in rows)
        u = self.utilised(now)
        debits = u["span"] + u["exposure"] + u["option_premium"]
        net = self.capital + realised + min(unrealised, 0) - debits
        zero_util = {k: 0 for k in ("debits", "exposure", "m2m_realised", "m2m_unrealised", "option_premium",
                                    "payout", "span", "holding_sales", "turnover", "liquid_collateral",
                                    "stock_collateral", "delivery")}
        return {"equity": {"enabled": True, "net": round(net, 2),
                           "available": {"adhoc_margin": 0, "cash": self.capital, "opening_balance": self.capital,
                                         "live_balance": round(net, 2), "collateral": 0, "intraday_payin": 0},
                           "utilised": {**zero_util, "debits": round(debits, 2), "exposure": round(u["exposure"], 2),
                                        "m2m_realised": round(realised, 2), "m2m_unrealised": round(unrealised, 2),
                                        "option_premium": round(u["option_premium"], 2),
                                        "span": round(u["span"], 2)}},
                "commodity": {"enabled": False, "net": 0,
                              "available": {"adhoc_margin": 0, "cash": 0, "opening_balance": 0, "live_balance": 0,
                                            "collateral": 0, "intraday_payin": 0}, "utilised": dict(zero_util)}}

    def basket(self, orders: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
        """Kite's /margins/basket (kite_mocks/basket_margins.json shape), modelled (see module doc).

        Raises :class:`OrderError` for an unknown instrument."""
        per = []
        legs = []
        for o in orders:
            ins = self.catalog.by_symbol(str(o.get("exchange")), str(o.get("tradingsymbol")))
            if ins is None or ins.is_index:
                raise OrderError(f"Unknown instrument {o.get('exchange')}:{o.get('tradingsymbol')}.")
            side = str(o.get("transaction_type", "BUY"))
            qty = int(o.get("quantity", 0))
            s, e, p = self._components(ins, side, qty, now, float(o.get("price") or 0))
            legs.append((ins, side, qty, s, e, p))
            per.append(_margin_row(ins, s, e, p))
        initial = _sum_rows(per)
        # hedge benefit: short option legs covered by long legs of the same underlying/expiry/type
        final_span = final_exp = 0.0
        longs = [(ins, q) for ins, side, q, *_ in legs if side == "BUY" and ins.instrument_type in ("CE", "PE")]
        for ins, side, qty, s, e, _ in legs:
            if side == "SELL" and ins.instrument_type in ("CE", "PE"):
                hedges = [h for h, q in longs if h.underlying == ins.underlying and h.expiry == ins.expiry
                          and h.instrument_type == ins.instrument_type and q >= qty]
                if hedges:
                    width = min(abs(h.strike - ins.strike) for h in hedges) * qty
                    if width < s + e:
                        final_span += width
                        continue
            final_span += s
            final_exp += e
        net_premium = sum(p for *_, p in legs) - sum(
            (self.market.price(ins, now) or 0.0) * qty for ins, side, qty, *_ in legs
            if side == "SELL" and ins.instrument_type in ("CE", "PE"))
        final = _margin_row(None, round(final_span, 2), round(final_exp, 2), round(net_premium, 2))
        final["total"] = round(final_span + final_exp + max(net_premium, 0.0), 2)
        return {"initial": initial, "final": final, "orders": per, "charges": _zero_charges()}


def _zero_charges() -> dict[str, Any]:
    return {"transaction_tax": 0, "transaction_tax_type": "", "exchange_turnover_charge": 0,
            "sebi_turnover_charge": 0, "brokerage": 0, "stamp_duty": 0,
            "gst": {"igst": 0, "cgst": 0, "sgst": 0, "total": 0}, "total": 0}


def _margin_row(ins: Instrument | None, span: float, exposure: float, premium: float) -> dict[str, Any]:
    return {"type": "equity" if ins else "", "tradingsymbol": ins.tradingsymbol if ins else "",
            "exchange": ins.exchange if ins else "", "span": span, "exposure": exposure, "option_premium": premium,
            "additional": 0, "bo": 0, "cash": 0, "var": 0, "pnl": {"realised": 0, "unrealised": 0},
            "leverage": 1 if ins else 0, "charges": _zero_charges(), "total": round(span + exposure + premium, 2)}


def _sum_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = _margin_row(None, round(sum(r["span"] for r in rows), 2), round(sum(r["exposure"] for r in rows), 2),
                      round(sum(r["option_premium"] for r in rows), 2))
    return out


__all__ = ["OrderBook", "OrderError", "Order", "round_to_tick"]
