"""End to end: the feed against the sim replaying the real 4 June 2024 session at high speed."""

from __future__ import annotations

import contextlib
import socket
from datetime import time

import polars as pl
import pytest

from tests.conftest import shared_file
from tests.e2e.feed_helpers import (
    BANK_FILE,
    DAY,
    NIFTY_FILE,
    compare_bars,
    login,
    make_service,
    recorded,
    run_service,
    start_sim,
    wait_until,
)
from tradesig.feed.notify import Notifier
from tradesig.store.datasets import Store

pytestmark = pytest.mark.e2e


def test_replayed_session_stores_ticks_and_bars_equal_to_the_recording(home):
    files = [shared_file(NIFTY_FILE), shared_file(BANK_FILE)]
    handle = start_sim(files, start=time(14, 50), speed=1000)
    notify_path = str(home.parent / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    try:
        login(handle, home)
        notifier = Notifier(env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"})
        service = make_service(home, handle, notifier=notifier)
        summary, _ = run_service(service)
        sock.setblocking(False)
        datagrams = []
        with contextlib.suppress(BlockingIOError):
            while True:
                datagrams.append(sock.recv(4096).decode())
    finally:
        handle.stop()
        sock.close()
    # systemd Type=notify: READY=1 once connected and subscribed, then STATUS= lines and WATCHDOG=1, STOPPING=1
    assert datagrams[0].startswith("READY=1\nSTATUS=connected;")
    assert "WATCHDOG=1" in datagrams and datagrams[-1] == "STOPPING=1"
    assert "phase OPEN" in datagrams[0]
    assert any(d.startswith("STATUS=") and "ticks/s" in d and "gaps 4" in d for d in datagrams)
    assert summary.stopped_by in ("until", "sim session over") and summary.reconnects == 0
    assert summary.gaps == 4  # one "start" gap per instrument: NIFTY, BANKNIFTY and their futures
    store = Store(home)
    for file, symbol in zip(files, ("NIFTY", "BANKNIFTY"), strict=True):
        # the feed joined at ~14:50: 09:15 up to its first minute came from the historical API ("start" gap),
        # the rest live; together they equal the recorded session
        want = recorded(file, symbol, time(9, 15))
        got = store.read_bars(symbol, "1m", DAY)
        compare_bars(got, want)
        live = got.filter(pl.col("status") == "complete")
        assert live.height >= 30 and set(got["status"].to_list()) == {"backfilled", "complete"}
        assert got.filter(pl.col("status") == "backfilled")["ts"].max() < live["ts"].min()
    ticks = store.read_ticks(256265)
    assert ticks.height >= 30 * 12 and ticks["polled"].sum() == 0
    hourly = store.read_bars("NIFTY", "1h", DAY)
    assert hourly["ts"].dt.convert_time_zone("Asia/Kolkata").dt.strftime("%H:%M").to_list()[-1] == "15:15"
    # the index's volume comes from its future (null when the sim's future reports none: never 0-filled)
    assert store.read_bars("NIFTY", "1m", DAY)["volume"].null_count() == 375


def test_option_chain_subscribed_recentred_and_pcr_published(home):
    nifty = shared_file(NIFTY_FILE)
    handle = start_sim([nifty], start=time(14, 45), speed=600)
    try:
        login(handle, home)
        service = make_service(home, handle, symbols=["NIFTY"], chain_strikes=2)

        def watch(svc):
            assert wait_until(lambda: svc.universe is not None, 30)
            first = dict(svc.universe.chain_centre)
            assert wait_until(lambda: svc.universe.chain_centre != first or svc._stop.is_set(), 60)
            return first, svc.health()

        summary, (first, health) = run_service(service, during=watch)
    finally:
        handle.stop()
    assert service.chain_recentres >= 1 and "NIFTY" in first  # spot moved a strike step: re-centred
    options = {t: v for t, v in service.universe.tokens.items() if t in service.universe.options}
    assert len(options) == 10  # 5 strikes x CE/PE around the new centre
    ticks = Store(home).read_ticks()
    option_ticks = ticks.filter(pl.col("symbol").str.ends_with("CE") | pl.col("symbol").str.ends_with("PE"))
    assert option_ticks.height > 0 and option_ticks["oi"].null_count() < option_ticks.height
    assert "pcr" in health and "NIFTY" in health["pcr"]
