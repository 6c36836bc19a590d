"""history import/validation on the real files of ../shared/data and on small crafted files."""

from __future__ import annotations

import gzip
from datetime import date, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import shared_file
from tradesig.clock import IST
from tradesig.errors import DataError
from tradesig.history import RejectedFile, import_file, import_files, read_ohlc_file, show_bars
from tradesig.store.bars import BAR_SCHEMA
from tradesig.store.datasets import Store

NIFTY_1M = "intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"
BANK_1M = "intraday/niftybank_1min_2024-01-01_2024-08-23.parquet"


@pytest.fixture(scope="session")
def imported(tmp_path_factory):
    """One data home with the NIFTY 50 and NIFTY BANK 2024 1m parquets imported once, plus the reports."""
    home = tmp_path_factory.mktemp("history-home")
    reports = import_files(home, [shared_file(NIFTY_1M), shared_file(BANK_1M)])
    return home, reports


def ist_local(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata"))


def test_2024_parquets_import_with_report(imported):
    home, (nifty, bank) = imported
    for report, symbol in ((nifty, "NIFTY"), (bank, "BANKNIFTY")):
        assert report.error is None and report.symbols == [symbol] and report.interval == "1m"
        assert report.rows == 58127 and report.rejected_total == 0 and report.duplicates == 0
        assert report.added == 58127 and report.days == 156
        # the 2024-01-20 special session: 167 flat post-close bars, reported and kept apart
        assert report.outside_session == 167
        [day] = report.outside_session_days
        assert (day.date, day.first, day.last, day.count) == (date(2024, 1, 20), "15:30", "18:16", 167)
        assert "2024-01-20 15:30–18:16 IST: 167 bars" in report.summary()
        # the two DR-drill Saturdays are special sessions (09:15-10:00 and 11:30-12:30, tradesig/data/calendar.toml):
        # their 105 bars are the whole session, the break is no gap
        assert report.missing_bars == 0 and report.gaps == []
    store = Store(home)
    assert store.symbols("1m") == ["BANKNIFTY", "NIFTY"]
    assert store.read_bars("NIFTY", "1m", date(2024, 1, 20), date(2024, 1, 20), session="extended").height == 167
    # importing again adds nothing
    again = import_file(store, shared_file(NIFTY_1M))
    assert again.added == 0 and again.already_stored == 58127


@pytest.mark.parametrize(("symbol", "daily"), [
    ("NIFTY", "daily/nifty50_daily_derived_from_1min_2024-01-01_2024-08-23.csv"),
    ("BANKNIFTY", "daily/niftybank_daily_derived_from_1min_2024-01-01_2024-08-23.csv"),
])
def test_daily_from_stored_1m_equals_reference_for_all_days(imported, symbol, daily):
    home, _ = imported
    ref = pl.read_csv(shared_file(daily), try_parse_dates=True).sort("date")
    got = Store(home).read_bars(symbol, "1d").with_columns(
        pl.col("ts").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("date"))
    assert ref.height == 156 and got.height == 156
    assert got["date"].to_list() == ref["date"].to_list()
    for col in ("open", "high", "low", "close"):
        assert got[col].to_list() == ref[col].to_list(), col
    # the two DR-drill Saturdays are partial days; every other day is complete
    partial = got.filter(pl.col("status") == "partial")["date"].to_list()
    assert partial == [date(2024, 3, 2), date(2024, 5, 18)]
    assert got.filter(pl.col("date") == date(2024, 3, 2))["status"].item() == "partial"
    assert ref.filter(pl.col("bars") < 375)["date"].to_list() == partial


def test_hourly_election_days_match_direct_polars(imported):
    home, _ = imported
    src = pl.read_parquet(shared_file(NIFTY_1M))
    day = src.filter(pl.col("ts").dt.date().is_between(date(2024, 6, 3), date(2024, 6, 4)))
    minute = pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute().cast(pl.Int32)
    want = (day.filter(minute < 15 * 60 + 30)
            .with_columns(((minute - 555) // 60).alias("slot"), pl.col("ts").dt.date().alias("d"))
            .group_by("d", "slot", maintain_order=True)
            .agg(pl.col("ts").first(), pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
                 pl.col("close").last(), pl.len().alias("n")))
    rows = show_bars(home, "NIFTY 50", "1h", date(2024, 6, 3), date(2024, 6, 4))
    assert len(rows) == 14 == want.height
    assert [r["ts"].strftime("%H:%M") for r in rows[:7]] == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15",
                                                             "15:15"]
    assert want["n"].to_list() == [60] * 6 + [15] + [60] * 6 + [15]
    for r, w in zip(rows, want.iter_rows(named=True), strict=True):
        assert r["ts"] == w["ts"] and r["status"] == "complete"
        assert (r["open"], r["high"], r["low"], r["close"]) == (w["open"], w["high"], w["low"], w["close"])


def test_raw_csv_gives_identical_bars(imported, tmp_path):
    home, _ = imported
    report = import_files(tmp_path, [shared_file("intraday/raw_NIFTY_2024.csv.gz")])[0]
    assert report.error is None and report.added == 58127 and report.rejected_total == 0
    for session in ("regular", "extended"):
        a = Store(home).read_bars("NIFTY", "1m", session=session)
        b = Store(tmp_path).read_bars("NIFTY", "1m", session=session)
        assert a.height > 0 and a.equals(b)
    # into the home that holds the parquet import: nothing new
    assert import_file(Store(home), shared_file("intraday/raw_NIFTY_2024.csv.gz")).added == 0


def test_raw_bnf_needs_symbol_override(tmp_path):
    raw = shared_file("intraday/raw_BNF_2024.csv.gz")
    # keep it small: the first 3 days of the raw file
    lines = gzip.decompress(raw.read_bytes()).decode().splitlines()
    head = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[1] <= "20240103"]
    small = tmp_path / "bnf.csv"
    small.write_text("\n".join(head) + "\n")
    report = import_file(Store(tmp_path / "h"), small, symbol="NIFTY BANK")
    assert report.symbols == ["BANKNIFTY"] and report.added == 3 * 375
    want = pl.read_parquet(shared_file(BANK_1M)).filter(pl.col("ts").dt.date() <= date(2024, 1, 3))
    got = ist_local(Store(tmp_path / "h").read_bars("BANKNIFTY", "1m"))
    assert got["close"].to_list() == want["close"].to_list() and got["ts"].to_list() == want["ts"].to_list()


def test_2009_session_is_aligned_to_0915_grid(tmp_path):
    src = pl.read_parquet(shared_file("intraday/nifty50_1min_2009.parquet"))
    sample = src.filter(pl.col("ts").dt.date().is_in([date(2009, 5, 15), date(2009, 5, 18), date(2009, 5, 19)]))
    path = tmp_path / "n2009.parquet"
    sample.write_parquet(path)
    report = import_file(Store(tmp_path / "h"), path)
    # the 15:30 print of each day lies outside the 09:55-15:30 session: reported and stored apart
    closing_prints = sample.filter((pl.col("ts").dt.hour() == 15) & (pl.col("ts").dt.minute() == 30)).height
    assert closing_prints >= 2
    assert report.outside_session == closing_prints and {d.first for d in report.outside_session_days} == {"15:30"}
    # 2009-05-18 (election result, upper circuit) traded only briefly: reported as a gap
    assert [g.date for g in report.gaps] == [date(2009, 5, 18)]
    hourly = ist_local(Store(tmp_path / "h").read_bars("NIFTY", "1h", date(2009, 5, 19), date(2009, 5, 19)))
    assert hourly["ts"].dt.strftime("%H:%M").to_list() == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15",
                                                           "15:15"]
    first = sample.filter(pl.col("ts").dt.date() == date(2009, 5, 19)).row(0, named=True)
    assert first["ts"].strftime("%H:%M") == "09:55" and hourly["open"][0] == first["open"]
    assert hourly["status"].to_list() == ["complete"] * 7
    assert Store(tmp_path / "h").read_bars("NIFTY", "1d", date(2009, 5, 18), date(2009, 5, 18))["status"].item() \
        == "partial"


