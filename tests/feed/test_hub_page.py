"""The hub's trader's-page messages over a data home holding real NIFTY bars: history (bars equal to the store,
overlays from tradesig's indicators, levels, the board), live view updates, markers, the trading panel, flatten
rights, and the page itself (the chart library inlined, no external resource)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect

from tests.conftest import shared_file
from tradesig.clock import IST
from tradesig.config import LoadedConfig, Settings
from tradesig.feed.hub import Hub
from tradesig.feed.hub_page import DashboardSources
from tradesig.store.datasets import Store
from tradesig.store.events import EventLog

DAY = date(2024, 6, 4)
NOW = datetime.combine(DAY, time(13, 2, 30), IST).astimezone(UTC)  # 13:02:30 IST: 13:00 is a 5m bar forming
PUBLISH = "Pb4Xm8Qr2Kv7Tz3Lc9Hw6Nf1Gd5Sj0Ae"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A data home with the recorded NIFTY 1m bars from three weeks before DAY up to NOW (as the feed stores them)."""
    import polars as pl

    from tradesig.store.bars import conform

    path = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    home = tmp_path_factory.mktemp("page") / "home"
    df = pl.read_parquet(path).with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    lo = datetime.combine(DAY - timedelta(days=28), time(0), IST).astimezone(UTC)
    df = df.filter((pl.col("ts") >= lo) & (pl.col("ts") <= NOW - timedelta(minutes=1)))
    df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.lit(None, dtype=pl.Int64).alias("volume"),
                         pl.lit(None, dtype=pl.Int64).alias("oi"))
    Store(home).write_bars(conform(df), "1m", "import:test")
    return home


def _hub(home: Path, **kw) -> Hub:
    loaded = LoadedConfig(Settings(), None, home)
    return Hub(heartbeat_seconds=0, dashboard=DashboardSources(loaded, lambda: NOW), **kw)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def until(ws, kind: str) -> dict:
    while True:
        msg = json.loads(await ws.recv())
        if msg["type"] == kind:
            return msg


def test_history_matches_the_store_and_tradesig_indicators(seeded):
    from tradesig.signals import indicators as ind
    from tradesig.signals.board import board_series
    from tradesig.signals.service import lookback_days

    async def scenario():
        hub = _hub(seeded)
        await hub.start()
        try:
            async with connect(hub.url, max_size=None) as ws:
                snap = json.loads(await ws.recv())
                assert snap["dashboard"] is True and snap["protocol"] == 3 and snap["can_flatten"] is False
                await ws.send(json.dumps({"type": "history", "symbol": "NIFTY", "interval": "5m"}))
                return await until(ws, "history")
        finally:
            await hub.stop()

    msg = run(scenario())
    store = Store(seeded)
    want = store.read_bars("NIFTY", "5m", DAY, DAY)
    closed = want.filter(want["ts"] < datetime.combine(DAY, time(13, 0), IST).astimezone(UTC))
    assert [b[0] for b in msg["bars"]] == [int(t.timestamp()) for t in closed["ts"]]
    assert [tuple(b[1:5]) for b in msg["bars"]] == closed.select("open", "high", "low", "close").rows()
    assert len(msg["bars"]) == 45  # 09:15 .. 12:55
    # the 13:00 bucket in progress, from the stored minutes 13:00 and 13:01
    minutes = store.read_bars("NIFTY", "1m", DAY, DAY).tail(2)
    assert msg["forming"][0] == int(minutes["ts"][0].timestamp())
    assert msg["forming"][1:] == [minutes["open"][0], minutes["high"].max(), minutes["low"].min(),
                                  minutes["close"][1]]
    # overlays: tradesig's EMA over the board's warm-up window, to the paisa
    frame = store.read_bars("NIFTY", "5m", DAY - timedelta(days=lookback_days("5m")), DAY)
    frame = frame.filter(frame["ts"] <= closed["ts"][-1])
    ema20 = ind.ema(frame["close"].to_numpy(), 20)
    assert [p[1] for p in msg["studies"]] == [round(float(x), 2) for x in ema20[-45:]]
    assert all(p[5] is None for p in msg["studies"])  # VWAP: index bars carry no volume
    assert {p[4] for p in msg["studies"]} <= {1.0, -1.0}
    board = msg["board"]
    assert len(board["signals"]) == 13 and board["ts"] == closed["ts"][-1].isoformat()
    assert board["label"] == board_series(frame, interval="5m", symbol="NIFTY").board_at(-1).label
    # previous session's pivots (3 June) and the week's zones
    prev = store.read_bars("NIFTY", "1d", date(2024, 6, 3), date(2024, 6, 3)).row(0, named=True)
    p = (prev["high"] + prev["low"] + prev["close"]) / 3
    assert msg["levels"]["pivots"]["p"] == round(p, 2) and msg["levels"]["pivots"]["session"] == "2024-06-03"
    zones = msg["levels"]["zones"]
    assert zones["week"] == "2024-06-03" and zones["res_bottom"] <= zones["res_top"]


