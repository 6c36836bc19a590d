"""FeedService without a broker: idling outside the session, systemd readiness, roots and options."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, time, timedelta
from types import SimpleNamespace

from tradesig.config import LoadedConfig, Settings
from tradesig.feed.notify import Notifier
from tradesig.feed.service import FeedOptions, FeedService, options_from_settings, resolve_roots


class ClosedCalendar:
    """A calendar saying the market is shut until tomorrow."""

    def phase(self, ts):
        return SimpleNamespace(name="CLOSED")

    def next_open(self, ts):
        return ts + timedelta(days=1)


def test_idles_outside_the_session_ready_for_systemd_and_never_connects(home, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    loaded = LoadedConfig(Settings(), None, home)
    service = FeedService(loaded, FeedOptions(source="kite", status_seconds=0.05, rest_root="http://127.0.0.1:9",
                                              ws_root="ws://127.0.0.1:9"),
                          calendar=ClosedCalendar(), notifier=Notifier(env={"NOTIFY_SOCKET": path}))

    async def scenario():
        task = asyncio.create_task(service.run())
        await asyncio.sleep(0.5)
        service.request_stop()
        return await task

    try:
        summary = asyncio.run(asyncio.wait_for(scenario(), 30))
        sock.settimeout(10)
        first = sock.recv(4096).decode()
    finally:
        sock.close()
    assert summary.connect_attempts == 0 and summary.ticks == 0 and summary.stopped_by == "stop"
    assert first == "READY=1\nSTATUS=idle: market CLOSED"
    assert service.health()["phase"] == "CLOSED" and service.health()["connected"] is False


def test_roots_and_options():
    loaded = LoadedConfig(Settings(), None, __import__("pathlib").Path("/nonexistent"))
    assert resolve_roots(loaded, FeedOptions(sim_url="http://127.0.0.1:8000/"), env={}) == \
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000")
    assert resolve_roots(loaded, FeedOptions(), env={"TRADESIG_KITE_ROOT": "http://x", "TRADESIG_KITE_WS_ROOT":
                                                      "ws://y"}) == ("http://x", "ws://y")
    assert resolve_roots(loaded, FeedOptions(), env={}) == ("https://api.kite.trade", "wss://ws.kite.trade")
    opts = options_from_settings(loaded, until=time(15, 0), chain_strikes=None)
    assert opts.until == time(15, 0) and opts.chain_strikes == 10 and opts.stall_seconds == 15.0
    assert opts.token_reload_seconds <= 1.0


def test_sim_api_key_default_and_market_time(home):
    service = FeedService(LoadedConfig(Settings(), None, home), FeedOptions(source="sim",
                                                                            sim_url="http://127.0.0.1:1"))
    assert service.api_key == "tradesig-sim"
    service.source.sim_time = datetime(2024, 6, 4, 4, 0, tzinfo=__import__("datetime").UTC)
    assert service.market_now() == service.source.sim_time and service.current_phase() == "OPEN"
