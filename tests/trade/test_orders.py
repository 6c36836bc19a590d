from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tradesig.clock import ManualClock, ist
from tradesig.errors import BrokerError
from tradesig.trade.broker import OrderRequest
from tradesig.trade.events import to_record
from tradesig.trade.orders import (
    KITE_AUTOSLICE_MAX,
    OrderManager,
    RateLimiter,
    TagFactory,
    max_slice,
    plan_slices,
    slice_quantity,
)


@given(lot=st.integers(1, 200), freeze=st.integers(2, 5000), lots=st.integers(1, 400))
def test_slices_are_legal_and_minimal(lot, freeze, lots):
    if freeze <= lot:
        with pytest.raises(ValueError):
            max_slice(lot, freeze)
        return
    qty = lots * lot
    slices = slice_quantity(qty, lot, freeze)
    assert sum(slices) == qty
    assert all(s > 0 and s % lot == 0 and s < freeze for s in slices)
    biggest = max_slice(lot, freeze)
    assert biggest + lot >= freeze  # no larger lot multiple is below the freeze limit
    assert len(slices) == -(-qty // biggest)  # as few slices as possible


@given(lot=st.sampled_from([65, 30, 20, 75]), freeze=st.sampled_from([1800, 600, 1000]), lots=st.integers(1, 500))
def test_plan_uses_autoslice_only_up_to_ten(lot, freeze, lots):
    plan = plan_slices(lots * lot, lot, freeze, autoslice=True)
    n = len(plan.slices)
    assert plan.mode == ("single" if n == 1 else "autoslice" if n <= KITE_AUTOSLICE_MAX else "sequential")
    assert plan_slices(lots * lot, lot, freeze, autoslice=False).mode in ("single", "sequential")


def test_examples_from_market_facts():
    assert max_slice(65, 1800) == 1755  # NIFTY: 27 lots
    assert max_slice(30, 600) == 570    # BANKNIFTY: freeze is a lot multiple -> one lot below
    assert slice_quantity(65 * 60, 65, 1800) == [1755, 1755, 390]
    with pytest.raises(ValueError):
        slice_quantity(100, 65, 1800)


@given(st.lists(st.floats(0, 3.0), min_size=1, max_size=300), st.integers(1, 30), st.integers(1, 60))
@hsettings(max_examples=60, deadline=None)
def test_rate_limiter_never_exceeds_windows(gaps, per_second, per_minute):
    clock = ManualClock(ist(2026, 8, 18, 9, 15))
    limiter = RateLimiter(clock, per_second=per_second, per_minute=per_minute)
    sent = []
    for gap in gaps:
        clock.advance(gap)
        limiter.acquire()  # waits by advancing the manual clock
        sent.append(clock.monotonic())
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u < t + 1.0) <= per_second
        assert sum(1 for u in sent[i:] if u < t + 60.0) <= per_minute


def test_tags_unique_and_short(clock):
    tags = TagFactory(clock)
    ids = {tags.basket_id() for _ in range(500)}
    assert len(ids) == 500
    tag = TagFactory.tag(max(ids, key=len), "M", "E", 12)
    assert len(tag) <= 20 and tag.isalnum()


def _manager(broker, clock, events=None):
    sink = events if events is not None else []
    return OrderManager(broker, clock, freeze_quantity=lambda s: 1800, limiter=RateLimiter(clock),
                        emit=lambda e: sink.append(to_record(e)), poll_interval=0.5, fill_timeout=5)


def test_timeout_after_accept_is_reconciled_not_duplicated(broker, clock, book):
    events = []
    om = _manager(broker, clock, events)
    broker.faults.timeout_after_accept = 1
    c = book.option("NIFTY", book.expiries("NIFTY", clock.now().date())[0], 24000, "PE")
    leg = om.execute_leg(c, "SELL", 65, "b1", "M", "E")
    assert leg.status == "COMPLETE" and leg.filled == 65
    tagged = [o for o in broker.orders() if o.tag == "tsb1ME000"]
    assert len(tagged) == 1  # exactly one order despite the timeout
    assert [k for k, _ in events if k.startswith("order_")][:2] == ["order_timeout", "order_reconciled"]


