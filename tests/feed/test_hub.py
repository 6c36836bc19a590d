"""The viewer hub: protocol messages, subscriptions, publish rights, auth, health, page, slow viewers."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tradesig.errors import ConfigError
from tradesig.feed.hub import Hub, is_loopback_host, parse_listen

STRONG = "kR3v9Qx2LmW8tZp4Hc7Yb1Nd6Fg5Js0A"  # 32 characters of letters and digits: ~190 bits
VIEWER = "Vw7Kp2Qm9Xr4Tz8Lc3Hb6Nf1Gd5Sj0Ay"
PUBLISH = "Pb4Xm8Qr2Kv7Tz3Lc9Hw6Nf1Gd5Sj0Ae"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def recv_json(ws):
    return json.loads(await ws.recv())


async def recv_until(ws, kind):
    while True:
        msg = await recv_json(ws)
        if msg["type"] == kind:
            return msg


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read().decode()


def small_socket(port: int) -> socket.socket:
    """A connected client socket with a 4 KiB receive buffer, so a viewer that stops reading shows at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def test_parse_listen_and_loopback():
    assert parse_listen("8765") == ("127.0.0.1", 8765)
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError):
        parse_listen("host:port")
    assert is_loopback_host("127.0.0.1") and is_loopback_host("::1") and is_loopback_host("localhost")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("192.168.1.5") and not is_loopback_host("")


def test_non_loopback_needs_token():
    with pytest.raises(ConfigError):
        Hub("0.0.0.0", 0)
    Hub("0.0.0.0", 0, token=STRONG)


def test_snapshot_ticks_bars_and_subscriptions():
    async def scenario():
        hub = Hub(heartbeat_seconds=0, health=lambda: {"connected": True, "phase": "OPEN"})
        await hub.start()
        try:
            hub.publish_status({"phase": "OPEN", "connected": True})
            hub.publish_tick({"symbol": "NIFTY", "ltp": 23000.5, "ts": "2024-06-04T04:00:00+00:00"})
            async with connect(hub.url) as all_ws, connect(hub.url) as bank_ws:
                snap = await recv_json(all_ws)
                assert snap["type"] == "snapshot" and snap["phase"] == "OPEN" and snap["connected"] is True
                assert snap["ticks"]["NIFTY"]["ltp"] == 23000.5
                assert (await recv_json(bank_ws))["type"] == "snapshot"
                await bank_ws.send(json.dumps({"type": "subscribe", "symbols": ["BANKNIFTY"]}))
                assert (await recv_json(bank_ws)) == {"type": "subscribed", "symbols": ["BANKNIFTY"]}
                async with connect(hub.url + "?symbols=SENSEX") as sensex_ws:
                    await recv_json(sensex_ws)
                    hub.publish_tick({"symbol": "NIFTY", "ltp": 1.0})
                    hub.publish_tick({"symbol": "SENSEX", "ltp": 2.0})
                    assert (await recv_json(sensex_ws))["symbol"] == "SENSEX"
                    assert [(await recv_json(all_ws))["symbol"] for _ in range(2)] == ["NIFTY", "SENSEX"]
                hub.publish_tick({"symbol": "NIFTY", "ltp": 23001.0})
                hub.publish_tick({"symbol": "BANKNIFTY", "ltp": 49000.0})
                hub.publish_bar({"symbol": "BANKNIFTY", "interval": "1m", "ts": "x", "open": 1.0, "high": 2.0,
                                 "low": 0.5, "close": 1.5, "volume": None, "oi": None, "status": "complete"})
                got = [await recv_json(all_ws) for _ in range(3)]
                assert [m["type"] for m in got] == ["tick", "tick", "bar"]
                assert got[0]["symbol"] == "NIFTY" and got[0]["ltp"] == 23001.0
                bank = [await recv_json(bank_ws) for _ in range(2)]
                assert [(m["type"], m["symbol"]) for m in bank] == [("tick", "BANKNIFTY"), ("bar", "BANKNIFTY")]
                await bank_ws.send(json.dumps({"type": "nonsense"}))
                assert (await recv_json(bank_ws))["type"] == "error"
                # a hub without a data home (no dashboard) answers the page's requests with an error
                await bank_ws.send(json.dumps({"type": "history", "symbol": "NIFTY", "interval": "5m"}))
                assert "no data home" in (await recv_until(bank_ws, "error"))["message"]
                await bank_ws.send(json.dumps({"type": "flatten", "mode": "paper", "confirm": True}))
                assert "no data home" in (await recv_until(bank_ws, "error"))["message"]
        finally:
            await hub.stop()

    run(scenario())


