"""``tradesig signals``: the board from stored bars (election day), weekly events recorded once, formats, errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import shared_file
from tradesig.clock import IST

GOLDEN = Path(__file__).resolve().parents[1] / "signals" / "golden" / "board_nifty_2024-06-04_15m.txt"


@pytest.fixture
def imported(home: Path) -> Path:
    """A data home holding real NIFTY 1m bars 2024-04-22 .. 2024-06-07 (written through the Store)."""
    from tradesig.store.bars import conform
    from tradesig.store.datasets import Store

    df = pl.read_parquet(shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet"))
    df = df.filter((pl.col("ts") >= datetime(2024, 4, 22, tzinfo=IST))
                   & (pl.col("ts") < datetime(2024, 6, 8, tzinfo=IST)))
    bars = conform(df.with_columns(pl.lit("NIFTY").alias("symbol"), pl.col("ts").dt.convert_time_zone("UTC")))
    assert Store(home).write_bars(bars, "1m", "test") == len(bars)
    return home


def test_board_through_the_election_day_fall(imported, run_cli):
    code, out, err = run_cli("signals", "NIFTY", "--date", "2024-06-04", "--interval", "15m")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("NIFTY 15m board, 25 bars")
    rows = [ln for ln in lines if ln.startswith("2024-06-04 ")]
    assert len(rows) == 25 and rows[0].startswith("2024-06-04 09:15") and rows[-1].startswith("2024-06-04 15:15")
    assert "STRONG_SELL" in out
    assert "vwap: no volume" in out and "pcr: no option chain" in out
    assert out == GOLDEN.read_text(encoding="utf-8")


def test_board_json_and_csv(imported, run_cli):
    code, out, _ = run_cli("signals", "NIFTY", "--at", "2024-06-04 12:31", "--interval", "15m", "--format", "json")
    assert code == 0
    (board,) = json.loads(out)
    assert board["ts"] == "2024-06-04T06:45:00+00:00"  # the 12:15 IST bar: the last one closed at 12:31
    assert board["label"] == "STRONG_SELL" and board["available"] == 10 and len(board["signals"]) == 13
    assert {s["name"]: s["call"] for s in board["signals"]}["vwap"] == "UNAVAILABLE"
    code, out, _ = run_cli("signals", "board", "NIFTY", "--from", "2024-06-03", "--to", "2024-06-04",
                           "--interval", "1h", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 14 * 13
    assert rows[0]["ts"] == "2024-06-03 09:15" and rows[0]["signal"] == "trend"
    assert {r["call"] for r in rows} <= {"BUY", "SELL", "NEUTRAL", "UNAVAILABLE"}


def test_single_board_table(imported, run_cli):
    code, out, _ = run_cli("signals", "NIFTY", "--at", "2024-06-04 12:31", "--interval", "15m")
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("NIFTY 15m  bar 2024-06-04 12:15 IST  close 21294.10")
    assert "STRONG_SELL" in first and "(10/13 available)" in first
    assert out.count("\n") >= 15


def test_weekly_lists_and_records_once(imported, run_cli):
    query = ("signals", "weekly", "NIFTY", "--from", "2024-05-27", "--to", "2024-06-07")
    code, out, err = run_cli(*query)  # a query records nothing
    assert code == 0, err
    assert "2024-06-04 10:15  NIFTY   S8      1H Breakdown" in out
    assert "2 event(s) (not recorded" in out
    assert not list((imported / "events").glob("*.jsonl"))
    args = (*query, "--record")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "2 event(s); 2 newly recorded" in out
    code, out, _ = run_cli(*args)
    assert "2 event(s); 0 newly recorded" in out
    events = [json.loads(line) for p in sorted((imported / "events").glob("*.jsonl"))
              for line in p.read_text().splitlines()]
    assert [e["signal"] for e in events if e["kind"] == "signal"] == ["S3", "S8"]
    code, out, _ = run_cli("signals", "weekly", "NIFTY", "--from", "2024-06-03", "--to", "2024-06-07",
                           "--format", "json", "--no-record")
    (e,) = json.loads(out)
    assert e["signal"] == "S8" and e["option"] == {"option_type": "CE", "strike": 23350.0, "hedge_strike": 23550.0,
                                                   "expiry": "2024-06-06"}


def test_errors(imported, run_cli):
    code, _, err = run_cli("signals", "NIFTY", "--date", "2023-01-02")
    assert code == 2 and "no closed 5m bars for NIFTY on 2023-01-02" in err
    code, _, err = run_cli("signals", "NIFTY", "--date", "2024-06-04", "--at", "2024-06-04 10:00")
    assert code == 2
    code, _, err = run_cli("signals", "NOPE", "--date", "2024-06-04")
    assert code == 2 and "unknown index" in err
    code, _, err = run_cli("signals", "NIFTY", "--interval", "7m")
    assert code == 2


def test_help(run_cli):
    for args in (("signals", "--help"), ("signals", "board", "--help"), ("signals", "weekly", "--help")):
        code, out, _ = run_cli(*args)
        assert code == 0 and "Usage:" in out


def test_board_after_history_import(run_cli):
    """The same board through the real import path: `tradesig history import` of the shared NIFTY 1m file."""
    path = shared_file("intraday/nifty50_1min_2024-01-01_2024-08-23.parquet")
    code, _, err = run_cli("history", "import", str(path))
    assert code == 0, err
    code, out, err = run_cli("signals", "NIFTY", "--date", "2024-06-04", "--interval", "15m")
    assert code == 0, err
    assert out == GOLDEN.read_text(encoding="utf-8")