def test_timeout_with_an_unreadable_book_never_resends(broker, clock, book):
    """A placement times out and the order book then answers 429 for a while: the tag is looked up again once the
    book answers — never re-sent blind — and the order found is used (one order for the tag)."""
    events = []
    om = _manager(broker, clock, events)
    broker.faults.timeout_after_accept = 1
    broker.faults.book_unavailable = 4
    c = book.option("NIFTY", book.expiries("NIFTY", clock.now().date())[0], 24000, "PE")
    leg = om.execute_leg(c, "SELL", 65, "b9", "M", "E")
    assert leg.status == "COMPLETE" and leg.filled == 65
    assert len([o for o in broker.orders() if o.tag == "tsb9ME000"]) == 1
    kinds = [k for k, _ in events]
    assert "order_reconciled" in kinds and "order_retry" not in kinds


def test_timeout_with_a_book_unreadable_past_the_deadline_fails_without_resending(broker, clock, book):
    om = _manager(broker, clock)
    broker.faults.timeout_after_accept = 1
    broker.faults.book_unavailable = 10_000
    c = book.option("NIFTY", book.expiries("NIFTY", clock.now().date())[0], 24000, "PE")
    leg = om.execute_leg(c, "SELL", 65, "b8", "M", "E")
    assert leg.filled == 0 and "order book stays unreadable" in (leg.message or "")
    assert len(broker.faults.placed) == 1          # sent once; the outcome is left to reconciliation


def test_timeout_before_accept_is_retried_once(broker, clock, book):
    om = _manager(broker, clock)
    broker.faults.timeout_before_accept = 1
    c = book.option("NIFTY", book.expiries("NIFTY", clock.now().date())[0], 24000, "PE")
    leg = om.execute_leg(c, "BUY", 65, "b2", "H", "E")
    assert leg.filled == 65
    assert len([o for o in broker.orders() if o.tag == "tsb2HE000"]) == 1


def test_unreachable_broker_gives_up_without_placing(broker, clock, book):
    om = _manager(broker, clock)
    broker.faults.timeout_before_accept = 99
    req = OrderRequest("NIFTY26AUG24000PE", "NFO", "BUY", 65, "tsX")
    with pytest.raises(BrokerError):
        om.place(req)
    assert broker.orders() == []


def test_hedge_first_entry_sliced_below_freeze(broker, clock, book):
    om = _manager(broker, clock)
    exp = book.expiries("NIFTY", clock.now().date())[0]
    main, hedge = book.option("NIFTY", exp, 24000, "PE"), book.option("NIFTY", exp, 23800, "PE")
    result = om.enter_basket(main, hedge, 65 * 60, "b3")
    assert result.ok
    placed = broker.faults.placed
    assert [r.quantity for r in placed] == [1755, 1755, 390, 1755, 1755, 390]
    assert all(r.tradingsymbol == hedge.tradingsymbol and r.transaction_type == "BUY" for r in placed[:3])
    assert all(r.tradingsymbol == main.tradingsymbol and r.transaction_type == "SELL" for r in placed[3:])
    assert all(r.market_protection == 2.0 and r.order_type == "MARKET" for r in placed)
    book_orders = broker.orders()
    first_main = min(o.order_timestamp for o in book_orders if o.tradingsymbol == main.tradingsymbol)
    hedge_done = [o for o in book_orders if o.tradingsymbol == hedge.tradingsymbol]
    assert all(o.status == "COMPLETE" for o in hedge_done)
    assert max(o.order_timestamp for o in hedge_done) <= first_main


def test_main_rejected_unwinds_hedge(broker, clock, book):
    om = _manager(broker, clock)
    exp = book.expiries("NIFTY", clock.now().date())[0]
    main, hedge = book.option("NIFTY", exp, 24000, "PE"), book.option("NIFTY", exp, 23800, "PE")
    broker.faults.reject_symbols.add(main.tradingsymbol)
    result = om.enter_basket(main, hedge, 130, "b4")
    assert not result.ok and result.main.filled == 0
    assert result.unwind is not None and result.unwind.filled == 130
    net = {p.tradingsymbol: p.quantity for p in broker.positions()}
    assert net.get(hedge.tradingsymbol) == 0 and net.get(main.tradingsymbol, 0) == 0


