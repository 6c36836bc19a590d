"""Live mode against ``tradesig sim`` with the official kiteconnect client (issue 7, "Done when").

The sim replays the real NIFTY 50 / NIFTY BANK 1-minute bars of 10 June 2024 from 11:10 IST. The S3 signal that
the real hourly bars fire at 11:15 that day (computed by the signals engine from the weeks before, with the
expiry taken from the sim's instruments dump) drives the engine's real decision path (`consider`) against the
sim: freeze slicing (Kite autoslice and sequential slices), hedge before main, an injected rejection of the main
leg, an injected timeout of place_order, a daily-loss breach, and `trade flatten` from a fresh process.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect.exceptions import NetworkException

from tests.conftest import shared_file
from tradesig.broker.tokens import TokenRecord, TokenStore, kite_expiry
from tradesig.clock import IST, UTC
from tradesig.config import Settings
from tradesig.feed.follow import SimFollowClock
from tradesig.signals.strategies import WeeklyZoneEngine
from tradesig.sim import SimConfig, SimExchange
from tradesig.store.bars import conform, resample
from tradesig.trade.brokers.live import LiveBroker
from tradesig.trade.build import build_engine
from tradesig.trade.events import to_record
from tradesig.trade.risk import KillSwitch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAY = date(2024, 6, 10)
START = dtime(11, 10)
SPEED = 20.0
REPO = Path(__file__).resolve().parents[2]


def _login(handle) -> tuple[KiteConnect, dict]:
    r = requests.get(f"{handle.rest_url}/connect/login", params={"api_key": handle.api_key, "v": 3},
                     allow_redirects=False, timeout=5)
    q = parse_qs(urlsplit(r.headers["location"]).query)
    kite = KiteConnect(handle.api_key, root=handle.rest_url)
    return kite, kite.generate_session(q["request_token"][0], handle.api_secret)


@pytest.fixture(scope="module")
def sim():
    files = [shared_file(f"intraday/{n}_1min_2024-01-01_2024-08-23.parquet") for n in ("nifty50", "niftybank")]
    exchange = SimExchange(SimConfig(data_files=files, day=DAY, start=START, speed=SPEED, capital=1e10))
    with exchange.run_in_thread() as handle:
        yield handle


@pytest.fixture(scope="module")
def session(sim):
    return _login(sim)


@pytest.fixture(scope="module")
def kite(session):
    return session[0]


@pytest.fixture(scope="module")
def instruments(kite):
    return LiveBroker(kite).instruments()


@pytest.fixture(scope="module")
def signal_event(instruments):
    """The real S3 signal of 2024-06-10 11:15 IST, expiry resolved against the sim's listed expiries."""
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"))
    hourly = resample(conform(df.select("symbol", "ts", "open", "high", "low", "close")), "1h")
    cut = datetime.combine(DAY, dtime(10, 15), tzinfo=IST).astimezone(UTC)
    hourly = hourly.filter((pl.col("ts") <= cut) & (pl.col("ts") >= cut - timedelta(days=30)))
    engine = WeeklyZoneEngine("NIFTY", Settings(), expiry_fn=instruments.nearest_expiry)
    events = [e for e in engine.scan(hourly) if e.entry_ts.astimezone(IST).date() == DAY]
    assert events, "the real bars fire a signal on 2024-06-10"
    return events[-1]


