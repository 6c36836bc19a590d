"""Fault matrix (issue 15): part of the replayed 2024-06-04 session against the sim, with drops, stalls, a token
expiry and rate limits injected at several points of a minute (second 5, 30 and 55). Every stored 1m bar either
equals the recording or is labelled partial/backfilled (and a partial or missing minute is reported by
`history gaps`), and no tick is stored twice."""

from __future__ import annotations

from collections import Counter
from datetime import time

import polars as pl
import pytest

from tests.conftest import shared_file
from tests.e2e.feed_helpers import DAY, NIFTY_FILE, login, make_service, recorded, run_service, start_sim, wait_until
from tradesig.clock import IST
from tradesig.feed.kite_protocol import decode_frame
from tradesig.store.datasets import Store
from tradesig.store.gaps import bar_gaps
from tradesig.store.journal import Journal

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAULTS = [
    {"kind": "drop", "seconds": 1.0, "at": "14:54:05"},        # cut early in a minute, refused 1 s
    {"kind": "stall", "seconds": 1.0, "at": "14:58:30"},       # silence mid-minute: the watchdog reconnects
    {"kind": "rate_limit", "seconds": 2.0, "at": "15:02:50"},  # every REST call 429: polls and the backfill
    {"kind": "drop", "seconds": 1.0, "at": "15:02:55"},        # ... of this drop, late in the minute
    {"kind": "expire_token", "at": "15:07:30"},                # Kite's "token expired": wait for a new login
    {"kind": "drop", "at": "15:12:55"},                        # a bare drop at the end of a minute
    {"kind": "stall", "seconds": 1.0, "at": "15:16:05"},
]


def test_fault_matrix_every_bar_equals_the_recording_or_is_labelled(home):
    nifty = shared_file(NIFTY_FILE)
    handle = start_sim([nifty], start=time(14, 50), speed=60, faults=FAULTS)
    handle.loop.call_soon_threadsafe(handle.exchange.clock.hold)  # the replay starts once the feed is connected
    try:
        login(handle, home)
        service = make_service(home, handle, symbols=["NIFTY"], until=time(15, 20), stall_seconds=0.4,
                               backoff_base=0.05, backoff_cap=0.3, poll_after_seconds=0.2)

        def operator(svc):
            assert wait_until(lambda: svc.connected, 60)
            handle.loop.call_soon_threadsafe(handle.exchange.clock.release)
            # `tradesig login` once the feed says the token is dead
            assert wait_until(lambda: svc.waiting_for_token or svc.stopping(), 90)
            if svc.waiting_for_token:
                login(handle, home)
            return True

        summary, _ = run_service(service, timeout=120, during=operator)
    finally:
        handle.stop()
    assert summary.reconnects >= 4 and summary.token_waits == 1, summary
    store = Store(home)
    got = store.read_bars("NIFTY", "1m", DAY)
    want = recorded(nifty, "NIFTY", time(9, 15), time(15, 20))
    joined = got.join(want, on="ts", how="inner", suffix="_rec")
    same = pl.all_horizontal([(pl.col(c).round(2) == pl.col(f"{c}_rec").round(2)) for c in ("open", "high", "low",
                                                                                             "close")])
    wrong = joined.filter(~same & pl.col("status").is_in(["complete", "backfilled"]))
    assert wrong.is_empty(), "stored as complete/backfilled but not the recording: " + ", ".join(
        f"{t.astimezone(IST):%H:%M} {s}" for t, s in zip(wrong["ts"], wrong["status"], strict=True))
    assert got["ts"].is_duplicated().sum() == 0
    # every minute of the window is stored, or reported as still partial/missing by `history gaps`
    absent = sorted(set(want["ts"].to_list()) - set(got["ts"].to_list()))
    reported = bar_gaps(home, ["NIFTY"], DAY, DAY)
    if absent:
        assert reported and reported[0]["missing"] >= len(absent), (absent, reported)
    partial = got.filter(pl.col("status") == "partial")
    if not partial.is_empty():
        assert reported and reported[0]["partial"] == partial.height
    # the run's feed_stats event (what `report` reads) names the minutes still owed a backfill, per symbol
    from datetime import date as _date

    from tradesig.store.events import EventLog

    (stats,) = EventLog(home).read(DAY, DAY, kinds=["feed_stats"]) or [None]
    assert stats is not None and isinstance(stats.get("partial_minutes"), dict), stats
    assert _date.fromisoformat(stats["ts"][:10]) == DAY
    # the faults really happened: live minutes and backfilled ones on both sides of them
    assert {"complete", "backfilled"} <= set(got["status"].to_list())
    # no tick stored twice: each journaled ticker frame's ticks are stored exactly once
    ticks = store.read_ticks(date=None)
    journal = Journal(home)
    expected = Counter()
    for day in journal.dates():
        for record in journal.records(day):
            if record.data[:1] != b"{":
                n = len(decode_frame(record.data).ticks)
                if n:
                    expected[(record.position.segment, record.position.next_offset)] = n
    live = ticks.filter(~pl.col("polled"))
    stored = Counter(zip(live["journal_segment"].to_list(), live["journal_next"].to_list(), strict=True))
    assert stored == expected, f"{sum((stored - expected).values())} ticks stored twice"
    assert ticks.height == summary.ticks_written
