"""Followers' clock: market time from the hub when the feed replays the sim; the wall clock otherwise."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tradesig.clock import MarketClock, SystemClock, ist
from tradesig.errors import BrokerError
from tradesig.feed.follow import follower_clock, health_url, observe_message


def serve_health(doc: dict):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            body = json.dumps(doc).encode()
            self.send_response(200 if self.path.startswith("/health") else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_health_url_keeps_token():
    assert health_url("ws://127.0.0.1:8765/ws?token=abc") == "http://127.0.0.1:8765/health?token=abc"
    assert health_url("wss://h:1/ws") == "https://h:1/health"


def test_sim_source_gives_market_clock():
    server = serve_health({"source": "sim", "market_time": "2024-06-04T03:45:00+00:00"})
    try:
        clock = follower_clock(f"ws://127.0.0.1:{server.server_port}/ws")
    finally:
        server.shutdown()
    assert isinstance(clock, MarketClock) and clock.now() == ist(2024, 6, 4, 9, 15)


def test_kite_source_gives_system_clock():
    server = serve_health({"source": "kite", "market_time": "2024-06-04T03:45:00+00:00"})
    try:
        assert isinstance(follower_clock(f"ws://127.0.0.1:{server.server_port}/ws"), SystemClock)
    finally:
        server.shutdown()


def test_unreachable_hub_is_broker_error():
    server = serve_health({})
    port = server.server_port
    server.shutdown()
    server.server_close()
    with pytest.raises(BrokerError, match="cannot reach the feed hub"):
        follower_clock(f"ws://127.0.0.1:{port}/ws", timeout=1)


def test_messages_move_the_market_clock_forward_only():
    clock = MarketClock(ist(2024, 6, 4, 9, 15))
    observe_message(clock, {"type": "tick", "exchange_timestamp": "2024-06-04T03:50:30+00:00"})
    assert clock.now() == ist(2024, 6, 4, 9, 20, 30)
    observe_message(clock, {"type": "bar", "ts": "2024-06-04T04:45:00+00:00", "interval": "1h", "status": "complete"})
    assert clock.now() == ist(2024, 6, 4, 11, 15)
    observe_message(clock, {"type": "bar", "ts": "2024-06-04T05:45:00+00:00", "interval": "1h", "status": "partial"})
    observe_message(clock, {"type": "status", "market_time": "2024-06-04T04:00:00+00:00"})
    observe_message(clock, {"type": "tick", "exchange_timestamp": None})
    assert clock.now() == ist(2024, 6, 4, 11, 15)
    observe_message(clock, {"type": "status", "market_time": "2024-06-04T06:00:00+00:00"})
    assert clock.now() == ist(2024, 6, 4, 11, 30)
    wall = SystemClock()
    observe_message(wall, {"type": "status", "market_time": "2024-06-04T06:00:00+00:00"})  # no-op
