"""End to end on loopback: the unpatched official ``breeze_connect`` client (only its endpoint constants
redirected by tradesig's adapter) against the sim's Breeze side, and ``feed --source breeze`` into storage —
replaying the real 4 June 2024 NIFTY session."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import polars as pl
import pytest

from tests.conftest import shared_file
from tests.e2e.breeze_helpers import (
    api_session,
    breeze_login,
    breeze_service,
    start_breeze_sim,
    unload_breeze,  # noqa: F401 - fixture
)
from tests.e2e.feed_helpers import DAY, NIFTY_FILE, compare_bars, recorded, run_service, wait_until
from tradesig.clock import IST
from tradesig.store.datasets import Store
from tradesig.store.events import EventLog

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _minute_ohlc(ticks: list[dict]) -> dict[datetime, tuple[float, float, float, float]]:
    """1-minute OHLC (IST minute start → o, h, l, c) of breeze_connect's parsed ticks (``ltt`` is ``%c`` local)."""
    bars: dict[datetime, list[float]] = {}
    for t in ticks:
        ts = datetime.strptime(t["ltt"], "%c").astimezone(IST)
        minute = ts.replace(second=0, microsecond=0)
        px = float(t["last"])
        b = bars.get(minute)
        bars[minute] = [px, px, px, px] if b is None else [b[0], max(b[1], px), min(b[2], px), px]
    return {k: tuple(v) for k, v in bars.items()}


