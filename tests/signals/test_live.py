"""``signals --follow`` against a real viewer hub on loopback, fed the real 2024-06-04 NIFTY 1m bars."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.clock import IST, ManualClock
from tradesig.config import load_config
from tradesig.signals.live import LiveSignals, follow_async
from tradesig.store.bars import conform


def nifty(start: datetime, end: datetime) -> pl.DataFrame:
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    return conform(df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC")))


def bar_messages(df: pl.DataFrame) -> list[dict]:
    return [{"type": "bar", "interval": "1m", **{k: (v.isoformat() if k == "ts" else v) for k, v in row.items()}}
            for row in df.iter_rows(named=True)]


@pytest.fixture
def primed_home(home: Path) -> Path:
    from tradesig.store.datasets import Store

    Store(home).write_bars(nifty(datetime(2024, 4, 22, tzinfo=IST), datetime(2024, 6, 4, tzinfo=IST)), "1m", "test")
    return home


def test_core_builds_bars_from_1m_and_fires_s8(primed_home):
    from tradesig.signals.live import prime

    loaded = load_config(home=primed_home)
    core = prime(loaded, ["NIFTY"], "15m", ManualClock(datetime(2024, 6, 4, 9, 0, tzinfo=IST)))
    boards, events = [], []
    for msg in bar_messages(nifty(datetime(2024, 6, 4, tzinfo=IST), datetime(2024, 6, 5, tzinfo=IST))):
        b, e = core.on_message(msg)
        boards += b
        events += e
    assert len(boards) == 25
    assert [ev.signal for ev in events] == ["S8"]
    assert events[0].bar_ts.astimezone(IST).strftime("%H:%M") == "10:15"
    # the live boards equal the batch boards of the same bars
    from tradesig.signals.service import boards as batch_boards

    class Late:
        def now(self):
            return datetime(2024, 6, 5, tzinfo=IST)

    from tradesig.store.datasets import Store

    Store(primed_home).write_bars(nifty(datetime(2024, 6, 4, tzinfo=IST), datetime(2024, 6, 5, tzinfo=IST)), "1m",
                                  "test")
    batch = batch_boards(loaded, ["NIFTY"], "15m", clock=Late(), start=datetime(2024, 6, 4).date())
    assert [b.label for b in boards] == [b.label for b in batch]
    assert [b.ts for b in boards] == [b.ts for b in batch]


def test_core_ignores_other_messages_and_replays():
    from tradesig.config import Settings

    core = LiveSignals(Settings(), ["NIFTY"], "15m")
    assert core.on_message({"type": "tick", "symbol": "NIFTY"}) == ([], [])
    assert core.on_message({"type": "bar", "symbol": "BANKNIFTY", "interval": "1m"}) == ([], [])
    msgs = bar_messages(nifty(datetime(2024, 6, 4, 9, 15, tzinfo=IST), datetime(2024, 6, 4, 9, 30, tzinfo=IST)))
    out = [core.on_message(m)[0] for m in msgs]
    assert sum(len(b) for b in out) == 1 and len(out[-1]) == 1  # the 09:15 15m bar closes with its 09:29 minute
    assert core.on_message(msgs[-1]) == ([], [])  # a replayed minute changes nothing
    with pytest.raises(ValueError):
        core.on_message({**msgs[0], "ts": "2024-06-04T09:15:00"})


def test_follow_against_the_hub(primed_home):
    from tradesig.feed.hub import Hub

    loaded = load_config(home=primed_home)
    lines: list[str] = []
    published: list[dict] = []

    async def scenario() -> None:
        hub = Hub("127.0.0.1", 0, heartbeat_seconds=0)
        hub.on_signal = published.append
        await hub.start()
        stop = asyncio.Event()
        task = asyncio.create_task(follow_async(
            loaded, ["NIFTY"], "15m", echo=lines.append, stop=stop, url=hub.url,
            clock=ManualClock(datetime(2024, 6, 4, 9, 0, tzinfo=IST))))
        for _ in range(200):  # wait for the subscription
            if hub.client_count:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        for msg in bar_messages(nifty(datetime(2024, 6, 4, tzinfo=IST), datetime(2024, 6, 4, 12, 0, tzinfo=IST))):
            msg.pop("type")
            hub.publish_bar(msg)
        for _ in range(500):
            if any(p.get("source") == "weekly" for p in published) and len(
                    [ln for ln in lines if ln.startswith("2024-06-04")]) >= 11:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
        await hub.stop()

    asyncio.run(scenario())
    boards = [ln for ln in lines if ln.startswith("2024-06-04")]
    assert len(boards) == 11  # 09:15 … 11:45 closed by 11:59
    assert any(ln.startswith("SIGNAL S8 1H Breakdown NIFTY bearish bar 2024-06-04 10:15") for ln in lines)
    weekly = [p for p in published if p.get("source") == "weekly"]
    assert len(weekly) == 1 and weekly[0]["signal"] == "S8" and weekly[0]["option"]["option_type"] == "CE"
    assert any(p.get("source") == "board" for p in published)
    events = [json.loads(x) for p in (primed_home / "events").glob("*.jsonl") for x in p.read_text().splitlines()]
    assert [e["signal"] for e in events if e["kind"] == "signal" and e["bar_ts"].startswith("2024-06-04")] == ["S8"]


def test_follow_without_a_hub_is_a_broker_error(primed_home):
    from tradesig.errors import BrokerError

    loaded = load_config(home=primed_home)
    with pytest.raises(BrokerError, match="cannot reach the feed hub"):
        asyncio.run(follow_async(loaded, ["NIFTY"], "15m", url="ws://127.0.0.1:9/ws", echo=lambda _: None,
                                 clock=ManualClock(datetime(2024, 6, 4, 9, 0, tzinfo=IST))))


def test_a_minute_republished_out_of_order_joins_its_open_hour():
    """The feed republishes backfilled minutes after newer ones: a follower that dropped them built the hour
    without them (in a loaded two-index replay it then fired S8 an hour late). A late minute of the still-open
    hour — here the 10:15 hour's low — joins it: the hourly bar equals the batch resample of the same minutes."""
    from tradesig.signals.live import _Builder
    from tradesig.store.bars import resample

    minutes = nifty(datetime(2024, 6, 4, 10, 15, tzinfo=IST), datetime(2024, 6, 4, 11, 15, tzinfo=IST))
    low_at = minutes.sort("low").get_column("ts")[0]
    msgs = [{**m, "ts": datetime.fromisoformat(m["ts"]), "symbol": "NIFTY"} for m in bar_messages(minutes)]
    late = next(m for m in msgs if m["ts"] == low_at)
    in_order = [m for m in msgs if m is not late]
    at = next(i for i, m in enumerate(in_order) if m["ts"] > low_at) + 3  # three minutes after its own
    assert at < len(in_order)  # still inside the open hour
    delivered = in_order[:at] + [late] + in_order[at:]
    builder = _Builder("1h", 60)
    hours = [h for m in delivered for h in builder.feed(m)]
    expected = resample(minutes, "1h").row(0, named=True)
    assert len(hours) == 1 and hours[0]["low"] == expected["low"] == late["low"]
    assert (hours[0]["open"], hours[0]["high"], hours[0]["close"]) == (expected["open"], expected["high"],
                                                                       expected["close"])