def test_closed_bar_updates_watchers_and_since_returns_only_newer_bars(seeded):
    async def scenario():
        hub = _hub(seeded)
        await hub.start()
        try:
            async with connect(hub.url, max_size=None) as watcher, connect(hub.url, max_size=None) as other:
                await watcher.recv()
                await other.recv()
                await watcher.send(json.dumps({"type": "history", "symbol": "NIFTY", "interval": "1m"}))
                full = await until(watcher, "history")
                last = full["bars"][-1][0]
                hub.publish_bar({"symbol": "NIFTY", "interval": "1m", "ts": NOW - timedelta(seconds=30),
                                 "open": 22000.0, "high": 22010.0, "low": 21990.0, "close": 22005.5,
                                 "volume": None, "oi": None, "status": "complete"})
                update = await until(watcher, "view")
                await watcher.send(json.dumps({"type": "history", "symbol": "NIFTY", "interval": "1m",
                                               "since": last}))
                delta = await until(watcher, "history")
                await other.send(json.dumps({"type": "history", "symbol": "NIFTY", "interval": "2m"}))
                error = await until(other, "error")
                return full, update, delta, error, hub.stats.history_served
        finally:
            await hub.stop()

    full, update, delta, error, served = run(scenario())
    new_t = int((NOW - timedelta(seconds=30)).timestamp())
    assert [p[0] for p in update["studies"]] == [new_t] and update["board"]["close"] == 22005.5
    assert [b[0] for b in delta["bars"]] == [new_t] and delta["since"] == full["bars"][-1][0]
    assert "interval" in error["message"] and served == 2


def test_markers_from_the_events_log(seeded):
    from tradesig.feed.dashboard import marker_list

    events = [
        {"kind": "signal", "symbol": "NIFTY", "signal": "S8", "side": "bearish", "key": "NIFTY|S8|x",
         "bar_ts": "2024-06-04T04:45:00+00:00", "entry_ts": "2024-06-04T05:45:00+00:00", "entry_price": 22095.1},
        {"kind": "signal", "symbol": "NIFTY", "signal": "S8", "side": "bearish", "key": "NIFTY|S8|x",
         "bar_ts": "2024-06-04T04:45:00+00:00", "entry_ts": "2024-06-04T05:45:00+00:00"},  # trade's copy
        {"kind": "basket_opened", "symbol": "NIFTY", "trade_id": "P1", "signal": "S8", "side": "bearish",
         "entry_ts": "2024-06-04T05:46:00+00:00"},
        {"kind": "basket_closed", "symbol": "NIFTY", "trade_id": "P1", "exit_reason": "stop", "net_pnl": -1520.4,
         "entry_ts": "2024-06-04T05:46:00+00:00", "exit_ts": "2024-06-04T07:00:00+00:00"},
        {"kind": "signal", "symbol": "BANKNIFTY", "signal": "S1", "side": "bullish", "key": "B|S1|y",
         "bar_ts": "2024-06-04T04:45:00+00:00"},
    ]
    marks = marker_list(events, "NIFTY")
    assert [(m["kind"], m["text"]) for m in marks] == [("signal", "S8"), ("open", "S8 open"),
                                                      ("close", "close stop ₹-1,520")]
    assert marks[0]["t"] == int(datetime(2024, 6, 4, 5, 45, tzinfo=UTC).timestamp()) - 1