def test_15m_history_resamples_up_and_rejects_bad_ohlc(tmp_path):
    src = pl.read_parquet(shared_file("intraday/niftybank_15min_2018-01-01_2023-08-04.parquet"))
    sample = src.filter(pl.col("ts").dt.date() <= date(2018, 1, 31))
    path = tmp_path / "bnf15.parquet"
    sample.write_parquet(path)
    with pytest.raises(RejectedFile, match="nothing imported") as rejected:
        import_file(Store(tmp_path / "h"), path, symbol="BANKNIFTY")
    assert not (tmp_path / "h").exists()  # nothing of a rejected file is stored
    assert rejected.value.report.rejected.get("ohlc", 0) > 0
    report = import_file(Store(tmp_path / "h"), path, symbol="BANKNIFTY", skip_bad_rows=True)
    bad = sample.filter((pl.col("high") < pl.max_horizontal("open", "close"))
                        | (pl.col("low") > pl.min_horizontal("open", "close")))
    assert report.interval == "15m" and report.rejected == {"ohlc": bad.height} and bad.height > 0
    assert report.missing_bars == bad.height  # each rejected bar leaves a reported gap
    assert {p.line for p in report.examples} <= set(range(1, sample.height + 1))
    hourly = Store(tmp_path / "h").read_bars("BANKNIFTY", "1h")
    assert hourly.height == sample.select(pl.col("ts").dt.date().n_unique()).item() * 7
    slots = bad.select(pl.col("ts").dt.date().alias("d"),
                       ((pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute() - 555) // 60).alias("s"))
    assert hourly.filter(pl.col("status") == "partial").height == slots.n_unique()


# ------------------------------------------------------------------------------------------- crafted files
HEADER = "Instrument,Date(YYYYMMDD),Time(HH:MM),Open,High,Low,Close\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_problem_is_rejected_counted_and_located(tmp_path):
    path = write(tmp_path, "bad.csv", HEADER + "".join([
        "NIFTY,20240603,09:15,100,101,99,100.5\n",   # line 2 ok
        "NIFTY,20240603,09:16,100,abc,99,100.5\n",   # line 3 parse
        "NIFTY,2024060x,09:17,100,101,99,100.5\n",   # line 4 bad date
        "NIFTY,20240603,09:18,100,99.5,99,100.5\n",  # line 5 high < close
        "NIFTY,20240603,09:19,100,101,100.2,100.5\n",  # line 6 low > open
        "NIFTY,20240603,09:20,100,101,99\n",         # line 7 too few fields
        "NIFTY,20240603,09:21:30,100,101,99,100\n",  # line 8 misaligned (seconds)
        "NIFTY,20240603,09:22,100,101,99,100\n",     # line 9 exact duplicate of line 10
        "NIFTY,20240603,09:22,100,101,99,100\n",     # line 10
        "NIFTY,20240603,09:23,100,101,99,100\n",     # line 11 conflicting duplicate
        "NIFTY,20240603,09:23,100,102,99,100\n",     # line 12
        "NIFTY,20240603,09:24,0,101,99,100\n",       # line 13 non-positive
    ]))
    report = import_file(Store(tmp_path / "h"), path, interval="1m", skip_bad_rows=True)
    assert report.rows == 12
    assert report.rejected == {"parse": 3, "ohlc": 2, "price": 1, "misaligned": 1, "conflicting duplicate": 2}
    assert report.duplicates == 1 and report.accepted == 2 and report.added == 2
    located = {(p.line, p.kind) for p in report.examples}
    assert located == {(3, "parse"), (4, "parse"), (5, "ohlc"), (6, "ohlc"), (7, "parse"), (8, "misaligned"),
                       (11, "conflicting duplicate"), (12, "conflicting duplicate"), (13, "price")}
    text = report.summary()
    assert f"{path}:3: parse: bad high: 'abc'" in text and f"{path}:7: parse: expected 7 fields, got 6" in text
    stored = Store(tmp_path / "h").read_bars("NIFTY", "1m")
    assert stored["close"].to_list() == [100.5, 100.0]  # nothing was "fixed"


def test_headerless_vendor_csv_with_volume_and_oi(tmp_path):
    path = write(tmp_path, "fut.txt", "NIFTY-I,20240603,09:15,100,101,99,100.5,1500,900\n"
                                      "NIFTY-I,20240603,09:16,100.5,102,100,101,,950\n")
    report = import_file(Store(tmp_path / "h"), path)
    assert report.interval == "1m" and report.symbols == ["NIFTY-I"] and report.added == 2
    bars = Store(tmp_path / "h").read_bars("NIFTY-I", "1m")
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars["volume"].to_list() == [1500, None] and bars["oi"].to_list() == [900, 950]
    assert Store(tmp_path / "h").read_bars("nifty-i", "5m")["volume"].to_list() == [1500]


def test_iso_timestamps_with_offset(tmp_path):
    path = write(tmp_path, "iso.csv", "ts,symbol,open,high,low,close\n"
                                      "2024-06-03T03:45:00+00:00,NIFTY 50,100,101,99,100\n"
                                      "2024-06-03 09:16:00,NIFTY 50,100,101,99,100\n")
    report = import_file(Store(tmp_path / "h"), path)
    assert report.rejected_total == 0 and report.added == 2
    got = Store(tmp_path / "h").read_bars("NIFTY", "1m")["ts"].dt.convert_time_zone("Asia/Kolkata")
    assert got.to_list() == [datetime(2024, 6, 3, 9, 15, tzinfo=IST), datetime(2024, 6, 3, 9, 16, tzinfo=IST)]


def test_daily_csv_with_offset_dates(tmp_path):
    path = write(tmp_path, "yf.csv", "date,symbol,open,high,low,close,volume\n"
                                     "2022-11-21 00:00:00+05:30,NIFTY BANK,42286.45,42386.3,42202.06,42346.05,259100\n"
                                     "2022-11-22 00:00:00+05:30,NIFTY BANK,42466.9,42508.25,42346.65,42456.55,216300\n")
    report = import_file(Store(tmp_path / "h"), path)
    assert report.interval == "1d" and report.symbols == ["BANKNIFTY"] and report.added == 2
    bars = ist_local(Store(tmp_path / "h").read_bars("BANKNIFTY", "1d"))
    assert bars["ts"].to_list() == [datetime(2022, 11, d, 9, 15, tzinfo=IST) for d in (21, 22)]
    assert bars["volume"].to_list() == [259100, 216300]


@pytest.mark.parametrize(("name", "text", "symbol", "interval", "match"), [
    ("empty.csv", "", None, None, "empty file"),
    ("cols.csv", "a,b,c\n1,2,3\n", None, None, "cannot identify the columns"),
    ("nosym.csv", "date,time,open,high,low,close\n20240603,09:15,1,1,1,1\n20240603,09:16,1,1,1,1\n", None, None,
     "names no symbol"),
    ("allbad.csv", HEADER + "NIFTY,20240603,09:15,1,0.5,1,1\nNIFTY,20240603,09:16,1,0.5,1,1\n", None, "1m",
     r"2 bad row\(s\) \(ohlc 2\); nothing imported"),
    ("one.csv", HEADER + "NIFTY,20240603,09:15,1,1,1,1\n", None, None, "cannot infer the bar interval"),
    ("bin.parquet", "not parquet", "NIFTY", "1m", "not a readable Parquet file"),
])
def test_unusable_files_raise_data_error(tmp_path, name, text, symbol, interval, match):
    path = write(tmp_path, name, text)
    with pytest.raises(DataError, match=match):
        import_file(Store(tmp_path / "h"), path, symbol=symbol, interval=interval)
    assert not (tmp_path / "h" / "bars").exists() or not list((tmp_path / "h").rglob("*.parquet"))


def test_import_files_keeps_going_and_marks_unusable(tmp_path):
    good = write(tmp_path, "good.csv", HEADER + "NIFTY,20240603,09:15,1,1,1,1\nNIFTY,20240603,09:16,1,1,1,1\n")
    reports = import_files(tmp_path / "h", [tmp_path / "missing.csv", good])
    assert "no such file" in reports[0].error and reports[1].added == 2
    assert (tmp_path / "h" / "tradesig.duckdb").exists()


def test_read_ohlc_file_types(tmp_path):
    rows = read_ohlc_file(shared_file(NIFTY_1M))
    assert rows.schema["ts"] == pl.Datetime("us", "UTC") and rows["_line"][0] == 1
    assert rows["_problem"].null_count() == rows.height


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 374), st.integers(1, 10**6), st.integers(0, 500), st.integers(0, 500),
                          st.integers(0, 100), st.booleans()), min_size=1, max_size=40, unique_by=lambda r: r[0]))