def save_token(home: Path, kite: KiteConnect, data: dict, root: str) -> None:
    """Store the sim session's token in ``home`` as `tradesig login` would (issued by ``root``)."""
    now = datetime.now(UTC)
    TokenStore(home).save(TokenRecord(broker="kite", api_key=kite.api_key, access_token=kite.access_token,
                                      user_id=data.get("user_id", "SIM"), user_name=data.get("user_name", "sim"),
                                      login_time=now, expires_at=kite_expiry(now), root=root))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(home: Path, tmp_path: Path, root: str, ws_root: str) -> dict[str, str]:
    """The environment of a `tradesig` subprocess on ``home`` against the sim (no user config)."""
    env = {**os.environ, "TRADESIG_HOME": str(home), "TRADESIG_KITE_ROOT": root, "TRADESIG_KITE_WS_ROOT": ws_root,
           "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("TRADESIG_CONFIG", None)
    return env


def _settings(root: str, **risk) -> Settings:
    base = Settings()
    kite = dataclasses.replace(base.kite, root=root)
    return dataclasses.replace(base, kite=kite, risk=dataclasses.replace(base.risk, **risk))


def _engine(sim, kite, instruments, tmp_path, *, lots=1, autoslice=True, broker_cls=LiveBroker, settings=None):
    settings = settings or _settings(sim.rest_url, signal_cooldown_minutes=0)
    clock = SimFollowClock(sim.rest_url)
    events: list[tuple[str, dict]] = []
    broker = broker_cls(kite, autoslice=autoslice, root=sim.rest_url)
    engine = build_engine(settings, "live", broker=broker, clock=clock, instruments=instruments,
                          emit=lambda e: events.append(to_record(e)), symbols=["NIFTY"], lots=lots,
                          kill_switch=KillSwitch(tmp_path)).engine
    engine.orders.fill_timeout = 60.0
    engine.orders.poll_interval = 0.2 * SPEED  # market seconds: 0.2 s of wall time at the sim's speed
    return engine, events


def _retry(fn):
    """Call a kiteconnect read, waiting out the sim's 10 requests/s limit (HTTP 429) the engine shares."""
    for _ in range(10):
        try:
            return fn()
        except NetworkException:
            time.sleep(1.0)
    return fn()


def _my_orders(kite, position_id: str) -> list[dict]:
    return [o for o in _retry(kite.orders) if (o.get("tag") or "").startswith(f"ts{position_id}")]


def test_entry_above_freeze_is_sliced_hedge_first(sim, kite, instruments, signal_event, tmp_path):
    for autoslice in (True, False):
        engine, events = _engine(sim, kite, instruments, tmp_path, lots=104, autoslice=autoslice)  # 2600 units
        pos = engine.consider(signal_event)
        assert pos is not None, [e for e in events if e[0] in ("entry_failed", "decision")]
        assert pos.quantity == 104 * 25 and pos.main_qty == pos.hedge_qty == 2600  # 2024: NIFTY lot 25
        mine = _my_orders(kite, pos.id)
        assert mine and all(o["quantity"] <= 1775 for o in mine)  # largest lot multiple below 1800
        hedge = [o for o in mine if o["tradingsymbol"] == pos.hedge.tradingsymbol]
        main = [o for o in mine if o["tradingsymbol"] == pos.main.tradingsymbol]
        assert sum(o["filled_quantity"] for o in hedge) == 2600 and sum(o["filled_quantity"] for o in main) == 2600
        assert len(hedge) == len(main) == 2
        # order of events: every hedge order COMPLETE before the first main order is placed
        kinds = [(k, p.get("tradingsymbol"), p.get("status")) for k, p in events]
        first_main = kinds.index(("order_placed", pos.main.tradingsymbol, None))
        hedge_done = [i for i, k in enumerate(kinds) if k == ("order_update", pos.hedge.tradingsymbol, "COMPLETE")]
        assert len(hedge_done) == 2 and max(hedge_done) < first_main
        placed = [p for k, p in events if k == "order_placed"]
        assert all(p["autoslice"] is autoslice for p in placed)
        assert all(p["market_protection"] == 2.0 for p in placed)


class RejectMainBroker(LiveBroker):
    """Asks the sim to reject the next order right before the first SELL (the main leg) goes out."""

    handle = None

    def place_order(self, request):
        if request.transaction_type == "SELL" and not getattr(self, "_armed", False):
            self._armed = True
            self.handle.fault({"kind": "reject_next_order", "message": "RMS: injected main-leg rejection"})
        return super().place_order(request)


def test_rejected_main_leg_unwinds_hedge(sim, kite, instruments, signal_event, tmp_path):
    RejectMainBroker.handle = sim
    engine, events = _engine(sim, kite, instruments, tmp_path, broker_cls=RejectMainBroker)
    assert engine.consider(signal_event) is None
    failed = [p for k, p in events if k == "entry_failed"]
    assert failed and "hedge unwound" in failed[0]["reason"]
    basket = next(p for k, p in events if k == "entry")["position"]
    mine = _my_orders(kite, basket)
    statuses = [(o["tradingsymbol"], o["transaction_type"], o["status"]) for o in mine]
    main_sym, hedge_sym = signal_event.option, None
    hedge_sym = next(o["tradingsymbol"] for o in mine if o["transaction_type"] == "BUY")
    assert (hedge_sym, "BUY", "COMPLETE") in statuses
    assert any(t == "SELL" and s == "REJECTED" and sym != hedge_sym for sym, t, s in statuses)
    assert (hedge_sym, "SELL", "COMPLETE") in statuses  # the unwind
    assert main_sym is not None and not engine.positions


def test_place_order_timeout_is_not_duplicated(sim, kite, instruments, signal_event, tmp_path):
    settings = _settings(sim.rest_url, signal_cooldown_minutes=0)
    settings = dataclasses.replace(settings, kite=dataclasses.replace(settings.kite, timeout_seconds=1.0))
    slow_kite = KiteConnect(kite.api_key, access_token=kite.access_token, root=sim.rest_url, timeout=1.0)
    engine, events = _engine(sim, slow_kite, instruments, tmp_path, settings=settings)
    sim.fault({"kind": "timeout_next_order", "seconds": 2.5})
    pos = engine.consider(signal_event)
    assert pos is not None
    kinds = [k for k, _ in events]
    assert "order_timeout" in kinds and "order_reconciled" in kinds and "order_retry" not in kinds
    mine = _my_orders(kite, pos.id)
    by_tag: dict[str, int] = {}
    for o in mine:
        by_tag[o["tag"]] = by_tag.get(o["tag"], 0) + 1
    assert all(n == 1 for n in by_tag.values()), by_tag  # one order per tag: no duplicate
    assert sum(o["filled_quantity"] for o in mine if o["transaction_type"] == "BUY") == 25


def test_daily_loss_breach_blocks_new_entries(sim, kite, instruments, signal_event, tmp_path):
    settings = _settings(sim.rest_url, signal_cooldown_minutes=0, max_daily_loss=1.0)
    engine, events = _engine(sim, kite, instruments, tmp_path, settings=settings)
    assert engine.consider(signal_event) is not None   # entry charges alone exceed a 1-rupee limit
    engine.on_time()
    assert any(k == "risk" and p["event"] == "daily_loss_breached" for k, p in events)
    before = len(_retry(kite.orders))
    assert engine.consider(signal_event) is None
    decision = [p for k, p in events if k == "decision"][-1]
    assert decision["action"] == "block" and "daily loss" in decision["reason"]
    assert len(_retry(kite.orders)) == before  # nothing was sent


def test_flatten_from_fresh_process_closes_everything(sim, session, kite, instruments, signal_event, tmp_path):
    home = tmp_path / "home"
    engine, _ = _engine(sim, kite, instruments, home, lots=2)
    assert engine.consider(signal_event) is not None
    assert any(p["quantity"] for p in _retry(kite.positions)["net"])
    now = datetime.now(UTC)
    _, data = session
    TokenStore(home).save(TokenRecord(broker="kite", api_key=kite.api_key, access_token=kite.access_token,
                                      user_id=data.get("user_id", "SIM"), user_name=data.get("user_name", "sim"),
                                      login_time=now, expires_at=kite_expiry(now), root=sim.rest_url))
    env = {**os.environ, "TRADESIG_HOME": str(home), "TRADESIG_KITE_ROOT": sim.rest_url,
           "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("TRADESIG_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "tradesig", "trade", "flatten", "--mode", "live"], env=env,
                          capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kill switch engaged" in proc.stdout
    assert all(p["quantity"] == 0 for p in _retry(kite.positions)["net"]), _retry(kite.positions)["net"]
    assert KillSwitch(home).engaged() is not None
    blocked = engine.risk.can_enter("NIFTY")  # the running engine sees the flag too
    assert not blocked.allowed and "kill switch" in blocked.reason
    proc = subprocess.run([sys.executable, "-m", "tradesig", "trade", "resume"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0 and "released" in proc.stdout
    assert engine.risk.can_enter("NIFTY").allowed


def test_paper_runner_follows_bars_and_fills_on_sim_quotes(sim, session, kite, run_cli, home):
    """`trade start --mode paper` minus the socket: hub-shaped bar messages into the runner; the paper broker
    fills on the sim's /quote; the state file feeds `trade status` / `positions` / `orders`."""
    import json

    from tradesig.config import load_config
    from tradesig.store.datasets import Store
    from tradesig.trade.runner import build_runner

    kite_client, data = session
    now = datetime.now(UTC)
    TokenStore(home).save(TokenRecord(broker="kite", api_key=kite_client.api_key,
                                      access_token=kite_client.access_token, user_id=data.get("user_id", "SIM"),
                                      user_name=data.get("user_name", "sim"), login_time=now,
                                      expires_at=kite_expiry(now), root=sim.rest_url))
    os.environ["TRADESIG_KITE_ROOT"] = sim.rest_url
    try:
        df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
        df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"))
        bars = conform(df.select("symbol", "ts", "open", "high", "low", "close"))
        day = pl.col("ts").dt.convert_time_zone("Asia/Kolkata")
        history = bars.filter((day.dt.date() >= date(2024, 5, 13)) & (day < datetime(2024, 6, 10, 10, 15, tzinfo=IST)))
        Store(home).write_bars(history, "1m", "test")
        loaded = load_config()
        runner = build_runner(loaded, "paper", clock=SimFollowClock(sim.rest_url), symbols=["NIFTY"],
                              trade_from=datetime.combine(DAY, START, tzinfo=IST))
        runner.engine.orders.poll_interval = 0.05 * SPEED  # market seconds
        first, last = datetime(2024, 6, 10, 10, 15, tzinfo=IST), datetime(2024, 6, 10, 11, 15, tzinfo=IST)
        live = bars.filter((day >= first) & (day < last))
        for row in live.iter_rows(named=True):  # as the hub sends them (JSON: ISO ts)
            runner.handle("bar", {"type": "bar", "symbol": "NIFTY", "interval": "1m", "ts": row["ts"].isoformat(),
                                  "open": row["open"], "high": row["high"], "low": row["low"],
                                  "close": row["close"]})
        engine = runner.engine
        assert [e.signal for e in engine.signal_events] == ["S3"]
        assert len(engine.positions) == 1, engine.snapshot()
        pos = next(iter(engine.positions.values()))
        # the sim's option prices are Black-Scholes: the basket is labelled modelled, naming the sim's IV
        assert pos.price_source.startswith("modelled [iv sim: ") and pos.modelled
        assert pos.main_entry > 0 and pos.hedge_entry > 0
        assert pos.main.tradingsymbol.startswith("NIFTY") and pos.main.option_type == "CE"
        runner.housekeeping()
        code, out, _ = run_cli("trade", "status", "--format", "json")
        state = json.loads(out)["modes"]["paper"]
        assert state["open_positions"] == 1
        code, out, _ = run_cli("trade", "positions", "--mode", "paper", "--format", "json")
        assert [p["id"] for p in json.loads(out)] == [pos.id]
        code, out, _ = run_cli("trade", "orders", "--mode", "paper", "--date", "2024-06-10", "--format", "json")
        orders = json.loads(out)
        assert {o["status"] for o in orders} == {"COMPLETE"} and len(orders) == 2
        code, out, _ = run_cli("trade", "exit", pos.id, "--mode", "paper")
        assert code == 0 and out.strip() == f"{pos.id}: requested"
        runner.housekeeping()
        assert not engine.positions and engine.closed[-1].exit_reason == "manual"
        assert _retry(kite.positions)["net"] == [] or all(p["quantity"] == 0 for p in _retry(kite.positions)["net"])
    finally:
        os.environ.pop("TRADESIG_KITE_ROOT", None)


def test_trade_start_paper_follows_the_feed_hub(tmp_path):
    """The whole live path as processes: sim → `tradesig feed --serve` → `tradesig trade start --mode paper
    --clock sim`: the 10:15 hourly bar built from hub minutes fires S3 at 11:15 and a basket is opened on the
    sim's quotes; the command stops by itself at --until (sim time) and reports the open basket."""
    import json
    import signal

    from tradesig.store.datasets import Store

    home = tmp_path / "home"
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"))
    bars = conform(df.select("symbol", "ts", "open", "high", "low", "close"))
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata")
    history = bars.filter((local.dt.date() >= date(2024, 5, 13))
                          & (local < datetime(2024, 6, 10, 10, 14, tzinfo=IST)))
    Store(home).write_bars(history, "1m", "test")
    files = [shared_file(f"intraday/{n}_1min_2024-01-01_2024-08-23.parquet") for n in ("nifty50", "niftybank")]
    exchange = SimExchange(SimConfig(data_files=files, day=DAY, start=dtime(10, 14), speed=300.0,
                                     wait_for_client=True, capital=1e10))
    with exchange.run_in_thread() as handle:
        kite, data = _login(handle)
        save_token(home, kite, data, handle.rest_url)
        port = free_port()
        env = cli_env(home, tmp_path, handle.rest_url, handle.ws_url)
        feed = subprocess.Popen([sys.executable, "-m", "tradesig", "feed", "--sim-url", handle.rest_url, "--serve",
                                 str(port), "--symbols", "NIFTY", "--chain-strikes", "0", "--until", "12:30"],
                                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not handle.state()["connections"] and time.monotonic() < deadline:  # the feed's ticker is in
                time.sleep(0.2)
            trade = subprocess.run([sys.executable, "-m", "tradesig", "-v", "trade", "start", "--mode", "paper",
                                    "--clock", "sim", "--hub",
                                    f"ws://127.0.0.1:{port}/ws", "--until", "11:40"],
                                   env=env, cwd=REPO, capture_output=True, text=True, timeout=400)
        finally:
            feed.send_signal(signal.SIGTERM)
            try:
                feed.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                feed.kill()
    assert trade.returncode == 0, trade.stdout + trade.stderr[-3000:]
    assert "trade paper stopped: 1 open" in trade.stdout, trade.stdout + trade.stderr[-3000:]
    events = [json.loads(line) for line in (home / "events" / "2024-06-10.jsonl").read_text().splitlines()]
    signals = [e for e in events if e["kind"] == "signal"]
    assert [(e["signal"], e["bar_ts"]) for e in signals if e["symbol"] == "NIFTY"] == [
        ("S3", "2024-06-10T04:45:00+00:00")]
    opened = [e for e in events if e["kind"] == "position_opened"]
    assert len(opened) == 1 and opened[0]["option_type"] == "CE"
    assert opened[0]["price_source"].startswith("modelled [iv sim: ") and opened[0]["modelled"] is True
    basket = next(e for e in events if e["kind"] == "basket_opened")
    assert basket["modelled"] is True and basket["price_source"] == opened[0]["price_source"]
    state = json.loads((home / "trade" / "state-paper.json").read_text())
    assert [p["id"] for p in state["open"]] == [opened[0]["id"]]


def test_manual_exit_from_fresh_process_then_engine_reconciles(sim, session, kite, instruments, signal_event,
                                                               tmp_path):
    from tradesig.trade.engine import flatten_broker_positions
    from tradesig.trade.service import write_state

    home = tmp_path / "home"
    engine, events = _engine(sim, kite, instruments, home, lots=1)
    # start flat, whatever earlier tests left at the sim (the same contracts would hide this test's exit)
    flatten_broker_positions(engine.broker, engine.orders, instruments, lambda k, p: None)
    assert all(p["quantity"] == 0 for p in _retry(kite.positions)["net"])
    pos = engine.consider(signal_event)
    assert pos is not None
    write_state(home, "live", engine.snapshot())
    now = datetime.now(UTC)
    _, data = session
    TokenStore(home).save(TokenRecord(broker="kite", api_key=kite.api_key, access_token=kite.access_token,
                                      user_id=data.get("user_id", "SIM"), user_name=data.get("user_name", "sim"),
                                      login_time=now, expires_at=kite_expiry(now), root=sim.rest_url))
    env = {**os.environ, "TRADESIG_HOME": str(home), "TRADESIG_KITE_ROOT": sim.rest_url,
           "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("TRADESIG_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "tradesig", "trade", "exit", pos.id, "--mode", "live"], env=env,
                          capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{pos.id}: closed", proc.stdout + proc.stderr
    exits = [o for o in _my_orders(kite, pos.id) if o["tag"][len(f"ts{pos.id}") + 1] == "X"]
    assert [(o["transaction_type"], o["status"]) for o in exits] == [("BUY", "COMPLETE"), ("SELL", "COMPLETE")]
    assert engine.reconcile() == [pos.id]       # the running engine sees the legs flat and closes its record
    assert not engine.positions and engine.closed[-1].exit_reason == "external"
