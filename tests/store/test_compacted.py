"""The compacted read copy of a bars dataset (Store._scan_compacted): same rows as reading every part."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from tests_store_helpers import quarter_hours, weekdays

import tradesig.store.datasets as datasets
from tradesig.store.datasets import COMPACT_MIN_PARTS, Store


def _direct(store: Store, monkeypatch: pytest.MonkeyPatch, *args) -> pl.DataFrame:
    with monkeypatch.context() as m:
        m.setattr(datasets, "COMPACT_MIN_PARTS", 10**9)
        return store.read_bars(*args)


@pytest.fixture
def many_parts(tmp_path):
    store = Store(tmp_path)
    days = weekdays(date(2023, 1, 2), COMPACT_MIN_PARTS + 6)
    store.write_bars(pl.concat([quarter_hours(days), quarter_hours(days, "BANKNIFTY", 900.0)]), "15m", "t")
    return store, days


def test_copy_gives_the_rows_of_the_parts(many_parts, monkeypatch):
    store, days = many_parts
    copy = store.compacted_path(store.bars_dir("15m"))
    assert not copy.exists()
    for args in (("NIFTY", "1h", days[0], days[-1]), ("BANKNIFTY", "1d", None, None),
                 ("NIFTY", "15m", days[3], days[-4]), ("BANKNIFTY", "1h", days[0] - timedelta(days=30), days[-1])):
        want = _direct(store, monkeypatch, *args)
        assert not want.is_empty()
        assert store.read_bars(*args).equals(want), args
        assert copy.is_file()
    # a short range reads its few parts directly and agrees too
    assert store.read_bars("NIFTY", "1h", days[5], days[6]).equals(_direct(store, monkeypatch, "NIFTY", "1h",
                                                                          days[5], days[6]))


def test_parts_written_after_the_copy_are_read(many_parts, monkeypatch):
    store, days = many_parts
    store.read_bars("NIFTY", "1h")
    copy = store.compacted_path(store.bars_dir("15m"))
    built = copy.stat().st_mtime_ns
    later = weekdays(days[-1] + timedelta(days=1), 3)
    store.write_bars(quarter_hours(later, base=5000.0), "15m", "t")
    got = store.read_bars("NIFTY", "1h")
    assert got.equals(_direct(store, monkeypatch, "NIFTY", "1h"))
    assert got.filter(pl.col("open") >= 5000.0).height == 3 * 7
    assert copy.stat().st_mtime_ns == built  # a few new parts do not rebuild the copy


def test_copy_rows_of_parts_no_longer_listed_are_not_returned(many_parts, monkeypatch):
    store, days = many_parts
    store.read_bars("NIFTY", "1d")
    gone = store.bars_dir("15m") / f"date={days[10].isoformat()}"
    for part in gone.iterdir():
        part.unlink()  # the store never deletes parts; a person (or a restore) may
    got = store.read_bars("NIFTY", "1d")
    assert days[10] not in set(got.get_column("ts").dt.convert_time_zone("Asia/Kolkata").dt.date())
    assert got.equals(_direct(store, monkeypatch, "NIFTY", "1d"))


def test_unreadable_copy_is_rebuilt(many_parts, monkeypatch, caplog):
    store, _ = many_parts
    copy = store.compacted_path(store.bars_dir("15m"))
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"not parquet")
    got = store.read_bars("BANKNIFTY", "1h")
    assert got.equals(_direct(store, monkeypatch, "BANKNIFTY", "1h"))
    assert "unreadable read copy" in caplog.text
    assert pl.read_parquet(copy).height > 0


def test_copy_grows_by_the_missing_parts(many_parts, monkeypatch):
    store, days = many_parts
    monkeypatch.setattr(datasets, "COMPACT_MIN_PARTS", 8)
    copy = store.compacted_path(store.bars_dir("15m"))
    first = store.read_bars("NIFTY", "1h", days[0], days[19])
    assert pl.read_parquet(copy).get_column("_part").n_unique() == 20
    assert first.equals(_direct(store, monkeypatch, "NIFTY", "1h", days[0], days[19]))
    assert store.read_bars("NIFTY", "1h").equals(_direct(store, monkeypatch, "NIFTY", "1h"))
    merged = pl.read_parquet(copy)
    assert merged.get_column("_part").n_unique() == len(days)
    assert merged.get_column("_part").is_sorted()
