"""The trader's page in real headless Chromium (Playwright's Python package driving Debian's /usr/bin/chromium)
during a replayed real session: the sim replays 2024-06-04 (NIFTY, NIFTY BANK) from 10:50 IST at 100×, the feed
stores it and serves the hub, ``signals --follow``'s own code follows the hub; the page is checked against the
store and the events log.

Order matters (one replay for the module): candles, board, S1–S8 marker (S8 fires on the 10:15 hourly bar, known
at 11:15), a paper basket with moving P&L, flatten, then a hub restart.
"""

from __future__ import annotations

import asyncio
import threading
import time as _t
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.e2e.feed_helpers import BANK_FILE, DAY, NIFTY_FILE, make_service, wait_until
from tests.e2e.page_helpers import PageFeed, chromium_missing, launch, seed_history
from tradesig.clock import IST
from tradesig.store.datasets import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUBLISH = "Pb4Xm8Qr2Kv7Tz3Lc9Hw6Nf1Gd5Sj0Ae"
NAMES = ["trend", "supertrend", "vwap", "structure", "pivots", "camarilla", "orb", "rsi", "volume", "candle", "pcr",
         "sar", "levels"]


class Follower:
    """``signals board NIFTY --follow --interval 15m`` in-process: the library's follow_async on its own loop."""

    def __init__(self, home: Path, hub_port: int, sim_url: str) -> None:
        from tradesig.config import LoadedConfig, Settings
        from tradesig.feed.follow import SimFollowClock
        from tradesig.signals.live import follow_async

        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        loaded = LoadedConfig(Settings(), None, home)
        coro = follow_async(loaded, ["NIFTY"], "15m", echo=lambda _line: None, clock=SimFollowClock(sim_url),
                            stop=self.stop, url=f"ws://127.0.0.1:{hub_port}/ws", backoff_cap=1.0)
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(coro), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    why = chromium_missing()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    files = {"NIFTY": shared_file(NIFTY_FILE), "BANKNIFTY": shared_file(BANK_FILE)}
    home = tmp_path_factory.mktemp("page") / "home"
    seed_history(home, files)
    feed = PageFeed(home, files, start=time(10, 50), speed=100, publish_token=PUBLISH, chain_strikes=5)
    follower = None
    try:
        url = feed.wait_hub()
        store = Store(home)
        first = datetime.combine(DAY, time(9, 15), IST).astimezone(UTC)
        # the late start is backfilled from the sim's historical API: wait for 09:15 before anyone reads the day
        assert wait_until(lambda: first in store.read_bars("NIFTY", "1m", DAY, DAY)["ts"].to_list(), 60)  # one read
        follower = Follower(home, feed.service.hub.port, feed.handle.rest_url)
        with sync_playwright() as pw:
            browser = launch(pw)
            try:
                yield {"feed": feed, "url": url, "home": home, "store": store, "browser": browser, "files": files}
            finally:
                browser.close()
    finally:
        if follower is not None:
            follower.close()
        feed.close()


def _page(session, query: str = "", width: int = 1366, height: int = 768):
    page = session["browser"].new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(session["url"] + query)
    page.wait_for_function("() => document.getElementById('conn').textContent === 'connected'",
                           timeout=20_000, polling=250)
    return page, errors


def _page_bars(page, symbol: str, interval: str) -> list[list]:
    return page.evaluate(f"() => [...tradesigPage.view('{symbol}', '{interval}').bars.values()]"
                         ".map(b => b.slice(0, 5)).sort((a, b) => a[0] - b[0])")


def _stored(store: Store, symbol: str, interval: str, upto: int) -> tuple[list[int], list[tuple]]:
    want = store.read_bars(symbol, interval, DAY, DAY)
    want = want.filter(want["ts"] <= datetime.fromtimestamp(upto, UTC))
    return [int(t.timestamp()) for t in want["ts"]], want.select("open", "high", "low", "close").rows()


def _assert_equal_to_store(page, store: Store, symbol: str, interval: str, timeout: float = 20.0) -> list[list]:
    """The page's closed bars of the view equal the stored bars up to the page's last one: every bar, once, in
    order, same OHLC. A bar written by a backfill reaches the page a moment after the store: poll until then."""
    deadline = _t.monotonic() + timeout
    while True:
        bars = _page_bars(page, symbol, interval)
        times, ohlc = _stored(store, symbol, interval, bars[-1][0])
        if ([b[0] for b in bars], [tuple(b[1:]) for b in bars]) == (times, ohlc) or _t.monotonic() > deadline:
            break
        _t.sleep(0.5)
    missing = sorted(set(times) - {b[0] for b in bars})
    want = store.read_bars(symbol, interval, DAY, DAY)
    info = want.filter(want["ts"].dt.epoch("s").is_in(missing)).select("ts", "status").rows()
    assert [b[0] for b in bars] == times, f"the page lacks stored bars {info}"
    assert [tuple(b[1:]) for b in bars] == ohlc
    return bars