def test_publish_signal_from_loopback_reaches_viewers_and_snapshot():
    async def scenario():
        hub = Hub(heartbeat_seconds=0)
        seen = []
        hub.on_signal = seen.append
        await hub.start()
        try:
            async with connect(hub.url) as viewer, connect(hub.url) as publisher:
                await recv_json(viewer)
                await recv_json(publisher)
                await publisher.send(json.dumps({"type": "publish", "channel": "signal",
                                                 "data": {"signal": "S1", "symbol": "NIFTY", "side": "bullish"}}))
                msg = await recv_until(viewer, "signal")
                assert msg["signal"] == "S1" and msg["side"] == "bullish"
                await publisher.send(json.dumps({"type": "publish", "channel": "orders", "data": {}}))
                assert (await recv_until(publisher, "error"))["message"].startswith("publish")
            async with connect(hub.url) as late:
                snap = await recv_json(late)
                assert [s["signal"] for s in snap["signals"]] == ["S1"]
            assert len(seen) == 1
        finally:
            await hub.stop()

    run(scenario())


def test_token_required_and_publish_rights_off_loopback():
    # bound on loopback with a token: the token gates everything; publish rights come from a publish token
    async def scenario():
        hub = Hub(token=VIEWER, publish_token=PUBLISH, heartbeat_seconds=0)
        await hub.start()
        base = f"http://127.0.0.1:{hub.port}"
        try:
            with pytest.raises(InvalidStatus) as info:
                async with connect(hub.url):
                    pass
            assert info.value.response.status_code == 401
            code, _, _ = await asyncio.to_thread(http_get, base + "/health")
            assert code == 401
            code, ctype, body = await asyncio.to_thread(http_get, base + "/health?token=" + VIEWER)
            assert code == 200 and ctype == "application/json" and "viewers" in json.loads(body)
            headers = {"Authorization": "Bearer " + VIEWER}
            async with connect(hub.url, additional_headers=headers) as ws:
                assert (await recv_json(ws))["type"] == "snapshot"
        finally:
            await hub.stop()

    run(scenario())


def test_publish_refused_for_non_loopback_peer_without_publish_token():
    from tradesig.feed import hub as hub_module

    async def scenario(monkey_loopback):
        hub = Hub(heartbeat_seconds=0, publish_token=PUBLISH)
        await hub.start()
        try:
            monkey_loopback(False)
            async with connect(hub.url) as remote, connect(hub.url + "?publish_token=" + PUBLISH) as ok:
                await recv_json(remote)
                await recv_json(ok)
                await remote.send(json.dumps({"type": "publish", "channel": "signal", "data": {"signal": "S2"}}))
                assert "refused" in (await recv_until(remote, "error"))["message"]
                await ok.send(json.dumps({"type": "publish", "channel": "signal", "data": {"signal": "S3"}}))
                assert (await recv_until(remote, "signal"))["signal"] == "S3"
            assert hub.stats.rejected_publish == 1 and hub.stats.signals_in == 1
        finally:
            await hub.stop()

    original = hub_module.is_loopback_host
    flag = {"loopback": True}

    def fake(host):
        return original(host) if flag["loopback"] else False

    def set_loopback(value):
        flag["loopback"] = value

    hub_module.is_loopback_host = fake
    try:
        run(scenario(set_loopback))
    finally:
        hub_module.is_loopback_host = original


def test_health_and_page_served():
    async def scenario():
        hub = Hub(heartbeat_seconds=0, health=lambda: {"connected": False, "phase": "CLOSED", "gaps": 2})
        await hub.start()
        base = f"http://127.0.0.1:{hub.port}"
        try:
            code, ctype, body = await asyncio.to_thread(http_get, base + "/health")
            doc = json.loads(body)
            assert code == 200 and doc["gaps"] == 2 and doc["phase"] == "CLOSED" and doc["viewers"] == 0
            code, ctype, body = await asyncio.to_thread(http_get, base + "/")
            assert code == 200 and ctype.startswith("text/html") and "new WebSocket" in body
            code, _, _ = await asyncio.to_thread(http_get, base + "/nope")
            assert code == 404
        finally:
            await hub.stop()

    run(scenario())


def test_heartbeat_sent():
    async def scenario():
        hub = Hub(heartbeat_seconds=0.05)
        await hub.start()
        try:
            async with connect(hub.url) as ws:
                await recv_json(ws)
                assert (await recv_until(ws, "heartbeat"))["ts"]
        finally:
            await hub.stop()

    run(scenario())


