"""The follower's clock: the sim's replay time (extrapolated at its speed, never backwards) or the wall clock."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tradesig.clock import SystemClock, ist
from tradesig.errors import BrokerError
from tradesig.feed.follow import SimFollowClock, pick_clock


class FakeSimState:
    """Serves GET /_sim/state like the sim's control endpoint, with a settable sim_time and speed."""

    def __init__(self, sim_time: str, speed: float) -> None:
        self.doc = {"sim_time": sim_time, "speed": speed}
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                body = json.dumps({"status": "success", "data": state.doc}).encode()
                self.send_response(200 if self.path == "/_sim/state" else 404)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.root = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sim_state():
    fake = FakeSimState("2024-06-04T09:15:00+05:30", 600.0)
    yield fake
    fake.close()


def test_follows_and_extrapolates_the_replay_clock(sim_state):
    clock = SimFollowClock(sim_state.root, resync_seconds=3600)
    first = clock.now()
    assert ist(2024, 6, 4, 9, 15) <= first < ist(2024, 6, 4, 9, 16)
    time.sleep(0.2)
    later = clock.now()
    assert later > first  # at 600x, 0.2 s of wall time is about two minutes of market time
    assert later.tzinfo is not None


def test_never_goes_backwards_when_the_sim_is_behind(sim_state):
    clock = SimFollowClock(sim_state.root, resync_seconds=0.0)
    ahead = clock.now()
    sim_state.doc["sim_time"] = "2024-06-04T09:00:00+05:30"  # e.g. the sim paused for a client
    assert clock.now() >= ahead


def test_sleep_is_scaled_by_the_replay_speed(sim_state, monkeypatch):
    import tradesig.feed.follow as follow

    slept: list[float] = []
    monkeypatch.setattr(follow.time, "sleep", slept.append)
    SimFollowClock(sim_state.root).sleep(60.0)  # one market minute at 600x
    assert slept == [pytest.approx(0.1)]


def test_pick_clock(sim_state):
    assert isinstance(pick_clock(sim_state.root), SimFollowClock)
    assert isinstance(pick_clock(sim_state.root, "system"), SystemClock)
    assert isinstance(pick_clock("https://api.kite.trade"), SystemClock)  # a real Kite root is never probed
    sim_state.close()
    assert isinstance(pick_clock(sim_state.root), SystemClock)
    with pytest.raises(BrokerError, match="no sim state"):
        pick_clock(sim_state.root, "sim")
