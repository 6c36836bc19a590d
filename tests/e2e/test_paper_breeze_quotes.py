"""Breeze data, Kite orders (issue 17 item 4) on loopback: the feed's hub says it streams from Breeze, so
``trade start``'s paper engine prices its fills from ICICI Breeze's ``quotes`` (the official breeze_connect client
against the sim's Breeze port) — BUY at the best offer, SELL at the best bid (issue 13 item 4) — while its
instruments and orders stay on Kite (the sim's Kite side). A short window of 2024-06-04 at high speed."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date, time, timedelta

import pytest
from kiteconnect import KiteConnect

from tests.conftest import shared_file
from tests.e2e.breeze_helpers import breeze_login, start_breeze_sim, unload_breeze  # noqa: F401 - fixture
from tests.e2e.feed_helpers import NIFTY_FILE
from tests.e2e.test_trade_live_sim import _login, save_token
from tests.trade.test_runner import serve_hub, stop_hub
from tradesig.config import LoadedConfig, Settings
from tradesig.feed.follow import SimFollowClock
from tradesig.trade.breeze_quotes import BreezeQuotes
from tradesig.trade.broker import OrderRequest
from tradesig.trade.quotes import modelled_source
from tradesig.trade.runner import HubReader, build_runner

pytestmark = pytest.mark.e2e

EXPIRY = date(2024, 6, 6)  # the NIFTY weekly listed on 2024-06-04 (lot 25)


def test_paper_fills_are_priced_from_breeze_quotes_when_the_feed_streams_from_breeze(tmp_path, unload_breeze):  # noqa: F811
    home = tmp_path / "home"
    handle = start_breeze_sim([shared_file(NIFTY_FILE)], start=time(11, 10), speed=60)
    hub, loop, thread = serve_hub()
    reader = None
    try:
        kite, data = _login(handle)
        save_token(home, kite, data, handle.rest_url)
        breeze_login(handle, home)
        base = Settings()
        settings = dataclasses.replace(base, kite=dataclasses.replace(base.kite, root=handle.rest_url),
                                       breeze=dataclasses.replace(base.breeze, enabled=True, root=handle.breeze_url))
        clock = SimFollowClock(handle.rest_url, resync_seconds=0.5)
        runner = build_runner(LoadedConfig(settings, None, home), "paper", clock=clock, symbols=["NIFTY"])
        assert runner.feed_quotes is not None and runner.feed_quotes.rest() is runner.feed_quotes.kite

        # the feed's hub announces its upstream in every status message; the reader relays it to the runner
        reader = HubReader(hub.url, ["NIFTY"], runner.queue)
        reader.start()
        assert reader.connected.wait(10)
        for _ in range(100):
            if hub.client_count:
                break
            threading.Event().wait(0.05)
        loop.call_soon_threadsafe(hub.publish_status, {"source": "breeze", "phase": "OPEN", "connected": True})
        for _ in range(100):
            runner.step(timeout=0.1)
            if runner.feed_source == "breeze":
                break
        assert runner.feed_source == "breeze"
        breeze = runner.feed_quotes.rest()
        assert breeze is not runner.feed_quotes.kite and isinstance(breeze.fetch, BreezeQuotes)
        # the sim's option prices are modelled: labelled so, naming the sim's IV model for NIFTY
        iv = handle.state()["models"]["iv_sources"]["NIFTY"]
        assert iv and breeze.fetch.source == modelled_source(f"sim: {iv}")

        seen: list = []           # every quote Breeze answered (a spy around the unchanged fetch)
        fetch = breeze.fetch

        def recording(keys):
            got = fetch(keys)
            seen.extend(got.values())
            return got

        breeze.fetch = recording
        spot = handle.exchange.market.spot("NIFTY")
        strike = round(spot / 50) * 50
        contract = runner.engine.instruments.option("NIFTY", EXPIRY, strike, "CE")
        assert contract.lot_size == 25
        broker = runner.engine.broker
        buy = broker.place_order(OrderRequest(contract.tradingsymbol, "NFO", "BUY", 25, "bq1"))
        sell = broker.place_order(OrderRequest(contract.tradingsymbol, "NFO", "SELL", 25, "bq2"))
        states = {}
        for _ in range(400):   # the paper latency passes in replayed time; fills need a fresh quote
            states = {o.order_id: o for o in broker.orders()}
            if all(states[o].status == "COMPLETE" for o in (buy, sell)):
                break
            threading.Event().wait(0.05)
        assert states[buy].status == "COMPLETE" and states[sell].status == "COMPLETE"
        assert fetch.calls >= 1 and seen             # the prices came from Breeze's quotes REST …
        fills = {f.order_id: f for f in broker.fills}
        assert {f.price_source for f in fills.values()} == {fetch.source}
        # … and cross its spread: BUY at a Breeze quote's best offer, SELL at the same quote's best bid
        slip = settings.paper.slippage_ticks * 0.05
        used = [q for q in seen if q.ask is not None and q.bid is not None
                and fills[buy].price == pytest.approx(q.ask + slip)
                and fills[sell].price == pytest.approx(q.bid - slip)]
        assert used and used[0].bid < used[0].ltp < used[0].ask
        # the same contract on the sim's Kite side is priced by the same modelled market
        kite_quote = KiteConnect(kite.api_key, access_token=kite.access_token, root=handle.rest_url).quote(
            [f"NFO:{contract.tradingsymbol}"])[f"NFO:{contract.tradingsymbol}"]
        assert abs(kite_quote["last_price"] - used[0].ltp) < max(5.0, used[0].ltp * 0.2)
        assert abs(used[0].ts - clock.now()) < timedelta(minutes=10)
    finally:
        if reader is not None:
            reader.stop()
            reader.join(5)
        stop_hub(hub, loop, thread)
        handle.stop()
