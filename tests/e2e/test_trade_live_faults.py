"""Orders under faults with the engine running (issue 15): `trade start --mode live --clock sim` against the sim
replaying 2024-06-10 at 200× from 11:00 IST (the earlier minutes in the Store). The real S3 signal opens a basket
at the 11:15 close and a strike breach at the 14:15 close closes it; meanwhile the sim times out the entry's first
placement, answers 429 to every REST call for two seconds, rejects the exit's first buy-back and times out a later
order, and the broker "restarts" twice (a proxy between the engine and the sim refuses connections for two
seconds, once while the basket is open and once while it closes).

Afterwards: every order tag was placed once, no short option is left without its hedge, and the engine's state
file equals the broker's net positions. Bounded: the replay covers ~4 hours of market time in about 75 s.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

import polars as pl
import pytest
from kiteconnect import KiteConnect

from tests.conftest import shared_file
from tests.e2e.test_trade_live_sim import _login, _retry, cli_env, free_port, save_token
from tradesig.clock import IST
from tradesig.sim import SimConfig, SimExchange
from tradesig.store.bars import conform
from tradesig.store.datasets import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAY = date(2024, 6, 10)
REPO = Path(__file__).resolve().parents[2]


class FlakyProxy:
    """A TCP forwarder 127.0.0.1:port → the sim's REST port; :meth:`restart` drops every connection and refuses
    new ones for a while (a broker restart as a client sees it), the sim's order book surviving."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self.restarts = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listen()

    def _listen(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self.port = self._sock.getsockname()[1]
        self._sock.listen(64)
        threading.Thread(target=self._accept, args=(self._sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restart(self, down_seconds: float) -> None:
        self._sock.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        time.sleep(down_seconds)  # the outage itself (wall time, as the sim's faults)
        self._listen()
        self.restarts += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _sim_time(handle) -> datetime:
    return datetime.fromisoformat(handle.state()["sim_time"])


def _restart_at(handle, proxy: FlakyProxy, at: dtime, stop: threading.Event) -> None:
    when = datetime.combine(DAY, at, tzinfo=IST)
    while not stop.is_set() and _sim_time(handle) < when:
        time.sleep(0.05)
    if not stop.is_set():
        proxy.restart(2.0)


def test_live_engine_under_order_faults(tmp_path):
    home = tmp_path / "home"
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC"))
    bars = conform(df.select("symbol", "ts", "open", "high", "low", "close"))
    local = pl.col("ts").dt.convert_time_zone("Asia/Kolkata")
    Store(home).write_bars(bars.filter((local.dt.date() >= date(2024, 5, 13))
                                       & (local < datetime(2024, 6, 10, 11, 0, tzinfo=IST))), "1m", "test")
    config = tmp_path / "cfg" / "tradesig" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[kite]\ntimeout_seconds = 2.0\n", encoding="utf-8")  # a held order answer times out
    files = [shared_file(f"intraday/{n}_1min_2024-01-01_2024-08-23.parquet") for n in ("nifty50", "niftybank")]
    # 200 x while orders and faults happen; the quiet hours between the entry's outage and the exit at 1,000 x
    exchange = SimExchange(SimConfig(data_files=files, day=DAY, start=dtime(11, 0), speed=200.0,
                                     speed_changes=[(dtime(11, 50), 1000.0), (dtime(14, 5), 200.0)],
                                     wait_for_client=True, capital=1e10))
    with exchange.run_in_thread() as handle:
        proxy = FlakyProxy(int(handle.rest_url.rsplit(":", 1)[1]))
        kite, data = _login(handle)
        save_token(home, kite, data, proxy.url)
        for spec in ({"kind": "timeout_next_order", "seconds": 6, "at": "11:15:00"},   # the entry's hedge
                     {"kind": "rate_limit", "seconds": 2, "at": "11:15:20"},          # 429s while it opens
                     {"kind": "reject_next_order", "message": "RMS: injected", "at": "14:14:30"},  # exit buy-back
                     {"kind": "timeout_next_order", "seconds": 6, "at": "14:16:00"}):  # the retried exit
            handle.fault(spec)
        hub_port = free_port()
        env = cli_env(home, tmp_path, proxy.url, handle.ws_url)
        # the engine starts first, while the sim waits for its first ticker client (the feed): a slow start-up on a
        # loaded machine cannot let the replay run past the 11:15 signal before the engine follows it
        trade = subprocess.Popen([sys.executable, "-m", "tradesig", "-v", "trade", "start", "--mode", "live",
                                  "--clock", "sim", "--hub", f"ws://127.0.0.1:{hub_port}/ws", "--until", "15:05"],
                                 env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        log = home / "events" / "2024-06-10.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and trade.poll() is None and not (
                log.exists() and "engine_start" in log.read_text()):
            time.sleep(0.2)
        feed = subprocess.Popen([sys.executable, "-m", "tradesig", "feed", "--sim-url", handle.rest_url, "--serve",
                                 str(hub_port), "--symbols", "NIFTY", "--chain-strikes", "0", "--until", "15:25"],
                                env={**env, "TRADESIG_KITE_ROOT": handle.rest_url}, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stop = threading.Event()
        outages = [threading.Thread(target=_restart_at, args=(handle, proxy, at, stop), daemon=True)
                   for at in (dtime(11, 40), dtime(14, 16, 30))]
        out = err = ""
        try:
            for t in outages:
                t.start()
            out, err = trade.communicate(timeout=400)
        finally:
            stop.set()
            if trade.poll() is None:
                trade.kill()
                out, err = trade.communicate()
            feed.send_signal(signal.SIGTERM)
            try:
                feed.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                feed.kill()
        direct = KiteConnect(kite.api_key, access_token=kite.access_token, root=handle.rest_url)
        book = _retry(direct.orders)
        net = {p["tradingsymbol"]: p["quantity"] for p in _retry(direct.positions)["net"] if p["quantity"]}
    assert trade.returncode == 0, out + err[-4000:]
    events = [json.loads(line) for line in (home / "events" / "2024-06-10.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    # the faults were met: a placement timed out, a buy-back was rejected, the broker went away twice
    assert "order_timeout" in kinds and "exit_failed" in kinds and proxy.restarts == 2, (kinds, err[-3000:])
    assert kinds.count("position_opened") == 1
    # no order placed twice: one order per tag
    tags = [o["tag"] for o in book if (o.get("tag") or "").startswith("ts")]
    assert tags and len(tags) == len(set(tags)), sorted(tags)
    # no naked short: every short option has a long hedge of the same type and at least its quantity
    for sym, qty in net.items():
        if qty < 0:
            assert any(q >= -qty and s[-2:] == sym[-2:] for s, q in net.items()), net
    # the engine's state equals the broker's after reconciliation
    state = json.loads((home / "trade" / "state-live.json").read_text())
    held: dict[str, int] = {}
    for p in state["open"]:
        held[p["main"]] = held.get(p["main"], 0) - p["main_qty"]
        held[p["hedge"]] = held.get(p["hedge"], 0) + p["hedge_qty"]
    assert {k: v for k, v in held.items() if v} == net, (state["open"], net)
    closed = [e for e in events if e["kind"] == "position_closed"]
    assert not net and len(closed) == 1 and closed[0]["exit_reason"] == "strike_breach", (net, closed)