def test_slow_viewer_coalesced_then_dropped_fast_viewers_complete():
    """A viewer that never reads is dropped; a reading viewer gets the latest values in order; publishing never
    blocks. ``tick_interval=0``: flushes follow each other as fast as FLUSH_SHARE allows, so the stalled viewer's
    conflation slot absorbs more than ``2 × client_queue`` flushes without a completed send."""

    async def scenario():
        hub = Hub(heartbeat_seconds=0, client_queue=5, write_limit=1024, send_buffer=8192, tick_interval=0)
        await hub.start()
        try:
            async with connect(hub.url, max_queue=1, sock=small_socket(hub.port)) as slow, \
                    connect(hub.url) as fast:
                await recv_json(fast)
                received: list[int] = []
                last = [-1]  # the last seq published, once publishing ends

                async def reader():
                    while last[0] < 0 or not received or received[-1] != last[0]:
                        msg = await recv_json(fast)
                        if msg["type"] == "tick":
                            received.append(msg["seq"])

                task = asyncio.create_task(reader())
                # at least 3,000 ticks, and on until the stalled viewer is dropped: how many flushes 3,000 ticks
                # take depends on the machine's load (FLUSH_SHARE spaces flushes by their CPU time)
                seq = 0
                while seq < 3000 or (hub.stats.dropped_slow == 0 and seq < 60_000):
                    hub.publish_tick({"symbol": "NIFTY", "ltp": 100.0 + seq, "seq": seq, "pad": "x" * 2000})
                    if seq % 5 == 0:
                        await asyncio.sleep(0)  # the feed yields between frames
                    seq += 1
                last[0] = seq - 1
                hub.flush_ticks()
                await task
                assert hub.stats.dropped_slow == 1
                assert hub.client_count == 1
                # the fast viewer may have had values conflated, but always ends on the latest value, in order
                assert received[-1] == last[0] and received == sorted(received)
                assert hub.stats.ticks_in == seq and hub.stats.tick_flushes < seq
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(slow.recv(), 5)
        finally:
            await hub.stop()

    run(scenario())


def test_busy_port_is_a_one_line_config_error():
    import asyncio
    import socket

    from tradesig.errors import ConfigError
    from tradesig.feed.hub import Hub

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = Hub(host="127.0.0.1", port=port)
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1:"):
            asyncio.run(hub.start())


# ------------------------------------------------------------------------------------------ tokens (issue 15)

def test_token_strength_is_estimated_from_length_and_alphabet():
    from tradesig.feed.hub_auth import MIN_TOKEN_BITS, token_bits

    assert token_bits("a") < 8 and token_bits("") == 0
    assert token_bits("0123456789abcdef" * 2) == 128  # 32 hex digits
    assert token_bits("a" * 64) == 0  # long but not random
    assert token_bits(STRONG) >= MIN_TOKEN_BITS
    import secrets

    # what TOKEN_ADVICE makes passes every time; token_urlsafe(16) (22 characters) can miss: the estimate counts
    # only the character classes a token shows, and one without digits or '-'/'_' estimates to 125 bits
    assert all(token_bits(secrets.token_urlsafe(32)) >= MIN_TOKEN_BITS for _ in range(2000))
    assert token_bits(secrets.token_hex(15)) < MIN_TOKEN_BITS  # 120 bits


def test_weak_tokens_refused_off_loopback_and_for_publishing():
    with pytest.raises(ConfigError, match="bits of entropy"):
        Hub("0.0.0.0", 0, token="x")
    with pytest.raises(ConfigError, match="bits of entropy"):
        Hub("0.0.0.0", 0, token="correct-horse")
    with pytest.raises(ConfigError, match="publish token"):
        Hub(publish_token="short-publish")
    Hub("127.0.0.1", 0, token="x")  # loopback: the viewer token is a convenience, any length


def test_token_file_must_be_private(tmp_path):
    from tradesig.feed.hub_auth import read_token_file

    path = tmp_path / "hub.token"
    path.write_text(STRONG + "\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644") as info:
        read_token_file(path, "viewer token")
    assert info.value.hint == f"chmod 600 {path}"
    path.chmod(0o600)
    assert read_token_file(path, "viewer token") == STRONG
    path.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        read_token_file(path, "viewer token")
    with pytest.raises(ConfigError, match="cannot read"):
        read_token_file(tmp_path / "missing", "viewer token")


def test_feed_cli_refuses_a_world_readable_token_file(tmp_path):
    import subprocess
    import sys

    token = tmp_path / "hub.token"
    token.write_text(STRONG)
    token.chmod(0o644)
    proc = subprocess.run([sys.executable, "-m", "tradesig", "--home", str(tmp_path / "home"), "feed", "--serve",
                           "0.0.0.0:0", "--token-file", str(token)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "mode 0644" in lines[0] and "Traceback" not in proc.stderr
