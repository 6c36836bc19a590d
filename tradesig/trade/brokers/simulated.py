"""The fill model shared by the paper and backtest brokers: an in-memory order book and net positions, market
orders filled against a :class:`~tradesig.trade.quotes.QuoteSource` after a latency, with adverse slippage and
Zerodha charges (tradesig.trade.charges).

Rules (documented in docs/trading.md):
- An order is refused (status REJECTED) when its quantity is not a positive lot multiple or is at/above the
  freeze quantity (the exchange's rule), or the contract is unknown.
- A MARKET order fills in full once ``latency_seconds`` of market time (the clock's ``now``: scaled with a
  replay, so a fast replay does not stretch the exchange's latency) have passed since placement *and* a quote no
  older than ``max_quote_age_seconds`` exists (or, for a source that cannot refresh faster — REST quotes during a
  fast replay — no older than the quote's ``extra["refresh_seconds"]``); until then it stays OPEN (a stale quote
  is never filled against).
- Fill price: BUY at the ask (LTP without depth) + ``slippage_ticks`` × 0.05; SELL at the bid (LTP) −
  slippage, floored at one tick. LIMIT orders fill at their price when the quote crosses it.
- Every fill carries its charges (brokerage per executed order, STT, exchange, SEBI, stamp, GST) and the
  quote's ``source`` ("quote", "chain" or "modelled").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tradesig.clock import Clock, ist_date
from tradesig.errors import OrderRejected
from tradesig.trade.broker import BUY, SELL, BrokerPosition, OrderRequest, OrderState, Quote
from tradesig.trade.charges import ChargeBreakdown, RateTable, order_charges
from tradesig.trade.instruments import InstrumentSource, OptionContract
from tradesig.trade.quotes import MIN_PREMIUM, QuoteSource, quote_many

__all__ = ["SimulatedBroker", "SimFill"]

TICK = 0.05


def _b36(value: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
        if not value:
            return out


@dataclass(frozen=True)
class SimFill:
    """One execution: ``quantity`` units at ``price`` rupees, ``charges`` of that executed order."""

    order_id: str
    tag: str | None
    tradingsymbol: str
    exchange: str
    transaction_type: str
    quantity: int
    price: float
    ts: datetime
    charges: ChargeBreakdown
    price_source: str


@dataclass
class _Pos:
    quantity: int = 0
    average_price: float = 0.0
    realised: float = 0.0
    exchange: str = "NFO"


class SimulatedBroker:
    """A :class:`~tradesig.trade.broker.Broker` that fills against quotes. See the module docstring.

    ``freeze_quantity(symbol) -> units``; ``rates`` the dated charges table; ``name`` "paper" or "backtest".
    """

    supports_autoslice = False

    def __init__(self, clock: Clock, quotes: QuoteSource, instruments: InstrumentSource, *,
                 freeze_quantity: Callable[[str], int], rates: RateTable, name: str = "simulated",
                 latency_seconds: float = 0.0, slippage_ticks: int = 0,
                 max_quote_age_seconds: float | None = None) -> None:
        self.clock = clock
        self.quotes = quotes
        self.instruments = instruments
        self.freeze_quantity = freeze_quantity
        self.rates = rates
        self.name = name
        self.latency = latency_seconds
        self.slippage = slippage_ticks * TICK
        self.max_age = max_quote_age_seconds
        self._orders: dict[str, OrderState] = {}
        self._open: dict[str, None] = {}   # ids of OPEN orders, in placement order (what _process looks at)
        self._placed_at: dict[str, datetime] = {}
        self._requests: dict[str, OrderRequest] = {}
        self._positions: dict[str, _Pos] = {}
        self.fills: list[SimFill] = []
        self._seq = 0
        # order ids unique across restarts of a paper engine on one day: name + start second (base 36) + sequence
        self._session = _b36(int(clock.now().timestamp()))

    # ------------------------------------------------------------------------------------------ orders

    def _contract(self, tradingsymbol: str) -> OptionContract | None:
        return self.instruments.by_tradingsymbol(tradingsymbol)

    def place_order(self, request: OrderRequest) -> str:
        """Accept an order (OPEN, or REJECTED with a reason in the book); returns its id. Raises
        :class:`OrderRejected` for a request the API itself refuses (bad side or type)."""
        if request.transaction_type not in (BUY, SELL) or request.order_type not in ("MARKET", "LIMIT"):
            raise OrderRejected(f"bad order: {request.transaction_type} {request.order_type}")
        self._seq += 1
        order_id = f"{self.name[:2].upper()}{self._session}{self._seq:06d}"
        contract = self._contract(request.tradingsymbol)
        status, message = "OPEN", None
        if contract is None:
            status, message = "REJECTED", f"unknown instrument {request.tradingsymbol}"
        elif request.quantity <= 0 or request.quantity % contract.lot_size:
            status, message = "REJECTED", f"quantity {request.quantity} is not a multiple of {contract.lot_size}"
        elif request.quantity >= self.freeze_quantity(contract.symbol):
            status, message = "REJECTED", (f"quantity {request.quantity} at/above the freeze quantity "
                                           f"{self.freeze_quantity(contract.symbol)}")
        self._orders[order_id] = OrderState(
            order_id=order_id, tag=request.tag, tradingsymbol=request.tradingsymbol, exchange=request.exchange,
            transaction_type=request.transaction_type, quantity=request.quantity, filled_quantity=0,
            average_price=0.0, status=status, status_message=message, order_timestamp=self.clock.now())
        self._placed_at[order_id] = self.clock.now()
        self._requests[order_id] = request
        if status == "OPEN":
            self._open[order_id] = None
        self._process()
        return order_id

    def place_autoslice_order(self, request: OrderRequest) -> list[str]:
        raise OrderRejected("the simulated broker does not auto-slice; send sequential slices")

    def modify_order(self, order_id: str, *, quantity: int | None = None, price: float | None = None,
                     order_type: str | None = None) -> str:
        state = self._orders.get(order_id)
        if state is None or state.terminal:
            raise OrderRejected(f"order {order_id} cannot be modified")
        req = self._requests[order_id]
        self._requests[order_id] = replace(req, quantity=quantity or req.quantity,
                                           price=price if price is not None else req.price,
                                           order_type=order_type or req.order_type)
        self._orders[order_id] = replace(state, quantity=quantity or state.quantity)
        self._process()
        return order_id

    def cancel_order(self, order_id: str) -> str:
        state = self._orders.get(order_id)
        if state is None or state.terminal:
            raise OrderRejected(f"order {order_id} cannot be cancelled")
        self._orders[order_id] = replace(state, status="CANCELLED", status_message="cancelled by user")
        self._open.pop(order_id, None)
        return order_id

    def orders(self) -> list[OrderState]:
        self._process()
        return list(self._orders.values())

    def positions(self) -> list[BrokerPosition]:
        self._process()
        out = []
        for sym, pos in self._positions.items():
            quote = self._quote_for(sym)
            last = quote.ltp if quote else pos.average_price
            unrealised = (last - pos.average_price) * pos.quantity
            out.append(BrokerPosition(sym, pos.exchange, "NRML", pos.quantity, pos.average_price, last,
                                      round(pos.realised + unrealised, 2)))
        return out

    def quote(self, instruments: list[str]) -> dict[str, Quote]:
        """Quotes keyed by "EXCHANGE:TRADINGSYMBOL", in one request to the quote source when it batches."""
        contracts = {key: self._contract(key.split(":", 1)[-1]) for key in instruments}
        got = quote_many(self.quotes, [c for c in contracts.values() if c is not None])
        return {key: got[c.tradingsymbol] for key, c in contracts.items() if c is not None and c.tradingsymbol in got}

    # ------------------------------------------------------------------------------------------ fills

    def _quote_for(self, tradingsymbol: str) -> Quote | None:
        contract = self._contract(tradingsymbol)
        return None if contract is None else self.quotes.quote(contract)

    def _fresh(self, quote: Quote | None) -> bool:
        if quote is None:
            return False
        if self.max_age is None:
            return True
        limit = max(self.max_age, float(quote.extra.get("refresh_seconds") or 0.0))
        return (self.clock.now() - quote.ts).total_seconds() <= limit

    def _process(self) -> None:
        """Fill every OPEN order whose latency has passed and whose quote is fresh."""
        if not self._open:
            return
        now = self.clock.now()
        for order_id in list(self._open):
            state = self._orders[order_id]
            if state.status != "OPEN":
                self._open.pop(order_id, None)
                continue
            if (now - self._placed_at[order_id]).total_seconds() < self.latency - 1e-9:
                continue
            quote = self._quote_for(state.tradingsymbol)
            if not self._fresh(quote):
                continue
            assert quote is not None
            req = self._requests[order_id]
            if req.order_type == "MARKET":
                if state.transaction_type == BUY:
                    price = (quote.ask or quote.ltp) + self.slippage
                else:
                    price = max(MIN_PREMIUM, (quote.bid or quote.ltp) - self.slippage)
            else:
                assert req.price is not None
                crossed = quote.ltp <= req.price if state.transaction_type == BUY else quote.ltp >= req.price
                if not crossed:
                    continue
                price = req.price
            price = round(price, 2)
            self._fill(state, price, quote.source)

    def _fill(self, state: OrderState, price: float, source: str) -> None:
        contract = self._contract(state.tradingsymbol)
        assert contract is not None
        now = self.clock.now()
        charges = order_charges(self.rates.on(ist_date(now)), state.transaction_type, state.quantity, price,
                                state.exchange)
        self._orders[state.order_id] = replace(state, status="COMPLETE", filled_quantity=state.quantity,
                                               average_price=price, price_source=source)
        self._open.pop(state.order_id, None)
        pos = self._positions.setdefault(state.tradingsymbol, _Pos(exchange=state.exchange))
        signed = state.quantity if state.transaction_type == BUY else -state.quantity
        if pos.quantity == 0 or (pos.quantity > 0) == (signed > 0):
            total = pos.quantity + signed
            pos.average_price = (pos.average_price * abs(pos.quantity) + price * abs(signed)) / abs(total)
            pos.quantity = total
        else:
            closing = min(abs(signed), abs(pos.quantity))
            direction = 1 if pos.quantity > 0 else -1
            pos.realised += (price - pos.average_price) * closing * direction
            pos.quantity += signed
            if pos.quantity == 0:
                pos.average_price = 0.0
            elif (pos.quantity > 0) != (direction > 0):
                pos.average_price = price
        self.fills.append(SimFill(state.order_id, state.tag, state.tradingsymbol, state.exchange,
                                  state.transaction_type, state.quantity, price, now, charges, source))