def test_candles_appear_and_equal_the_stored_bars(session):
    page, errors = _page(session, "?symbol=NIFTY&interval=1m")
    page.wait_for_function("() => tradesigPage.view('NIFTY', '1m').bars.size >= 100", timeout=30_000, polling=250)
    start = page.evaluate("() => tradesigPage.lastClosed(tradesigPage.view('NIFTY', '1m'))")
    # a few more minutes arrive live
    page.wait_for_function(f"() => tradesigPage.lastClosed(tradesigPage.view('NIFTY', '1m')) >= {start + 180}",
                           timeout=30_000, polling=250)
    bars = _assert_equal_to_store(page, session["store"], "NIFTY", "1m")
    assert bars[0][0] == int(datetime.combine(DAY, time(9, 15), IST).timestamp())
    drawn = page.evaluate("() => tradesigPage.series.data().map(d => d.time)")
    assert drawn == sorted(set(drawn)) and len(drawn) >= len(bars)  # the series: no duplicated candle
    page.click("#intervals button[data-interval='15m']")
    page.wait_for_function("() => tradesigPage.view('NIFTY', '15m').loaded", timeout=20_000, polling=250)
    _assert_equal_to_store(page, session["store"], "NIFTY", "15m")
    assert errors == []
    page.close()


def test_board_shows_thirteen_labelled_rows(session):
    page, errors = _page(session, "?symbol=NIFTY&interval=5m")
    page.wait_for_function("() => document.querySelectorAll('#board tbody tr').length === 13",
                           timeout=30_000, polling=250)
    rows = page.eval_on_selector_all("#board tbody tr", "rows => rows.map(r => [r.dataset.signal, "
                                     "r.cells[1].textContent, r.cells[3].textContent])")
    assert [r[0] for r in rows] == NAMES
    assert all(r[1] in ("BUY", "SELL", "NEUTRAL", "UNAVAILABLE") and r[2] for r in rows)
    verdict = page.text_content("#board-head .verdict")
    assert verdict in ("STRONG BUY", "BUY", "NEUTRAL", "SELL", "STRONG SELL")
    assert "IST" in page.text_content("#board-when")
    assert errors == []
    page.close()


def test_s1_to_s8_marker_appears_when_the_signal_fires(session):
    page, errors = _page(session, "?symbol=NIFTY&interval=15m")
    marker = page.wait_for_function(
        "() => tradesigPage.view('NIFTY', '15m').markers.find(m => m.kind === 'signal' && m.text === 'S8')",
        timeout=60_000, polling=250).json_value()
    # S8 fired on the 10:15 hourly bar: known at 11:15, drawn on the bar holding 11:14:59
    assert marker["t"] == int(datetime.combine(DAY, time(11, 15), IST).timestamp()) - 1
    assert marker["side"] == "bearish"
    page.wait_for_function("() => document.getElementById('signals').textContent.includes('S8 NIFTY bearish')",
                           timeout=20_000, polling=250)
    from tradesig.store.events import EventLog

    fired = [e for e in EventLog(session["home"]).read(DAY, DAY, kinds=["signal"]) if e.get("signal") == "S8"]
    assert fired and fired[0]["bar_ts"] == datetime.combine(DAY, time(10, 15), IST).astimezone(UTC).isoformat()
    assert errors == []
    page.close()


def _chain_pair(feed: PageFeed) -> tuple[dict, dict]:
    """Two NIFTY CE contracts of the streamed chain (ATM and two strikes above) with their instrument rows."""
    service = feed.service
    assert wait_until(lambda: service.universe is not None and service.universe.options, 30)
    ticks = service.hub._last_ticks
    calls = sorted((strike, token) for token, (sym, kind, strike) in service.universe.options.items()
                   if sym == "NIFTY" and kind == "CE")
    spot = ticks["NIFTY"]["ltp"]
    atm = min(range(len(calls)), key=lambda i: abs(calls[i][0] - spot))
    rows = {int(r["instrument_token"]): r for r in service.source.instrument_rows}
    return rows[calls[atm][1]], rows[calls[min(atm + 2, len(calls) - 1)][1]]