def test_trading_panel_and_flatten_rights(seeded, tmp_path):
    from tradesig.trade.service import write_state

    home = tmp_path / "home"
    write_state(home, "paper", {"ts": NOW.isoformat(), "open": [], "closed_today": [], "day_pnl": -250.0,
                                "daily_loss_breached": False, "kill_switch": None, "future_field": 7})
    EventLog(home).append("order_placed", {"order_ids": ["O1"], "tag": "P1m", "tradingsymbol": "NIFTY24JUN23350CE",
                                           "transaction_type": "SELL", "quantity": 25}, NOW)

    async def scenario():
        hub = _hub(home, publish_token=PUBLISH)
        await hub.start()
        try:
            async with connect(hub.url) as viewer, connect(hub.url + "?publish_token=" + PUBLISH) as trader:
                first = json.loads(await viewer.recv())
                assert json.loads(await trader.recv())["can_flatten"] is True and first["can_flatten"] is False
                panel = await until(viewer, "trade")
                await viewer.send(json.dumps({"type": "flatten", "mode": "paper", "confirm": True}))
                refused = await until(viewer, "error")
                await trader.send(json.dumps({"type": "flatten", "mode": "paper"}))
                unconfirmed = await until(trader, "error")
                await trader.send(json.dumps({"type": "flatten", "mode": "paper", "confirm": True}))
                result = await until(trader, "flatten_result")
                after = await until(trader, "trade")
                return panel, refused, unconfirmed, result, after
        finally:
            await hub.stop()

    panel, refused, unconfirmed, result, after = run(scenario())
    assert panel["engines"]["paper"]["future_field"] == 7 and panel["risk"]["day_pnl"] == -250.0
    assert [o["tradingsymbol"] for o in panel["orders"]] == ["NIFTY24JUN23350CE"] and panel["kill_switch"] is None
    assert "refused" in refused["message"] and "confirm" in unconfirmed["message"]
    assert result["ok"] is True and result["kill_switch"] == "engaged" and "kill switch" in result["message"]
    assert after["kill_switch"]["reason"].startswith("flatten from the hub page")
    kinds = [e["kind"] for e in EventLog(home).read(DAY, DAY)]
    assert kinds.count("kill_switch") == 1  # recorded on the market's day (the replayed one)


def test_page_is_one_response_with_the_chart_library_inlined(seeded):
    async def scenario():
        hub = _hub(seeded)
        await hub.start()
        def get() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{hub.port}/", timeout=10) as resp:
                return resp.read().decode()

        try:
            return await asyncio.to_thread(get)
        finally:
            await hub.stop()

    page = run(scenario())
    assert "<!--inline:" not in page and "TradingView Lightweight Charts" in page and "tradesigPage" in page
    # nothing loaded from a CDN (works offline); the only external address is the attribution link
    assert not re.search(r"""src=["']https?:|<link[^>]+href=["']https?:|import\(["']https?:""", page)
    assert len(page) > 150_000


def test_chain_ladder_centres_on_spot():
    from tradesig.feed.dashboard_trade import chain_ladder

    options = {i: ("NIFTY", kind, 22000.0 + 50 * (i // 2)) for i, kind in
               ((i, "CE" if i % 2 == 0 else "PE") for i in range(40))}
    ticks = {i: {"ltp": float(i), "oi": 100 * i, "symbol": f"S{i}"} for i in range(40)}
    lad = chain_ladder("NIFTY", 22512.0, options, ticks, 0.93, strikes=2)
    assert [r["strike"] for r in lad["rows"]] == [22600.0, 22550.0, 22500.0, 22450.0, 22400.0]
    assert lad["atm"] == 22500.0 and lad["pcr"] == 0.93
    assert lad["rows"][2]["ce"] == {"ltp": 20.0, "oi": 2000, "tradingsymbol": "S20"}
    assert np.isclose(lad["rows"][2]["pe"]["ltp"], 21.0)
