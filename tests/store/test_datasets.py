"""Store: partitioned immutable Parquet parts, dedup on (symbol, ts), derived intervals on read, ticks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from tests_store_helpers import minute_bars

from tradesig.clock import ist
from tradesig.store.bars import BAR_SCHEMA, resample
from tradesig.store.datasets import Store


def test_write_is_idempotent_and_partitioned_by_ist_date(tmp_path):
    store = Store(tmp_path)
    day1 = minute_bars((2024, 6, 3), "09:15", "15:29", symbol="NIFTY 50")
    day2 = minute_bars((2024, 6, 4), "09:15", "15:29", symbol="NIFTY 50")
    assert store.write_bars(pl.concat([day1, day2]), "1m", source="test") == 750
    assert store.write_bars(day1, "1m", source="test") == 0
    parts = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert [p.rsplit("/", 1)[0] for p in parts] == ["bars/interval=1m/date=2024-06-03",
                                                    "bars/interval=1m/date=2024-06-04"]
    assert not list(tmp_path.rglob("*.tmp"))
    got = store.read_bars("NIFTY", "1m", date(2024, 6, 3), date(2024, 6, 3))
    assert got.schema == pl.Schema(BAR_SCHEMA)
    assert got.equals(day1.with_columns(pl.lit("NIFTY").alias("symbol")))
    assert store.symbols("1m") == ["NIFTY"]
    # stored timestamps are UTC-aware
    raw = pl.read_parquet(next(tmp_path.rglob("*.parquet")))
    assert raw.schema["ts"] == pl.Datetime("us", "UTC") and set(raw["source"]) == {"test"}


def test_partial_overlap_adds_only_new_rows(tmp_path):
    store = Store(tmp_path)
    store.write_bars(minute_bars((2024, 6, 3), "09:15", "10:00"), "1m", "a")
    added = store.write_bars(minute_bars((2024, 6, 3), "09:50", "10:30"), "1m", "b")
    assert added == 30
    got = store.read_bars("NIFTY", "1m", date(2024, 6, 3))
    assert got.height == 76 and got["ts"].is_unique().all()


def test_derived_intervals_on_read_match_resample(tmp_path):
    store = Store(tmp_path)
    bars = pl.concat([minute_bars((2024, 6, d), "09:15", "15:29") for d in (3, 4, 5)])
    store.write_bars(bars, "1m", "t")
    for interval in ("5m", "15m", "1h", "4h", "1d"):
        got = store.read_bars("NIFTY", interval, date(2024, 6, 4), date(2024, 6, 5))
        want = resample(bars, interval).filter(pl.col("ts") >= datetime(2024, 6, 3, 18, 30, tzinfo=UTC))
        assert got.equals(want), interval
    # datetime bounds cut inside the day
    got = store.read_bars("NIFTY", "1h", ist(2024, 6, 4, 10, 0), ist(2024, 6, 4, 12, 15))
    assert [t.astimezone(ist(2024, 1, 1).tzinfo).strftime("%H:%M") for t in got["ts"]] == ["10:15", "11:15",
                                                                                           "12:15"]


def test_finest_source_wins_per_date(tmp_path):
    store = Store(tmp_path)
    m1 = minute_bars((2024, 6, 3), "09:15", "15:29")
    old = resample(minute_bars((2021, 3, 1), "09:15", "15:29", base=500.0), "15m")
    store.write_bars(m1, "1m", "t")
    store.write_bars(old, "15m", "t")
    hourly = store.read_bars("NIFTY", "1h")
    assert hourly.height == 14
    assert hourly.equals(pl.concat([resample(old, "1h", source_interval="15m"), resample(m1, "1h")]))
    assert store.read_bars("NIFTY", "15m", date(2024, 6, 3)).equals(resample(m1, "15m"))


def test_extended_session_rows_are_kept_apart(tmp_path):
    store = Store(tmp_path)
    regular = minute_bars((2024, 1, 20), "09:15", "15:29")
    flat = minute_bars((2024, 1, 20), "15:30", "18:16", base=1.0)
    assert store.write_bars(pl.concat([regular, flat]), "1m", "t") == 375 + 167
    assert store.read_bars("NIFTY", "1m").height == 375
    assert store.read_bars("NIFTY", "1m", session="extended").height == 167
    assert store.read_bars("NIFTY", "1m", session="all").height == 542
    assert store.read_bars("NIFTY", "1d").equals(resample(regular, "1d"))


def test_unknown_interval_and_naive_datetime_are_refused(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ValueError):
        store.read_bars("NIFTY", "2h")
    with pytest.raises(ValueError):
        store.read_bars("NIFTY", "1m", datetime(2024, 6, 3))


def test_ticks_roundtrip_by_token_and_date(tmp_path):
    store = Store(tmp_path)
    t0 = datetime(2024, 6, 3, 18, 29, 59, tzinfo=UTC)  # 23:59:59 IST on 2024-06-03; +1 s is 2024-06-04
    ticks = pl.DataFrame({
        "instrument_token": pl.Series([256265, 260105, 256265], dtype=pl.UInt32),
        "last_price": [22000.0, 48000.0, 22001.0],
        "recv_ts": [t0, t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)],
    })
    assert store.write_ticks(ticks) == 3
    assert sorted(p.name for p in (tmp_path / "ticks").iterdir() if p.is_dir()) == ["date=2024-06-03",
                                                                                   "date=2024-06-04"]
    assert store.read_ticks().height == 3
    assert store.read_ticks("NIFTY 50")["last_price"].to_list() == [22000.0, 22001.0]
    assert store.read_ticks(260105, date(2024, 6, 4)).height == 1  # 00:00:00 IST
    assert store.read_ticks(256265, date(2024, 6, 4))["last_price"].to_list() == [22001.0]
    with pytest.raises(ValueError):
        store.write_ticks(ticks.with_columns(pl.col("recv_ts").dt.replace_time_zone(None)))


def test_coverage_per_session_interval_symbol(tmp_path):
    store = Store(tmp_path)
    assert store.coverage().is_empty()
    store.write_bars(pl.concat([minute_bars((2024, 1, 20), "09:15", "15:29"),
                                minute_bars((2024, 1, 20), "15:30", "15:39")]), "1m", "t")
    store.write_bars(resample(minute_bars((2021, 3, 1), "09:15", "15:29", symbol="BANKNIFTY"), "15m"), "15m", "t")
    rows = store.coverage().rows()
    assert rows == [("regular", "1m", "NIFTY", date(2024, 1, 20), date(2024, 1, 20), 1, 375),
                    ("regular", "15m", "BANKNIFTY", date(2021, 3, 1), date(2021, 3, 1), 1, 25),
                    ("extended", "1m", "NIFTY", date(2024, 1, 20), date(2024, 1, 20), 1, 10)]


def test_leftover_temp_files_are_invisible(tmp_path):
    """A crash between write and rename leaves a .tmp file: readers (glob *.parquet) never see it."""
    from tradesig.store.db import connect

    store = Store(tmp_path)
    store.write_bars(minute_bars((2024, 6, 3), "09:15", "09:29"), "1m", "t")
    partition = tmp_path / "bars" / "interval=1m" / "date=2024-06-03"
    (partition / ".part-crashed.parquet.tmp").write_bytes(b"PAR1 half written")
    assert store.read_bars("NIFTY", "1m").height == 15
    assert connect(tmp_path).execute("select count(*) from bars").fetchone() == (15,)
    assert store.write_bars(minute_bars((2024, 6, 3), "09:15", "09:30"), "1m", "t") == 1


def test_reads_racing_a_backfill_swap_never_fail_nor_repeat_a_bar(tmp_path):
    """A backfill (replace_bars) renames the day's new part into place and then removes the old parts while the
    hub page, signals and the engine read: a reader never sees a missing part as damage, nor a bar twice."""
    import threading

    store = Store(tmp_path)
    day = minute_bars((2024, 6, 4), "09:15", "15:29")
    for start in range(0, day.height, 25):  # many small parts, as the feed writes them
        store.write_bars(day.slice(start, 25), "1m", "feed")
    stop = threading.Event()
    swaps = 0

    def backfill() -> None:
        nonlocal swaps
        while not stop.is_set():
            store.replace_bars(day.slice(100, 5).with_columns(pl.col("close") + 0.05 * (swaps % 2)), "1m",
                               "backfill")
            swaps += 1

    writer = threading.Thread(target=backfill)
    writer.start()
    try:
        reads = 0
        while reads < 200 or swaps < 5:
            got = store.read_bars("NIFTY", "1m", date(2024, 6, 4), date(2024, 6, 4))
            assert got.height == day.height and got.get_column("ts").n_unique() == day.height
            reads += 1
    finally:
        stop.set()
        writer.join(30)
    assert swaps >= 5
