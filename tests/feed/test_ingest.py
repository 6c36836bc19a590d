"""Ingest pipeline: journal → ticks → bars on real recorded bars; exactly-once recovery; gaps; index volume."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import polars as pl

from tests.conftest import shared_file
from tests.feed.frames import BANK_FILE, NIFTY_FILE, frames_from_bars, recorded_bars
from tradesig.clock import ManualClock
from tradesig.feed.ingest import Ingestor
from tradesig.feed.kite_protocol import HEARTBEAT, encode_frame
from tradesig.store.datasets import Store
from tradesig.store.events import EventLog

DAY = date(2024, 6, 4)


def _clock():
    return ManualClock(datetime(2024, 6, 4, 10, tzinfo=UTC))


def _compare(home, want: pl.DataFrame, symbol: str, statuses=("complete",)):
    got = Store(home).read_bars(symbol, "1m", DAY)
    assert got.height == want.height
    assert got["ts"].to_list() == want["ts"].to_list()
    for col in ("open", "high", "low", "close"):
        assert got[col].round(2).to_list() == want[col].round(2).to_list(), col
    assert set(got["status"].to_list()) <= set(statuses)
    assert got["volume"].null_count() == got.height  # index bars: no volume, never 0-filled


def test_replay_builds_exact_1m_and_higher_bars(home):
    nifty = recorded_bars(shared_file(NIFTY_FILE), DAY, "NIFTY", 0, 75)
    bank = recorded_bars(shared_file(BANK_FILE), DAY, "BANKNIFTY", 0, 75)
    frames = frames_from_bars({256265: nifty, 260105: bank})
    bars_seen = []
    ing = Ingestor(home, _clock(), source="sim", on_bar=bars_seen.append, flush_ticks=500)
    recv = datetime(2026, 1, 1, tzinfo=UTC)
    for i, (_, frame) in enumerate(frames):
        ing.on_frame(frame, recv + timedelta(milliseconds=i))
        if i % 37 == 0:
            ing.on_frame(HEARTBEAT, recv + timedelta(milliseconds=i))
    ing.close(now=nifty["ts"].max() + timedelta(minutes=1))
    _compare(home, nifty, "NIFTY")
    _compare(home, bank, "BANKNIFTY")
    store = Store(home)
    ticks = store.read_ticks(date=date(2026, 1, 1))
    assert ticks.height == sum(12 for _ in range(150)) and ticks["polled"].sum() == 0
    hourly = store.read_bars("NIFTY", "1h", DAY)
    assert hourly["ts"].dt.convert_time_zone("Asia/Kolkata").dt.strftime("%H:%M").to_list() == ["09:15", "10:15"]
    assert hourly["high"][0] == nifty.slice(0, 60)["high"].max()
    assert hourly["status"].to_list() == ["complete", "partial"]  # 10:15-11:15 has 15 of 60 minutes
    five = store.read_bars("NIFTY", "5m", DAY)
    assert five.height == 15 and five["close"][-1] == nifty["close"][-1]
    assert {b["interval"] for b in bars_seen} == {"1m", "5m", "15m", "1h", "4h"}
    assert ing.stats.heartbeats > 0 and ing.stats.bad_packets == 0


def test_recovery_after_crash_is_exactly_once(home):
    nifty = recorded_bars(shared_file(NIFTY_FILE), DAY, "NIFTY", 0, 20)
    frames = frames_from_bars({256265: nifty})
    recv = datetime(2026, 1, 1, tzinfo=UTC)
    total = len(frames)
    for cut in (0, 1, 57, total - 1):
        # a previous run wrote some ticks parts, then journaled more frames and died before flushing them
        for sub in ("journal", "ticks", "bars"):
            os.system(f"rm -rf {home / sub}")
        first = Ingestor(home, _clock(), source="sim", flush_ticks=25)
        for i, (_, frame) in enumerate(frames[:cut]):
            first.on_frame(frame, recv + timedelta(milliseconds=i))
        first.journal.flush()  # kill -9 here: the OS has the journal; buffered ticks are lost with the process
        second = Ingestor(home, _clock(), source="sim", flush_ticks=25)
        recovered = second.recover()
        third = Ingestor(home, _clock(), source="sim")
        assert third.recover() == 0  # nothing left: recovery is idempotent
        ticks = Store(home).read_ticks(date=date(2026, 1, 1))
        assert ticks.height == cut == first.stats.ticks  # one tick per frame: nothing lost
        assert recovered == cut - first.stats.ticks_written
        if cut:
            assert ticks.select("journal_segment", "journal_next").is_duplicated().sum() == 0  # no duplicates
        # the rest of the session arrives live after the restart; bars end up equal and unique
        second.seed_bars(date(2026, 1, 1))
        for i, (_, frame) in enumerate(frames[cut:], start=cut):
            second.on_frame(frame, recv + timedelta(milliseconds=i))
        second.close(now=nifty["ts"].max() + timedelta(minutes=1))
        all_ticks = Store(home).read_ticks(date=date(2026, 1, 1))
        assert all_ticks.height == 12 * 20
        got = Store(home).read_bars("NIFTY", "1m", DAY)
        assert got["ts"].is_duplicated().sum() == 0
        assert got["close"].round(2).to_list() == nifty["close"].round(2).to_list()


def test_gap_marks_minutes_dirty_and_backfill_replaces_them(home):
    nifty = recorded_bars(shared_file(NIFTY_FILE), DAY, "NIFTY", 0, 10)
    frames = frames_from_bars({256265: nifty})
    recv = datetime(2026, 1, 1, tzinfo=UTC)
    ing = Ingestor(home, _clock(), source="sim", flush_ticks=10**9)
    lost = range(30, 50)  # ticks of minutes 2..4 never arrive (disconnected)
    for i, (_, frame) in enumerate(frames):
        if i == lost.start:
            ing.flush()
            ing.bars.open_gap("network")
        if i in lost:
            continue
        ing.on_frame(frame, recv + timedelta(milliseconds=i))
        ing.flush()
    requests = ing.bars.backfill_requests()
    assert [r[0] for r in requests] == ["NIFTY"]
    sym, first, last = requests[0]
    assert first == nifty["ts"][2] and last == nifty["ts"][4]
    history = nifty.with_columns(pl.lit(None, dtype=pl.Int64).alias("volume"), pl.lit(None, dtype=pl.Int64)
                                 .alias("oi"))
    ing.bars.apply_backfill(sym, history, first, last)
    ing.close(now=nifty["ts"].max() + timedelta(minutes=1))
    got = Store(home).read_bars("NIFTY", "1m", DAY)
    assert got["status"].to_list() == ["complete"] * 2 + ["backfilled"] * 3 + ["complete"] * 5
    assert got["high"].to_list() == nifty["high"].to_list()
    gaps = EventLog(home).read(DAY, kinds=["feed_gap"])
    assert len(gaps) == 1 and gaps[0]["instrument"] == "NIFTY" and gaps[0]["cause"] == "network"


def test_index_takes_volume_from_its_future(home):
    t0 = datetime(2024, 6, 4, 3, 45, tzinfo=UTC)  # 09:15 IST
    fut = 13368834  # an NFO future's token
    ticks = []
    for minute in range(3):
        for sec, (px, vol) in enumerate([(100.0, 1000 * minute + 10), (101.0, 1000 * minute + 500)]):
            when = t0 + timedelta(minutes=minute, seconds=10 + sec)
            ticks.append([{"mode": "full", "instrument_token": 256265, "last_price": 23000 + minute + sec,
                           "ohlc": {"open": 1, "high": 1, "low": 1, "close": 1}, "exchange_timestamp": when},
                          {"mode": "full", "instrument_token": fut, "last_price": px, "volume_traded": vol,
                           "exchange_timestamp": when, "last_trade_time": when}])
    ing = Ingestor(home, _clock(), symbols={256265: "NIFTY", fut: "NIFTY24JUNFUT"}, source="sim",
                   index_future={"NIFTY": "NIFTY24JUNFUT"})
    for i, batch in enumerate(ticks):
        ing.on_frame(encode_frame(batch), t0 + timedelta(seconds=i))
    ing.close(now=t0 + timedelta(minutes=3))
    store = Store(home)
    fut_bars = store.read_bars("NIFTY24JUNFUT", "1m", DAY)
    idx = store.read_bars("NIFTY", "1m", DAY)
    assert fut_bars["volume"].to_list() == [490, 1000, 1000]
    assert idx["volume"].to_list() == fut_bars["volume"].to_list()


def test_hub_ticks_carry_the_best_bid_and_ask_of_full_packets(home):
    """Option ticks reach the hub (and ``trade start``'s paper quotes) with their best bid/offer, so paper fills can
    cross the spread; packets without depth (quote mode, indices) say null."""
    published: list[dict] = []
    option = 12345678   # an NFO token (segment 2)
    ing = Ingestor(home, _clock(), source="sim", symbols={option: "NIFTY2460622000CE"},
                   on_ticks=published.extend)
    ts = datetime(2024, 6, 4, 5, 45, tzinfo=UTC)
    base = {"instrument_token": option, "last_price": 560.9, "last_traded_quantity": 25, "average_traded_price": 0,
            "volume_traded": 100, "total_buy_quantity": 0, "total_sell_quantity": 0,
            "ohlc": {"open": 500.0, "high": 600.0, "low": 450.0, "close": 520.0}, "change": 0.0}
    full = {**base, "mode": "full", "last_trade_time": ts, "oi": 10, "oi_day_high": 10, "oi_day_low": 10,
            "exchange_timestamp": ts,
            "depth": {"buy": [{"quantity": 50, "price": 559.5, "orders": 1}],
                      "sell": [{"quantity": 75, "price": 562.0, "orders": 2}]}}
    ing.on_frame(encode_frame([full, {**base, "mode": "quote"},
                               {"instrument_token": 256265, "mode": "full", "last_price": 22800.0,
                                "ohlc": {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}, "change": 0.0,
                                "exchange_timestamp": ts}]), ts)
    assert [(t["symbol"], t["ltp"], t["bid"], t["ask"]) for t in published] == [
        ("NIFTY2460622000CE", 560.9, 559.5, 562.0), ("NIFTY2460622000CE", 560.9, None, None),
        ("NIFTY", 22800.0, None, None)]
    assert published[0]["ts"] == ts


def test_batched_decoding_stores_what_frame_by_frame_decoding_gives(home):
    """Frames of one packet type are buffered raw and decoded in batches at each flush; mixed frames are decoded at
    once. The stored ticks equal each frame decoded on its own, in order, and the hub still gets every tick at once."""
    from tradesig.feed.kite_protocol import TickBatch, decode_frame, encode_index_full

    nifty = recorded_bars(shared_file(NIFTY_FILE), DAY, "NIFTY", 0, 10)
    bank = recorded_bars(shared_file(BANK_FILE), DAY, "BANKNIFTY", 0, 10)
    frames = [frame for _, frame in frames_from_bars({256265: nifty, 260105: bank})]
    full = {"mode": "full", "instrument_token": 12345602, "last_price": 101.5, "volume_traded": 10,
            "exchange_timestamp": nifty["ts"][3], "last_trade_time": nifty["ts"][3],
            "ohlc": {"open": 100.0, "high": 102.0, "low": 99.0, "close": 100.5}}
    index = {"instrument_token": 256265, "last_price": 22000.5, "exchange_timestamp": nifty["ts"][3],
             "ohlc": {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}}
    frames[40:40] = [encode_frame([full, {**index, "mode": "full"}]), encode_frame([full])]  # mixed, then full-only
    frames[7:7] = [b"\x00\x01\x00\x20" + encode_index_full(index)]  # a one-packet index frame among the others
    hub: list[dict] = []
    ing = Ingestor(home, _clock(), source="sim", on_ticks=hub.extend, flush_ticks=97)
    recv = datetime(2026, 1, 1, tzinfo=UTC)
    for i, frame in enumerate(frames):
        ing.on_frame(frame, recv + timedelta(milliseconds=i))
        assert len(hub) == ing.stats.ticks  # published per frame, not at the flush
    ing.close(now=nifty["ts"].max() + timedelta(minutes=1))
    stored = Store(home).read_ticks(date=date(2026, 1, 1))
    each = TickBatch.concat([decode_frame(f).ticks for f in frames]).to_polars()
    assert stored.select(each.columns).equals(each, null_equal=True)
    assert stored["journal_next"].is_sorted() and stored.height == ing.stats.ticks == len(hub)
