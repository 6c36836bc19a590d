"""Orders: freeze-quantity slicing, unique tags, rate limiting, and hedged baskets (hedge-first entry,
main-first exit) with reconciliation so that a timed-out order is never placed twice.

Market rules used here:
- Freeze quantity (NSE/BSE circulars; ``settings.instruments[SYM].freeze_quantity``, units): an order at or
  above it is refused by the exchange, so the largest legal slice is the largest lot multiple strictly below it
  (one lot multiple below the freeze quantity when it is itself a lot multiple).
- Kite auto-slicing (``autoslice=true``) splits an above-freeze order itself, capped at 10 slices (Kite, April
  2026); above 10 slices tradesig sends sequential slices.
- Market orders carry ``market_protection`` (Kite, mandatory since April 2026).
- Kite order rate limits: 10 orders/s and 400 orders/min per user (https://kite.trade/docs/connect/v3/exceptions/
  #api-rate-limit); tradesig never exceeds ``min(400, settings.risk.max_orders_per_minute)`` in any rolling 60 s
  nor 10 in any rolling 1 s.

Nothing here reads the wall clock or sleeps by itself: a :class:`~tradesig.clock.Clock` tells the time and waits
(``Clock.sleep``, market seconds: the wall clock live, a replay clock scales them, a ManualClock advances).
Rate limits and the fill timeout count the clock's ``monotonic()`` seconds (the broker's own clock: wall time
live and against a replaying sim).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tradesig.clock import Clock
from tradesig.errors import BrokerError, OrderRejected
from tradesig.trade import events as ev
from tradesig.trade.broker import BUY, SELL, Broker, OrderRequest, OrderState, OrderTimeout
from tradesig.trade.instruments import OptionContract

__all__ = [
    "max_slice", "slice_quantity", "SlicePlan", "plan_slices", "KITE_AUTOSLICE_MAX", "RateLimiter", "TagFactory",
    "LegFill", "BasketResult", "OrderManager", "EventSink", "make_order_manager", "freeze_limits",
]

if TYPE_CHECKING:
    from tradesig.config import Settings

log = logging.getLogger(__name__)

#: Kite's cap on the number of child orders of one auto-sliced order (April 2026).
KITE_AUTOSLICE_MAX = 10
#: Kite order rate limits per user.
KITE_ORDERS_PER_SECOND = 10
KITE_ORDERS_PER_MINUTE = 400

EventSink = ev.EventSink


def max_slice(lot_size: int, freeze_quantity: int) -> int:
    """The largest legal order quantity (units): the largest multiple of ``lot_size`` strictly below
    ``freeze_quantity``. Raises ``ValueError`` when not even one lot fits (a misconfigured freeze limit)."""
    if lot_size <= 0:
        raise ValueError(f"lot size must be positive, got {lot_size}")
    lots = (freeze_quantity - 1) // lot_size
    if lots < 1:
        raise ValueError(f"freeze quantity {freeze_quantity} is not above one lot of {lot_size}")
    return lots * lot_size


def slice_quantity(quantity: int, lot_size: int, freeze_quantity: int) -> list[int]:
    """Split ``quantity`` units into freeze-compliant slices: full slices of :func:`max_slice` then the
    remainder, every slice a positive lot multiple. ``ValueError`` if ``quantity`` is not a positive lot
    multiple."""
    if quantity <= 0 or quantity % lot_size:
        raise ValueError(f"quantity {quantity} is not a positive multiple of the lot size {lot_size}")
    biggest = max_slice(lot_size, freeze_quantity)
    full, rest = divmod(quantity, biggest)
    return [biggest] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class SlicePlan:
    """How one leg goes out: ``mode`` "single" (one order), "autoslice" (one Kite autoslice request, the broker
    creates ``len(slices)`` children) or "sequential" (one order per slice). ``slices`` in units."""

    mode: str
    slices: tuple[int, ...]


def plan_slices(quantity: int, lot_size: int, freeze_quantity: int, *, autoslice: bool) -> SlicePlan:
    """Choose the slicing of a leg: one order when it fits under the freeze limit; the broker's auto-slicing
    when available and at most :data:`KITE_AUTOSLICE_MAX` slices; sequential slices otherwise."""
    slices = tuple(slice_quantity(quantity, lot_size, freeze_quantity))
    if len(slices) == 1:
        return SlicePlan("single", slices)
    if autoslice and len(slices) <= KITE_AUTOSLICE_MAX:
        return SlicePlan("autoslice", slices)
    return SlicePlan("sequential", slices)


class RateLimiter:
    """Sliding-window order throttle: never more than ``per_second`` orders in any rolling second nor
    ``per_minute`` in any rolling 60 s (stricter than a token bucket of the same rates, which allows a burst on
    top of the refill). Time from the :class:`Clock`'s monotonic seconds.

    ``delay()`` is how long to wait before the next order may go (0 when it may go now); ``record()`` counts an
    order sent now.
    """

    def __init__(self, clock: Clock, per_second: int = KITE_ORDERS_PER_SECOND,
                 per_minute: int = KITE_ORDERS_PER_MINUTE) -> None:
        if per_second < 1 or per_minute < 1:
            raise ValueError("rate limits must be at least 1")
        self._clock = clock
        self._windows = ((1.0, per_second, deque()), (60.0, per_minute, deque()))

    def delay(self) -> float:
        now = self._clock.monotonic()
        wait = 0.0
        for span, limit, sent in self._windows:
            while sent and sent[0] <= now - span:
                sent.popleft()
            if len(sent) >= limit:
                wait = max(wait, sent[-limit] + span - now)
        return wait

    def record(self) -> None:
        now = self._clock.monotonic()
        for _, _, sent in self._windows:
            sent.append(now)

    def acquire(self) -> None:
        """Wait (through the clock) until an order may go, then count it. The windows are in monotonic seconds,
        which a replay clock does not scale: the wait is converted to market seconds at ``clock.speed``."""
        while (wait := self.delay()) > 0:
            self._clock.sleep((wait + 1e-6) * self._clock.speed)
        self.record()


class TagFactory:
    """Unique Kite order tags (alphanumeric, ≤ 20 characters): ``ts`` + base-36 UTC seconds of the clock + a
    per-process counter + a suffix. Deterministic for a given clock, so a replay produces the same tags."""

    _ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counter = 0

    def _b36(self, value: int) -> str:
        out = ""
        while True:
            value, rem = divmod(value, 36)
            out = self._ALPHABET[rem] + out
            if not value:
                return out

    def basket_id(self) -> str:
        """A new basket id (8–10 characters)."""
        self._counter += 1
        return f"{self._b36(int(self._clock.now().timestamp()))}{self._b36(self._counter % 1296):0>2}"

    @classmethod
    def tag(cls, basket_id: str, leg: str, action: str, slice_index: int, attempt: int = 0) -> str:
        """The tag of one order: ``ts<basket><leg H|M><action E|X|U|K><attempt><slice>`` (≤ 20 characters);
        ``attempt`` (base 36, one character) counts repeated sends of the same leg and action, e.g. an exit
        retried after a failure, so an old order is never mistaken for the new one."""
        tag = f"ts{basket_id}{leg}{action}{cls._ALPHABET[attempt % 36]}{slice_index:02d}"
        if len(tag) > 20:
            raise ValueError(f"tag {tag!r} longer than Kite's 20 characters")
        return tag


@dataclass
class LegFill:
    """Outcome of one leg (all its slices): ``filled`` units at ``average_price`` rupees; ``orders`` the broker
    order ids; ``status`` "COMPLETE", "PARTIAL" or "REJECTED"; ``message`` the broker's reason if any."""

    contract: OptionContract
    transaction_type: str
    requested: int
    filled: int = 0
    average_price: float = 0.0
    orders: list[str] = field(default_factory=list)
    status: str = "REJECTED"
    message: str | None = None
    price_source: str = "broker"

    def as_dict(self) -> dict[str, Any]:
        return {"tradingsymbol": self.contract.tradingsymbol, "transaction_type": self.transaction_type,
                "requested": self.requested, "filled": self.filled, "average_price": self.average_price,
                "orders": list(self.orders), "status": self.status, "message": self.message,
                "price_source": self.price_source}


