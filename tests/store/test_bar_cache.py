"""The polars-free derived-bar cache (tradesig.store.bar_cache): the same bars as Store.read_bars, cold and warm,
and never stale: a part added, replaced or removed, a new date, a new interval or a damaged file are seen."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from tests_store_helpers import minute_bars, quarter_hours, weekdays

import tradesig.store.bar_cache as bar_cache
from tradesig.store.bar_cache import BarCache, source_intervals
from tradesig.store.datasets import Store


def _qh(days, symbol="NIFTY", base=100.0):
    return quarter_hours(days, symbol, base, 0.25)


def _want(store: Store, symbol: str, interval: str, start: date, end: date) -> list[tuple]:
    frame = store.read_bars(symbol, interval, start, end)
    return [(r["ts"], r["open"], r["high"], r["low"], r["close"])
            for r in frame.select("ts", "open", "high", "low", "close").iter_rows(named=True)]


def _got(home, symbol: str, interval: str, start: date, end: date) -> list[tuple]:
    rows = BarCache(home).read(symbol, interval, start, end).rows()
    for r in rows:
        assert r["ts"].tzinfo is UTC
    return [(r["ts"], r["open"], r["high"], r["low"], r["close"]) for r in rows]


@pytest.fixture
def home(tmp_path):
    days = weekdays(date(2023, 1, 2), 30)
    Store(tmp_path).write_bars(pl.concat([_qh(days), _qh(days, "BANKNIFTY", 900.0)]),
                               "15m", "t")
    return tmp_path, days


@pytest.fixture
def no_polars_read(monkeypatch):
    """Fail any read through the Store (the cache must answer alone)."""
    def refuse(*_a, **_k):
        raise AssertionError("read through the Store")

    def apply():
        monkeypatch.setattr(Store, "read_bars", refuse)

    return apply


def test_source_intervals():
    assert source_intervals("1h") == ("1m", "5m", "15m", "1h")
    assert source_intervals("1d") == ("1m", "5m", "15m", "1h", "4h", "1d")
    assert source_intervals("15m") == ("1m", "5m", "15m")


@pytest.mark.parametrize(("symbol", "interval"), [("NIFTY", "1h"), ("BANKNIFTY", "1d"), ("Nifty Bank", "1h"),
                                                  ("NIFTY", "15m")])
def test_same_bars_cold_and_warm(home, symbol, interval, no_polars_read):
    tmp, days = home
    store = Store(tmp)
    start, end = days[0] - timedelta(days=10), days[-1] + timedelta(days=3)
    want = _want(store, symbol, interval, start, end)
    assert want
    assert _got(tmp, symbol, interval, start, end) == want  # cold: builds the cache
    assert BarCache(tmp).path(symbol.replace("Nifty Bank", "BANKNIFTY"), interval).is_file()
    sub = _want(store, symbol, interval, days[3], days[9])
    no_polars_read()
    assert _got(tmp, symbol, interval, start, end) == want  # warm: from the cache alone
    assert _got(tmp, symbol, interval, days[3], days[9]) == sub  # a sub-range of it too


def test_empty_and_unknown(tmp_path, no_polars_read):
    no_polars_read()
    assert len(BarCache(tmp_path).read("NIFTY", "1h", date(2023, 1, 1), date(2023, 2, 1))) == 0
    assert not (tmp_path / "cache").exists()


def test_a_new_date_and_a_new_part_are_read(home):
    tmp, days = home
    store = Store(tmp)
    start, end = days[0], days[-1] + timedelta(days=10)
    _got(tmp, "NIFTY", "1h", start, end)
    later = weekdays(days[-1] + timedelta(days=1), 2)
    store.write_bars(_qh(later, base=500.0), "15m", "t2")  # new dates
    # a second part on an existing date: 1m bars of day 5 (finer, so they replace its 15m-derived bars)
    store.write_bars(minute_bars((days[5].year, days[5].month, days[5].day), "09:15", "15:29", base=7000.0),
                     "1m", "t3")
    want = _want(store, "NIFTY", "1h", start, end)
    assert any(o >= 7000.0 for _, o, *_ in want) and any(o >= 500.0 for _, o, *_ in want)
    assert _got(tmp, "NIFTY", "1h", start, end) == want
    assert _got(tmp, "NIFTY", "1h", start, end) == want  # and from the rewritten cache


def test_a_replaced_part_is_read(home):
    tmp, days = home
    store = Store(tmp)
    _got(tmp, "NIFTY", "1d", days[0], days[-1])
    day = days[7]
    fixed = _qh([day], base=123.5).with_columns(pl.lit("backfilled").alias("status"))
    store.replace_bars(fixed, "15m", "backfill")  # a new part under a new name, the old one removed
    want = _want(store, "NIFTY", "1d", days[0], days[-1])
    assert _got(tmp, "NIFTY", "1d", days[0], days[-1]) == want
    assert [o for ts, o, *_ in want if ts.date() == day] == [123.5]


def test_a_removed_date_is_not_returned(home):
    tmp, days = home
    store = Store(tmp)
    _got(tmp, "BANKNIFTY", "1h", days[0], days[-1])
    shutil.rmtree(store.bars_dir("15m") / f"date={days[4].isoformat()}")
    want = _want(store, "BANKNIFTY", "1h", days[0], days[-1])
    got = _got(tmp, "BANKNIFTY", "1h", days[0], days[-1])
    assert got == want
    assert all(ts.astimezone(UTC).date() != days[4] for ts, *_ in got)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "version", "format"])
def test_a_damaged_or_foreign_cache_is_rebuilt(home, damage, monkeypatch):
    tmp, days = home
    want = _want(Store(tmp), "NIFTY", "1h", days[0], days[-1])
    _got(tmp, "NIFTY", "1h", days[0], days[-1])
    path = BarCache(tmp).path("NIFTY", "1h")
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[:-9])
    elif damage == "garbage":
        path.write_bytes(b"\x00\x01garbage")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "version":
        monkeypatch.setattr(bar_cache, "__version__", "0.0.0-other")
    else:
        monkeypatch.setattr(bar_cache, "FORMAT", bar_cache.FORMAT + 1)
    assert _got(tmp, "NIFTY", "1h", days[0], days[-1]) == want
    assert _got(tmp, "NIFTY", "1h", days[0], days[-1]) == want


def test_a_cache_that_cannot_be_written_is_skipped(home, monkeypatch):
    tmp, days = home
    (tmp / "cache").write_text("not a directory", encoding="utf-8")
    want = _want(Store(tmp), "NIFTY", "1h", days[0], days[-1])
    assert _got(tmp, "NIFTY", "1h", days[0], days[-1]) == want


def test_parts_swapped_during_a_read_are_not_cached(home, monkeypatch):
    tmp, days = home
    store = Store(tmp)
    real = Store.read_bars

    def read_then_backfill(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        monkeypatch.setattr(Store, "read_bars", real)
        store.replace_bars(_qh([days[2]], base=321.0), "15m", "backfill")
        return out

    monkeypatch.setattr(Store, "read_bars", read_then_backfill)
    _got(tmp, "NIFTY", "1h", days[0], days[-1])
    assert not BarCache(tmp).path("NIFTY", "1h").exists()
    assert _got(tmp, "NIFTY", "1h", days[0], days[-1]) == _want(store, "NIFTY", "1h", days[0], days[-1])


def test_dates_outside_a_read_are_kept(home, no_polars_read):
    tmp, days = home
    store = Store(tmp)
    whole = _want(store, "NIFTY", "1h", days[0], days[-1])
    _got(tmp, "NIFTY", "1h", days[0], days[14])
    _got(tmp, "NIFTY", "1h", days[10], days[-1])  # builds the rest; keeps the first half
    no_polars_read()
    assert _got(tmp, "NIFTY", "1h", days[0], days[-1]) == whole
    assert whole[0][0] == datetime(2023, 1, 2, 3, 45, tzinfo=UTC)
