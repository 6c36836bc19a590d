"""A feed following a sim stops by itself (exit 0, one line) when the sim's session is over or the sim is gone
for good — `tradesig demo --speed 60` used to hang, the feed reconnecting to a sim that had exited."""

from __future__ import annotations

import subprocess
import sys
from datetime import time

import pytest

from tests.conftest import shared_file
from tests.e2e.feed_helpers import DAY, NIFTY_FILE, login, make_service, run_service, start_sim, wait_until
from tradesig.clock import IST
from tradesig.store.datasets import Store

pytestmark = pytest.mark.e2e


def test_feed_without_until_stops_when_the_sims_session_is_over(home):
    nifty = shared_file(NIFTY_FILE)
    handle = start_sim([nifty], start=time(15, 20), speed=300)
    handle.loop.call_soon_threadsafe(handle.exchange.clock.hold)  # replay time waits for the feed to connect
    try:
        login(handle, home)
        proc = subprocess.Popen([sys.executable, "-m", "tradesig", "--home", str(home), "feed", "--sim-url",
                                 handle.rest_url, "--symbols", "NIFTY", "--until", "none", "--chain-strikes", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_until(lambda: bool(handle.state()["connections"]) or proc.poll() is not None, 90)
        handle.loop.call_soon_threadsafe(handle.exchange.clock.release)
        out, err = proc.communicate(timeout=120)
    finally:
        handle.stop()
    assert proc.returncode == 0, err[-2000:]
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("feed stopped (sim session over)"), out
    last = Store(home).read_bars("NIFTY", "1m", DAY)["ts"].max()
    assert last is not None and last.astimezone(IST).strftime("%H:%M") == "15:29"  # the session's last minute


def test_feed_stops_when_the_sim_is_gone_for_good(home):
    nifty = shared_file(NIFTY_FILE)
    handle = start_sim([nifty], start=time(10, 0), speed=20)
    login(handle, home)
    service = make_service(home, handle, symbols=["NIFTY"], until=None, sim_gone_seconds=1.0, backoff_base=0.05,
                           backoff_cap=0.2)

    def kill_sim(svc):
        assert wait_until(lambda: svc.connected and svc.ingest.stats.ticks > 0, 60)
        handle.stop()  # the sim exits for good (its process ended)

    summary, _ = run_service(service, timeout=90, during=kill_sim)
    assert summary.stopped_by == "sim gone" and summary.ticks > 0