@dataclass
class BasketResult:
    """Outcome of a hedged basket entry or exit. ``ok`` True when both legs completed in full."""

    ok: bool
    hedge: LegFill
    main: LegFill | None
    unwind: LegFill | None = None
    message: str = ""


class OrderManager:
    """Places legs and baskets through a :class:`Broker`, honouring freeze slicing, rate limits and tags.

    ``freeze_quantity(symbol) -> units``; ``market_protection`` percent; the ``clock`` tells time and waits (see
    the module docstring); ``emit(event)`` receives every order event
    (:class:`~tradesig.trade.events.OrderPlaced`, ``OrderUpdate``, ``OrderTimeout`` …). ``fill_timeout``
    monotonic seconds to wait for a leg's orders to reach a terminal status before the rest is cancelled;
    ``poll_interval`` market seconds between order-book polls; ``max_attempts`` placements of one tag after
    timeouts (each preceded by a reconciliation against the order book).
    """

    def __init__(self, broker: Broker, clock: Clock, *,
                 freeze_quantity: Callable[[str], int], limiter: RateLimiter, emit: EventSink,
                 market_protection: float = 2.0, fill_timeout: float = 30.0, poll_interval: float = 0.5,
                 max_attempts: int = 3, reconcile_polls: int = 3) -> None:
        self.broker = broker
        self.clock = clock
        self.freeze_quantity = freeze_quantity
        self.limiter = limiter
        self.emit = emit
        self.market_protection = market_protection
        self.fill_timeout = fill_timeout
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.reconcile_polls = reconcile_polls
        self.tags = TagFactory(clock)
        self._attempts: dict[tuple[str, str, str], int] = {}

    # ------------------------------------------------------------------------------------------ one order

    def _request(self, contract: OptionContract, side: str, quantity: int, tag: str) -> OrderRequest:
        return OrderRequest(tradingsymbol=contract.tradingsymbol, exchange=contract.exchange, transaction_type=side,
                            quantity=quantity, tag=tag, order_type="MARKET", product="NRML",
                            market_protection=self.market_protection)

    def _by_tag(self, tag: str) -> list[OrderState]:
        return [o for o in self.broker.orders() if o.tag == tag]

    def place(self, request: OrderRequest, *, autoslice: bool = False) -> list[str]:
        """Place one order (or one auto-sliced order) exactly once, returning its order id(s).

        After an :class:`OrderTimeout` the order book is searched for the request's tag (``reconcile_polls``
        successful reads of the book, ``poll_interval`` apart); only when the book was read and no order carries
        the tag is the request sent again, up to ``max_attempts`` times. While the book cannot be read (HTTP 429,
        a broker restart) the request is never re-sent: reads are retried for ``fill_timeout`` monotonic seconds,
        then :class:`BrokerError` is raised (the order may exist: the next reconciliation with the broker's
        positions finds out). Raises :class:`OrderRejected` when refused, :class:`BrokerError` when the broker
        stays unreachable."""
        for attempt in range(1, self.max_attempts + 1):
            self.limiter.acquire()
            try:
                if autoslice:
                    ids = self.broker.place_autoslice_order(request)
                else:
                    ids = [self.broker.place_order(request)]
            except OrderTimeout as exc:
                self.emit(ev.OrderTimeout(request.tag, attempt, exc.message))
                found = self._search_tag(request.tag)
                if found:
                    ids = [o.order_id for o in found]
                    self.emit(ev.OrderReconciled(request.tag, tuple(ids)))
                    return ids
                self.emit(ev.OrderRetry(request.tag, attempt + 1))
                continue
            self.emit(ev.OrderPlaced(tuple(ids), request.tag, request.tradingsymbol, request.exchange,
                                     request.transaction_type, request.quantity, request.order_type, autoslice,
                                     request.market_protection))
            return ids
        raise BrokerError(f"order {request.tag} got no answer after {self.max_attempts} attempts",
                          "check the broker's order book before placing it again")

    def _refused_wait(self) -> float:
        """Market seconds to wait after the broker refused a read (429, unreachable): at least half a second of
        the broker's clock (a replay clock's speed times that in market time), so a refusal is not hammered."""
        return max(self.poll_interval * 2, 0.5 * self.clock.speed)

    def _search_tag(self, tag: str) -> list[OrderState]:
        """The orders carrying ``tag`` after ``reconcile_polls`` successful reads of the order book (empty: the
        book was read and the order is not there). Raises :class:`BrokerError` when the book stayed unreadable
        for ``fill_timeout`` monotonic seconds — the caller must then not re-send."""
        deadline = self.clock.monotonic() + self.fill_timeout
        reads = 0
        while True:
            try:
                found = self._by_tag(tag)
                reads += 1
            except BrokerError as exc:
                if self.clock.monotonic() >= deadline:
                    raise BrokerError(f"order {tag}: no answer, and the order book stays unreadable ({exc.message})",
                                      "check the broker's order book before placing it again") from None
                found = []
            if found or reads >= self.reconcile_polls:
                return found
            self.clock.sleep(self.poll_interval if reads else self._refused_wait())

    def wait_terminal(self, order_ids: list[str]) -> dict[str, OrderState]:
        """Poll the order book until every order is terminal or ``fill_timeout`` passes; still-open orders are
        then cancelled (and polled once more). Returns the last state of each order found."""
        deadline = self.clock.monotonic() + self.fill_timeout
        wanted = set(order_ids)
        states: dict[str, OrderState] = {}
        cancelled = False
        while True:
            try:
                book = self.broker.orders()
            except BrokerError as exc:  # e.g. HTTP 429 on the order book: keep polling until the deadline
                log.warning("order book unavailable while waiting for %s: %s", sorted(wanted), exc)
                if self.clock.monotonic() >= deadline and cancelled:
                    break
                self.clock.sleep(self._refused_wait())
                if self.clock.monotonic() < deadline:
                    continue
                book = []
            states = _states_of(book, wanted) or states
            if len(states) == len(wanted) and all(s.terminal for s in states.values()):
                break
            if self.clock.monotonic() >= deadline:
                if cancelled:
                    break
                for oid in wanted:
                    state = states.get(oid)
                    if state is None or not state.terminal:
                        try:
                            self.broker.cancel_order(oid)
                        except (OrderRejected, BrokerError) as exc:
                            log.warning("cancel of %s failed: %s", oid, exc)
                cancelled = True
                deadline = self.clock.monotonic() + self.poll_interval * 4
            self.clock.sleep(self.poll_interval)
        for oid in order_ids:
            st = states.get(oid)
            if st is not None:
                self.emit(ev.OrderUpdate(oid, st.tag, st.tradingsymbol, st.transaction_type, st.status, st.quantity,
                                         st.filled_quantity, st.average_price, st.status_message, st.price_source))
        return states

    # -------------------------------------------------------------------------------------------- one leg

    def execute_leg(self, contract: OptionContract, side: str, quantity: int, basket_id: str, leg: str,
                    action: str) -> LegFill:
        """Send one leg (sliced per the freeze limit) as MARKET orders and wait for the fills.

        ``leg`` "H" (hedge) or "M" (main); ``action`` "E" (entry) or "X" (exit). A rejection of any slice stops
        the remaining sequential slices. Never raises for a broker refusal or an unreachable broker (the
        :class:`LegFill` says so, so a basket can unwind its hedge); a TokenError propagates."""
        fill = LegFill(contract, side, quantity)
        key = (basket_id, leg, action)
        attempt = self._attempts.get(key, 0)
        self._attempts[key] = attempt + 1
        plan = plan_slices(quantity, contract.lot_size, self.freeze_quantity(contract.symbol),
                           autoslice=self.broker.supports_autoslice)
        chunks = [(quantity, True)] if plan.mode == "autoslice" else [(q, False) for q in plan.slices]
        total_value = 0.0
        sources: set[str] = set()
        for index, (qty, auto) in enumerate(chunks):
            request = self._request(contract, side, qty, self.tags.tag(basket_id, leg, action, index, attempt))
            try:
                ids = self.place(request, autoslice=auto)
            except (OrderRejected, BrokerError) as exc:  # refused, or unreachable after reconciliation
                fill.message = exc.message
                self.emit(ev.OrderRejected(request.tag, contract.tradingsymbol, qty, exc.message,
                                           isinstance(exc, BrokerError)))
                break
            fill.orders.extend(ids)
            states = self.wait_terminal(ids)
            stop = False
            for oid in ids:
                st = states.get(oid)
                if st is None:
                    stop = True
                    continue
                if st.filled_quantity:
                    fill.filled += st.filled_quantity
                    total_value += st.filled_quantity * st.average_price
                    sources.add(st.price_source)
                if st.status != "COMPLETE":
                    fill.message = st.status_message or st.status
                    stop = True
            if stop:
                break
        fill.average_price = round(total_value / fill.filled, 4) if fill.filled else 0.0
        fill.status = "COMPLETE" if fill.filled == quantity else ("PARTIAL" if fill.filled else "REJECTED")
        fill.price_source = "+".join(sorted(sources)) if sources else "none"
        return fill

    # ------------------------------------------------------------------------------------------- baskets

    def enter_basket(self, main: OptionContract, hedge: OptionContract, quantity: int,
                     basket_id: str) -> BasketResult:
        """Hedge-first entry: BUY the hedge, wait until it is COMPLETE, then SELL the main leg for the hedge's
        filled quantity. A main leg that fills nothing unwinds the hedge (SELL what was bought); a partial main
        fill sells the excess hedge. ``quantity`` units per leg."""
        hedge_fill = self.execute_leg(hedge, BUY, quantity, basket_id, "H", "E")
        if hedge_fill.filled == 0:
            return BasketResult(False, hedge_fill, None, message=f"hedge not filled: {hedge_fill.message}")
        main_fill = self.execute_leg(main, SELL, hedge_fill.filled, basket_id, "M", "E")
        excess = hedge_fill.filled - main_fill.filled
        unwind = None
        if excess > 0:
            unwind = self.execute_leg(hedge, SELL, excess, basket_id, "H", "U")
        if main_fill.filled == 0:
            return BasketResult(False, hedge_fill, main_fill, unwind,
                                message=f"main leg not filled ({main_fill.message}); hedge unwound")
        ok = hedge_fill.status == "COMPLETE" and main_fill.status == "COMPLETE"
        return BasketResult(ok, hedge_fill, main_fill, unwind,
                            message="" if ok else f"partial: main {main_fill.filled}/{quantity}")

    def exit_basket(self, main: OptionContract, hedge: OptionContract, main_qty: int, hedge_qty: int,
                    basket_id: str) -> BasketResult:
        """Main-first exit: BUY back the main leg, and only once it is flat SELL the hedge (never leaves a naked
        short). When the main buy-back fails the hedge is kept and ``ok`` is False."""
        main_fill = self.execute_leg(main, BUY, main_qty, basket_id, "M", "X") if main_qty else None
        if main_fill is not None and main_fill.filled < main_qty:
            empty = LegFill(hedge, SELL, hedge_qty, status="SKIPPED", message="main leg not closed")
            return BasketResult(False, empty, main_fill, message=f"main leg exit failed: {main_fill.message}")
        hedge_fill = (self.execute_leg(hedge, SELL, hedge_qty, basket_id, "H", "X") if hedge_qty
                      else LegFill(hedge, SELL, 0, status="COMPLETE"))
        ok = hedge_fill.filled == hedge_qty
        return BasketResult(ok, hedge_fill, main_fill, message="" if ok else f"hedge exit: {hedge_fill.message}")


