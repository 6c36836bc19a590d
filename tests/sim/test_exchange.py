"""The sim served in-process on loopback: auth, control endpoint, faults, rate limits, ticker modes, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from kiteconnect import KiteConnect, exceptions
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import shared_file
from tradesig.clock import ManualClock
from tradesig.errors import DataError
from tradesig.feed.kite_protocol import decode_frame, decode_text
from tradesig.sim import SimConfig, SimExchange, parse_fault_spec

DAY = date(2024, 6, 4)
NIFTY_1M = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"


def login(handle) -> KiteConnect:
    r = requests.get(f"{handle.rest_url}/connect/login", params={"api_key": handle.api_key, "v": 3},
                     allow_redirects=False, timeout=5)
    rt = parse_qs(urlsplit(r.headers["location"]).query)["request_token"][0]
    kite = KiteConnect(handle.api_key, root=handle.rest_url)
    kite.generate_session(rt, handle.api_secret)
    return kite


@pytest.fixture
def frozen():
    """A sim whose wall clock is a ManualClock: sim time and rate-limit windows move only when told."""
    wall = ManualClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    sim = SimExchange(SimConfig(data_files=[shared_file(NIFTY_1M)], day=DAY, start=time(10, 0)), wall=wall)
    with sim.run_in_thread() as handle:
        handle.wall = wall
        yield handle


@pytest.fixture
def live():
    """A sim on the real clock, synthetic data, rate limits off, clock held until a ticker client subscribes."""
    sim = SimExchange(SimConfig(day=DAY, speed=100, start=time(11, 0), rate_limits=False, wait_for_client=True,
                                instruments_dump=shared_file("kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz")))
    with sim.run_in_thread() as handle:
        yield handle


def test_rate_limits_answer_429_and_reset_after_a_second(frozen):
    kite = login(frozen)
    kite.ltp("NSE:NIFTY 50")
    with pytest.raises(exceptions.NetworkException) as err:
        kite.ltp("NSE:NIFTY 50")  # quote endpoints: 1 request/s
    assert err.value.code == 429
    frozen.wall.advance(1.0)
    assert kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"] > 0
    for _ in range(3):
        kite.historical_data(256265, "2024-06-04 09:15:00", "2024-06-04 09:30:00", "minute")
    with pytest.raises(exceptions.NetworkException):
        kite.historical_data(256265, "2024-06-04 09:15:00", "2024-06-04 09:30:00", "minute")  # 3/s


def test_expired_and_expire_token_fault_answer_403(frozen):
    kite = login(frozen)
    assert kite.profile()["user_id"]
    frozen.wall.advance(26 * 3600.0)  # past 06:00 IST the next day
    with pytest.raises(exceptions.TokenException):
        kite.profile()
    kite = login(frozen)
    frozen.fault({"kind": "expire_token"})
    with pytest.raises(exceptions.TokenException) as err:
        kite.margins()
    assert err.value.code == 403
    assert frozen.state()["faults"]["expired_tokens"] >= 1


def test_rate_limit_and_delay_faults(frozen):
    kite = login(frozen)
    frozen.fault({"kind": "rate_limit", "seconds": 5})
    with pytest.raises(exceptions.NetworkException):
        kite.profile()
    frozen.wall.advance(6.0)
    kite.profile()
    frozen.fault({"kind": "delay", "seconds": 0.01, "count": 1})
    assert frozen.state()["faults"]["delay"] == {"seconds": 0.01, "count": 1}
    kite.profile()
    assert "delay" not in frozen.state()["faults"]


def test_timeout_next_order_places_the_order_but_answers_late(frozen):
    kite = login(frozen)
    slow = KiteConnect(frozen.api_key, access_token=kite.access_token, root=frozen.rest_url, timeout=0.3)
    frozen.fault({"kind": "timeout_next_order", "seconds": 1.5})
    with pytest.raises(requests.exceptions.ReadTimeout):
        slow.place_order("regular", "NFO", "NIFTY24JUNFUT", "BUY", 25, "MIS", "MARKET", market_protection=-1)
    orders = kite.orders()
    assert len(orders) == 1 and orders[0]["tradingsymbol"] == "NIFTY24JUNFUT"


def test_reject_next_order(frozen):
    kite = login(frozen)
    frozen.fault({"kind": "reject_next_order", "message": "RMS:Rule: test"})
    oid = kite.place_order("regular", "NFO", "NIFTY24JUNFUT", "SELL", 25, "MIS", "LIMIT", price=30000.0)
    frozen.wall.advance(1.0)  # past the 200 ms order latency
    frozen.call(frozen.exchange.clock.sync)
    frozen.call(lambda: frozen.exchange.orders.step(frozen.exchange.clock.now()))
    last = kite.order_history(oid)[-1]
    assert last["status"] == "REJECTED" and last["status_message"] == "RMS:Rule: test"


def test_control_endpoint_and_kite_headers(frozen):
    base = frozen.rest_url
    r = requests.post(f"{base}/_sim/fault", json={"kind": "meltdown"}, timeout=5)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"
    r = requests.post(f"{base}/_sim/fault", json={"kind": "stall", "at": "10:30", "seconds": 5}, timeout=5)
    assert r.json()["data"]["scheduled"] == [{"kind": "stall", "seconds": 5, "at": "10:30:00"}]
    requests.delete(f"{base}/_sim/fault", timeout=5)
    state = requests.get(f"{base}/_sim/state", timeout=5).json()["data"]
    assert state["synthetic"] is False and state["date"] == "2024-06-04" and state["faults"]["scheduled"] == []
    assert "tradesig-sim-secret" not in json.dumps(state)
    kite = login(frozen)
    auth = {"Authorization": f"token {frozen.api_key}:{kite.access_token}"}
    r = requests.get(f"{base}/user/profile", headers=auth, timeout=5)
    assert r.status_code == 400 and "X-Kite-Version" in r.json()["message"]
    r = requests.get(f"{base}/nope", headers={**auth, "X-Kite-Version": "3"}, timeout=5)
    assert r.status_code == 404 and r.json()["error_type"] == "GeneralException"
    r = requests.get(f"{base}/connect/login", params={"api_key": "other"}, allow_redirects=False, timeout=5)
    assert r.status_code == 400


def test_historical_of_an_option_is_modelled_from_the_index(frozen):
    kite = login(frozen)
    ce = next(i for i in kite.instruments("NFO") if i["tradingsymbol"] == "NIFTY24JUN23000CE")
    candles = kite.historical_data(ce["instrument_token"], "2024-06-04 09:15:00", "2024-06-04 09:20:00", "minute")
    assert len(candles) == 6 and all(c["low"] <= min(c["open"], c["close"]) for c in candles)
    assert candles[0]["open"] > candles[-1]["close"]  # NIFTY fell ~400 points in those minutes: the call fell


def test_fault_spec_parsing():
    assert parse_fault_spec("stall,at=10:30,seconds=20") == {"kind": "stall", "at": "10:30", "seconds": 20.0}
    assert parse_fault_spec("delay,seconds=1,count=3")["count"] == 3
    with pytest.raises(DataError):
        parse_fault_spec("stall,seconds")
    with pytest.raises(DataError):
        SimExchange(SimConfig(day=DAY, faults=[{"kind": "nope"}]))
    for bad in ("stall,seconds=-5", "bogus", "delay,count=0", "stall,seconds=nan", "drop,at=25:00"):
        with pytest.raises(DataError):
            parse_fault_spec(bad)
    with pytest.raises(DataError, match="negative"):
        SimExchange(SimConfig(day=DAY, faults=[{"kind": "stall", "seconds": -5}]))


def test_synthetic_session_is_marked(live):
    kite = login(live)
    assert "SYNTHETIC" in kite.profile()["user_name"]
    assert live.state()["synthetic"] is True
    assert kite.ltp("BSE:SENSEX")["BSE:SENSEX"]["last_price"] > 0


async def _ws(handle, token: str):
    return await connect(f"{handle.ws_url}/?api_key={handle.api_key}&access_token={token}", open_timeout=5)


def test_ticker_refuses_unknown_tokens(live):
    async def run():
        with pytest.raises(InvalidStatus) as err:
            await _ws(live, "not-a-token")
        assert err.value.response.status_code == 403

    asyncio.run(run())


def test_ticker_modes_heartbeats_drop_and_stall(live):
    kite = login(live)

    async def run():
        ws = await _ws(live, kite.access_token)
        first = await asyncio.wait_for(ws.recv(), 5)  # idle (clock held, nothing subscribed): heartbeat
        assert first == b"\x00"
        await ws.send(json.dumps({"a": "subscribe", "v": [256265, 260105]}))
        await ws.send(json.dumps({"a": "mode", "v": ["ltp", [256265, 260105]]}))
        modes = set()
        for _ in range(30):
            msg = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(msg, bytes) and len(msg) > 1:
                for t in decode_frame(msg).ticks.to_dicts():
                    modes.add(t["mode"])
            if "ltp" in modes:
                break
        assert "ltp" in modes
        await ws.send("not json")
        while True:  # the sim answers a bad message with an error text frame
            msg = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(msg, str):
                assert decode_text(msg).type == "error"
                break
        live.fault({"kind": "stall", "seconds": 60})
        while True:  # drain what was in flight
            try:
                await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):  # silence, connection open
            await asyncio.wait_for(ws.recv(), 2.5)
        live.fault({"kind": "clear"})
        assert await asyncio.wait_for(ws.recv(), 5)
        live.fault({"kind": "drop"})
        with pytest.raises(ConnectionClosed) as err:
            for _ in range(1000):
                await asyncio.wait_for(ws.recv(), 5)
        assert err.value.rcvd is None  # dropped: no close frame

    asyncio.run(run())


def test_open_access_accepts_any_token_until_expired():
    wall = ManualClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    sim = SimExchange(SimConfig(day=DAY, start=time(10, 0), open_access=True), wall=wall)
    with sim.run_in_thread() as handle:
        kite = KiteConnect("any-key", access_token="any-token", root=handle.rest_url)
        assert kite.profile()["user_id"] == "SIM001"
        quotes = kite.ltp("NSE:NIFTY 50", "NSE:NO SUCH", "256265")
        assert set(quotes) == {"NSE:NIFTY 50", "256265"}  # unknown instruments are left out, as Kite does
        handle.fault({"kind": "expire_token"})
        with pytest.raises(exceptions.TokenException):
            kite.profile()
        other = KiteConnect("any-key", access_token="a-new-token", root=handle.rest_url)
        assert other.profile()["user_id"] == "SIM001"


def test_no_dump_means_a_synthetic_instrument_master(tmp_path, monkeypatch):
    with pytest.raises(DataError):  # an explicit dump that is missing is an error, not a silent fallback
        SimExchange(SimConfig(day=DAY, instruments_dump=tmp_path / "absent.csv.gz"))
    monkeypatch.setattr("tradesig.sim.exchange.default_instruments_dump", lambda: None)
    sim = SimExchange(SimConfig(day=DAY, start=time(10, 0)))
    assert sim.instruments_source.startswith("synthetic")
    fut = sim.catalog.by_key["NFO:NIFTY24JUNFUT"]
    assert sim.market.price(fut, sim.clock.now()) > 0


def test_malformed_input_is_an_input_exception(frozen):
    kite = login(frozen)
    headers = {"Authorization": f"token {frozen.api_key}:{kite.access_token}", "X-Kite-Version": "3"}
    r = requests.post(f"{frozen.rest_url}/margins/basket", data="not json", headers=headers, timeout=5)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"
    r = requests.post(f"{frozen.rest_url}/margins/basket", json=[{"exchange": "NFO", "tradingsymbol":
                      "NIFTY24JUNFUT", "transaction_type": "BUY", "quantity": "x"}], headers=headers, timeout=5)
    assert r.status_code == 400
    r = requests.get(f"{frozen.rest_url}/instruments/historical/256265/minute", params={"from": "x", "to": "y"},
                     headers=headers, timeout=5)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"


def test_linger_starts_once_ticker_clients_have_read_their_backlog():
    """A ticker client slower than the replay (a loaded machine) still holds unread ticks in the socket when the
    session ends; the sim keeps serving until they are read, then lingers, so the client gets the session's last
    ticks instead of a dropped connection."""
    from tradesig.sim import exchange as ex

    async def scenario() -> tuple[bool, bool]:
        sim = SimExchange(SimConfig(day=DAY, start=time(15, 29), rate_limits=False))
        backlog = [4096]
        task = asyncio.create_task(sim.serve(linger=0.05))
        while sim.session_over is None:
            await asyncio.sleep(0.01)
        sim.ticker.unsent_bytes = lambda: backlog[0]  # what the transports would report
        sim.session_over.set()
        await asyncio.sleep(0.6)
        held = not task.done()
        backlog[0] = 0
        await asyncio.wait_for(task, timeout=5)
        return held, task.done()

    assert ex.BACKLOG_WAIT_SECONDS >= 60  # a loaded machine can trail a 500x replay by tens of seconds
    held, ended = asyncio.run(scenario())
    assert held and ended


def test_tokens_are_shaped_like_kites(frozen):
    """32 characters of [A-Za-z0-9], as Kite issues them: never a '-' that a command line would read as an option
    (a URL-safe token starting with '-' once broke a subprocess's argument parsing)."""
    import re

    from tradesig.sim.auth import kite_token

    assert re.fullmatch(r"[A-Za-z0-9]{32}", login(frozen).access_token)
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", kite_token()) for _ in range(2000))


def test_a_snapshot_is_stamped_with_the_replays_time_not_a_clock_running_ahead(frozen):
    """On a loaded machine the sim's clock can run ahead of its replay; a subscribe snapshot stamped with the
    clock's time reached the feed before the replay's last ticks of 15:29 and closed that minute early. The
    snapshot carries each instrument's last quote, stamped with its index's last tick."""
    import time as wall_time
    from datetime import timedelta

    from tradesig.sim.ticker import TickerConn

    exchange = frozen.exchange
    frozen.wall.advance(90.0)
    for _ in range(100):  # the replay's loop syncs to the wall within half a second
        ts = frozen.call(lambda: exchange.market.index[256265].ts)
        if ts:
            break
        wall_time.sleep(0.05)
    assert ts
    option = next(i for i in exchange.catalog.by_token.values()
                  if i.instrument_type == "CE" and i.underlying == "NIFTY")

    class Socket:
        closed = False
        frames: list[bytes] = []

        def send_binary(self, data: bytes) -> bool:
            self.frames.append(data)
            return True

    sock = Socket()
    conn = TickerConn(sock, "t", subs={option.instrument_token: "full", 256265: "full"})
    ahead = datetime.fromtimestamp(ts, UTC) + timedelta(hours=1)
    frozen.call(exchange.ticker.snapshot, conn, [256265, option.instrument_token], ahead)
    ticks = decode_frame(sock.frames[-1]).ticks.to_dicts()
    stamps = {t["instrument_token"]: t["exchange_timestamp"] for t in ticks}
    assert {stamps[256265], stamps[option.instrument_token]} == {datetime.fromtimestamp(ts, UTC)}


def test_the_replay_waits_for_a_ticker_client_that_trails_it():
    """A client that stops reading (a loaded machine, a replay faster than its consumer) holds the replay's clock
    once its backlog passes the pacing threshold; when it reads again the clock runs on. Without pacing the sim
    ran hours ahead of a trailing feed, and the paper engine's orders met a market the feed had not yet shown."""
    import socket
    import time as wall_time

    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    sim = SimExchange(SimConfig(day=DAY, speed=300, start=time(11, 0), rate_limits=False,
                                instruments_dump=shared_file("kite/kite_instruments_NFO_BFO_2026-08-18.csv.gz")))
    with sim.run_in_thread() as handle:
        kite = login(handle)
        options = [i.instrument_token for i in sim.catalog.by_token.values()
                   if i.underlying == "NIFTY" and i.instrument_type in ("CE", "PE")][:300]
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that keeps little in its kernel
        sock.connect(("127.0.0.1", handle.exchange.port))
        proto = ClientProtocol(parse_uri(f"{handle.ws_url}/?api_key={handle.api_key}"
                                         f"&access_token={kite.access_token}"))
        proto.send_request(proto.connect())
        sock.sendall(b"".join(proto.data_to_send()))
        while proto.handshake_exc is None and proto.state.name != "OPEN":
            proto.receive_data(sock.recv(65536))
        assert proto.state.name == "OPEN"
        proto.send_text(json.dumps({"a": "subscribe", "v": [256265, *options]}).encode())
        proto.send_text(json.dumps({"a": "mode", "v": ["full", [256265, *options]]}).encode())
        sock.sendall(b"".join(proto.data_to_send()))

        def sim_time() -> datetime:
            return datetime.fromisoformat(handle.state()["sim_time"])

        deadline = wall_time.monotonic() + 20
        while handle.state()["stats"]["paced"] == 0 and wall_time.monotonic() < deadline:
            wall_time.sleep(0.1)  # not reading: the backlog grows
        assert handle.state()["stats"]["paced"] >= 1
        held = sim_time()
        wall_time.sleep(1.0)  # 300 market seconds at 300x, were it running
        assert sim_time() == held
        sock.settimeout(0.05)
        deadline = wall_time.monotonic() + 20
        while sim_time() <= held + timedelta(seconds=30) and wall_time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                sock.recv(1 << 20)  # reading again: the clock runs on
        assert sim_time() > held + timedelta(seconds=30)
        sock.close()


def test_speed_changes_take_effect_at_their_sim_time():
    """``speed_changes``: the replay runs at ``speed`` until the first change's sim time, then at its speed; the
    state reports the speed in force. The wall clock is a ManualClock, so sim time moves only when it does."""
    import time as wall_time

    wall = ManualClock(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    config = SimConfig(data_files=[shared_file(NIFTY_1M)], day=DAY, start=time(10, 0), speed=10,
                       speed_changes=[(time(10, 5), 100.0), (time(10, 30), 20.0)])
    with SimExchange(config, wall=wall).run_in_thread() as handle:

        def after(wall_seconds: float, until) -> dict:
            wall.advance(wall_seconds)
            deadline = wall_time.monotonic() + 10
            state = handle.state()
            while not until(state) and wall_time.monotonic() < deadline:
                wall_time.sleep(0.02)  # the sim's loop wakes at least every 0.5 s
                state = handle.state()
            return state

        def at(state) -> datetime:
            return datetime.fromisoformat(state["sim_time"])

        start = datetime(2024, 6, 4, 10, 0, tzinfo=at(handle.state()).tzinfo)
        state = after(20, lambda s: at(s) >= start + timedelta(seconds=200))  # 10 x: 10:03:20
        assert at(state) == start + timedelta(seconds=200) and state["speed"] == 10
        state = after(20, lambda s: s["speed"] == 100)  # crosses 10:05: 100 x from where the clock stood
        crossed = at(state)
        assert timedelta(minutes=5) <= crossed - start <= timedelta(seconds=400)
        state = after(6, lambda s: at(s) >= crossed + timedelta(seconds=600))  # 6 wall s at 100 x
        assert at(state) == crossed + timedelta(seconds=600) and state["speed"] == 100
        state = after(20, lambda s: s["speed"] == 20)
        assert at(state) >= start + timedelta(minutes=30)


@pytest.mark.parametrize("changes, words", [([(time(10, 5), 5000.0)], "out of range"),
                                            ([(time(10, 5), 0.0)], "out of range"),
                                            ([(time(11, 0), 50.0), (time(10, 0), 60.0)], "order of time")])
def test_bad_speed_changes_are_refused(changes, words):
    with pytest.raises(DataError, match=words):
        SimConfig(day=DAY, speed=10, speed_changes=changes)