def test_official_client_session_stream_and_rest_equal_the_recording(tmp_path, unload_breeze):  # noqa: F811
    from tradesig.broker.breeze import import_breeze

    nifty = shared_file(NIFTY_FILE)
    handle = start_breeze_sim([nifty], start=time(15, 0), speed=300, wait_for_client=True)
    ticks: list[dict] = []
    bars: list[dict] = []
    lock = threading.Lock()
    try:
        module = import_breeze(tmp_path / "logs", handle.breeze_url)
        client = module.BreezeConnect(api_key=handle.api_key)
        with pytest.raises(Exception, match="Invalid session|check session key"):  # ICICI's text for a bad one
            client.generate_session(api_secret=handle.api_secret, session_token="12345678")
        client.generate_session(api_secret=handle.api_secret, session_token=api_session(handle))
        assert client.user_id == "SIM001" and "NIFTY" in client.stock_script_dict_list[1]

        def on_ticks(t):
            with lock:
                (bars if "interval" in t else ticks).append(t)

        client.on_ticks = on_ticks
        client.ws_connect()
        common = {"exchange_code": "NSE", "stock_code": "NIFTY", "product_type": "cash",
                  "get_exchange_quotes": True, "get_market_depth": False}
        assert client.subscribe_feeds(**common) == {"message": "Stock NIFTY subscribed successfully"}
        client.subscribe_feeds(interval="1minute", **common)
        assert handle.wait_session_over(60)
        sent = handle.state()["breeze"]
        assert wait_until(lambda: len(bars) >= sent["ohlc_sent"] == 30 and len(ticks) >= sent["stock_sent"], 10)
        # REST on the same replay: signed v1 calls and the v2 historical API
        quote = client.get_quotes(stock_code="NIFTY", exchange_code="NSE", product_type="cash")
        hist = client.get_historical_data_v2(interval="1minute", from_date="2024-06-04T09:30:00.000Z",
                                             to_date="2024-06-04T09:59:00.000Z", stock_code="NIFTY",
                                             exchange_code="NSE", product_type="cash")
        chain = client.get_option_chain_quotes(stock_code="NIFTY", exchange_code="NFO", product_type="options",
                                               expiry_date="2024-06-06T06:00:00.000Z", right="call")
        client.secret_key = "not-the-secret"  # a wrong checksum is refused, as ICICI refuses it
        refused = client.get_quotes(stock_code="NIFTY", exchange_code="NSE", product_type="cash")
        client.ws_disconnect()
    finally:
        handle.stop()
    want = recorded(nifty, "NIFTY", time(15, 0))
    expected = {ts.astimezone(IST): (o, h, lo, c) for ts, o, h, lo, c in
                want.select("ts", "open", "high", "low", "close").iter_rows()}
    assert len(expected) == 30
    got = _minute_ohlc(ticks)
    assert sorted(got) == sorted(expected)
    for minute, ohlc in expected.items():
        assert tuple(round(x, 2) for x in got[minute]) == tuple(round(x, 2) for x in ohlc), minute
    assert all(t["symbol"] == "4.1!NIFTY 50" and t["stock_name"] == "NIFTY 50" for t in ticks)
    assert all(t["bPrice"] is None and t["ttq"] is None for t in ticks)  # an index has no book or volume: null
    stream_bars = {datetime.strptime(b["datetime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST):
                   tuple(float(b[k]) for k in ("open", "high", "low", "close")) for b in bars}
    assert {k: tuple(round(x, 2) for x in v) for k, v in stream_bars.items()} == \
        {k: tuple(round(x, 2) for x in v) for k, v in expected.items()}
    assert quote["Status"] == 200 and quote["Success"][0]["ltp"] == round(want["close"][-1], 2)
    rows = hist["Success"]  # 09:30..09:59 UTC = 15:00..15:29 IST
    assert [r["datetime"][11:16] for r in rows] == [f"15:{m:02d}" for m in range(30)]
    assert [r["close"] for r in rows] == [round(x, 2) for x in want["close"].to_list()]
    assert chain["Status"] == 200 and chain["Success"] and {r["right"] for r in chain["Success"]} == {"Call"}
    assert refused == {"Success": None, "Status": 500, "Error": "Authentication Fail :: Invalid Checksum."}


def test_feed_source_breeze_stores_the_whole_day_equal_to_the_recording(home, unload_breeze):  # noqa: F811
    nifty = shared_file(NIFTY_FILE)
    handle = start_breeze_sim([nifty], start=time(9, 15), speed=1000, wait_for_client=True)
    try:
        breeze_login(handle, home)
        service = breeze_service(home, handle)
        summary, _ = run_service(service, timeout=120)
    finally:
        handle.stop()
    assert summary.source == "breeze" and summary.stopped_by in ("until", "sim session over")
    got = Store(home).read_bars("NIFTY", "1m", DAY)
    assert got.height == 375
    compare_bars(got, recorded(nifty, "NIFTY", time(9, 15)))
    assert got.filter(pl.col("status") == "complete").height >= 370  # streamed; the rest backfilled from REST
    ticks = Store(home).read_ticks(256265)
    assert set(ticks["source"]) == {"breeze"} and ticks["volume_traded"].null_count() == ticks.height


def test_feed_source_breeze_recovers_a_drop_a_stall_and_a_session_expiry(home, unload_breeze):  # noqa: F811
    nifty = shared_file(NIFTY_FILE)
    faults = [{"kind": "drop", "seconds": 0.5, "at": "15:10"},   # every stream connection closed
              {"kind": "stall", "seconds": 2.5, "at": "15:14"},  # silence, connections kept open
              {"kind": "expire_token", "at": "15:20"}]           # every Breeze session refused from now on
    handle = start_breeze_sim([nifty], start=time(15, 5), speed=120, faults=faults, wait_for_client=True)
    try:
        breeze_login(handle, home)
        service = breeze_service(home, handle, stall_seconds=1.0, backoff_base=0.1, backoff_cap=0.5)

        def operator(svc):
            assert wait_until(lambda: svc.waiting_for_token, 60)
            breeze_login(handle, home)  # `tradesig login --broker breeze` replaces the token file: hot reload
            return wait_until(lambda: svc.connected, 30)

        summary, resumed = run_service(service, timeout=120, during=operator)
    finally:
        handle.stop()
    assert resumed and summary.token_waits == 1 and summary.reconnects >= 3
    today = datetime.now(UTC).date()
    gaps = EventLog(home).read(today - timedelta(days=1), today + timedelta(days=1), kinds=["feed_gap"])
    causes = {g["cause"] for g in gaps if g["instrument"] == "NIFTY"}
    assert {"token", "stall"} <= causes and causes - {"start", "token", "stall"}  # the drop: a network gap
    got = Store(home).read_bars("NIFTY", "1m", DAY)
    compare_bars(got, recorded(nifty, "NIFTY", time(9, 15)))  # gaps backfilled from Breeze's historical API
    after = got.filter(pl.col("ts") > got.filter(pl.col("status") == "complete")["ts"].min())
    assert "backfilled" in after["status"].to_list()


def test_cli_login_and_token_check_against_the_sims_breeze_port(run_cli, home, unload_breeze):  # noqa: F811
    nifty = shared_file(NIFTY_FILE)
    handle = start_breeze_sim([nifty], start=time(15, 0), speed=10)
    try:
        url = handle.breeze_url
        code, out, err = run_cli("login", "--broker", "breeze", "--sim-url", url, "--request-token",
                                 api_session(handle))
        assert code == 0 and "Logged in to breeze as tradesig sim (SIM001)" in out, err
        code, out, err = run_cli("token-check", "--broker", "breeze", "--sim-url", url)
        assert code == 0, out + err  # asked the sim, not ICICI
        handle.fault({"kind": "expire_token"})
        code, out, err = run_cli("token-check", "--broker", "breeze", "--sim-url", url)
        assert code == 1 and "tradesig login --broker breeze" in err
        code, out, err = run_cli("login", "--broker", "breeze", "--sim-url", url, "--request-token", "12345678")
        assert code == 1 and "rejected the session key" in err
    finally:
        handle.stop()
