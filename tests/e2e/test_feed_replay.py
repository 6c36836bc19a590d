"""End to end: the feed against the sim replaying the real 4 June 2024 session at high speed."""

from __future__ import annotations

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
)
from tradesig.store.datasets import Store

pytestmark = pytest.mark.e2e


def test_replayed_session_stores_ticks_and_bars_equal_to_the_recording(home):
    files = [shared_file(NIFTY_FILE), shared_file(BANK_FILE)]
    handle = start_sim(files, start=time(14, 50), speed=1000)
    try:
        login(handle, home)
        service = make_service(home, handle)
        summary, _ = run_service(service)
    finally:
        handle.stop()
    assert summary.stopped_by == "until" and summary.reconnects == 0
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
