"""`tradesig history import/show` through the CLI, on a slice of the real NIFTY 2024 file."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import polars as pl
import pytest

from tests.conftest import shared_file


@pytest.fixture
def june(tmp_path):
    """The NIFTY 1m bars of 2024-06-03 .. 2024-06-05 as a parquet file (the election days)."""
    src = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    path = tmp_path / "june.parquet"
    src.filter(pl.col("ts").dt.date().is_between(date(2024, 6, 3), date(2024, 6, 5))).write_parquet(path)
    return path, src


def expected_hourly(src: pl.DataFrame) -> list[tuple]:
    minute = pl.col("ts").dt.hour().cast(pl.Int32) * 60 + pl.col("ts").dt.minute().cast(pl.Int32)
    return (src.filter(pl.col("ts").dt.date().is_between(date(2024, 6, 3), date(2024, 6, 4)))
            .with_columns(((minute - 555) // 60).alias("slot"), pl.col("ts").dt.date().alias("d"))
            .group_by("d", "slot", maintain_order=True)
            .agg(pl.col("ts").first().dt.strftime("%Y-%m-%d %H:%M"), pl.col("open").first(), pl.col("high").max(),
                 pl.col("low").min(), pl.col("close").last())
            .select("ts", "open", "high", "low", "close").rows())


def test_import_then_show_hourly_election_days(run_cli, june):
    path, src = june
    code, out, err = run_cli("history", "import", str(path))
    assert code == 0, err
    assert "NIFTY 1m" in out and "added 1125" in out and "gaps: none" in out
    code, out, _ = run_cli("history", "import", str(path))
    assert code == 0 and "added 0 (already stored 1125)" in out

    code, out, _ = run_cli("history", "show", "NIFTY", "--interval", "1h", "--from", "2024-06-03", "--to",
                           "2024-06-04")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["symbol", "time", "(IST)", "open", "high", "low", "close", "volume", "oi", "status"]
    body = [ln.split() for ln in lines[2:]]
    got = [(f"{r[1]} {r[2]}", float(r[3]), float(r[4]), float(r[5]), float(r[6])) for r in body]
    assert got == expected_hourly(src)
    assert all(r[-1] == "complete" for r in body) and len(body) == 14

    code, out, _ = run_cli("history", "show", "NIFTY", "--interval", "1h", "--from", "2024-06-03", "--to",
                           "2024-06-04", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["ts"] == "2024-06-03T09:15:00+05:30" and rows[-1]["ts"] == "2024-06-04T15:15:00+05:30"
    assert [float(r["high"]) for r in rows] == [e[2] for e in expected_hourly(src)] and rows[0]["volume"] == ""

    code, out, _ = run_cli("history", "show", "NIFTY 50", "--interval", "4h", "--from", "2024-06-04", "--to",
                           "2024-06-04", "--format", "json")
    data = json.loads(out)
    assert [d["ts"] for d in data] == ["2024-06-04T09:15:00+05:30", "2024-06-04T13:15:00+05:30"]
    assert data[0]["volume"] is None and data[0]["status"] == "complete"


def test_show_nothing_and_bad_dates_exit_2(run_cli):
    code, _, err = run_cli("history", "show", "NIFTY", "--from", "2024-06-03")
    assert code == 2 and "no 1h bars of NIFTY" in err
    code, _, err = run_cli("history", "show", "NIFTY", "--from", "June")
    assert code == 2 and "not a date" in err


def test_unusable_file_exits_2_but_good_files_are_imported(run_cli, june, tmp_path):
    path, _ = june
    bad = tmp_path / "bad.csv"
    bad.write_text("hello,world\n")
    code, out, err = run_cli("history", "import", str(bad), str(path), "--format", "json")
    assert code == 2 and "cannot identify the columns" in err
    reports = json.loads(out)
    assert reports[0]["error"] and reports[1]["added"] == 1125


def test_symbol_and_interval_options(run_cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Instrument,Date,Time,Open,High,Low,Close\n"
                    "NIFTY,20240603,09:15,100,101,99,100\nNIFTY,20240603,09:30,100,102,99,101\n")
    code, out, err = run_cli("history", "import", str(path), "--symbol", "NIFTY BANK", "--interval", "15m")
    assert code == 0, err
    assert "BANKNIFTY 15m" in out
    code, out, _ = run_cli("history", "show", "BANKNIFTY", "--interval", "1h", "--format", "json")
    [bar] = json.loads(out)
    assert (bar["open"], bar["high"], bar["close"], bar["status"]) == (100.0, 102.0, 101.0, "partial")


def test_list_shows_stored_coverage(run_cli, june):
    path, _ = june
    code, out, _ = run_cli("history", "list")
    assert code == 0 and "no bars stored" in out
    assert run_cli("history", "import", str(path))[0] == 0
    code, out, _ = run_cli("history", "list", "--format", "json")
    assert json.loads(out) == [{"symbol": "NIFTY", "interval": "1m", "session": "regular", "first": "2024-06-03",
                                "last": "2024-06-05", "days": 3, "bars": 1125}]


# ------------------------------------------------------------------------------ absurd prices (issue 15, item 6)
HEADER = "Instrument,Date(YYYYMMDD),Time(HH:MM),Open,High,Low,Close\n"
GOOD_ROW = "NIFTY,20240603,09:15,22000,22010,21990,22005\n"


@pytest.mark.parametrize("row, kind, detail", [
    ("NIFTY,20240603,09:16,nan,22010,21990,22005\n", "price", "open nan"),
    ("NIFTY,20240603,09:16,22000,inf,21990,22005\n", "price", "high inf"),
    ("NIFTY,20240603,09:16,22000,1e308,21990,22005\n", "price", "high 1e+308"),
    ("NIFTY,20240603,09:16,22000,22010,-5,22005\n", "price", "low -5.0"),
    ("NIFTY,20240603,09:16,22000,22010,0,22005\n", "price", "low 0.0"),
    ("NIFTY,20240603,09:16,22000,21980,21990,21985\n", "ohlc", "high 21980.0 low 21990.0"),
    ("NIFTY,20240603,09:16,22050,22010,21990,22005\n", "ohlc", "open 22050.0"),
    ("NIFTY,20240603,09:16,22000,22010,21990,21900\n", "ohlc", "close 21900.0"),
    ("NIFTY,20240603,09:16,22000,99000,21990,22005\n", "circuit", "previous bar's close 22005.0 (line 2)"),
])
def test_absurd_price_rejects_the_file_with_its_line_number(run_cli, home, tmp_path, row, kind, detail):
    path = tmp_path / "prices.csv"
    path.write_text(HEADER + GOOD_ROW + row + "NIFTY,20240603,09:17,22005,22015,21995,22010\n")
    code, out, err = run_cli("history", "import", str(path))
    lines = err.splitlines()
    assert code == 2 and "Traceback" not in err
    assert lines[0].startswith(f"tradesig: {path}:3: {kind}: ") and detail in lines[0], lines
    assert lines[-1].startswith(f"tradesig: {path}: 1 bad row(s) ({kind} 1); nothing imported")
    assert len(lines) == 2
    assert not (home / "bars").exists()  # nothing of a rejected file is stored
    code, _, _ = run_cli("history", "show", "NIFTY", "--interval", "1m")
    assert code == 2


def test_every_bad_line_is_listed_up_to_twenty(run_cli, home, tmp_path):
    rows = [f"NIFTY,20240603,{9 + (15 + i) // 60:02d}:{(15 + i) % 60:02d},nan,1,1,1\n" for i in range(25)]
    path = tmp_path / "nan.csv"
    path.write_text(HEADER + GOOD_ROW.replace("09:15", "15:29") + "".join(rows))
    code, _, err = run_cli("history", "import", str(path))
    lines = err.splitlines()
    assert code == 2 and len(lines) == 21
    assert [line.split(": ")[1] for line in lines[:20]] == [f"{path}:{n}" for n in range(3, 23)]
    assert "25 bad row(s) (price 25), the first 20 listed; nothing imported" in lines[-1]


def test_skip_bad_rows_stores_the_valid_ones_and_circuit_band_is_configurable(run_cli, home, tmp_path):
    path = tmp_path / "jump.csv"
    path.write_text(HEADER + GOOD_ROW + "NIFTY,20240603,09:16,22000,27000,21990,26000\n")
    code, out, err = run_cli("history", "import", str(path), "--skip-bad-rows")
    assert code == 0 and "rejected 1 (circuit 1)" in out and f"{path}:3: circuit: " in out
    code, out, err = run_cli("history", "import", str(path), "--circuit-band", "30")
    assert code == 0, err
    code, out, _ = run_cli("history", "show", "NIFTY", "--interval", "1m", "--format", "json")
    assert [bar["close"] for bar in json.loads(out)] == [22005.0, 26000.0]


def test_import_into_a_home_under_a_file_is_one_line(run_cli, tmp_path, june):
    path, _ = june
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    code, out, err = run_cli("--home", str(blocker / "home"), "history", "import", str(path))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"data home {blocker / 'home'}: cannot be created ({blocker} is not a writable directory)" in err