def test_paper_basket_appears_with_moving_pnl(session):
    """A paper basket is written as the engine writes it (trade.service.write_state); its legs are contracts the
    feed streams, so the page's P&L moves with the replayed prices."""
    from tradesig.trade.service import write_state

    feed = session["feed"]
    main, hedge = _chain_pair(feed)
    ticks = feed.service.hub._last_ticks
    assert wait_until(lambda: main["tradingsymbol"] in ticks and hedge["tradingsymbol"] in ticks, 30)
    now = feed.service.market_now()
    lot = int(main["lot_size"])
    basket = {"id": "P-test-1", "symbol": "NIFTY", "signal": "S8", "side": "bearish", "lots": 1, "quantity": lot,
              "main": main["tradingsymbol"], "hedge": hedge["tradingsymbol"], "exchange": "NFO",
              "expiry": str(main["expiry"])[:10], "main_strike": float(main["strike"]),
              "hedge_strike": float(hedge["strike"]), "option_type": "CE", "lot_size": lot,
              "main_entry": ticks[main["tradingsymbol"]]["ltp"], "hedge_entry": ticks[hedge["tradingsymbol"]]["ltp"],
              "main_exit": None, "hedge_exit": None, "main_qty": lot, "hedge_qty": lot,
              "opened_at": now.isoformat(), "closed_at": None, "entry_spot": ticks["NIFTY"]["ltp"],
              "stop_loss": 23337.9, "status": "open", "exit_reason": None, "charges": 41.3,
              "price_source": "sim quotes", "signal_key": "NIFTY|S8|test", "modelled": False}
    write_state(session["home"], "paper", {"ts": now.isoformat(), "open": [basket], "closed_today": [],
                                           "day_pnl": 0.0, "daily_loss_breached": False, "kill_switch": None})
    page, errors = _page(session, "?symbol=NIFTY&interval=5m")
    page.wait_for_selector(".basket[data-basket='P-test-1']", timeout=20_000)
    seen = set()
    deadline = _t.monotonic() + 40
    while len(seen) < 3 and _t.monotonic() < deadline:
        seen.add(page.text_content(".basket[data-basket='P-test-1'] .pnl"))
        _t.sleep(0.3)
    assert len(seen) >= 3, seen  # the unrealised P&L moves with the legs' prices
    assert all(s.startswith(("₹", "−₹")) for s in seen)
    lasts = page.eval_on_selector_all(".basket[data-basket='P-test-1'] td.last", "c => c.map(x => x.textContent)")
    assert len(lasts) == 2 and "–" not in lasts
    assert errors == []
    page.close()


def test_flatten_absent_without_the_token_and_works_with_it(session):
    page, _ = _page(session)
    page.wait_for_selector("#risk b", timeout=20_000)
    assert page.query_selector("#flatten") is None
    page.close()
    page, errors = _page(session, "?publish_token=" + PUBLISH)
    page.click("#flatten", timeout=20_000)
    page.click("#flatten-confirm")
    page.wait_for_function("() => document.getElementById('flatten-result').textContent.startsWith('done')",
                           timeout=30_000, polling=250)
    assert "kill switch engaged" in page.text_content("#flatten-result")
    page.wait_for_function("() => document.getElementById('risk').textContent.includes('ENGAGED')",
                           timeout=20_000, polling=250)
    assert (session["home"] / "trade" / "kill-switch.json").exists()
    assert errors == []
    page.close()


def test_page_recovers_after_the_hub_restarts(session):
    feed = session["feed"]
    page, errors = _page(session, "?symbol=NIFTY&interval=1m")
    page.wait_for_function("() => tradesigPage.view('NIFTY', '1m').loaded", timeout=20_000, polling=250)
    port = feed.service.hub.port
    feed.stop_feed()
    page.wait_for_function("() => document.getElementById('conn').textContent === 'reconnecting'",
                           timeout=20_000, polling=250)
    stopped_at = page.evaluate("() => tradesigPage.lastClosed(tradesigPage.view('NIFTY', '1m'))")
    # the same feed command again, on the same port and data home, against the still-replaying sim
    feed.service = make_service(session["home"], feed.handle, serve=f"127.0.0.1:{port}", symbols=["NIFTY", "BANKNIFTY"],
                                publish_token=PUBLISH, chain_strikes=5)
    feed.error = None
    feed.thread = threading.Thread(target=feed._run, daemon=True)
    feed.thread.start()
    page.wait_for_function("() => document.getElementById('conn').textContent === 'connected'",
                           timeout=40_000, polling=250)
    page.wait_for_function(f"() => tradesigPage.lastClosed(tradesigPage.view('NIFTY', '1m')) > {stopped_at + 120}",
                           timeout=40_000, polling=250)
    # the minutes missed while the feed was down are backfilled into the store, and the page shows them: every
    # minute from 09:15 on, each once, equal to the store
    deadline, bars = _t.monotonic() + 90, []  # the backfill waits its turn under the sim's REST limits on a busy box
    while _t.monotonic() < deadline:
        bars = _page_bars(page, "NIFTY", "1m")
        times = [b[0] for b in bars]
        if times == list(range(times[0], times[-1] + 60, 60)):
            break
        _t.sleep(0.5)
    assert [b[0] for b in bars] == list(range(bars[0][0], bars[-1][0] + 60, 60))
    _assert_equal_to_store(page, session["store"], "NIFTY", "1m")
    drawn = page.evaluate("() => tradesigPage.series.data().map(d => d.time)")
    assert drawn == sorted(set(drawn))  # no duplicated candle after the resynchronisation
    assert errors == []
    page.close()