def test_exit_main_first_and_keeps_hedge_when_main_fails(broker, clock, book):
    om = _manager(broker, clock)
    exp = book.expiries("NIFTY", clock.now().date())[0]
    main, hedge = book.option("NIFTY", exp, 24000, "PE"), book.option("NIFTY", exp, 23800, "PE")
    assert om.enter_basket(main, hedge, 65, "b5").ok
    broker.faults.placed.clear()
    clock.advance(timedelta(minutes=5))
    result = om.exit_basket(main, hedge, 65, 65, "b5")
    assert result.ok
    assert [(r.tradingsymbol, r.transaction_type) for r in broker.faults.placed] == [
        (main.tradingsymbol, "BUY"), (hedge.tradingsymbol, "SELL")]
    assert om.enter_basket(main, hedge, 65, "b6").ok
    broker.faults.reject_symbols.add(main.tradingsymbol)
    failed = om.exit_basket(main, hedge, 65, 65, "b6")
    assert not failed.ok and failed.hedge.filled == 0
    net = {p.tradingsymbol: p.quantity for p in broker.positions()}
    assert net[main.tradingsymbol] == -65 and net[hedge.tradingsymbol] == 65  # hedge kept: no naked short


def test_retried_exit_gets_a_new_tag(broker, clock, book):
    om = _manager(broker, clock)
    exp = book.expiries("NIFTY", clock.now().date())[0]
    main, hedge = book.option("NIFTY", exp, 24000, "PE"), book.option("NIFTY", exp, 23800, "PE")
    assert om.enter_basket(main, hedge, 65, "b7").ok
    broker.faults.reject_symbols.add(main.tradingsymbol)
    assert not om.exit_basket(main, hedge, 65, 65, "b7").ok
    broker.faults.reject_symbols.clear()
    assert om.exit_basket(main, hedge, 65, 65, "b7").ok
    exits = [o.tag for o in broker.orders() if o.tag.startswith("tsb7MX")]
    assert exits == ["tsb7MX000", "tsb7MX100"]


def test_unreachable_main_leg_unwinds_hedge(broker, clock, book):
    from tradesig.trade.broker import OrderTimeout

    om = _manager(broker, clock)
    exp = book.expiries("NIFTY", clock.now().date())[0]
    main, hedge = book.option("NIFTY", exp, 24000, "PE"), book.option("NIFTY", exp, 23800, "PE")
    real_place = broker.place_order

    def place(request):
        if request.tradingsymbol == main.tradingsymbol:
            raise OrderTimeout("no answer")   # every attempt at the main leg is lost before the book
        return real_place(request)

    broker.place_order = place
    result = om.enter_basket(main, hedge, 65, "b8")
    assert not result.ok and result.main.filled == 0 and "no answer" in result.main.message
    assert result.unwind is not None and result.unwind.filled == 65
    net = {p.tradingsymbol: p.quantity for p in broker.positions()}
    assert net[hedge.tradingsymbol] == 0 and main.tradingsymbol not in net


def test_freeze_limits_follow_the_dated_table_unless_overridden():
    """BANKNIFTY's freeze quantity was 900, then 600 from 2025-07-01 (tradesig.market, NSE circulars); an operator's
    non-default setting wins."""
    import dataclasses

    from tradesig.clock import ManualClock, ist
    from tradesig.config import Settings
    from tradesig.market import freeze_quantity
    from tradesig.trade.orders import freeze_limits

    settings = Settings()
    before, after = ist(2025, 6, 30, 10, 0), ist(2025, 7, 1, 10, 0)
    assert freeze_quantity("BANKNIFTY", before.date()) != freeze_quantity("BANKNIFTY", after.date())
    assert freeze_limits(settings, ManualClock(before))("BANKNIFTY") == freeze_quantity("BANKNIFTY", before.date())
    assert freeze_limits(settings, ManualClock(after))("BANKNIFTY") == freeze_quantity("BANKNIFTY", after.date())
    custom = dataclasses.replace(settings, instruments={
        **settings.instruments, "BANKNIFTY": dataclasses.replace(settings.instruments["BANKNIFTY"],
                                                                  freeze_quantity=1200)})
    assert freeze_limits(custom, ManualClock(before))("BANKNIFTY") == 1200
    assert freeze_limits(settings)("NIFTY") == settings.instruments["NIFTY"].freeze_quantity  # no clock: config