def test_csv_roundtrip_and_rejections_property(tmp_path_factory, rows):
    """Valid rows come back exactly; each corrupted row (high below the close) is rejected, none altered."""
    tmp = tmp_path_factory.mktemp("prop")
    lines, want_ok = [HEADER.rstrip("\n")], []
    for minute, base, up, down, body, corrupt in rows:
        o = base / 100
        c = (base + body) / 100
        h = max(o, c) + up / 100
        low = min(o, c) - down / 100
        if low <= 0:
            low = min(o, c)
        if corrupt:
            h = max(o, c) - 0.05
        hh, mm = divmod(555 + minute, 60)
        lines.append(f"NIFTY,20240603,{hh:02d}:{mm:02d},{o:.2f},{h:.2f},{low:.2f},{c:.2f}")
        if not corrupt:
            want_ok.append((minute, round(o, 2), round(h, 2), round(low, 2), round(c, 2)))
    path = tmp / "p.csv"
    path.write_text("\n".join(lines) + "\n")
    store = Store(tmp / "h")
    n_bad = sum(1 for r in rows if r[5])
    if not want_ok:
        with pytest.raises(DataError):
            import_file(store, path, interval="1m", circuit_band_pct=0, skip_bad_rows=True)
        return
    if n_bad:
        with pytest.raises(RejectedFile):
            import_file(store, path, interval="1m", circuit_band_pct=0)
        assert store.read_bars("NIFTY", "1m").is_empty()
    report = import_file(store, path, interval="1m", circuit_band_pct=0, skip_bad_rows=True)
    assert report.rejected == ({"ohlc": n_bad} if n_bad else {})
    assert report.added == len(want_ok)
    assert report.missing_bars == 375 - len(want_ok)
    got = ist_local(store.read_bars("NIFTY", "1m"))
    minutes = [(t.hour * 60 + t.minute - 555) for t in got["ts"]]
    assert list(zip(minutes, got["open"], got["high"], got["low"], got["close"], strict=True)) == sorted(want_ok)


def test_all_hourly_and_4h_bars_of_the_year_match_direct_polars(imported):
    home, _ = imported
    src = pl.read_parquet(shared_file(NIFTY_1M))
    minute = pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute().cast(pl.Int32)
    store = Store(home)
    for interval, step in (("1h", 60), ("4h", 240)):
        want = (src.filter(minute < 15 * 60 + 30)
                .with_columns(((minute - 555) // step).alias("slot"), pl.col("ts").dt.date().alias("d"))
                .group_by("d", "slot", maintain_order=True)
                .agg(pl.col("ts").first(), pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
                     pl.col("close").last())
                .with_columns(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us")))
        got = store.read_bars("NIFTY", interval)
        assert got.height == want.height
        assert got.select("open", "high", "low", "close").rows() == want.select("open", "high", "low", "close").rows()
        # bar starts are the session grid: the slot start, not the first minute seen
        starts = got["ts"].dt.convert_time_zone("Asia/Kolkata").dt.strftime("%H:%M").unique().sort().to_list()
        assert starts == (["09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"] if interval == "1h"
                          else ["09:15", "13:15"])