def _states_of(book: Sequence[OrderState], wanted: set[str]) -> dict[str, OrderState]:
    """The states in ``book`` of the ``wanted`` order ids (the last entry wins an id listed twice), looked up from
    the end: the orders waited for are the newest of a broker's book, which a backtest grows to thousands."""
    found: dict[str, OrderState] = {}
    for state in reversed(book if isinstance(book, list) else list(book)):
        oid = state.order_id
        if oid in wanted and oid not in found:
            found[oid] = state
            if len(found) == len(wanted):
                break
    return found


def freeze_limits(settings: Settings, clock: Clock | None = None) -> Callable[[str], int]:
    """``freeze_quantity(symbol) -> units``: the exchange's freeze limit (an order at or above it is refused).

    The dated table in force on the clock's IST date (:func:`tradesig.market.freeze_quantity`: NSE/BSE circulars,
    e.g. BANKNIFTY 900 → 600 from 2025-07-01), unless ``settings.instruments[symbol].freeze_quantity`` was set
    to something other than its default — an operator's override wins (a circular newer than the table)."""
    from tradesig.clock import ist_date
    from tradesig.config import Settings as DefaultSettings
    from tradesig.market import freeze_quantity

    defaults = DefaultSettings().instruments

    def freeze(symbol: str) -> int:
        configured = settings.instruments[symbol].freeze_quantity
        default = defaults.get(symbol)
        if clock is None or default is None or configured != default.freeze_quantity:
            return configured
        return freeze_quantity(symbol, ist_date(clock.now()))

    return freeze


def make_order_manager(settings: Settings, broker: Broker, clock: Clock, emit: EventSink) -> OrderManager:
    """An :class:`OrderManager` with the dated freeze limits (:func:`freeze_limits`), the rate limit
    ``min(400, risk.max_orders_per_minute)`` per minute and 10/s, and ``risk.market_protection``."""
    per_minute = min(KITE_ORDERS_PER_MINUTE, settings.risk.max_orders_per_minute)
    return OrderManager(broker, clock, freeze_quantity=freeze_limits(settings, clock),
                        limiter=RateLimiter(clock, per_minute=per_minute), emit=emit,
                        market_protection=settings.risk.market_protection)
