"""The batch glue: closed-bar cut, default symbols, idempotent event recording."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.clock import IST, ManualClock
from tradesig.config import load_config
from tradesig.errors import DataError
from tradesig.signals.service import _closed, boards, lookback_days, record_events, weekly_events
from tradesig.store.bars import conform, resample


def nifty(start: datetime, end: datetime) -> pl.DataFrame:
    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    return conform(df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC")))


def test_closed_cut():
    hourly = resample(nifty(datetime(2024, 6, 4, tzinfo=IST), datetime(2024, 6, 5, tzinfo=IST)), "1h")
    starts = lambda df: [t.astimezone(IST).strftime("%H:%M") for t in df["ts"]]  # noqa: E731
    assert starts(_closed(hourly, "1h", datetime(2024, 6, 4, 15, 0, tzinfo=IST)))[-1] == "13:15"
    assert starts(_closed(hourly, "1h", datetime(2024, 6, 4, 15, 15, tzinfo=IST)))[-1] == "14:15"
    assert starts(_closed(hourly, "1h", datetime(2024, 6, 4, 15, 29, tzinfo=IST)))[-1] == "14:15"
    assert starts(_closed(hourly, "1h", datetime(2024, 6, 4, 15, 30, tzinfo=IST)))[-1] == "15:15"
    assert _closed(hourly, "1h", datetime(2024, 6, 4, 10, 14, tzinfo=IST)).is_empty()


def test_lookback_covers_the_warm_up():
    assert lookback_days("1m") >= 7 + 7
    assert lookback_days("1h") >= 260 / 7 * 7 / 5
    assert lookback_days("15m") > lookback_days("5m")


@pytest.fixture
def loaded(home):
    from tradesig.store.datasets import Store

    Store(home).write_bars(nifty(datetime(2024, 5, 6, tzinfo=IST), datetime(2024, 6, 8, tzinfo=IST)), "1m", "t")
    return load_config(home=home)


def test_default_symbols_skip_those_without_bars(loaded):
    out = boards(loaded, [], "1h", clock=ManualClock(datetime(2024, 6, 4, 12, 0, tzinfo=IST)))
    assert [b.symbol for b in out] == ["NIFTY"]  # BANKNIFTY, SENSEX have no bars
    assert out[0].ts.astimezone(IST).strftime("%Y-%m-%d %H:%M") == "2024-06-04 10:15"
    with pytest.raises(DataError, match="BANKNIFTY"):
        boards(loaded, ["BANKNIFTY"], "1h", clock=ManualClock(datetime(2024, 6, 4, 12, 0, tzinfo=IST)))


def test_a_range_never_shows_unclosed_bars(loaded):
    for now, want in (((9, 59), ["09:15", "09:30"]), ((10, 0), ["09:15", "09:30", "09:45"])):
        out = boards(loaded, ["NIFTY"], "15m", clock=ManualClock(datetime(2024, 6, 4, *now, tzinfo=IST)),
                     start=date(2024, 6, 4))
        assert [b.ts.astimezone(IST).strftime("%H:%M") for b in out] == want


def test_weekly_events_record_once(loaded):
    clock = ManualClock(datetime(2024, 6, 8, tzinfo=IST))
    events, added = weekly_events(loaded, ["NIFTY"], date(2024, 6, 3), date(2024, 6, 7), clock=clock)
    assert [e.signal for e in events] == ["S8"] and added == 1
    assert record_events(loaded.home, events) == 0
    from tradesig.store.events import EventLog

    rows = EventLog(loaded.home).read(date(2024, 6, 4), kinds=["signal"])
    assert len(rows) == 1 and rows[0]["key"] == events[0].key
    assert rows[0]["bar"]["close"] == events[0].entry_price
    # the same week seen before the bar closed: nothing
    early, _ = weekly_events(loaded, ["NIFTY"], date(2024, 6, 3), date(2024, 6, 7),
                             clock=ManualClock(datetime(2024, 6, 4, 11, 14, tzinfo=IST)), record=False)
    assert early == []
    with pytest.raises(DataError):
        weekly_events(loaded, ["NIFTY"], date(2024, 6, 7), date(2024, 6, 3), clock=clock)
