"""End to end: `tradesig feed` killed with SIGKILL at random points, ten times; every restart recovers the journal
tail into ticks and bars with no loss and no duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time as _time
from collections import Counter
from datetime import time

import polars as pl
import pytest

from tests.conftest import shared_file
from tests.e2e.feed_helpers import DAY, NIFTY_FILE, compare_bars, login, recorded, start_sim
from tradesig.feed.kite_protocol import decode_frame
from tradesig.store.datasets import Store
from tradesig.store.journal import Journal

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _feed(home, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tradesig", "--home", str(home), "-v", "feed", "--sim-url", url, "--symbols", "NIFTY",
         "--until", "15:30", "--chain-strikes", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_kill_9_ten_times_then_recover_without_loss_or_duplicates(home):
    nifty = shared_file(NIFTY_FILE)
    handle = start_sim([nifty], start=time(15, 0), speed=60)
    rng = random.Random(20240604)
    kills = []
    try:
        login(handle, home)
        for _ in range(10):
            proc = _feed(home, handle.rest_url)
            # a random instant: during start-up and recovery, connecting, or streaming (~1 s to connect)
            _time.sleep(rng.uniform(0.3, 2.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills.append(proc.returncode)
        final = _feed(home, handle.rest_url)
        out, err = final.communicate(timeout=90)
    finally:
        handle.stop()
    assert kills == [-signal.SIGKILL] * 10
    assert final.returncode == 0, err.decode()[-2000:]
    assert b"feed stopped (until)" in out or b"feed stopped (sim session over)" in out

    # no loss, no duplicates: every intact journal record's ticks are stored exactly once
    journal = Journal(home)
    expected: Counter = Counter()
    for day in journal.dates():
        for record in journal.records(day):
            if record.data[:1] == b"{":
                continue
            n = len(decode_frame(record.data).ticks)
            if n:
                expected[(record.position.segment, record.position.next_offset)] = n
    ticks = Store(home).read_ticks()
    stored = Counter(zip(ticks["journal_segment"].to_list(), ticks["journal_next"].to_list(), strict=True))
    assert stored == expected and sum(expected.values()) > 100
    # bars: unique, equal to the recording (live minutes, and the restarts' gaps backfilled)
    got = Store(home).read_bars("NIFTY", "1m", DAY)
    compare_bars(got, recorded(nifty, "NIFTY", time(9, 15)))
    assert got.filter(pl.col("status") == "complete").height > 0


def test_sigterm_flushes_everything_and_exits_0_with_hub_health(home):
    import json
    import socket
    import urllib.request

    nifty = shared_file(NIFTY_FILE)
    handle = start_sim([nifty], start=time(15, 0), speed=100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        login(handle, home)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradesig", "--home", str(home), "feed", "--sim-url", handle.rest_url,
             "--symbols", "NIFTY", "--until", "none", "--chain-strikes", "0", "--serve", str(port),
             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def health():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    return json.loads(resp.read())
            except OSError:
                return None

        from tests.e2e.feed_helpers import wait_until

        assert wait_until(lambda: (health() or {}).get("ticks", 0) > 20, 60)
        doc = health()
        assert doc["connected"] is True and doc["source"] == "sim" and doc["phase"] == "OPEN"
        assert doc["token_expiry"] and doc["viewers"] == 0
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        handle.stop()
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    assert summary["stopped_by"] == "SIGTERM" and summary["recovered_ticks"] == 0
    # everything was flushed: the stored ticks are exactly the journaled ones, no recovery needed
    assert Store(home).read_ticks().height == summary["ticks"] == summary["ticks_written"]
    from tradesig.clock import SystemClock
    from tradesig.feed.ingest import Ingestor

    assert Ingestor(home, SystemClock()).recover() == 0
    assert Store(home).read_bars("NIFTY", "1m", DAY).height > 0
